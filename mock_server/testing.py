"""The pytest plugin (entry point `pytest11`): the mock in-process on a free port with a manual clock, a callback
receiver, and helpers to wait, advance the clock and set rules and faults (product.md §7).

Two flavours of the same thing:

- sync, any HTTP client: `mock_server` (a `MockServerClient` of one server per session, reset before each test) and
  `callback_listener` (a threaded HTTP listener);
- async, in the test's event loop: `mock_client` (an aiohttp test client of a fresh app per test) and
  `callback_receiver`.

    def test_send(mock_server, callback_listener):
        my_service.send_viber(base_url=mock_server.url, phone="0901255500", callback=callback_listener.url)
        mock_server.advance(1)
        (callback,) = callback_listener.wait_for(1)
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from multidict import CIMultiDict

from .core.clock import ManualClock
from .settings import Settings

try:
    # pytest-asyncio's own decorator: the async fixtures then work in its default strict mode too, not only under
    # `asyncio_mode = auto` (pip install 'viber-mock-server[pytest]' brings it, with pytest-aiohttp for mock_client).
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # the sync fixtures work without it
    async_fixture = pytest.fixture


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]  # in the order sent
    headers: CIMultiDict[str]
    body: bytes
    raw_path: str = ""  # path and query exactly as on the request line

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    """A real HTTP listener on 127.0.0.1 that records every request and answers as told (200 by default)."""

    requests: list[ReceivedRequest] = field(default_factory=list)
    _plan: deque[int | str] = field(default_factory=deque)  # statuses (or "hang") for the next requests
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    url: str = ""  # base URL, set once started; any path under it is recorded
    runner: web.AppRunner | None = None

    def respond_with(self, *statuses: int | str) -> None:
        """Answer the next requests with these statuses, in order ("hang" never answers); then 200 again."""
        self._plan.extend(statuses)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with self._cond:
            self.requests.append(
                ReceivedRequest(request.method, request.path, list(request.query.items()), CIMultiDict(request.headers),
                                body, request.raw_path)
            )
            self._cond.notify_all()
        status = self._plan.popleft() if self._plan else 200
        if status == "hang":
            await asyncio.Event().wait()  # the mock's callback timeout ends this
        return web.Response(status=int(status), text="OK" if status == 200 else "receiver says no")

    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Wait until `count` requests in all have arrived; fail clearly if they do not within `timeout` seconds."""
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: len(self.requests) >= count), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"callback receiver: expected {count} request(s) within {timeout} s, got {len(self.requests)}"
                ) from None
            return list(self.requests[:count])

    async def start(self) -> "CallbackReceiver":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # README: respond_with(503, "hang", ...). aiohttp keeps a handler running after its client goes and waits 60 s
        # for it at cleanup: a "hang" held the fixture's teardown a minute. Cancelled when the mock's timeout hangs
        # up, and at close after a short grace.
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def test_settings(**changes: Any) -> Settings:
    """The shipped defaults with a fixed seed: what the `mock_settings` fixture gives; `changes` override any field,
    the seed and the clock included."""
    from dataclasses import replace

    # seed and clock are defaults here, not fixed: passed twice, they were a TypeError for a user changing them.
    return replace(Settings.load(env={}), **{"seed": 1234, "clock": "manual", **changes})


# Not a test, despite its name: imported as is into a test module (`from mock_server.testing import test_settings`),
# pytest collected and ran it, a phantom test that returned a value (a PytestReturnNotNoneWarning; an error under
# `filterwarnings = error`).
test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def mock_settings() -> Settings:
    """Settings for the in-process mock; override this fixture to change accounts or timing."""
    return test_settings()


@pytest.fixture
def mock_clock() -> ManualClock:
    """The mock's manual clock; `mock_clock.now()` is the mock time."""
    return ManualClock()


@async_fixture
async def mock_app(mock_settings: Settings, mock_clock: ManualClock) -> web.Application:
    """The whole mock as an aiohttp application, on the manual clock."""
    from .app import create_app

    return create_app(mock_settings, clock=mock_clock)


@async_fixture
async def mock_client(aiohttp_client: Any, mock_app: web.Application) -> Any:
    """An aiohttp test client talking to the mock over real HTTP on a free loopback port."""
    return await aiohttp_client(mock_app)


@async_fixture
async def callback_receiver() -> AsyncIterator[CallbackReceiver]:
    """A local HTTP listener recording the callbacks the mock sends; `.url` is its base URL."""
    receiver = await CallbackReceiver().start()
    yield receiver
    await receiver.close()


@pytest.fixture
def advance(mock_client: Any) -> Callable[[float], Awaitable[dict[str, Any]]]:
    """`await advance(seconds)`: move the mock clock through the control API, as `MockServerClient.advance` does;
    every status change that fell due has happened (and its callbacks are queued) when it returns."""

    async def _advance(seconds: float) -> dict[str, Any]:
        resp = await mock_client.post("/_mock/clock/advance", json={"seconds": seconds})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    return _advance


@pytest.fixture
def callback_attempts(mock_client: Any) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    """`await callback_attempts(n)`: the attempt log (`GET /_mock/callbacks`, newest first) once the mock has recorded
    at least n attempts. A receiver sees a request before the mock records it; this waits on the mock's event bus."""
    from .keys import core_key, settings_key

    async def _wait(n: int = 1) -> list[dict[str, Any]]:
        core = mock_client.app[core_key]
        # A try to a receiver that hangs (README: respond_with("hang")) is recorded only at [callbacks] timeout; the
        # event bus's own 5 s wait ended with it or before it, a bare TimeoutError. Wait that timeout and 5 s more.
        timeout = mock_client.app[settings_key].callbacks.timeout + 5.0
        if len(core.callbacks.attempts) < n:
            try:
                await core.events.wait_for(
                    lambda e: e.type == "callback.attempted" and len(core.callbacks.attempts) >= n, timeout)
            except TimeoutError:
                raise AssertionError(f"callback_attempts: expected {n} attempt(s) within {timeout} s, got "
                                     f"{len(core.callbacks.attempts)}") from None
        resp = await mock_client.get("/_mock/callbacks")
        listed = await resp.json()
        assert listed["total"] >= n
        return listed["items"]

    return _wait


# --- a whole server in a thread, and a synchronous client for it ----------------------------------------------------


class ThreadedMockServer:
    """The mock on its own event loop in a daemon thread, on 127.0.0.1 and a free port (moto's ThreadedMotoServer)."""

    def __init__(self, settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings or test_settings()
        self.host, self.port = host, port
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "ThreadedMockServer":
        self._thread = threading.Thread(target=self._run, name="mock-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the mock server did not start within 15 s")
        if self._error is not None:
            raise RuntimeError(f"the mock server failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        from .app import create_app

        self._stop = asyncio.Event()
        runner = web.AppRunner(create_app(self.settings), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self.host}:{port}"
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)


class MockServerError(AssertionError):
    """The control API refused a helper's call; the message is the server's own `error`."""


class MockServerClient:
    """Synchronous helpers over the control API (standard library only), for tests in any style."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None, *, expect: tuple[int, ...] = (200, 201, 202),
             headers: dict[str, str] | None = None) -> Any:
        """Any request; answers the JSON body, or raises MockServerError for a status not in `expect`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={**({"Content-Type": "application/json"} if data else {}),
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        out = json.loads(payload) if payload else None
        if status not in expect:
            detail = out.get("error") if isinstance(out, dict) else payload[:200]
            raise MockServerError(f"{method} {path} answered {status}: {detail}")
        return out

    # arrange
    def reset(self) -> None:
        """Back to the configured start state (messages, rules, faults, balances ...)."""
        self.call("POST", "/_mock/reset")

    def advance(self, seconds: float) -> str:
        """Move the mock clock; every status change that fell due has happened when this returns."""
        return self.call("POST", "/_mock/clock/advance", {"seconds": seconds})["now"]

    def add_rule(self, **rule: Any) -> dict[str, Any]:
        """e.g. `add_rule(phone="0901234567", outcome="undeliverable", times=1)` (product.md §5.1)."""
        return self.call("POST", "/_mock/rules", rule)

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """e.g. `add_fault(action="latency", latency_ms=2000, provider="esms")`, `add_fault(action="http_error",
        status=503, times=1)`."""
        return self.call("POST", "/_mock/faults", fault)

    def force_status(self, message_id: str, status: str) -> dict[str, Any]:
        return self.call("POST", f"/_mock/messages/{message_id}/status", {"status": status})

    # observe
    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored messages, newest first; filters provider, phone, status, limit."""
        return self.call("GET", "/_mock/messages?" + urllib.parse.urlencode(filters))["items"]

    def message(self, message_id: str = "latest") -> dict[str, Any]:
        return self.call("GET", f"/_mock/messages/{message_id}")

    def callbacks_for(self, message_id: str) -> list[dict[str, Any]]:
        """Every callback attempt for one message, oldest first."""
        items = self.call("GET", "/_mock/callbacks?" + urllib.parse.urlencode({"message_id": message_id}))["items"]
        return list(reversed(items))

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The request journal, newest first; filters provider, path, status, since, limit."""
        return self.call("GET", "/_mock/requests?" + urllib.parse.urlencode(filters))["items"]

    # wait (on the server-sent event stream: no polling)
    def wait_for_message(self, *, phone: str | None = None, provider: str | None = None, status: str | None = None,
                         where: Callable[[dict[str, Any]], bool] | None = None,
                         timeout: float = 5.0) -> dict[str, Any]:
        """The newest message matching all given filters (and `where`, a predicate on the message), waiting up to
        `timeout` seconds for one to appear."""
        from .core.phones import phone_keys

        def filters(m: dict[str, Any]) -> bool:
            return ((phone is None or bool(phone_keys(phone) & phone_keys(m["phone"])))
                    and (provider is None or m["provider"] == provider)
                    and (status is None or m["status"] == status))

        what = f"a message (phone={phone}, provider={provider}, status={status})"
        return self._wait(("message.created", "message.updated"), lambda m: where is None or where(m),
                          lambda: self.messages(**{k: v for k, v in (("phone", phone), ("provider", provider),
                                                                    ("status", status)) if v}), what, timeout,
                          prefilter=filters)

    def wait_for_callback(self, *, message_id: str | None = None, delivered: bool | None = None,
                          timeout: float = 5.0) -> dict[str, Any]:
        """A callback attempt (for `message_id`, and delivered or not) once the mock has recorded it."""

        def match(a: dict[str, Any]) -> bool:
            return (message_id is None or a["message_id"] == message_id) and (
                delivered is None or a["delivered"] == delivered)

        what = f"a callback attempt (message_id={message_id}, delivered={delivered})"
        query = urllib.parse.urlencode({"message_id": message_id} if message_id else {})
        return self._wait(("callback.attempted",), match, lambda: self.call("GET", "/_mock/callbacks?" + query)["items"],
                          what, timeout)

    def wait_for_request(self, *, path: str | None = None, provider: str | None = None,
                         where: Callable[[dict[str, Any]], bool] | None = None,
                         timeout: float = 5.0) -> dict[str, Any]:
        """A journaled provider request (path: a case-insensitive substring), once its answer is complete."""

        def match(e: dict[str, Any]) -> bool:
            return ((path is None or path.lower() in e["path"].lower())
                    and (provider is None or e["provider"] == provider) and (where is None or where(e)))

        what = f"a request (path={path}, provider={provider})"
        query = {k: v for k, v in (("path", path), ("provider", provider)) if v}
        return self._wait(("request.recorded",), match, lambda: self.requests(**query), what, timeout)

    def _wait(self, types: tuple[str, ...], match: Callable[[dict[str, Any]], bool],
              current: Callable[[], list[dict[str, Any]]], what: str, timeout: float,
              prefilter: Callable[[dict[str, Any]], bool] = lambda _item: True) -> dict[str, Any]:
        """The first item (`current()`, then the event stream) that passes `prefilter` and then `match`. A message from
        the stream that passed `prefilter` is fetched whole before `match` sees it (_whole)."""
        deadline = time.monotonic() + timeout
        url = f"{self.url}/_mock/events?types={','.join(types)}"
        try:
            stream = urllib.request.urlopen(url, timeout=timeout)  # subscribed once the headers are back
        except OSError as exc:
            raise MockServerError(f"cannot open the event stream at {url}: {exc}") from None
        with stream:
            for item in current():  # what happened before we subscribed
                if prefilter(item) and match(item):
                    return item
            try:
                for line in _lines(stream, deadline):
                    if line.startswith(b"data: "):
                        item = json.loads(line[6:])
                        if prefilter(item) and (item := self._whole(item)) is not None and match(item):
                            return item
            except (socket.timeout, TimeoutError):
                pass
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def _whole(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """A message from the event stream with its body as GET /_mock/messages/{id} shows it: the stream leaves out a
        request body over 4 KB (README, Events), which a `where` predicate, or the caller, may read: fetched only for a
        message that passed the cheap filters (a 5 000-phone send publishes 5 000 of them). None: cleared meanwhile."""
        if "raw_request" in item or "provider_id" not in item or not isinstance(item.get("id"), str):
            return item  # not a message, or a whole one
        try:
            whole = self.call("GET", "/_mock/messages/" + urllib.parse.quote(item["id"], safe=""))
        except MockServerError:
            return None
        # Only the body: the rest is the change the filters passed (the message may have moved on since).
        return {**item, "raw_request": whole.get("raw_request")}


def _lines(stream: Any, deadline: float) -> Iterator[bytes]:
    # The socket's timeout is what is left until the deadline, set before each read: the whole `timeout` that urlopen
    # set let a read started just before the deadline (after a non-matching event) wait a full `timeout` more, so
    # wait_for_message(timeout=2) gave up after up to 4 s.
    sock = getattr(getattr(getattr(stream, "fp", None), "raw", None), "_sock", None)  # http.client's socket
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if sock is not None:
            sock.settimeout(left)
        line = stream.readline()
        if not line:
            return
        yield line.rstrip(b"\n")


class CallbackListener:
    """A threaded HTTP listener on 127.0.0.1 recording every request; `respond_with(503, ...)` for the next ones."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._plan: deque[int] = deque()
        self._cond = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urllib.parse.urlsplit(self.path)
                with listener._cond:
                    listener.requests.append(ReceivedRequest(
                        self.command, split.path, urllib.parse.parse_qsl(split.query, keep_blank_values=True),
                        CIMultiDict(self.headers.items()), body, self.path))
                    status = listener._plan.popleft() if listener._plan else 200
                    listener._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def respond_with(self, *statuses: int) -> None:
        with self._cond:
            self._plan.extend(statuses)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedRequest]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"callback listener: expected {count} request(s) within {timeout} s, got {len(self.requests)}")
            return list(self.requests[:count])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def mock_server_settings() -> Settings:
    """Settings of the session's threaded mock (shipped accounts, manual clock, seed 1234); override to change."""
    return test_settings()


@pytest.fixture(scope="session")
def mock_server_instance(mock_server_settings: Settings) -> Iterator[ThreadedMockServer]:
    """One mock server per test session, in a background thread."""
    server = ThreadedMockServer(mock_server_settings).start()
    yield server
    server.stop()


@pytest.fixture
def mock_server(mock_server_instance: ThreadedMockServer) -> MockServerClient:
    """The session's mock server, reset to its start state for this test; `.url` is its base URL."""
    client = MockServerClient(mock_server_instance.url)
    client.reset()
    return client


@pytest.fixture
def callback_listener() -> Iterator[CallbackListener]:
    """A threaded HTTP listener for the callbacks the mock sends (sync tests); `.url` is its base URL."""
    listener = CallbackListener()
    yield listener
    listener.close()
