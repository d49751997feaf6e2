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
