"""Callbacks, delivery reports and receipts, sent in the background with timeout, retries and an attempt log.

Providers build a neutral `CallbackRequest` (eSMS: GET with query parameters; Infobip and NXCLOUD: POST JSON) and
`enqueue` it; the dispatcher sends it outside any client request, retries connection errors, timeouts, 5xx and 429
with back-off on the mock clock (product.md §9), and records every try as a `CallbackAttempt`.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from .. import __version__
from .clock import Clock
from .events import CALLBACK_ATTEMPTED, EventBus
from .http_client import HttpClient, ProtocolError
from .jsontext import dumps
from .lifecycle import Scheduler
from .masking import mask_url
from .models import CallbackAttempt, Message

log = logging.getLogger(__name__)

USER_AGENT = f"viber-mock-server/{__version__}"


@dataclass
class CallbackRequest:
    provider: str  # whose documented retry schedule applies with schedule = "provider"
    kind: str  # "callback" (eSMS), "report" (Infobip), "dr" / "mo" (NXCLOUD)
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)  # appended to url in this exact order
    json_body: Any = None  # sent as compact JSON when not None
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None  # the stored message it reports on
    body_bytes: bytes | None = None  # exact body, when the provider signs it (NXCLOUD)
    sign_as: str | None = None  # the account whose signature each try carries, made anew per try (its key, no secret)

    def to_record(self) -> dict[str, Any]:
        rec = {name: getattr(self, name) for name in ("provider", "kind", "method", "url", "json_body", "headers",
                                                      "message_id", "sign_as")}
        rec["query"] = [list(pair) for pair in self.query]
        rec["body_b64"] = base64.b64encode(self.body_bytes).decode() if self.body_bytes is not None else None
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "CallbackRequest":
        body = rec.get("body_b64")
        return cls(provider=rec["provider"], kind=rec["kind"], method=rec["method"], url=rec["url"],
                   query=[(k, v) for k, v in rec.get("query", [])], json_body=rec.get("json_body"),
                   headers=dict(rec.get("headers") or {}), message_id=rec.get("message_id"),
                   body_bytes=base64.b64decode(body) if body is not None else None, sign_as=rec.get("sign_as"))

    def full_url(self) -> str:
        if not self.query:
            return self.url
        # The callback URL may carry its own query already (e.g. ?token=...): the provider's parameters follow it, and
        # come before a #fragment (after one they would be part of it, and a fragment is never sent).
        url, hash_mark, fragment = self.url.partition("#")
        sep = "&" if "?" in url else "?"
        return url + sep + urlencode(self.query) + hash_mark + fragment

    def body(self) -> bytes | None:
        if self.body_bytes is not None:
            return self.body_bytes
        if self.json_body is None:
            return None
        return dumps(self.json_body).encode()


def host_key(host: str) -> str:
    """A host as [callbacks] allow_hosts compares it: "[::1]" as a URL writes it (RFC 3986 3.2.2), "::1" and
    "0:0:0:0:0:0:0:1" are one address, and "localhost." (the DNS root's dot) is "localhost"; case never counts."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.endswith("."):
        host = host[:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:  # a name, not an address
        return host


def fast_backoff(attempt: int) -> float:
    """Seconds before try `attempt + 1`: 0.5, 1, 2, 4 ... capped at 30 (product.md §9)."""
    # The exponent is capped before the power: max_attempts has no upper bound, and 2 ** 1024 overflows a float.
    return min(0.5 * 2 ** min(attempt - 1, 6), 30.0)


def _infobip_backoff(attempt: int) -> float:
    # Infobip OAS, notifyUrl: "1min + (1min * retryNumber * retryNumber)".
    return 60.0 + 60.0 * attempt * attempt


# schedule = "provider": each provider's documented (or, where silent, inferred) retry intervals.
PROVIDER_BACKOFF: dict[str, Callable[[int], float]] = {
    "infobip": _infobip_backoff,
    "esms": lambda attempt: 60.0,  # eSMS documents "up to 5 retries" but no interval (spec/providers/esms.md §4)
    "nxcloud": lambda attempt: 60.0,  # NXCLOUD's sibling callbacks retry every minute (spec/providers/nxcloud.md §3.3)
}


class CallbackDispatcher:
    """Sends callbacks with bounded concurrency; never raises into the caller; logs every attempt."""

    def __init__(
        self,
        *,
        clock: Clock,
        scheduler: Scheduler,
        events: EventBus,
        timeout: float = 5.0,
        max_attempts: int = 5,
        schedule: str = "fast",
        allow_hosts: list[str] | None = None,
        concurrency: int = 64,
        log_size: int = 10_000,
        lookup: Callable[[str], Message | None] = lambda _id: None,
        persist: Any = None,
        on_record: Callable[[Message], None] = lambda _m: None,
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.events = events
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.schedule = schedule
        # Compared by host_key: "[::1]" or "localhost." listed refused every callback to the very host they name.
        self.allow_hosts = {host_key(h) for h in (allow_hosts or [])}
        self._sem = asyncio.Semaphore(concurrency)
        self._lookup = lookup  # message id -> message, to attach attempts to it
        self._on_record = on_record  # a message gained an attempt (the durable store rewrites it)
        self.persist = persist if persist is not None and persist.enabled else None  # None: memory store
        scheduler.register("callback.retry", self._retry)
        self._client: HttpClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._log_size = log_size
        # provider -> (request, body) -> the signature headers of one try (NXCLOUD: accessKey, ts, ..., sign)
        self.signers: dict[str, Callable[[CallbackRequest, bytes], dict[str, str]]] = {}
        self.reset()

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.attempts: deque[CallbackAttempt] = deque(maxlen=self._log_size)  # every try, oldest first
        self.owed: dict[str, tuple[CallbackRequest, int]] = {}  # series -> (request, next try): not finished yet
        # message id -> its owed series: an evicted message's callbacks are found without walking every owed one
        # (a store at its cap evicts a message per message sent, and a receiver that is down lets `owed` grow).
        self._owed_by_message: dict[str, list[str]] = {}
        self._ids = itertools.count(1)
        self._series = itertools.count(1)

    async def start(self) -> None:
        # Not aiohttp's ClientSession: a callback costs a fifth of the CPU on this client (http_client.py), and it
        # never re-sends a request by itself (aiohttp retries an idempotent GET once when a kept-alive connection
        # drops, which would reach the receiver without an attempt of its own in the log).
        self._client = HttpClient(user_agent=USER_AGENT)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    def backoff(self, provider: str, attempt: int) -> float:
        if self.schedule == "provider":
            return PROVIDER_BACKOFF.get(provider, fast_backoff)(attempt)
        return fast_backoff(attempt)

    @property
    def pending(self) -> int:
        """Callbacks sent or owed but not finished (delivered, or given up)."""
        return len(self.owed)

    def enqueue(self, request: CallbackRequest) -> None:
        """Send `request` now, in the background."""
        series = f"s_{next(self._series)}"
        self._owe(series, request, 1)
        self._spawn(request, 1, series)

    def _owe(self, series: str, request: CallbackRequest, attempt: int) -> None:
        self._add_owed(series, request, attempt)
        if self.persist is not None:
            self.persist.put(f"callback/{series}", {"request": request.to_record(), "attempt": attempt})

    def _add_owed(self, series: str, request: CallbackRequest, attempt: int) -> None:
        if series not in self.owed and request.message_id is not None:
            self._owed_by_message.setdefault(request.message_id, []).append(series)
        self.owed[series] = (request, attempt)

    def _retry(self, _due: float, series: str) -> None:
        owed = self.owed.get(series)
        if owed is not None:
            self._spawn(owed[0], owed[1], series)

    def _spawn(self, request: CallbackRequest, attempt: int, series: str) -> None:
        task = asyncio.get_running_loop().create_task(self._attempt(request, attempt, series))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dump_counters(self) -> dict[str, int]:
        # Peek: reading an itertools.count advances it, so put a fresh one back at the same value.
        ids, series = next(self._ids), next(self._series)
        self._ids, self._series = itertools.count(ids), itertools.count(series)
        return {"ids": ids - 1, "series": series - 1}

    def forget_message(self, message_id: str) -> None:
        """A message was cleared or evicted: what is still owed for it is not sent (retries included)."""
        for series in self._owed_by_message.pop(message_id, ()):
            self._settle(series)

    def _settle(self, series: str) -> None:
        """Nothing more is owed for `series` (delivered, given up, or its message is gone)."""
        owed = self.owed.pop(series, None)
        if owed is None:
            return
        message_id = owed[0].message_id
        others = self._owed_by_message.get(message_id) if message_id is not None else None
        if others is not None:
            if series in others:
                others.remove(series)
            if not others:
                del self._owed_by_message[message_id]
        if self.persist is not None:
            self.persist.delete(f"callback/{series}")

    def restore(self, counters: dict[str, int], owed: dict[str, dict[str, Any]], retrying: set[str]) -> None:
        """After a restart: owed callbacks come back; those not waiting for a retry job are sent again at once."""
        self._ids = itertools.count(counters.get("ids", 0) + 1)
        self._series = itertools.count(counters.get("series", 0) + 1)
        for series, rec in owed.items():
            self._add_owed(series, CallbackRequest.from_record(rec["request"]), int(rec["attempt"]))
        self._resend = [s for s in self.owed if s not in retrying]

    def restore_log(self, attempts: list[CallbackAttempt]) -> None:
        """The attempt log after a restart, from the attempts the restored messages carry (replay works again)."""
        # In the order they were logged: ids are numbered as each joins the log (_attempt), whatever time it began.
        for attempt in sorted(attempts, key=lambda a: int(a.id[3:]) if a.id[3:].isdigit() else 0):
            self.attempts.append(attempt)

    def resume(self) -> None:
        """Send what was in flight when the server stopped (called once the loop runs)."""
        for series in getattr(self, "_resend", []):
            owed = self.owed.get(series)
            if owed is not None:  # not settled since (its message evicted by a lower cap at restore)
                self._spawn(owed[0], owed[1], series)
        self._resend = []

    def _host_allowed(self, url: str) -> bool:
        if not self.allow_hosts:
            return True
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:  # not even a URL (e.g. "http://[::1"): no host to allow
            return False
        return bool(host) and host_key(host) in self.allow_hosts

    async def _attempt(self, request: CallbackRequest, attempt: int, series: str) -> None:
        url = request.full_url()
        body = request.body()
        headers = dict(request.headers)
        signer = self.signers.get(request.provider) if request.sign_as is not None else None
        if signer is not None:
            # Signed for this try, not once for the series: NXCLOUD's ts is the wall clock of the sending, tolerated
            # within 60 s (nxcloud.md §1.1; product.md §9 "it guards transport freshness"), and a retry that kept its
            # first try's ts was stale by that rule a minute on (every retry of schedule = "provider", every callback
            # re-sent after a restart).
            headers.update(signer(request, body or b""))
        if request.json_body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        # The record shows the URL with its password masked (it is sent as Basic auth, not shown): the log is served,
        # pushed as events and written to the durable store. `source` keeps the real one for the re-send.
        shown = mask_url(url)
        record = CallbackAttempt(
            message_id=request.message_id,
            url=shown,
            method=request.method,
            attempt=attempt,
            at=self.clock.now(),
            kind=request.kind,
            request={"headers": headers, "body": body.decode("utf-8", "replace") if body is not None else None},
            source=request,
        )
        retryable = False
        if not self._host_allowed(url):
            record.error = f"host not allowed: {shown!r} names no host in [callbacks] allow_hosts"
        elif self._client is None:
            record.error = "dispatcher not running"
        else:
            started = time.perf_counter()
            async with self._sem:
                if series not in self.owed:
                    # Its message was cleared or evicted while this try waited for a free slot (forget_message): not
                    # sent, as an owed retry is not. Checked only after the wait, it went out to the receiver.
                    return
                try:
                    answer = await self._client.request(request.method, url, headers=headers, body=body,
                                                        timeout=self.timeout)
                    record.status = answer.status
                    record.response_body = answer.body.decode("utf-8", "replace")
                except TimeoutError:
                    record.error = f"timeout after {self.timeout:g} s"
                    retryable = True
                except (OSError, ProtocolError, ValueError) as exc:
                    # A bad URL's error may quote it (http_client: "no host in 'http://user:pass@/cb'").
                    record.error = f"{type(exc).__name__}: {mask_url(str(exc))}" if str(exc) else type(exc).__name__
                    # A ValueError alone is a URL or header that cannot be sent (a port out of range, no host, a name
                    # no resolver takes): it fails the same way every time, none of the tries product.md §4 retries
                    # ("connection errors, timeouts, 5xx and 429"). A TLS certificate error is both OSError and
                    # ValueError: a connection error, retried.
                    retryable = isinstance(exc, (OSError, ProtocolError))
            record.latency_ms = int((time.perf_counter() - started) * 1000)
        if record.status is not None:
            record.delivered = 200 <= record.status < 300
            retryable = record.status >= 500 or record.status == 429
        # Its message was cleared or evicted while this try was out (forget_message settled the series): no retry.
        gone = series not in self.owed
        give_up = not record.delivered and (not retryable or attempt >= self.max_attempts or gone)
        record.final = record.delivered or give_up
        if give_up:
            why = "not retried: its message is gone" if gone else f"gave up after {attempt} attempt(s)"
            record.error = f"{record.error or f'HTTP {record.status}'}; {why}"
        if record.final:
            self._settle(series)
        else:
            self._owe(series, request, attempt + 1)
            self.scheduler.after(self.backoff(request.provider, attempt), "callback.retry", series)
        # Numbered as it joins the log, not as the try starts: tries run side by side and finish in any order, and a
        # restart lines the log up again by this number (restore_log). Numbered at the start, two tries begun at one
        # mock time came back in the order they began, not the order they were logged in.
        record.id = f"cb_{next(self._ids)}"
        self._record(record)
        if self.persist is not None:
            self.persist.flush_soon()

    def find(self, attempt_id: str) -> CallbackAttempt | None:
        return next((a for a in self.attempts if a.id == attempt_id), None)

    def replay(self, attempt: CallbackAttempt) -> None:
        """Send a recorded callback again, as a new series of tries (the inbox's "re-send")."""
        self.enqueue(attempt.source)

    def _record(self, record: CallbackAttempt) -> None:
        self.attempts.append(record)
        message = self._lookup(record.message_id) if record.message_id else None
        if message is not None:
            if isinstance(message.callbacks, list):
                message.callbacks.append(record)
            else:
                message.callbacks = [record]  # the shared empty tuple until now (models.Message)
            self._on_record(message)
        if self.events.active:
            self.events.publish(CALLBACK_ATTEMPTED, record.to_json())
