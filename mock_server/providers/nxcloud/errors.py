"""NXCLOUD Viber result codes as data, the one renderer of its answers, and schema violations mapped to codes.

Sources: the 'Viber Send Message' page's response-code table (seeds/004) for 0, -1, 1100, 1102, 9000-9005, 9999 and
the convention's auth table (spec/providers/nxcloud.md §1.4) for 1001-1005, whose English wording is used. Every
answer is HTTP 200 with `code` a JSON integer (spec decision 2; §4: real clients test `code == 0` and never the status).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from aiohttp import web

from ...core.errors import ProviderError, reason_header
from ...core.schemas import Violation
from ...httputil import dumps


class NxcloudCode(Enum):
    #                            code  HTTP  message (verbatim from the docs)
    SUCCESS = (0, 200, "Success")
    FAILURE = (-1, 200, "Failure")
    MISSING_PARAMETERS = (1001, 200, "Missing parameters")
    PARAMETER_ERROR = (1002, 200, "Parameter error")
    INVALID_SIGNATURE = (1003, 200, "Invalid signature")
    TIMESTAMP_EXPIRED = (1004, 200, "Timestamp expired")
    INSUFFICIENT_PERMISSIONS = (1005, 200, "Insufficient permissions")
    CUSTOMER_UNAVAILABLE = (1100, 200, "Customer does not exist / Status is unavailable")
    INSUFFICIENT_BALANCE = (1102, 200, "Insufficient balance")
    REQUEST_PARAMETER_ERROR = (9000, 200, "Request parameter error")
    SYSTEM_BUSINESS_ERROR = (9001, 200, "System business error")
    PHONE_NUMBER_ERROR = (9002, 200, "Phone number error")
    APP_UNAVAILABLE = (9003, 200, "Customer APP does not exist / Status is unavailable")
    APP_NO_QUOTATION = (9004, 200, "Customer APP does not have quotation")
    APP_ROUTES_MISSING = (9005, 200, "Missing customer APP routes")
    UNKNOWN_ERROR = (9999, 200, "Unknown error")

    def __init__(self, code: int, http_status: int, message: str) -> None:
        self.code = code
        self.http_status = http_status
        self.message = message

    @classmethod
    def by_code(cls, code: int) -> "NxcloudCode":
        for member in cls:
            if member.code == code:
                return member
        raise KeyError(code)


class NxcloudError(ProviderError):
    code: NxcloudCode


def render_error(exc: ProviderError) -> web.Response:
    """The single place NXCLOUD errors become HTTP: HTTP 200, `{"code": <int>, "message": …}` with no `data` (the
    Viber failure example omits it), and X-Mock-Reason naming the field and the rule."""
    code: NxcloudCode = exc.code
    return web.Response(
        text=dumps({"code": code.code, "message": code.message}),
        status=exc.http_status or code.http_status,
        content_type="application/json",
        charset="utf-8",
        headers=reason_header(exc.reason),
    )


def render_fault(request: web.Request, *, status: int | None, code: Any, reason: str) -> web.Response:
    """An injected fault (/_mock/faults) in NXCLOUD's envelope: a forced code with HTTP 200 (its documented message
    when the code is in the table, else "Failure"), or an HTTP error whose body still carries a code clients can read:
    9001 "System business error" for 5xx (as 55508, the transient failure), -1 "Failure" for 429 [I]."""
    if code is not None:
        try:
            number = int(code)
        except (TypeError, ValueError):
            number = NxcloudCode.FAILURE.code
        try:
            message = NxcloudCode.by_code(number).message
        except KeyError:
            message = NxcloudCode.FAILURE.message
        body, status = {"code": number, "message": message}, 200
    else:
        status = status or 500
        known = NxcloudCode.SYSTEM_BUSINESS_ERROR if status >= 500 else NxcloudCode.FAILURE
        body = {"code": known.code, "message": known.message}
    return web.Response(text=dumps(body), status=status, content_type="application/json", charset="utf-8",
                        headers=reason_header(reason))


# Fields whose violations have their own code; everything else in the body is a request parameter error (9000).
FIELD_CODES: dict[str, NxcloudCode] = {"phone": NxcloudCode.PHONE_NUMBER_ERROR}

# Spellings folded into the canonical `template*` names before validation (codec.normalise): name both in the reason.
_ALIASES = {"templateId": "temolateId", "templateParams": "temolateParams", "templateLang": "temolateLang"}


def from_violations(violations: list[Violation]) -> NxcloudError:
    """Schema violations -> one NXCLOUD answer. A missing parameter is 9000 ("Missing parameters, please check the
    required parameters"); a phone that is present but not country code + digits is 9002; any other wrong type or
    value is 9000 too. Violations come sorted (missing fields first), so the first decides."""
    first = violations[0]
    reason = first.message
    alias = _ALIASES.get(first.field)
    if alias:
        reason += f" (also accepted as {alias})"
    if first.kind != "required" and first.path in FIELD_CODES:
        return NxcloudError(FIELD_CODES[first.path], reason)
    return NxcloudError(NxcloudCode.REQUEST_PARAMETER_ERROR, reason)
