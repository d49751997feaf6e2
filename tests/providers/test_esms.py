"""eSMS over real HTTP: every endpoint, every code, the callback at a real listener, dedup, sandbox, balance."""

from __future__ import annotations

from typing import Any

import pytest

SEND = "/MainService.svc/json/Send_Multiple_Sms_OTT/"
KEY, SECRET = "ESMS_SANDBOX_KEY", "ESMS_SANDBOX_SECRET"


def viber(**fields: Any) -> dict[str, Any]:
    body = {"ApiKey": KEY, "SecretKey": SECRET, "Brandname": "MOCKBRAND", "SmsType": "23", "Content": "Hello",
            "Phones": ["0901255500"]}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


async def send(client: Any, body: Any, path: str = SEND) -> tuple[int, dict[str, Any], Any]:
    resp = await client.post(path, json=body)
    return resp.status, await resp.json(content_type=None), resp.headers


async def test_text_message_accepted_with_exact_envelope(mock_client):
    resp = await mock_client.post(SEND, json=viber())
    assert resp.status == 200
    assert resp.content_type == "application/json"
    text = await resp.text()
    body = await resp.json()
    assert list(body) == ["CodeResult", "CountRegenerate", "SMSID"]
    assert body["CodeResult"] == "100" and body["CountRegenerate"] == 0
    assert text.startswith('{"CodeResult":"100","CountRegenerate":0,"SMSID":"')
    assert len(body["SMSID"]) in (34, 35)
    assert "X-Mock-Reason" not in resp.headers


async def test_delivered_callback_reaches_listener_with_documented_query(mock_client, callback_receiver, advance):
    status, body, _ = await send(mock_client, viber(CallbackUrl=callback_receiver.url + "/esms/cb", RequestId="r-1"))
    assert body["CodeResult"] == "100"
    await advance(1)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.method == "GET" and hit.path == "/esms/cb" and hit.body == b""
    assert hit.query == [
        ("SMSID", body["SMSID"]), ("SendFailed", "0"), ("SendStatus", "5"), ("SendSuccess", "1"),
        ("TotalPrice", "470.0000"), ("TotalReceiver", "1"), ("TotalSent", "1"), ("RequestId", "r-1"),
        ("TypeId", "23"), ("telcoid", "2"), ("phonenumber", "0901255500"),
    ]
