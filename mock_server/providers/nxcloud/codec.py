"""NXCLOUD wire format: the mt body in (spellings folded, content made neutral), answers, receipts and replies out."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Mapping

from ...core.models import Status
from ...httputil import BodyError, parse_json_text

FUNCTION_TYPES = ("text", "image", "text_image", "text_image_button", "text_button", "file", "video", "video_text",
                  "video_text_button")

# sendTime is "yyyy-MM-dd HH:mm:ss" with no zone; the mock writes it in UTC+8, NXCLOUD's home zone (product.md §9).
SEND_TIME_TZ = timezone(timedelta(hours=8))

# The English page and wiki spell the OTP fields `temolate*`, the Chinese wiki `template*` (spec decision 6): both
# are accepted, folded into the `template*` names the schema and the rest of the code use.
TEMPLATE_ALIASES = {"temolateId": "templateId", "temolateParams": "templateParams", "temolateLang": "templateLang"}

_DISCLAIMER = "Please don't share your code with ANYONE. We'll never call or message you and ask for it."

# OTP templates (seeds/004 "OTP Template"; UUIDs: the Viber global inventory, spec §5): id -> (uuid, params, text).
OTP_TEMPLATES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "1": ("0aac888f-2ee2-4112-9659-1755a951966a", ("pin",), "Your code is {{pin}}."),
    "2": ("c2cdc028-a48b-4187-bbaf-3aaa137b6e23", ("pin",), "Your code is {{pin}}. It's valid for 5 minutes."),
    "3": ("c33cccaf-735f-4d62-8383-a76bf4999e2d", ("pin", "businessPlatformName"),
          "{{business_platform_name}}: Your code is {{pin}}."),
    "4": ("bed0942f-e07e-4879-834b-29cc4cf3ec35", ("pin", "codeValidityTime"),
          "Your code is {{pin}}. It's valid for {{code_validity_time}} minutes."),
    "5": ("60d67b38-b9fb-444a-80e6-754447e010c6", ("pin", "pinType", "codeValidityTime"),
          "Your {{pin_type}} code is {{pin}}. It's valid for {{code_validity_time}} minutes."),
    # Id 6 says "hours" on the page although codeValidityTime is minutes in Viber's rules (spec §5): kept verbatim.
    "6": ("6c929cef-29b4-4349-bc9d-2a07bdbb6e43", ("pin", "businessPlatformName", "codeValidityTime"),
          "Your {{business_platform_name}} code is {{pin}}. It's valid for {{code_validity_time}} hours."),
    "7": ("82ba31a3-db42-4e87-82e8-33fa92b9e5ed", ("pin", "pinType"), "Your {{pin_type}} code is {{pin}}."),
    "8": ("210ee8a9-1ed5-43cd-96e4-65bba311ab40", ("pin", "businessPlatformActionName"),
          "Your one-time password for {{business_platform_action_name}} is {{pin}}."),
    "9": ("be56d97b-2a33-4c89-ac5f-f555a2c827d9", ("pin", "businessPlatformName", "codeReason"),
          "{{business_platform_name}}: Your code is {{pin}}. You got this code because {{code_reason}}."),
}
_BY_UUID = {uuid: tid for tid, (uuid, _, _) in OTP_TEMPLATES.items()}
_SNAKE = {"pin": "pin", "businessPlatformName": "business_platform_name", "pinType": "pin_type",
          "codeValidityTime": "code_validity_time", "businessPlatformActionName": "business_platform_action_name",
          "codeReason": "code_reason"}


def template_params(value: str) -> Any:
    """`templateParams` sent as a string: JSON text, or the page's own (non-JSON) example form `{"pin","132132"}`
    read as name, value pairs. Anything else is returned unchanged, for the schema to refuse."""
    # Strictly, as a body is parsed: json.loads took NaN and Infinity, and a lone surrogate, which then broke every
    # control-API answer showing the message (JSON has no NaN).
    try:
        parsed = parse_json_text(value)
    except BodyError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    inner = value.strip()
    if inner.startswith("{") and inner.endswith("}"):
        try:
            items = parse_json_text("[" + inner[1:-1] + "]")
        except BodyError:
            return value
        names = items[0::2]
        if items and len(items) % 2 == 0 and all(isinstance(n, str) for n in names):
            return dict(zip(names, items[1::2]))
    return value


def normalise(body: Any) -> Any:
    """A copy of the body as the schema expects it: `temolate*` folded into `template*` (the first spelling present
    wins), templateParams given as a string parsed, a numeric templateId made a string."""
    if not isinstance(body, dict) or not isinstance(body.get("messageData"), dict):
        return body
    body = copy.copy(body)
    data = dict(body["messageData"])
    for alias, name in TEMPLATE_ALIASES.items():
        if alias in data:
            value = data.pop(alias)
            data.setdefault(name, value)
    if isinstance(data.get("templateParams"), str):
        data["templateParams"] = template_params(data["templateParams"])
    if isinstance(data.get("templateId"), int) and not isinstance(data.get("templateId"), bool):
        data["templateId"] = str(data["templateId"])
    body["messageData"] = data
    return body


def otp_text(template_id: str, params: Mapping[str, Any]) -> str:
    """The English text a phone shows for an OTP template, as the page's examples write it."""
    tid = _BY_UUID.get(template_id, template_id)
    text = OTP_TEMPLATES[tid][2]
    for name, snake in _SNAKE.items():
        text = text.replace("{{" + snake + "}}", str(params.get(name, "")))
    return f"{text} {_DISCLAIMER}"


# messageData field -> neutral content name (product.md §5.1 plus the media NXCLOUD alone has).
_CONTENT_NAMES = {
    "text": "text", "image": "image", "buttonText": "button_text", "buttonLink": "button_url",
    "fileName": "file_name", "fileLink": "file_url", "fileType": "file_type",
    "thumbnail": "thumbnail", "videoLink": "video", "videoSize": "video_size", "duration": "video_duration",
}


def content_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The neutral content of a validated messageData, for the store, the control API and the inbox."""
    out = {neutral: data[name] for name, neutral in _CONTENT_NAMES.items() if name in data}
    if data.get("rateType") == "OtpTemplate":
        out["text"] = otp_text(data["templateId"], data["templateParams"])
        out["template_id"] = data["templateId"]
        out["template_params"] = data["templateParams"]
        out["template_lang"] = data["templateLang"]
    return out


def send_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, SEND_TIME_TZ).strftime("%Y-%m-%d %H:%M:%S")


def send_success(request_id: str) -> dict[str, Any]:
    return {"code": 0, "message": "Success", "data": {"requestId": request_id}}


# Neutral status -> the dr_webhook's status, code and message (spec §3.1, verbatim). REJECTED cannot normally follow
# an accepted mt (rejections are answered at submit); if forced, it reports as a send error.
STATUS_MAP: dict[Status, tuple[str, int, str]] = {
    Status.SENT: ("success", 0, "Successfully sent."),
    Status.DELIVERED: ("delivered", 11001, "Viber message has delivered"),
    Status.SEEN: ("seen", 11002, "Viber message has seen"),
    Status.UNDELIVERABLE: ("failed", 11000, "Viber send error"),
    Status.EXPIRED: ("expired", 11003, "Viber message has expired"),
    Status.REJECTED: ("failed", 11000, "Viber send error"),
}
# `cost` is on `success` in the S3/S4 examples and "shown for delivered" in the field table (spec §3.1).
WITH_COST = frozenset({"success", "delivered"})


def cost(price: Decimal, cny_per_usd: Decimal, rate_type: str) -> dict[str, Any]:
    """The receipt's cost: the price in USD (`originalPrice`) and in CNY (`localPrice`), as JSON numbers."""
    return {
        "currency": "USD",
        "localPrice": float((price * cny_per_usd).quantize(Decimal("0.00001"))),
        "originalPrice": float(price),
        "rateType": rate_type,
    }


def receipt(status: Status, request_id: str, at: float, cost_body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The dr_webhook body for a status change, in the documented key order; None when NXCLOUD reports nothing."""
    if status not in STATUS_MAP:
        return None
    word, code, message = STATUS_MAP[status]
    body: dict[str, Any] = {"status": word, "requestId": request_id, "code": code, "message": message,
                            "sendTime": send_time(at)}
    if word in WITH_COST and cost_body is not None:
        body["cost"] = cost_body
    return body


def reply_body(phone: str, appkey: str, trace_request_id: str, message: dict[str, Any], at: float) -> dict[str, Any]:
    """The message_webhook body for a user reply (spec §3.2): `message` is {"text"} or {"media", "fileName"}."""
    return {"phone": phone, "appkey": appkey, "traceRequestId": trace_request_id, "message": message,
            "sendTime": send_time(at)}
