"""Infobip OMNI wire format: dates, channel data, status mapping, send answers, reports and logs (infobip.md §2-§8)."""

from __future__ import annotations

import functools

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from ...core.models import Derived, Status
from .errors import OmniErrorCode, OmniStatus

# --- dates -----------------------------------------------------------------------------------------------------------


def omni_date(ts: float) -> str:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC, e.g. `2015-02-23T16:41:11.833+0000` (infobip.md §2, decision 5).

    The 2018 Python client parses dates by character position, so the form must be exact."""
    ms = int(round(ts * 1000))
    dt = datetime.fromtimestamp(ms // 1000, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_date(value: str) -> float:
    """Epoch seconds from `Z`, `+HHMM`, `+HH:MM` or no offset (read as UTC): what the clients send (infobip.md §2)."""
    m = _DATE_RE.match(value.strip())
    if m is None:
        raise ValueError(f"{value!r} is not yyyy-MM-ddTHH:mm:ss.SSS with an optional Z, +HHMM or +HH:MM offset")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or "0"
    offset = m.group(8)
    tz = timezone.utc
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    return dt.timestamp() + int(frac) / 10 ** len(frac)


# --- channels and their data objects ---------------------------------------------------------------------------------

# Scenario step channel -> the request's data object key (infobip.md §5.1). `VK` is the old docs' alias of VKONTAKTE.
DATA_KEYS = {
    "SMS": "sms", "VIBER": "viber", "VOICE": "voice", "EMAIL": "email", "PUSH": "push", "FACEBOOK": "facebook",
    "LINE": "line", "VKONTAKTE": "vKontakte", "VK": "vKontakte", "PARSECO": "parseco", "WHATSAPP": "whatsApp",
    "KAKAO_ALIM": "kakaoAlim", "KAKAO_CHINGU": "kakaoChingu",
}
# The channels this mock delivers on; a step on any other channel is passed over like a step without data.
EMULATED_CHANNELS = ("VIBER", "SMS")

TIME_UNITS = {
    "NANOSECONDS": 1e-9, "MICROSECONDS": 1e-6, "MILLISECONDS": 1e-3, "SECONDS": 1.0, "MINUTES": 60.0,
    "HOURS": 3600.0, "DAYS": 86400.0,
}
# Seed page: "Default validity period in OMNI for Viber messages is 24h and for SMS messages is 48h." [S]
DEFAULT_VALIDITY = {"VIBER": 24 * 3600.0, "SMS": 48 * 3600.0}
# "Validity period longer than 48h is not supported (automatically set to 48h)"; Viber (OAS): up to 14 days.
MAX_VALIDITY = {"VIBER": 14 * 86400.0, "SMS": 48 * 3600.0}


def validity_seconds(channel: str, data: Mapping[str, Any] | None) -> float:
    """A step's validity: `validityPeriod` in `validityPeriodTimeUnit` (default MINUTES), capped as documented."""
    period = (data or {}).get("validityPeriod")
    if period is None or period == "":
        return DEFAULT_VALIDITY[channel]
    # Huge integers are legal JSON; clamp before float() so none overflows. A string of digits (the seed page's type)
    # longer than 13 is over the clamp already, and int() refuses strings of more than 4300 digits.
    unit = TIME_UNITS[(data or {}).get("validityPeriodTimeUnit") or "MINUTES"]
    count = 10**12 if isinstance(period, str) and len(period.lstrip("0")) > 13 else min(int(period), 10**12)
    seconds = float(count) * unit
    return min(seconds, MAX_VALIDITY[channel])


def advanced_data(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """/omni/1/advanced: each emulated channel's own data object, for the channels the request has one for."""
    return {ch: body[DATA_KEYS[ch]] for ch in EMULATED_CHANNELS if body.get(DATA_KEYS[ch]) is not None}


def text_data(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """/omni/1/text: one text for every channel of the scenario (infobip.md §4)."""
    return {ch: {"text": body["text"]} for ch in EMULATED_CHANNELS}


# How each send endpoint's request body gives its channels' data: named, so that a walk kept in the durable store can
# say which to re-read its data with (InfobipBackend._finish).
CHANNEL_DATA = {"advanced": advanced_data, "text": text_data}


@functools.lru_cache(maxsize=None)
def derived_content(source: str, channel: str) -> Derived:
    """The content of a step on `channel` of a request sent to `source`, worked out from the body when shown: one
    shared object per endpoint and channel (core/models.py Derived)."""
    data_of = CHANNEL_DATA[source]
    return Derived(lambda body: neutral_content(channel, data_of(body).get(channel) or {}))


def neutral_content(channel: str, data: Mapping[str, Any]) -> dict[str, str]:
    """What the inbox shows for a step: the core's neutral content names."""
    out = {"text": data.get("text") or ""}
    if channel == "VIBER":
        out.update(image=data.get("imageURL") or "", button_text=data.get("buttonText") or "",
                   button_url=data.get("buttonURL") or "")
    out = {k: v for k, v in out.items() if v}
    # A text-only step's data object is already this dict: the message shares it (~250 bytes of every message sent one
    # a request, bench/run.py --scenarios memory; neither is changed once made).
    return data if out == data and isinstance(data, dict) else out


# Valid Viber layouts: text; image; text + button; text + image + button (infobip.md §5.3, decision 8).
VIBER_LAYOUTS = (
    frozenset({"text"}),
    frozenset({"imageURL"}),
    frozenset({"text", "buttonText", "buttonURL"}),
    frozenset({"text", "imageURL", "buttonText", "buttonURL"}),
)


def viber_layout_problem(viber: Mapping[str, Any]) -> str | None:
    """Why a `viber` object is none of the valid layouts, or None."""
    given = frozenset(k for k in ("text", "imageURL", "buttonText", "buttonURL") if viber.get(k))
    if given in VIBER_LAYOUTS:
        return None
    if not given:
        return "viber needs text or imageURL"
    return (f"viber with {', '.join(sorted(given))} is not a valid layout (text; imageURL; text + buttonText + "
            "buttonURL; text + imageURL + buttonText + buttonURL): a rich Viber message needs imageURL, buttonText "
            "and buttonURL together with text")


# GSM 03.38 basic set plus its extension table; any other character makes an SMS Unicode (UCS-2).
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€\f")


def sms_count(text: str) -> int:
    """SMS parts for `text`: 160/153 GSM-7 characters (extension characters count twice) or 70/67 UCS-2."""
    if all(ch in _GSM or ch in _GSM_EXT for ch in text):
        length = sum(2 if ch in _GSM_EXT else 1 for ch in text)
        single, part = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if length <= single else math.ceil(length / part)


# Mobile network (MCC+MNC) by country code, longest prefix first; others get a seeded pick at submit (backend).
MCC_MNC = {
    "385": "21901", "41": "22801", "44": "23415", "49": "26201", "33": "20801", "84": "45204", "91": "40410",
    "7": "25001", "1": "310260", "55": "72405", "62": "51010",
}


def mcc_mnc_for(phone_intl: str) -> str | None:
    for prefix in sorted(MCC_MNC, key=len, reverse=True):
        if phone_intl.startswith(prefix):
            return MCC_MNC[prefix]
    return None


# --- statuses ----------------------------------------------------------------------------------------------------------

# A step's neutral final status -> the Infobip status and error the reports carry (infobip.md §9 suggested pairs).
FINAL_CODES: dict[Status, tuple[OmniStatus, OmniErrorCode]] = {
    Status.DELIVERED: (OmniStatus.DELIVERED_TO_HANDSET, OmniErrorCode.NO_ERROR),
    Status.SEEN: (OmniStatus.DELIVERED_TO_HANDSET, OmniErrorCode.NO_ERROR),
    # The seed page's failed Viber report pairs UNDELIVERABLE_NOT_DELIVERED with EC_ABSENT_SUBSCRIBER_SM.
    Status.UNDELIVERABLE: (OmniStatus.UNDELIVERABLE_NOT_DELIVERED, OmniErrorCode.EC_ABSENT_SUBSCRIBER_SM),
    Status.EXPIRED: (OmniStatus.EXPIRED_EXPIRED, OmniErrorCode.EC_VALIDITY_EXPIRED),
    Status.REJECTED: (OmniStatus.REJECTED_DESTINATION, OmniErrorCode.NO_ERROR),
}

# Rejections decided by a rule or a magic number (product.md §4, §9): the REJECTED status reported for each.
REJECTION_STATUS: dict[str, OmniStatus] = {
    "rejected": OmniStatus.REJECTED_DESTINATION,
    "blocked": OmniStatus.REJECTED_DESTINATION_BLOCKLISTED,
    "no_balance": OmniStatus.REJECTED_NOT_ENOUGH_CREDITS,
    "provider_error": OmniStatus.REJECTED_SYSTEM_ERROR,  # only on a later step: at submit it is an HTTP 500
}


# --- bodies ----------------------------------------------------------------------------------------------------------


def send_message(to: Any, status: OmniStatus, message_id: str) -> dict[str, Any]:
    # Key order as every documented example: to, status, messageId (infobip.md §5.4).
    return {"to": to, "status": status.to_json(), "messageId": message_id}


def send_response(messages: list[dict[str, Any]], bulk_id: str | None) -> dict[str, Any]:
    """`bulkId` only when the client sent one or there is more than one destination (infobip.md decision 7)."""
    return {"bulkId": bulk_id, "messages": messages} if bulk_id else {"messages": messages}


_SHARED: dict[Any, dict[str, Any]] = {}


def _shared_json(member: Any) -> dict[str, Any]:
    """A status or error object built once per code and shared by every report that carries it (read-only)."""
    out = _SHARED.get(member)
    if out is None:
        out = _SHARED[member] = member.to_json()
    return out


@functools.lru_cache(maxsize=64)
def price(amount: float, currency: str) -> dict[str, Any]:
    """Shared by every report at that price (read-only): 100 000 stored reports need one."""
    return {"pricePerMessage": amount, "currency": currency}


def report(*, bulk_id: str, message_id: str, to: str, sent_at: float, done_at: float, message_count: int,
           mcc_mnc: str, price_obj: dict[str, Any], status: OmniStatus, error: OmniErrorCode, channel: str,
           callback_data: str | None) -> dict[str, Any]:
    """A DeliveryReport in the OAS field order (infobip.md §6); `callbackData` only when the send had one."""
    out: dict[str, Any] = {
        "bulkId": bulk_id,
        "messageId": message_id,
        "to": to,
        "sentAt": omni_date(sent_at),
        "doneAt": omni_date(done_at),
        "messageCount": message_count,
        "mccMnc": mcc_mnc,
        "price": price_obj,
        "status": _shared_json(status),
        "error": _shared_json(error),
        "channel": channel,
    }
    if callback_data is not None:
        out["callbackData"] = callback_data
    return out


def log_entry(*, bulk_id: str, message_id: str, to: str, sender: str, text: str, sent_at: float, done_at: float,
              message_count: int, mcc_mnc: str, price_obj: dict[str, Any], status: OmniStatus,
              channel: str) -> dict[str, Any]:
    """An OmniLog (infobip.md §7): like a report with `from` and `text`, and no `error`."""
    return {
        "bulkId": bulk_id,
        "messageId": message_id,
        "to": to,
        "from": sender,
        "text": text,
        "sentAt": omni_date(sent_at),
        "doneAt": omni_date(done_at),
        "messageCount": message_count,
        "mccMnc": mcc_mnc,
        "price": price_obj,
        "status": status.to_json(),
        "channel": channel,
    }


def scenario_json(key: str, name: str | None, flow: list[dict[str, Any]], default: bool) -> dict[str, Any]:
    """A Scenario as the docs answer it: key, name, flow, default (infobip.md §3.1, decision 3)."""
    out: dict[str, Any] = {"key": key}
    if name is not None:
        out["name"] = name
    out["flow"] = flow
    out["default"] = default
    return out
