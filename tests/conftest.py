"""Shared fixtures: the plugin in mock_server/testing.py (registered through pytest11) provides mock_client,
mock_clock, mock_settings and callback_receiver; helpers here are for this suite only."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def advance(mock_client: Any):
    """`await advance(seconds)`: move the manual clock through the control API, as a user's test would."""

    async def _advance(seconds: float) -> dict[str, Any]:
        resp = await mock_client.post("/_mock/clock/advance", json={"seconds": seconds})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    return _advance


@pytest.fixture
def callback_attempts(mock_client: Any):
    """`await callback_attempts(n)`: the attempt log (newest first) once the mock has recorded at least n attempts.

    A receiver sees a request before the mock records the attempt; this waits on the mock's event bus, not a sleep."""
    from mock_server.keys import core_key

    async def _wait(n: int = 1) -> list[dict[str, Any]]:
        core = mock_client.app[core_key]
        if len(core.callbacks.attempts) < n:
            await core.events.wait_for(lambda e: e.type == "callback.attempted" and len(core.callbacks.attempts) >= n)
        resp = await mock_client.get("/_mock/callbacks")
        listed = await resp.json()
        assert listed["total"] >= n
        return listed["items"]

    return _wait
