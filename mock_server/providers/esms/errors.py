"""eSMS result codes as data, and the one renderer of eSMS error envelopes.

Source: https://developers.esms.vn/en/esms-api/table-of-error-codes (spec/providers/esms.md §1). Messages are verbatim
where a sample shows them (§1c); where eSMS documents a code but no message for it on the Viber endpoint (99, 103, 108,
118, 300), the table's own meaning is used, marked [I] below.
"""

from __future__ import annotations

from enum import Enum
from http import HTTPStatus
from typing import Any

from aiohttp import web

from ...core.errors import ProviderError, reason_header
from .codec import esms_json


class EsmsCode(Enum):
    #                        code   HTTP  ErrorMessage
    ACCEPTED = ("100", 200, "")
    BLOCKED = ("99", 200, "Phone number is blocked")  # [I] current table: "Phone number is blocked in the system"
    UNKNOWN_ERROR = ("99", 200, "Unknown error, please retry")  # [I] legacy 99 "Lỗi không xác định, thử lại sau"
    AUTHORIZE_FAILED = ("101", 200, "Authorize Failed")  # verbatim sample, HTTP 200: esms.md §8 item 3
    NOT_ENOUGH_BALANCE = ("103", 200, "Not enough balance")  # [I] table meaning
    BRANDNAME_NOT_EXIST = ("104", 200, "Brand name code is not exist")  # verbatim sample
    NOT_FOUND = ("105", 200, "Message id not found")  # [I] table meaning; status queries
    INVALID_PHONE = ("108", 200, "The phone number {phone} is not valid.")  # verbatim Zalo bulk API sample (§1c)
    UNSUPPORTED_TYPE = ("118", 200, "Unsupported message type")  # [I] table meaning
    PHONE_LIST_LIMIT = ("120", 200, "Phone list exceeds limit")  # [I] table meaning
    DUPLICATE_REQUEST = ("124", 200, "Request exist 1")  # verbatim sample (§1c)
    REQUEST_ID_TOO_LONG = ("159", 200, "RequestId is too long")  # [I] legacy 159; the docs now say <= 50 chars
    MISSING_TYPE = ("300", 200, "Missing message type")  # [I] table meaning
    # Framework-level failures: WCF answers these before any operation runs (product.md §9; esms.md decision 3).
    BAD_REQUEST = ("99", 400, "Request Error")
    ENDPOINT_NOT_FOUND = ("99", 404, "Endpoint not found")
    METHOD_NOT_ALLOWED = ("99", 405, "Method not allowed")
    TOO_LARGE = ("99", 413, "Request Entity Too Large")
    INTERNAL = ("99", 500, "Internal error")

    def __init__(self, code: str, http_status: int, message: str) -> None:
        self.code = code
        self.http_status = http_status
        self.message = message


class EsmsError(ProviderError):
    code: EsmsCode


# The envelope each operation answers with (esms.md decision 4): which code key, and what else an error carries.
SEND = "send"  # {"CodeResult","CountRegenerate","ErrorMessage"}
BALANCE = "balance"  # {"Balance":0,"CodeResponse","ErrorMessage"}
SEND_STATUS = "send_status"  # {"CodeResponse","SMSID"}
RECEIVER = "receiver"  # {"CodeResult","ErrorMessage"}
BRANDNAME = "brandname"  # {"CodeResponse","ErrorMessage"}: product.md §9 picks CodeResponse for its 101


def error_body(exc: ProviderError, envelope: str = SEND) -> dict[str, Any]:
    code: EsmsCode = exc.code
    message = code.message.format(**exc.extra) if exc.extra else code.message
    return envelope_body(code.code, message, envelope, smsid=exc.extra.get("smsid", ""))


def envelope_body(code: str, message: str, envelope: str, *, smsid: str = "") -> dict[str, Any]:
    """An error answer in `envelope`: its code key, and what else it carries."""
    if envelope == BALANCE:
        return {"Balance": 0, "CodeResponse": code, "ErrorMessage": message}
    if envelope == SEND_STATUS:
        # GetSendStatus's 101 sample carries the SMSID asked about and no ErrorMessage (esms.md §5).
        return {"CodeResponse": code, "SMSID": smsid}
    if envelope == RECEIVER:
        return {"CodeResult": code, "ErrorMessage": message}
    if envelope == BRANDNAME:
        return {"CodeResponse": code, "ErrorMessage": message}
    return {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message}


def render_error(exc: ProviderError, envelope: str = SEND) -> web.Response:
    """The single place eSMS errors become HTTP: the code's status, the envelope's keys, X-Mock-Reason."""
    status = exc.http_status or exc.code.http_status
    return web.Response(
        text=esms_json(error_body(exc, envelope)),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=reason_header(exc.reason),
    )


_FAULT_MESSAGES = {500: "Internal error"}  # WCF's own words; every other status: its standard phrase (_phrase)


def _phrase(status: int) -> str:
    """The standard reason phrase of a status the table above does not name (502 Bad Gateway, 429 Too Many
    Requests, ...)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # 599: no standard phrase
        return "Error"


def fault_response(*, status: int | None, code: Any, reason: str, envelope: str, smsid: str = "") -> web.Response:
    """An injected fault (/_mock/faults): a forced code with HTTP 200 in the operation's own envelope (a client of
    GetBalance reads CodeResponse), or an HTTP error in the framework's (CodeResult "99", as WCF answers it)."""
    if code is not None:
        known = next((c for c in EsmsCode if c.code == str(code) and c.http_status == 200), None)
        message = (known.message if known else "Error").replace("{phone}", "")
        body = envelope_body(str(code), message, envelope, smsid=smsid)
        status = 200
    else:
        status = status or 500
        body = envelope_body("99", _FAULT_MESSAGES.get(status) or _phrase(status), SEND)
    return web.Response(text=esms_json(body), status=status, content_type="application/json", charset="utf-8",
                        headers=reason_header(reason))
