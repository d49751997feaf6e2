"""Regressions found in review: rules used only by sends that happen, clears that stop owed callbacks, Infobip walks
that outlive a report fetch, journal masking of big or broken bodies, one-time reports forgotten with their message."""

from __future__ import annotations

import base64
import io

from tests.control.test_control import SEND, get, send

INFOBIP = {"Authorization": "Basic " + base64.b64encode(b"Aladdin:open sesame").decode()}


async def test_a_sandbox_send_uses_no_rule(mock_client, advance):
    await mock_client.post("/_mock/rules", json={"phone": "0901234567", "outcome": "undeliverable", "times": 1})
    assert (await send(mock_client, "0901234567", IsSandBox="1"))["CodeResult"] == "100"
    assert (await get(mock_client, "/_mock/rules"))[1]["total"] == 1
    await send(mock_client, "0901234567")  # the real send takes the rule
    await advance(1)
    _, rules = await get(mock_client, "/_mock/rules")
    _, latest = await get(mock_client, "/_mock/messages/latest")
    assert rules["total"] == 0 and latest["status"] == "undeliverable"


async def test_a_times_1_rule_decides_one_phone_of_a_multi_phone_send(mock_client, advance):
    await mock_client.post("/_mock/rules", json={"phone_pattern": "^8490123456", "outcome": "undeliverable",
                                                  "times": 1})
    body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
            "SmsType": "23", "Content": "x", "Phones": ["0901234561", "0901234562"]}
    assert (await (await mock_client.post(SEND, json=body)).json())["CodeResult"] == "100"
    await advance(1)
    _, listed = await get(mock_client, "/_mock/messages")
    assert sorted(m["status"] for m in listed["items"]) == ["delivered", "undeliverable"]


async def test_a_send_refused_for_balance_uses_no_rule(mock_client):
    await mock_client.post("/_mock/rules", json={"phone": "0901234567", "outcome": "seen", "times": 1})
    await mock_client.post("/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", json={"balance": 0})
    assert (await send(mock_client, "0901234567"))["CodeResult"] == "103"
    assert (await get(mock_client, "/_mock/rules"))[1]["items"][0]["used"] == 0


async def test_clearing_messages_stops_their_owed_callbacks(mock_client, callback_receiver, advance,
                                                            callback_attempts):
    callback_receiver.respond_with(503, 503, 503, 503)
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url)
    await advance(1)
    await callback_receiver.wait_for(1)
    await callback_attempts(1)
    await mock_client.delete("/_mock/messages")
    for _ in range(5):
        await advance(40)
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["callbacks_pending"] == 0
    assert len(callback_receiver.requests) == 1


async def test_an_infobip_walk_longer_than_48h_survives_a_report_fetch(mock_client, advance):
    resp = await mock_client.post("/omni/1/advanced", headers=INFOBIP, json={
        "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": [{"to": {"phoneNumber": "41793055502"}}],
        "viber": {"text": "v"}, "sms": {"text": "s"}})
    assert resp.status == 200
    await advance(49 * 3600)  # Viber expired after 24 h; the SMS step (48 h validity) is under way
    assert (await (await mock_client.get("/omni/1/reports", headers=INFOBIP)).json()) == {"results": []}
    await advance(30 * 3600)
    reports = (await (await mock_client.get("/omni/1/reports", headers=INFOBIP)).json())["results"]
    assert [(r["channel"], r["status"]["groupName"]) for r in reports] == [("SMS", "EXPIRED")]


async def test_clearing_messages_forgets_their_unread_infobip_reports(mock_client, advance):
    await mock_client.post("/omni/1/advanced", headers=INFOBIP, json={
        "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": [{"to": {"phoneNumber": "41793055500"}}],
        "viber": {"text": "v"}})
    await advance(1)
    await mock_client.delete("/_mock/messages")
    assert (await (await mock_client.get("/omni/1/reports", headers=INFOBIP)).json()) == {"results": []}


async def test_journal_masks_secrets_in_big_and_in_broken_bodies(mock_client):
    phones = ",".join('"0901255500"' for _ in range(7000))
    big = ('{"ApiKey":"ESMS_SANDBOX_KEY","SecretKey":"ESMS_SANDBOX_SECRET","Brandname":"MOCKBRAND","SmsType":"23",'
           f'"Content":"x","Phones":[{phones}]}}').encode()
    await mock_client.post(SEND, data=io.BytesIO(big), headers={"Content-Type": "application/json"})
    await mock_client.post(SEND, data=b'{"SecretKey":"TOPSECRET",', headers={"Content-Type": "application/json"})
    _, journal = await get(mock_client, "/_mock/requests")
    broken, large = journal["items"]
    assert broken["body"] == '{"SecretKey":"***",'
    assert '"SecretKey":"***"' in large["body"] and "ESMS_SANDBOX_SECRET" not in large["body"]


async def test_a_callback_is_still_retried_after_a_thousand_tries(mock_settings, aiohttp_client, callback_receiver):
    # [callbacks] max_attempts has no upper bound, but the fast back-off was 0.5 s * 2 ** (attempt - 1) capped after
    # the power: at the 1 025th failed try 2 ** 1024 overflowed a float, the dispatcher's task died, the try went
    # unrecorded and the callback stayed owed for ever.
    from dataclasses import replace

    from mock_server.app import create_app
    from mock_server.core.clock import ManualClock
    from mock_server.keys import core_key

    tries = 1026
    settings = replace(mock_settings, callbacks=replace(mock_settings.callbacks, max_attempts=tries))
    client = await aiohttp_client(create_app(settings, clock=ManualClock()))
    callbacks = client.app[core_key].callbacks
    callback_receiver.respond_with(*[503] * tries)
    await send(client, "0901255500", CallbackUrl=callback_receiver.url)
    for n in range(1, tries + 1):
        resp = await client.post("/_mock/clock/advance", json={"seconds": 1 if n == 1 else 30})
        assert resp.status == 200
        if len(callbacks.attempts) < n:
            await client.app[core_key].events.wait_for(lambda e: len(callbacks.attempts) >= n)
    last = callbacks.attempts[-1]
    assert (last.attempt, last.final, last.error) == (tries, True, f"HTTP 503; gave up after {tries} attempt(s)")
    _, health = await get(client, "/_mock/health")
    assert health["counts"]["callbacks_pending"] == 0
