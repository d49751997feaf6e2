"""Infobip settings over real HTTP: [infobip] send_status = "MESSAGE_ACCEPTED" and validation_errors = true."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mock_server.settings import Settings
from mock_server.testing import test_settings as base_settings

from .test_infobip import BAD_REQUEST, advanced, get, post


@pytest.fixture
def mock_settings() -> Settings:
    settings = base_settings()
    infobip = {**settings.provider("infobip"), "send_status": "MESSAGE_ACCEPTED", "validation_errors": True}
    return replace(settings, providers={**settings.providers, "infobip": infobip})


async def test_message_accepted_form_of_the_seed_page(mock_client, advance):
    status, body, _ = await post(mock_client, "/omni/1/advanced", advanced())
    assert status == 200
    assert body["messages"][0]["status"] == {"groupId": 0, "groupName": "ACCEPTED", "id": 0,
                                             "name": "MESSAGE_ACCEPTED", "description": "Message accepted"}
    (entry,) = (await get(mock_client, "/omni/1/logs"))[1]["results"]
    assert entry["status"]["name"] == "MESSAGE_ACCEPTED"  # not sent yet
    await advance(0.2)
    (entry,) = (await get(mock_client, "/omni/1/logs", generalStatus="PENDING"))[1]["results"]
    assert entry["status"]["name"] == "PENDING_ENROUTE"


async def test_validation_errors_when_configured(mock_client):
    status, body, headers = await post(mock_client, "/omni/1/advanced",
                                       advanced(destinations=[{"to": {}}], notify="no"))
    assert status == 400
    assert body == {"requestError": {"serviceException": {
        "messageId": "BAD_REQUEST", "text": "Bad request",
        "validationErrors": {"destinations[0].to.phoneNumber": ["destinations[0].to.phoneNumber is required"],
                             "notify": ["notify must be of type boolean, got string"]}}}}
    assert headers["X-Mock-Reason"] == "destinations[0].to.phoneNumber is required"
    status, body, _ = await post(mock_client, "/omni/1/advanced", advanced(viber={"text": "t", "buttonText": "Go"}))
    assert status == 400 and list(body["requestError"]["serviceException"]["validationErrors"]) == ["viber"]
    status, body, _ = await get(mock_client, "/omni/1/reports", limit="x")
    assert body["requestError"]["serviceException"]["validationErrors"] == {"limit": ["'x' is not an integer"]}
    # the 401 never carries them
    resp = await mock_client.get("/omni/1/reports")
    assert resp.status == 401 and "validationErrors" not in await resp.text()
    assert BAD_REQUEST["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"


async def test_reset_restores_configured_scenarios(mock_client):
    status, created, _ = await post(mock_client, "/omni/1/scenarios",
                                    {"name": "new", "flow": [{"channel": "SMS"}], "default": True})
    assert status == 201
    resp = await mock_client.post("/_mock/reset")
    assert resp.status == 200
    status, listed, _ = await get(mock_client, "/omni/1/scenarios")
    assert [(s["key"], s["default"]) for s in listed["scenarios"]] == [("CC9F01A5DC7BEE2C2B829D203482A654", True)]
