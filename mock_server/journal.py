"""The request journal: every provider request received, with the answer given and why (GET /_mock/requests).

A root middleware, so it sees the final answer of every sub-app, the faults included. Secrets are masked where they
are written (Authorization and Cookie headers, SecretKey / password / secret fields in bodies and queries, the secret
path segment of eSMS's GetBalance and GetListBrandname, the password of a URL's userinfo in a CallbackUrl or
notifyUrl). The control API and the UI are not journaled: the journal is about what your service sent to the
providers.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import re
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from .core.clock import iso_utc
from .core.masking import MASK, mask_url

BODY_LIMIT = 64 * 1024  # bytes of each body kept in the journal
PACK_OVER = 4096  # answers longer than this are kept zlib-compressed (level 1: ~50 us for 20 KB)
_SECRET_KEYS = re.compile(r"secret|password|passwd|access_?secret", re.IGNORECASE)
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}
# eSMS puts the secret in the path: GetBalance/{ApiKey}/{SecretKey}, GetListBrandname/{ApiKey}/{SecretKey}.
_SECRET_PATH = re.compile(r"(?i)(/(?:GetBalance|GetListBrandname)/[^/]*/)[^/]+")

# Path roots of the emulated providers (product.md §1).
PROVIDER_ROOTS = (("/MainService.svc", "esms"), ("/omni", "infobip"), ("/api/viber", "nxcloud"))


def provider_of(path: str) -> str | None:
    for root, name in PROVIDER_ROOTS:
        if path == root or path.startswith(root + "/"):
            return name
    return None


@dataclass(slots=True)
class Entry:
    """One request. What it keeps is raw (cheap on the request path); masking happens when it is read or stored."""

    id: str  # "req_<n>"
    seq: int
    at: float  # mock-clock time it arrived
    provider: str  # esms | infobip | nxcloud | unknown
    method: str
    raw_path: str  # as received (secrets unmasked until read)
    raw_query: str
    raw_headers: Any  # the request's header mapping
    raw_body: bytes | None = None  # the first BODY_LIMIT bytes at most
    note: str | None = None  # why the body was not kept, instead of it
    status: int = 0
    raw_response: bytes | None = None  # the first BODY_LIMIT bytes of the answer (zlib-packed when `packed`)
    reason: str | None = None  # X-Mock-Reason of the answer
    fault: str | None = None  # the fault injected, if any
    latency_ms: float = 0.0
    packed: bool = False  # raw_response is zlib-compressed (answers over PACK_OVER bytes)
    masked_path: str | None = None  # `path`, worked out the first time it is read (never on the request path)

    @property
    def path(self) -> str:
        # Kept once worked out: a `path` filter reads it for every entry of the journal, and a test waiting with
        # wait_for_request(path=...) asks again on every request recorded (5 000 entries: ~22 ms a call,
        # bench/queries.py). The path and query it comes from never change.
        if self.masked_path is None:
            self.masked_path = mask_path(self.raw_path, self.raw_query)
        return self.masked_path

    @property
    def headers(self) -> dict[str, str]:
        return mask_headers(self.raw_headers)

    @property
    def body(self) -> str | None:
        return self.note if self.note is not None else mask_body(self.raw_body or b"")

    @property
    def response_body(self) -> str | None:
        if self.raw_response is None:
            return None
        raw = zlib.decompress(self.raw_response) if self.packed else self.raw_response
        return raw.decode("utf-8", "replace")

    def keep_response(self, payload: bytes) -> None:
        payload = payload[:BODY_LIMIT] if len(payload) > BODY_LIMIT else payload
        if len(payload) > PACK_OVER:
            # A 100-destination Infobip answer is ~21 KB of one status object repeated; packed it is ~3 KB. The
            # journal keeps 5 000 answers, and they were a tenth of the memory per stored message (bench/run.py).
            self.raw_response, self.packed = zlib.compress(payload, 1), True
        else:
            self.raw_response = payload

    def to_record(self) -> dict[str, Any]:
        """Masked, for the durable store: no secret reaches the disk."""
        body = self.body
        return {"id": self.id, "seq": self.seq, "at": self.at, "provider": self.provider, "method": self.method,
                "raw_path": self.path, "raw_query": "", "raw_headers": self.headers,
                "raw_body": None if body is None else body, "note": self.note, "status": self.status,
                "raw_response": self.response_body, "reason": self.reason, "fault": self.fault,
                "latency_ms": self.latency_ms}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Entry":
        rec = dict(rec)
        for name in ("raw_body", "raw_response"):
            if isinstance(rec.get(name), str):
                rec[name] = rec[name].encode("utf-8")
        return cls(**rec)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": iso_utc(self.at), "provider": self.provider, "method": self.method,
            "path": self.path, "headers": self.headers, "body": self.body, "status": self.status,
            "response_body": self.response_body, "reason": self.reason, "fault": self.fault,
            "latency_ms": self.latency_ms,
        }


def mask_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {MASK}".strip()
        out[name] = value
    return out


def mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if _SECRET_KEYS.search(k) else mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    if isinstance(value, str):
        return mask_url(value)  # a CallbackUrl / notifyUrl with user:password@
    return value


def _mask_pair(key: str, value: str) -> tuple[str, str]:
    return key, MASK if _SECRET_KEYS.search(key) else mask_url(value)


# JSON text that could not be parsed (cut at BODY_LIMIT, or malformed) is read as a sequence of string literals, each
# once: a literal ends at its closing quote or, cut, at the text's end (possessive, no retry from a quote inside it).
# Two regexes retried from every quote up to the text's end: a 64 KB body of a\"b repeated, never closed, held the
# event loop 25 s each time the journal was read.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:(")|\\?\Z)')
# After a key: its colon, and a bare value (eSMS binds "SecretKey": 1234 to its string too).
_MEMBER_COLON = re.compile(r'\s*+:\s*+([^\s,}\]"]*+)')


def _decoded(literal: str, closed: bool) -> str | None:
    """A string literal's value; a cut one as far as it goes; None if it cannot be read."""
    if not closed:
        literal = literal.rstrip("\\") + '"'  # (a cut escape dropped)
    if "\\" not in literal:
        return literal[1:-1]
    try:
        return json.loads(literal)
    except ValueError:
        return None


def mask_json_text(text: str) -> str:
    """Unparsed JSON text with secret members ("SecretKey": "..." or a bare number) and URL passwords masked. A literal
    with an escape is written out plainly, masked: a client may spell an @ as \\u0040, a / as \\/, an e of SecretKey
    as \\u0065, a tab that urlsplit drops as \\t, and the masks read the text as it stands."""
    out: list[str] = []
    done = 0
    mask_next = False
    for m in _JSON_STRING.finditer(text):
        literal = m.group(0)
        out.append(mask_url(text[done:m.start()]))
        done = m.end()
        if mask_next:  # the value of a secret member
            out.append('"***"')
            mask_next = False
            continue
        value = _decoded(literal, m.group(1) is not None)
        after = _MEMBER_COLON.match(text, m.end())
        if after is not None and value is not None and _SECRET_KEYS.search(value):
            out.append(literal + text[m.end():after.start(1)])
            done = after.end()
            if after.group(1):  # a bare value
                out.append('"***"')
            else:
                mask_next = True
            continue
        if "\\" in literal and value is not None:
            if (masked := mask_url(value)) is not value:  # written out plainly only where a password is masked
                literal = json.dumps(masked, ensure_ascii=False)
                try:
                    literal.encode("utf-8")  # a lone surrogate escape ("\\ud800") has no UTF-8 form: kept escaped
                except UnicodeEncodeError:
                    literal = json.dumps(masked)
                if m.group(1) is None:  # cut: still open
                    literal = literal[:-1]
        else:
            literal = mask_url(literal)
        out.append(literal)
    out.append(mask_url(text[done:]))
    return "".join(out)


def mask_body(raw: bytes) -> str | None:
    if not raw:
        return None
    text = raw[:BODY_LIMIT].decode("utf-8", "replace")
    try:
        if len(raw) <= BODY_LIMIT:
            return json.dumps(mask_json(json.loads(raw)), ensure_ascii=False)
    except (ValueError, RecursionError):
        pass
    if text.lstrip("\ufeff \t\r\n").startswith(("{", "[")):  # a BOM too: eSMS reads the JSON after one
        return mask_json_text(text)
    if "=" in text and "&" in text or text.count("=") == 1:
        pairs = parse_qsl(text, keep_blank_values=True)
        if pairs:
            return urlencode([_mask_pair(k, v) for k, v in pairs], safe="*")
    return mask_url(text)


def mask_path(path: str, query: str) -> str:
    path = _SECRET_PATH.sub(lambda m: m.group(1) + MASK, path)
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        path += "?" + urlencode([_mask_pair(k, v) for k, v in pairs], safe=":/{}*")
    return path


class Journal:
    """A bounded log of requests, oldest evicted first."""

    def __init__(self, max_entries: int = 5000, persist: Any = None) -> None:
        self.max_entries = max_entries
        self.persist = persist  # the durable store (--store sqlite:PATH) keeps the journal across restarts
        self.reset()

    def reset(self) -> None:
        self.entries: deque[Entry] = deque(maxlen=self.max_entries)
        self._seq = itertools.count(1)
        self.evicted = 0  # entries dropped to keep the bound

    def add(self, entry: Entry) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.evicted += 1
            if self.persist is not None:
                self.persist.delete(_key(self.entries[0].seq))
        self.entries.append(entry)
        if self.persist is not None:
            self.persist.put(_key(entry.seq), entry.to_record)  # called at flush: the entry is complete by then

    def touch(self, entry: Entry) -> None:
        if self.persist is not None:
            self.persist.put(_key(entry.seq), entry.to_record)

    def restore(self, rows: dict[str, Any]) -> None:
        """Entries read back from the durable store, oldest first."""
        for key in sorted(rows):
            self.entries.append(Entry.from_record(rows[key]))
        if self.entries:
            self._seq = itertools.count(self.entries[-1].seq + 1)

    def next_seq(self) -> int:
        return next(self._seq)

    def query(self, *, provider: str | None = None, path: str | None = None, status: int | None = None,
              since_seq: int | None = None, since_at: float | None = None, limit: int | None = None) -> tuple[list[Entry], int]:
        needle = path.lower() if path else None
        matched = [
            e for e in reversed(self.entries)
            if (provider is None or e.provider == provider)
            and (needle is None or needle in e.path.lower())
            and (status is None or e.status == status)
            and (since_seq is None or e.seq > since_seq)
            and (since_at is None or e.at >= since_at)
        ]
        return (matched if limit is None else matched[:limit]), len(matched)


def _key(seq: int) -> str:
    return f"journal/{seq:012d}"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The entry of the request being handled, for the fault middleware to note what it injected.
current_entry: contextvars.ContextVar[Entry | None] = contextvars.ContextVar("journal_entry", default=None)


REQUEST_RECORDED = "request.recorded"  # the event published once an entry is complete (GET /_mock/events)


def journal_middleware(journal: Journal, now: Callable[[], float], events: Any = None,
                       answer: Callable[[web.Request, web.HTTPException], web.StreamResponse | None] | None = None) -> Any:
    """Record each provider request (and unknown paths) with the answer given; tell the event bus when one is done.
    `answer` turns an HTTP exception (a path no provider serves) into the answer the root layer would give for it."""

    def recorded(entry: Entry) -> None:
        if events is not None and events.active:
            events.publish(REQUEST_RECORDED, entry.to_json())

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_mock") or request.path == "/":
            return await handler(request)
        started = time.perf_counter()
        seq = journal.next_seq()
        entry = Entry(
            id=f"req_{seq}", seq=seq, at=now(), provider=provider_of(request.path) or "unknown",
            method=request.method, raw_path=request.path, raw_query=request.query_string,
            raw_headers=request.headers,
        )
        token = current_entry.set(entry)
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                # Answered here, not by the root layer outside: the entry keeps that answer, its reason and the body
                # (it kept only the status of a wrong base URL's 404).
                converted = answer(request, exc) if answer is not None else None
                if converted is None:
                    raise
                response = converted
        except BaseException as exc:  # an HTTP exception, a dropped connection, a cancelled handler: still journaled
            if isinstance(exc, web.HTTPException):
                entry.status = exc.status
                entry.reason = exc.headers.get("X-Mock-Reason")
            else:
                entry.note = f"(no answer: {type(exc).__name__})"
            entry.latency_ms = round((time.perf_counter() - started) * 1000, 3)
            recorded(entry)
            raise
        finally:
            current_entry.reset(token)
            entry.latency_ms = round((time.perf_counter() - started) * 1000, 3)
            journal.add(entry)
        entry.status = response.status
        entry.reason = response.headers.get("X-Mock-Reason")
        # The body is read after the handler: aiohttp caches what the handler read, and reading first would leave the
        # handler only the unread tail of an over-limit body.
        if response.status == 413:
            entry.note = "(body larger than [server] max_body_bytes; not kept)"
        elif request.body_exists:
            try:
                raw = await request.read()
                entry.raw_body = raw if len(raw) <= BODY_LIMIT else raw[:BODY_LIMIT]
            except (web.HTTPException, ConnectionError):
                entry.note = "(body not read)"
            except web.RequestPayloadError:
                # A body that does not decode as its Content-Encoding: the handler answered it (httputil.read_bytes),
                # and aiohttp drops the connection after this answer, so the client is told not to reuse it.
                entry.note = "(body not read: it does not decode as its Content-Encoding)"
                response.force_close()
        payload = getattr(response, "body", None)
        if isinstance(payload, (bytes, bytearray)):
            entry.keep_response(bytes(payload))
        journal.touch(entry)  # complete now: a flush that ran while the body was read wrote it without
        recorded(entry)
        return response

    return middleware
