"""Provider-neutral records: a message, its status changes and its callback attempts (product.md §5.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from .clock import iso_utc
from .masking import mask_urls_in


class Status(str, Enum):
    """Neutral statuses; each provider's codec maps them to its own vocabulary."""

    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    SEEN = "seen"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"

    # Set on each member below, as plain attributes: a property (a Python call around a set lookup) was ~0.1 µs a call
    # against ~0.015 for an attribute, asked ~8 times per message of a 100-phone send (bench/profile.py esms_100).
    final: bool  # DELIVERED is final for the sender (the report fires) even though SEEN may follow it
    success: bool  # DELIVERED or SEEN


# Scheduled jobs carry a status's value (they are stored as JSON); the dict is a faster way back than Status(value).
STATUS_BY_VALUE = {s.value: s for s in Status}

FINAL_STATUSES = frozenset({Status.DELIVERED, Status.SEEN, Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED})
for _status in Status:
    _status.final = _status in FINAL_STATUSES
    _status.success = _status in (Status.DELIVERED, Status.SEEN)


@dataclass(slots=True)
class StatusChange:
    status: Status
    at: float  # mock-clock epoch seconds
    channel: str | None = None  # set when the change happened on another channel (Infobip failover)
    detail: str | None = None  # why, in words (e.g. "rule r_3", "magic number 55501")

    def to_record(self) -> list[Any]:
        return [self.status.value, self.at, self.channel, self.detail]

    @classmethod
    def from_record(cls, rec: list[Any]) -> "StatusChange":
        return cls(Status(rec[0]), rec[1], rec[2], rec[3])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "at": iso_utc(self.at)}
        if self.channel:
            out["channel"] = self.channel
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class CallbackAttempt:
    message_id: str | None  # the message it reports on (None for callbacks not tied to one message)
    url: str
    method: str
    attempt: int  # 1 for the first try
    at: float  # mock-clock time the try started
    status: int | None = None  # HTTP status received, None when no answer
    error: str | None = None  # connection error, timeout, "host not allowed", ...
    latency_ms: int = 0
    kind: str = "callback"  # provider's word: "callback" (eSMS), "report" (Infobip), "dr" / "mo" (NXCLOUD)
    request: dict[str, Any] = field(default_factory=dict)  # what was sent: params or json, headers
    response_body: str | None = None  # first KB of the answer
    final: bool = False  # no more tries will follow (delivered, or gave up)
    delivered: bool = False  # a 2xx was received
    id: str = ""  # "cb_<n>", for replay
    source: Any = field(default=None, repr=False)  # the CallbackRequest sent, kept for replay (not serialised)

    def to_record(self) -> dict[str, Any]:
        """Everything, raw, for the durable store (the request it sent included, for replay)."""
        rec = {name: getattr(self, name) for name in _ATTEMPT_FIELDS}
        rec["source"] = self.source.to_record() if self.source is not None else None
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "CallbackAttempt":
        from .callbacks import CallbackRequest

        source = rec.get("source")
        return cls(**{name: rec[name] for name in _ATTEMPT_FIELDS if name in rec},
                   source=CallbackRequest.from_record(source) if source else None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "kind": self.kind,
            "url": self.url,
            "method": self.method,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "at": iso_utc(self.at),
            "latency_ms": self.latency_ms,
            "delivered": self.delivered,
            "final": self.final,
            "request": self.request,
            "response_body": self.response_body,
        }


_ATTEMPT_FIELDS = ("message_id", "url", "method", "attempt", "at", "status", "error", "latency_ms", "kind", "request",
                   "response_body", "final", "delivered", "id")


# A request body longer than this is left out of a message's summary (Message.to_json): 4 KB holds any single send and
# a 100-phone eSMS or 50-destination Infobip one; a bigger body is its batch's, repeated on every message of it.
SUMMARY_BODY_LIMIT = 4096
_LEFT_OUT: Any = object()  # Message._json / _record: no raw_request at all (None is a body: JSON null)


def plain(raw_request: Any) -> Any:
    """The request body as JSON values, whichever way it is kept.

    A body is kept as the bytes received (already checked to be a JSON object; the same object the request journal
    keeps) and parsed when shown. The messages of one request share it: ~45 bytes per destination of a 100-destination
    Infobip send, where the parsed dict and lists cost ~450 (bench/run.py memory). Bare bytes, no wrapper: JSON values
    are never bytes, and a wrapper object was 40 bytes of every message sent one a request.
    """
    if isinstance(raw_request, bytes):
        return json.loads(raw_request.decode("utf-8-sig"))  # a BOM is tolerated on the way in (httputil.parse_json)
    return raw_request


class Derived:
    """A message's content kept as the way to work it out from its request body, and worked out when shown.

    An Infobip destination sent alone ends its walk holding the parsed data object of its last step: ~250 bytes of
    every such message (bench/run.py --scenarios memory), a copy of what its body's bytes already hold. One `Derived`
    per way (channel and endpoint) is shared by every message; `of` takes the body as JSON values.
    """

    __slots__ = ("of",)

    def __init__(self, of: Callable[[Any], Any]) -> None:
        self.of = of


def shown(raw_request: Any, value: Any = None) -> Any:
    """The request body as the inbox shows it: a callback URL's password masked (CallbackUrl, notifyUrl), as eSMS's
    SecretKey is masked before it is kept. Kept as received, since the body is the journal's bytes too. `value`: the
    body already parsed (plain), not changed here."""
    value = plain(raw_request) if value is None else value
    # No @ in the bytes, no userinfo: the shortcut for nearly every body. JSON may spell an @ as \u0040 too (the
    # URL sent to has its password all the same), so a body with that escape is looked at.
    if isinstance(raw_request, bytes) and b"@" not in raw_request and b"\\u0040" not in raw_request:
        return value
    return mask_urls_in(value)


@dataclass(slots=True)
class Message:
    id: str  # "m_" + hex, ours
    provider: str  # esms | infobip | nxcloud
    provider_id: str  # what the provider calls it: eSMS SMSID, Infobip messageId, NXCLOUD requestId
    account: str  # api key / username / access key
    phone: str  # as the client sent it
    phone_intl: str  # international digits, for matching both forms
    channel: str  # viber | sms (the channel currently tried)
    content: dict[str, Any] | Derived  # text, image, button_text, button_url, ... (neutral names); shown_content()
    created_at: float
    status: Status = Status.ACCEPTED
    # A tuple, replaced at each change: a list grown by append was 88 bytes for three changes, a tuple is 64 (memory per
    # message, bench/run.py --scenarios memory).
    history: tuple[StatusChange, ...] = ()
    # Most messages never call back, or not yet: an empty tuple is shared, a list is made on the first attempt.
    callbacks: list[CallbackAttempt] | tuple[()] = ()
    batch_id: str | None = None  # groups the messages of one request: SMSID, bulkId
    meta: dict[str, Any] = field(default_factory=dict)  # provider-only facts (callback URL, RequestId, price, ...)
    raw_request: Any = None  # the request body as received (JSON values, or its bytes: plain()), for the inbox
    seq: int = -1  # insertion number in the store (orders index lookups newest first); -1 while not stored

    def shown_content(self, body: Any = None) -> Any:
        """The content as JSON values: worked out from the request body (given, or parsed here) when it is Derived."""
        content = self.content
        if isinstance(content, Derived):
            return content.of(plain(self.raw_request) if body is None else body)
        return content

    def to_json(self, *, summary: bool = False) -> dict[str, Any]:
        """The message as the control API shows it. `summary` (the event stream, `GET /_mock/messages?view=summary`)
        leaves out a request body over SUMMARY_BODY_LIMIT bytes: a big batch's body is the same on each of its
        messages, and a 5 000-phone eSMS send with the inbox open parsed and pushed its 65 KB body three times per
        phone (the send took 2.5 s instead of 31 ms, its delivery 5.4 s instead of 8 ms, 157 MB of events)."""
        raw = self.raw_request
        if summary and isinstance(raw, bytes) and len(raw) > SUMMARY_BODY_LIMIT:
            return self._json(None)  # the body left out (content Derived from it is still worked out from it)
        value = plain(raw)
        # Content derived from the body (Derived) is worked out from the body as received, not as shown: the masking
        # is for the body's callback URL, and content kept as a dict (a send to several, a walk under way) shows the
        # text as sent, URLs and all, as the provider's own logs do.
        return self._json(value, shown(raw, value))

    def _json(self, value: Any, body: Any = _LEFT_OUT) -> dict[str, Any]:
        """`value`: the body parsed, for shown_content (None: parsed there if needed); `body`: raw_request as shown,
        or _LEFT_OUT for none."""
        out = {
            "id": self.id,
            "provider": self.provider,
            "provider_id": self.provider_id,
            "account": self.account,
            "phone": self.phone,
            "channel": self.channel,
            "content": self.shown_content(value),
            "status": self.status.value,
            "created_at": iso_utc(self.created_at),
            "history": [h.to_json() for h in self.history],
            "callbacks": [c.to_json() for c in self.callbacks],
            "batch_id": self.batch_id,
            # The callback URL in meta is the one sent to (with its credentials); shown, its password is masked.
            "meta": mask_urls_in(self.meta),
        }
        if body is not _LEFT_OUT:
            out["raw_request"] = body
        return out

    def to_record(self, *, with_body: bool = True) -> dict[str, Any]:
        """Everything, raw (float times), for the durable store; the request body as shown, the content as to_json
        shows it (worked out from the body as received). Without the body (`with_body=False`), `raw_request` is left
        for the caller to write once for all the messages that share it (persist: a big batch's body)."""
        if not with_body:
            return self._record(None)
        value = plain(self.raw_request)
        return self._record(value, shown(self.raw_request, value))

    def shown_body(self) -> Any:
        """The request body as to_json and to_record show it (a callback URL's password masked)."""
        return shown(self.raw_request)

    def _record(self, value: Any, body: Any = _LEFT_OUT) -> dict[str, Any]:
        """As _json, for to_record."""
        rec = {
            "id": self.id, "provider": self.provider, "provider_id": self.provider_id, "account": self.account,
            "phone": self.phone, "phone_intl": self.phone_intl, "channel": self.channel,
            "content": self.shown_content(value), "created_at": self.created_at, "status": self.status.value,
            "history": [h.to_record() for h in self.history],
            "callbacks": [c.to_record() for c in self.callbacks],
            # meta keeps the callback URL as sent to (a restart sends what is owed); the body is for the inbox only,
            # kept as shown, as eSMS's SecretKey is masked before the body is kept at all.
            "batch_id": self.batch_id, "meta": self.meta,
        }
        if body is not _LEFT_OUT:
            rec["raw_request"] = body
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Message":
        return cls(
            id=rec["id"], provider=rec["provider"], provider_id=rec["provider_id"], account=rec["account"],
            phone=rec["phone"], phone_intl=rec["phone_intl"], channel=rec["channel"], content=rec["content"],
            created_at=rec["created_at"], status=Status(rec["status"]),
            history=tuple(StatusChange.from_record(h) for h in rec["history"]),
            callbacks=[CallbackAttempt.from_record(c) for c in rec["callbacks"]],
            batch_id=rec["batch_id"], meta=rec["meta"], raw_request=rec["raw_request"],
        )
