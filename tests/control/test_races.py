"""Interleavings found in review: a control or provider request whose handler awaits its body while another request
(a reset, a clear) changes the state it looked up before that await."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest

from mock_server.control import routes as control_routes
from tests.control.test_control import get, send


class BodyGate:
    """Holds a handler at its body read: `reached` is set once it is there; the read goes on after `release()`.
    A handler suspends there whenever the body comes after the headers, so this only makes that moment certain."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> None:
        self.reached = asyncio.Event()
        self._go = asyncio.Event()
        original = module.read_bytes

        async def gated(request: Any) -> bytes:
            self.reached.set()
            await self._go.wait()
            return await original(request)

        monkeypatch.setattr(module, "read_bytes", gated)

    def release(self) -> None:
        self._go.set()


async def test_a_forced_status_whose_message_is_cleared_while_its_body_is_read_is_404(
        mock_client, callback_receiver, monkeypatch):
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url)
    _, message = await get(mock_client, "/_mock/messages/latest")
    gate = BodyGate(monkeypatch, control_routes)
    forcing = asyncio.ensure_future(
        mock_client.post(f"/_mock/messages/{message['id']}/status", json={"status": "delivered"}))
    await gate.reached.wait()
    assert (await mock_client.delete("/_mock/messages")).status == 200
    gate.release()
    resp = await forcing
    assert resp.status == 404, await resp.text()
    # Nothing is owed or sent for a message that is gone.
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["callbacks_pending"] == 0 and health["counts"]["messages"] == 0
    assert (await get(mock_client, "/_mock/callbacks"))[1]["total"] == 0


@pytest.mark.parametrize("path, body, field, expected", [
    ("balance", {"balance": 5}, "balance", 5),
    ("brandnames", {"brandname": "NEWBRAND"}, "brandnames", ["BAT DONG SAN GIA TOT", "MOCKBRAND", "NEWBRAND"]),
])
async def test_an_esms_account_change_made_across_a_reset_lands_on_the_account_served(
        mock_client, monkeypatch, path, body, field, expected):
    gate = BodyGate(monkeypatch, control_routes)
    changing = asyncio.ensure_future(mock_client.post(f"/_mock/accounts/esms/ESMS_SANDBOX_KEY/{path}", json=body))
    await gate.reached.wait()
    assert (await mock_client.post("/_mock/reset")).status == 200
    gate.release()
    resp = await changing
    assert resp.status == 200 and (await resp.json())[field] == expected
    # The answer said so; the account that sends are checked against says so too (it was the one reset replaced).
    _, accounts = await get(mock_client, "/_mock/accounts")
    (account,) = [a for a in accounts["esms"] if a["api_key"] == "ESMS_SANDBOX_KEY"]
    assert account[field] == expected


async def test_a_scenario_update_made_across_a_reset_leaves_the_account_a_default(mock_client, monkeypatch):
    from mock_server.providers.infobip import routes as infobip_routes
    from tests.providers.test_infobip import SEED_AUTH, SEED_KEY

    flow = [{"from": "InfoSMS", "channel": "SMS"}]
    resp = await mock_client.post("/omni/1/scenarios", json={"name": "SMS only", "flow": flow}, headers=SEED_AUTH)
    created = await resp.json()
    gate = BodyGate(monkeypatch, infobip_routes)
    updating = asyncio.ensure_future(mock_client.put(f"/omni/1/scenarios/{created['key']}", headers=SEED_AUTH,
                                                     json={"name": "SMS only", "flow": flow, "default": True}))
    await gate.reached.wait()
    assert (await mock_client.post("/_mock/reset")).status == 200  # the scenario created above is gone
    gate.release()
    resp = await updating
    assert resp.status == 404, await resp.text()
    # The configured scenario is still the default: the update did not take it away for a scenario no longer there.
    resp = await mock_client.get("/omni/1/scenarios", headers=SEED_AUTH)
    assert [(s["key"], s["default"]) for s in (await resp.json())["scenarios"]] == [(SEED_KEY, True)]


async def test_an_nxcloud_send_read_across_a_reset_is_charged_to_the_account_served(mock_client, monkeypatch):
    from mock_server.providers.nxcloud import routes as nxcloud_routes
    from tests.providers.test_nxcloud import KEY, send

    async def balance() -> float:
        _, accounts = await get(mock_client, "/_mock/accounts")
        return next(a["balance"] for a in accounts["nxcloud"] if a["access_key"] == KEY)

    configured = await balance()
    gate = BodyGate(monkeypatch, nxcloud_routes)
    sending = asyncio.ensure_future(send(mock_client))
    await gate.reached.wait()
    assert (await mock_client.post("/_mock/reset")).status == 200
    gate.release()
    answer, _ = await sending
    assert answer["code"] == 0
    _, message = await get(mock_client, "/_mock/messages/latest")
    # Charged to the account that the next send is checked against, not to the one the reset replaced.
    assert await balance() == pytest.approx(configured - float(message["meta"]["price"]))


async def test_a_callback_queued_behind_a_busy_one_is_not_sent_once_its_message_is_cleared(
        mock_settings, aiohttp_client, aiohttp_server):
    from dataclasses import replace

    from aiohttp import web

    from mock_server.app import create_app
    from mock_server.core.clock import ManualClock

    # A receiver that holds its first request until told, and notes each path as it arrives.
    paths: list[str] = []
    arrived: dict[str, asyncio.Event] = {p: asyncio.Event() for p in ("/a", "/b", "/c")}
    answer_first = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        paths.append(request.path)
        arrived[request.path].set()
        if request.path == "/a":
            await answer_first.wait()
        return web.Response(text="OK")

    receiver_app = web.Application()
    receiver_app.router.add_get("/{name}", receive)
    receiver = await aiohttp_server(receiver_app)
    url = f"http://127.0.0.1:{receiver.port}"

    # One callback at a time: B's waits for A's to be answered.
    settings = replace(mock_settings, callbacks=replace(mock_settings.callbacks, concurrency=1))
    client = await aiohttp_client(create_app(settings, clock=ManualClock()))
    await send(client, "0901255500", CallbackUrl=url + "/a")
    await send(client, "0901255500", CallbackUrl=url + "/b")
    assert (await client.post("/_mock/clock/advance", json={"seconds": 1})).status == 200
    await arrived["/a"].wait()
    assert (await client.delete("/_mock/messages")).status == 200  # B's callback is owed no more
    answer_first.set()
    # C's callback queues behind anything still waiting (the semaphore is first come, first served): when it
    # arrives, B's would have arrived before it.
    await send(client, "0901255500", CallbackUrl=url + "/c")
    assert (await client.post("/_mock/clock/advance", json={"seconds": 1})).status == 200
    await arrived["/c"].wait()
    assert paths == ["/a", "/c"]
