"""The pytest plugin (entry point `pytest11`): the mock in-process on a manual clock, and a callback receiver.

    async def test_send(mock_client, callback_receiver):
        await mock_client.post("/MainService.svc/json/Send_Multiple_Sms_OTT/", json={..., "CallbackUrl": callback_receiver.url})
        await mock_client.post("/_mock/clock/advance", json={"seconds": 1})
        (hit,) = await callback_receiver.wait_for(1)
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import pytest
from aiohttp import web
from multidict import CIMultiDict

from .core.clock import ManualClock
from .settings import Settings


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
        self.runner = web.AppRunner(app, access_log=None)
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
    """The shipped defaults with a fixed seed: what the `mock_settings` fixture gives."""
    from dataclasses import replace

    return replace(Settings.load(env={}), seed=1234, clock="manual", **changes)


@pytest.fixture
def mock_settings() -> Settings:
    """Settings for the in-process mock; override this fixture to change accounts or timing."""
    return test_settings()


@pytest.fixture
def mock_clock() -> ManualClock:
    """The mock's manual clock; `mock_clock.now()` is the mock time."""
    return ManualClock()


@pytest.fixture
async def mock_app(mock_settings: Settings, mock_clock: ManualClock) -> web.Application:
    """The whole mock as an aiohttp application, on the manual clock."""
    from .app import create_app

    return create_app(mock_settings, clock=mock_clock)


@pytest.fixture
async def mock_client(aiohttp_client: Any, mock_app: web.Application) -> Any:
    """An aiohttp test client talking to the mock over real HTTP on a free loopback port."""
    return await aiohttp_client(mock_app)


@pytest.fixture
async def callback_receiver() -> AsyncIterator[CallbackReceiver]:
    """A local HTTP listener recording the callbacks the mock sends; `.url` is its base URL."""
    receiver = await CallbackReceiver().start()
    yield receiver
    await receiver.close()
