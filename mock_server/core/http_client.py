"""A small keep-alive HTTP/1.1 client for callbacks: one request, one status, the start of the body.

Callbacks were sent with aiohttp's ClientSession, whose per-request machinery (tracing, cookies, redirects, auth,
timeouts, a response object with a stream) cost about as much CPU as answering the send that caused the callback
(bench/profile.py esms_1: 250 µs of the 480 µs a send with a CallbackUrl costs). A callback needs none of it: write one
request on a pooled connection, read the status line and the body (httptools, the C parser uvicorn uses, handles
Content-Length, chunked and close-delimited bodies), keep the first KB for the attempt log.

What it does, and what it deliberately does not:
- HTTP/1.1 with keep-alive, one idle pool per (scheme, host, port); a connection the peer closed or answered with
  `Connection: close` (or HTTP/1.0) is not reused, nor one on which bytes came that no request asked for (a stray
  body, a second answer, an idle-timeout 408): their framing can no longer be trusted. Idle connections older than
  `max_idle_seconds` are closed by a sweep. https through the default SSL context.
- Answers are parsed as leniently as aiohttp's client parsed them: no reason phrase, bare-LF line ends, obs-folds.
- No redirects (a 3xx is the receiver's answer, recorded as such), no retries (every try is the dispatcher's to count),
  no compression (no Accept-Encoding is sent, so a receiver has no reason to compress).
- The request target is sent percent-encoded: a byte that is not printable ASCII, or a space, cannot end the request
  line early (no header injection through a client-supplied callback URL). Header values with CR/LF are refused.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httptools

MAX_KEPT = 1024  # bytes of the answer's body kept for the attempt log
MAX_BODY = 1 << 20  # a longer answer is read no further: the connection is closed instead of drained
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII stays as written (an existing %XX too)


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes  # the first MAX_KEPT bytes


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # the request target: path and query, percent-encoded
    host_header: str
    authorization: str | None  # from user:password@ in the URL, as a browser or aiohttp would send it

    @classmethod
    def parse(cls, url: str) -> "Target":
        parts = urlsplit(url)  # ValueError for an unparseable URL (e.g. a bad port, an unclosed [)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {url!r}")
        port = parts.port
        if port is None:
            port = 443 if scheme == "https" else 80
        elif port == 0:  # "http://h:0/" is no port to connect to (it was taken for the default 80)
            raise ValueError("Port 0 is not a port to connect to")
        path = quote(parts.path or "/", safe=_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_SAFE)
        host = host if host.isascii() else host.encode("idna").decode("ascii")  # UnicodeError is a ValueError
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == (443 if scheme == "https" else 80) else f"{shown}:{port}"
        auth = None
        if parts.username is not None:
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
        return cls(scheme, host, port, path, host_header, auth)


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> Target:
    """Target.parse, remembered: a webhook URL is the same for every callback (~3 µs a parse; a bad URL raises anew)."""
    return Target.parse(url)


class _Connection(asyncio.Protocol):
    """One socket, one request at a time; the httptools parser calls back into it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        # As aiohttp's client parser: a bare LF ends a line (RFC 9112 §2.2 allows it) and an obs-fold is read as a
        # space (§5.2: a user agent MUST). Duplicate Content-Length or CL with chunked stay errors.
        self.parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_headers=True)
        self.closed = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._status = 0
        self._body = bytearray()
        self._size = 0
        self._headers_done = False
        self.reusable = False
        self.spoiled = False  # bytes came that no request asked for: the framing of what follows can't be trusted

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # on an idle connection (or after a cut-off answer): nobody asked for these bytes
            self.reusable = False
            self.spoiled = True
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the peer switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"malformed answer: {exc}"))

    def eof_received(self) -> bool | None:
        # The peer closed its side. After the status line and headers, that ends the answer: a close-delimited body
        # (no Content-Length, not chunked) ends exactly so, and a cut-short body still carried the receiver's status,
        # which is what the attempt log records. Before them, the peer hung up without answering.
        self.reusable = False
        if self._headers_done and self._status >= 200:
            self._finish()
        else:
            self._fail(ConnectionResetError("the peer closed the connection before answering"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed before the answer was complete"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second answer in the same packet as the one asked for
            self.spoiled = True
            self.reusable = False
        self._body = bytearray()
        self._size = 0
        self._headers_done = False

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._status = self.parser.get_status_code()  # on_status only fires for a non-empty reason phrase

    def on_status(self, _status: bytes) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, data: bytes) -> None:
        self._size += len(data)
        if len(self._body) < MAX_KEPT:
            self._body += data[: MAX_KEPT - len(self._body)]
        if self._size > MAX_BODY:
            self.reusable = False
            self._finish()

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            return
        self.reusable = not self.spoiled and bool(self.parser.should_keep_alive())
        self._finish()

    # the request
    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.reusable = False
        self._status = 0
        self._headers_done = False
        self.transport.write(data)
        return self._waiter

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, bytes(self._body)))

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """Requests over pooled keep-alive connections. Raises OSError (connection), TimeoutError, ValueError (bad URL or
    header) or ProtocolError; never follows redirects or retries."""

    def __init__(self, *, user_agent: str, max_idle_per_host: int = 64, max_idle_seconds: float = 1.5) -> None:
        self.user_agent = user_agent
        self.max_idle_per_host = max_idle_per_host
        # A connection idle for longer is not reused: servers close idle keep-alive connections on their own clock
        # (gunicorn after 2 s, Node and uvicorn after 5 s), and a request written as the peer closes is a failed try.
        self.max_idle_seconds = max_idle_seconds
        self._idle: defaultdict[tuple[str, str, int], list[tuple[_Connection, float]]] = defaultdict(list)
        self._busy: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _request_bytes(self, method: str, target: Target, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}", f"User-Agent: {self.user_agent}",
                 "Accept: */*"]
        if target.authorization and not any(k.lower() == "authorization" for k in headers):
            lines.append(f"Authorization: {target.authorization}")
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} has a line break or colon in it")
            lines.append(f"{name}: {value}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        return head + body if body else head

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = target.scheme == "https"
        _, conn = await loop.create_connection(
            _Connection, target.host, target.port, ssl=self._ssl_context() if tls else None,
            server_hostname=target.host if tls else None)
        return conn

    def _checkout(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        fresh = time.monotonic() - self.max_idle_seconds
        while idle:
            conn, since = idle.pop()  # the most recently used first
            if (since >= fresh and conn.reusable and not conn.closed and conn.transport is not None
                    and not conn.transport.is_closing()):
                return conn
            conn.close()
        return None

    async def request(self, method: str, url: str, *, headers: dict[str, str], body: bytes | None,
                      timeout: float) -> Answer:
        # eSMS's GET callbacks carry a different query each time: only URLs without one are worth remembering.
        target = Target.parse(url) if "?" in url else _target(url)
        try:
            data = self._request_bytes(method, target, headers, body)
        except UnicodeEncodeError:
            raise ValueError("a header value is not latin-1") from None
        key = (target.scheme, target.host, target.port)
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                conn = self._checkout(key) or await self._connect(target)
                self._busy.add(conn)
                answer = await conn.send(data)
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        finally:
            if conn is not None:
                self._busy.discard(conn)
        if conn.reusable and not conn.closed and len(self._idle[key]) < self.max_idle_per_host:
            self._idle[key].append((conn, time.monotonic()))
            if self._sweeper is None:
                self._sweeper = asyncio.get_running_loop().call_later(self.max_idle_seconds, self._sweep)
        else:
            conn.close()
        return answer

    def _sweep(self) -> None:
        # Close what has been idle too long to be reused, rather than hold its socket until its host is called again
        # (a burst leaves up to max_idle_per_host below the one connection a steady trickle keeps reusing).
        self._sweeper = None
        fresh = time.monotonic() - self.max_idle_seconds
        for key in list(self._idle):
            idle = self._idle[key]
            n = 0
            while n < len(idle) and idle[n][1] < fresh:  # oldest first: appended in time order
                idle[n][0].close()
                n += 1
            del idle[:n]
            if not idle:
                del self._idle[key]
        if self._idle:
            self._sweeper = asyncio.get_running_loop().call_later(self.max_idle_seconds, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conns in self._idle.values():
            for conn, _ in conns:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
