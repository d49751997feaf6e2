"""eSMS wire format: request fields in, response bodies and callback queries out (spec/providers/esms.md)."""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any, Iterable, Mapping

from ...core.models import Message, Status
from ...core.phones import national

# WCF's DataContractJsonSerializer writes members in ordinal (code point) order and omits nulls (esms.md §8 item 4):
# "CodeResult, CountRegenerate, ErrorMessage, SMSID", "Balance, CodeResponse, UserID", "SMSID" before "SendFailed".
# Prices are Decimals and render with four decimals, as eSMS does (`850.0000`; esms.md §8 item 5). json cannot write
# a bare number with trailing zeros, so a Decimal is written as a string marked with a per-call nonce (which no
# echoed client value can forge) and the quotes around it are then removed.
def esms_json(body: Mapping[str, Any]) -> str:
    nonce = ""  # drawn on the first Decimal only: most answers (a send's) have none, and the draw is a syscall

    def default(value: Any) -> Any:
        nonlocal nonce
        if isinstance(value, Decimal):
            nonce = nonce or secrets.token_hex(6)
            return f"{nonce}{value:.4f}"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=default)
    return re.sub(f'"{nonce}(-?[0-9.]+)"', r"\1", text) if nonce else text


def money(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def price_str(value: float | int | Decimal) -> str:
    return f"{money(value):.4f}"


# Field names a client may spell either way on Send_Multiple_Sms_OTT: the docs' curl writes OttX, their tables OTTX
# (esms.md decision 2). The first spelling is the one stored.
OTT_ALIASES = {"OttImgUrl": "OTTImgUrl", "OttLabel": "OTTLabel", "OttUrl": "OTTUrl"}

# Query parameter names of SendMultipleMessage_V4_get's WCF URI template plus the Viber ones (esms.md §2b), matched
# case-insensitively (§8 item 7); the canonical spelling is what the schema and the handler see.
GET_PARAMS = (
    "Phone", "Content", "ApiKey", "SecretKey", "Email", "IsUnicode", "Brandname", "SmsType", "Sandbox", "IsFlash",
    "Priority", "RequestId", "SendDate", "TrackLink", "GetNetwork", "CallbackShorten", "CallbackUrl", "OTTUrl",
    "OTTImgUrl", "OTTLabel", "Tag", "RefId",
)


def canonical_query(query: Iterable[tuple[str, str]], names: Iterable[str] = GET_PARAMS) -> dict[str, str]:
    """Query parameters under their canonical names (first occurrence wins); unknown names are ignored, as WCF does."""
    canon = {n.lower(): n for n in names}
    out: dict[str, str] = {}
    for key, value in query:
        name = canon.get(key.lower())
        if name is not None and name not in out:
            out[name] = value
    return out


def text(value: Any) -> str:
    """A loosely typed scalar as the string WCF binds it to: 23 -> "23", None -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flag(value: Any) -> bool:
    """IsSandBox / Sandbox: "1", 1 or true turn it on; "0", 0, "", null leave it off."""
    return text(value).strip().lower() in ("1", "true")


# esms.md decision 6: 0 + 9 digits or 84 + 9 digits; no "+". Used with fullmatch (`$` lets a trailing newline through).
PHONE_RE = re.compile(r"(0|84)[0-9]{9}")


def content_of(fields: Mapping[str, str]) -> dict[str, str]:
    """The neutral content of a Viber message, omitting what was not sent."""
    out = {
        "text": fields.get("Content", ""),
        "image": fields.get("OttImgUrl", ""),
        "button_text": fields.get("OttLabel", ""),
        "button_url": fields.get("OttUrl", ""),
    }
    return {k: v for k, v in out.items() if v}


# The four documented Viber layouts (esms.md §2a): which of text / image / button may appear together.
LAYOUTS: dict[frozenset[str], str] = {
    frozenset({"text"}): "Text",
    frozenset({"image"}): "Image",
    frozenset({"text", "button_text", "button_url"}): "Text - Button",
    frozenset({"text", "image", "button_text", "button_url"}): "Text - Image - Button",
}


def send_success(smsid: str) -> dict[str, Any]:
    return {"CodeResult": "100", "CountRegenerate": 0, "SMSID": smsid}


# Mobile network by Vietnamese prefix (national form), for callbacks' telcoid and receiver lists' NetworkName.
# telcoid values: esms.md §4 (1 Viettel, 2 Mobi, 3 Vina, 4 Vietnamobile, 5 Gtel, 6 Itel, 7 Reddi).
_NETWORKS = (
    (("086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039"), 1, "Viettel"),
    (("089", "090", "093", "070", "076", "077", "078", "079"), 2, "Mobifone"),
    (("088", "091", "094", "081", "082", "083", "084", "085"), 3, "Vinaphone"),
    (("092", "056", "058"), 4, "Vietnamobile"),
    (("099", "059"), 5, "Gtel"),
    (("087",), 6, "Itel"),
    (("055",), 7, "Reddi"),
)


def network(phone: str) -> tuple[int, str]:
    local = national(phone)
    for prefixes, telcoid, name in _NETWORKS:
        if local.startswith(prefixes):
            return telcoid, name
    return 1, "Viettel"


SUCCESS = (Status.DELIVERED, Status.SEEN)
FAILED = (Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED)


def contribution(status: Status) -> tuple[int, int, int]:
    """What one message in `status` adds to its SMSID's (SendSuccess, SendFailed, TotalSent)."""
    return int(status in SUCCESS), int(status in FAILED), int(status != Status.ACCEPTED)


def counts(batch: list[Message]) -> list[int]:
    """[SendSuccess, SendFailed, TotalSent, TotalReceiver] of an SMSID's messages as they are now."""
    success = failed = sent = 0
    for m in batch:
        s, f, t = contribution(m.status)
        success, failed, sent = success + s, failed + f, sent + t
    return [success, failed, sent, len(batch)]


def totals_of(counts: list[int], price: Decimal) -> dict[str, Any]:
    """An SMSID's counts at this moment (product.md §9): what callbacks and GetSendStatus report."""
    success, failed, sent, receivers = counts
    return {
        "SendFailed": failed,
        "SendSuccess": success,
        # Only delivered messages are priced: the CSKH callback sample reports TotalPrice=0.0000 for two failures.
        "TotalPrice": money(price * success),
        "TotalReceiver": receivers,
        "TotalSent": sent,
    }


def totals(batch: list[Message], price: Decimal) -> dict[str, Any]:
    return totals_of(counts(batch), price)


def send_status_code(batch: list[Message]) -> int:
    """SendStatus (esms.md §5): 2 waiting to send, 7 sent and waiting for reports, 5 finished."""
    if all(m.status.final for m in batch):
        return 5
    if any(m.status != Status.ACCEPTED for m in batch):
        return 7
    return 2


def callback_query(message: Message, t: dict[str, Any]) -> list[tuple[str, str]]:
    """The documented query, in the documented order (esms.md §4 Viber sample), with its SMSID's totals `t`."""
    telcoid, _ = network(message.phone)
    return [
        ("SMSID", message.batch_id or ""),
        ("SendFailed", str(t["SendFailed"])),
        ("SendStatus", "5"),  # this phone's final state is known: 5 "sent/finished"; its success is in the counts
        ("SendSuccess", str(t["SendSuccess"])),
        ("TotalPrice", f"{t['TotalPrice']:.4f}"),
        ("TotalReceiver", str(t["TotalReceiver"])),
        ("TotalSent", str(t["TotalSent"])),
        ("RequestId", message.meta.get("request_id", "")),
        ("TypeId", "23"),  # 23 = Viber
        ("telcoid", str(telcoid)),
        ("phonenumber", national(message.phone)),
    ]


def send_status_body(smsid: str, batch: list[Message], price: Decimal) -> dict[str, Any]:
    return {"CodeResponse": "100", "SMSID": smsid, "SendStatus": send_status_code(batch), **totals(batch, price)}


def receiver_list_body(batch: list[Message]) -> dict[str, Any]:
    return {
        "CodeResult": "100",
        "ReceiverList": [
            {
                "IsSent": m.status != Status.ACCEPTED,
                "NetworkName": network(m.phone)[1],
                "Phone": national(m.phone),
                "Retry": 0,
                "SentResult": m.status in SUCCESS,
            }
            for m in batch
        ],
    }
