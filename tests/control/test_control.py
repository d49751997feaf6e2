"""The control API basics over real HTTP: health, messages, callbacks, rules, clock, reset, and their bad input."""

from __future__ import annotations

from typing import Any

import pytest

SEND = "/MainService.svc/json/Send_Multiple_Sms_OTT/"


async def send(client: Any, phone: str, **extra: Any) -> dict[str, Any]:
    body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
            "SmsType": "23", "Content": "Hi", "Phones": [phone], **extra}
    return await (await client.post(SEND, json=body)).json()


async def get(client: Any, url: str, /, **params: Any) -> tuple[int, Any]:
    resp = await client.get(url, params=params)
    return resp.status, await resp.json()


async def test_health(mock_client):
    await send(mock_client, "0901255500")
    status, body = await get(mock_client, "/_mock/health")
    assert status == 200
    assert body["status"] == "ok" and body["version"] == "0.1.0"
    assert body["clock"]["mode"] == "manual"
    assert body["counts"]["messages"] == 1 and body["counts"]["by_provider"] == {"esms": 1}
    assert body["counts"]["scheduled"] == 2


async def test_messages_newest_first_with_filters(mock_client, advance):
    await send(mock_client, "0901255500")
    await send(mock_client, "0901255501")
    await send(mock_client, "84901255500")
    await advance(1)
    _, listed = await get(mock_client, "/_mock/messages")
    assert listed["total"] == 3
    assert [m["phone"] for m in listed["items"]] == ["84901255500", "0901255501", "0901255500"]
    _, by_phone = await get(mock_client, "/_mock/messages", phone="0901255500")
    assert [m["phone"] for m in by_phone["items"]] == ["84901255500", "0901255500"]
    _, by_phone_intl = await get(mock_client, "/_mock/messages", phone="84901255500")
    assert by_phone_intl["total"] == 2
    _, failed = await get(mock_client, "/_mock/messages", status="undeliverable")
    assert [m["phone"] for m in failed["items"]] == ["0901255501"]
    _, limited = await get(mock_client, "/_mock/messages", limit="1", provider="esms")
    assert limited["total"] == 3 and len(limited["items"]) == 1
    _, none = await get(mock_client, "/_mock/messages", provider="nxcloud")
    assert none == {"items": [], "total": 0}


async def test_message_shape(mock_client, advance, mock_clock):
    smsid = (await send(mock_client, "0901255500"))["SMSID"]
    await advance(1)
    _, latest = await get(mock_client, "/_mock/messages/latest")
    _, same = await get(mock_client, f"/_mock/messages/{latest['id']}")
    assert latest == same
    assert latest["id"].startswith("m_") and latest["provider_id"] == smsid
    assert latest["account"] == "ESMS_SANDBOX_KEY" and latest["channel"] == "viber"
    assert latest["content"] == {"text": "Hi"} and latest["status"] == "delivered"
    assert [h["status"] for h in latest["history"]] == ["accepted", "sent", "delivered"]
    assert latest["created_at"].endswith(".000Z") and latest["history"][1]["at"].endswith(".200Z")
    assert latest["raw_request"]["SecretKey"] == "***"


@pytest.mark.parametrize("params, message", [
    ({"provider": "twilio"}, "provider must be one of"),
    ({"status": "lost"}, "status must be one of"),
    ({"limit": "ten"}, "limit must be an integer"),
    ({"limit": "0"}, "limit must be between"),
])
async def test_messages_bad_filters(mock_client, params, message):
    status, body = await get(mock_client, "/_mock/messages", **params)
    assert status == 400 and message in body["error"]


async def test_unknown_message_and_empty_latest(mock_client):
    status, body = await get(mock_client, "/_mock/messages/latest")
    assert (status, body) == (404, {"error": "no messages yet"})
    status, body = await get(mock_client, "/_mock/messages/m_nope")
    assert (status, body) == (404, {"error": "no message 'm_nope'"})


async def test_delete_messages_cancels_their_lifecycle(mock_client, callback_receiver, advance):
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url)
    resp = await mock_client.delete("/_mock/messages")
    assert await resp.json() == {"deleted": 1}
    await advance(5)
    assert callback_receiver.requests == []
    assert (await get(mock_client, "/_mock/messages"))[1]["total"] == 0


async def test_callbacks_log(mock_client, callback_receiver, advance, callback_attempts):
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url + "/hook")
    await advance(1)
    await callback_receiver.wait_for(1)
    await callback_attempts(1)
    _, log = await get(mock_client, "/_mock/callbacks")
    assert log["total"] == 1
    (attempt,) = log["items"]
    assert attempt["method"] == "GET" and attempt["status"] == 200 and attempt["attempt"] == 1
    assert attempt["url"].startswith(callback_receiver.url + "/hook?SMSID=")
    _, msg = await get(mock_client, "/_mock/messages/latest")
    assert msg["callbacks"][0]["url"] == attempt["url"]
    _, filtered = await get(mock_client, "/_mock/callbacks", message_id="m_other")
    assert filtered == {"items": [], "total": 0}


async def test_rules_decide_before_magic_numbers_newest_first_with_lifetimes(mock_client, advance):
    resp = await mock_client.post("/_mock/rules", json={"phone": "84901255500", "outcome": "undeliverable", "times": 1})
    assert resp.status == 201
    rule = await resp.json()
    assert rule == {"id": "r_1", "phone": "84901255500", "outcome": "undeliverable", "times": 1, "used": 0}
    await mock_client.post("/_mock/rules", json={"phone_pattern": "^8490", "provider": "esms", "outcome": "blocked"})
    _, rules = await get(mock_client, "/_mock/rules")
    assert [r["id"] for r in rules["items"]] == ["r_2", "r_1"]
    # The newest matching rule wins: r_2 blocks the number at submit (eSMS 99).
    assert (await send(mock_client, "0901255500"))["CodeResult"] == "99"
    resp = await mock_client.delete("/_mock/rules/r_2")
    assert await resp.json() == {"deleted": 1}
    assert (await send(mock_client, "0901255500"))["CodeResult"] == "100"  # r_1, once
    assert (await send(mock_client, "0901255500"))["CodeResult"] == "100"  # magic number again
    await advance(1)
    _, listed = await get(mock_client, "/_mock/messages")
    assert [m["status"] for m in listed["items"]] == ["delivered", "undeliverable"]
    assert listed["items"][1]["history"][0]["detail"] == "rule r_1"
    assert (await get(mock_client, "/_mock/rules"))[1]["total"] == 0


async def test_rule_by_provider_only_and_delete_all(mock_client):
    await mock_client.post("/_mock/rules", json={"provider": "esms", "outcome": "no_balance"})
    assert (await send(mock_client, "0901234567"))["CodeResult"] == "103"
    resp = await mock_client.delete("/_mock/rules")
    assert await resp.json() == {"deleted": 1}
    assert (await send(mock_client, "0901234567"))["CodeResult"] == "100"


@pytest.mark.parametrize("body, message", [
    ({"phone": "1"}, "outcome is required"),
    ({"phone": "1", "outcome": "vanish"}, "outcome"),
    ({"outcome": "delivered"}, "phone"),
    ({"phone": "1", "outcome": "delivered", "times": 0}, "times"),
    ({"phone": "1", "outcome": "delivered", "colour": "red"}, "colour"),
    ({"phone_pattern": "(", "outcome": "delivered"}, "not a valid regular expression"),
    ({"phone": 5, "outcome": "delivered"}, "phone must be of type string"),
    # re.compile raises more than re.error: OverflowError and RecursionError were a 500
    ({"phone_pattern": "a{4294967296}", "outcome": "delivered"}, "not a valid regular expression"),
    ({"phone_pattern": "(" * 1000 + ")" * 1000, "outcome": "delivered"}, "not a valid regular expression"),
])
async def test_rule_bad_input(mock_client, body, message):
    resp = await mock_client.post("/_mock/rules", json=body)
    assert resp.status == 400
    assert message in (await resp.json())["error"]
    assert resp.headers["X-Mock-Reason"]


@pytest.mark.parametrize("pattern, phone", [("^0901", "84901255577"), ("^8490", "0901255577")])
async def test_a_phone_pattern_is_searched_in_both_forms(mock_client, advance, pattern, phone):
    await mock_client.post("/_mock/rules", json={"phone_pattern": pattern, "outcome": "undeliverable"})
    assert (await send(mock_client, phone))["CodeResult"] == "100"
    await advance(1)
    _, latest = await get(mock_client, "/_mock/messages/latest")
    assert (latest["status"], latest["history"][0]["detail"]) == ("undeliverable", "rule r_1")


async def test_rule_delete_unknown(mock_client):
    resp = await mock_client.delete("/_mock/rules/r_99")
    assert resp.status == 404 and await resp.json() == {"error": "no rule 'r_99'"}


async def test_clock_advance(mock_client, mock_clock):
    from mock_server.core.clock import iso_utc

    start = mock_clock.now()
    resp = await mock_client.post("/_mock/clock/advance", json={"seconds": 90.5})
    assert await resp.json() == {"now": iso_utc(start + 90.5)}
    assert (await get(mock_client, "/_mock/clock"))[1] == {"now": iso_utc(start + 90.5), "mode": "manual"}


@pytest.mark.parametrize("data, message", [
    (b'{"seconds": -1}', "seconds"),
    (b'{"seconds": "10"}', "seconds must be of type number"),
    (b"{}", "seconds is required"),
    (b"not json", "malformed JSON"),
    (b"[]", "JSON object"),
])
async def test_clock_advance_bad_input(mock_client, data, message):
    resp = await mock_client.post("/_mock/clock/advance", data=data, headers={"Content-Type": "application/json"})
    assert resp.status == 400 and message in (await resp.json())["error"]


async def test_the_clock_never_passes_the_year_9000(mock_client, mock_clock):
    from mock_server.core.clock import LATEST, iso_utc

    mock_clock.advance(LATEST - mock_clock.now() - 100)  # ~7 000 years of 10-year advances, at once
    resp = await mock_client.post("/_mock/clock/advance", json={"seconds": 101})
    assert resp.status == 400 and "past the year 9000" in (await resp.json())["error"]
    assert mock_clock.now() == LATEST - 100  # refused before the clock moved: everything can still show its time
    resp = await mock_client.post("/_mock/clock/advance", json={"seconds": 99})
    assert await resp.json() == {"now": iso_utc(LATEST - 1)} == {"now": "8999-12-31T23:59:59.000Z"}
    assert (await get(mock_client, "/_mock/health"))[0] == 200


async def test_reset_restores_start_state(mock_client):
    first = await send(mock_client, "0901255500", RequestId="again")
    await mock_client.post("/_mock/rules", json={"provider": "esms", "outcome": "slow"})
    resp = await mock_client.post("/_mock/reset")
    assert await resp.json() == {"status": "reset"}
    assert (await get(mock_client, "/_mock/messages"))[1]["total"] == 0
    assert (await get(mock_client, "/_mock/rules"))[1]["total"] == 0
    balance = await (await mock_client.get("/MainService.svc/json/GetBalance/ESMS_SANDBOX_KEY/ESMS_SANDBOX_SECRET")).json()
    assert balance["Balance"] == 1000000
    again = await send(mock_client, "0901255500", RequestId="again")
    # The seeded ids start over: the same SMSID as the first send after start (the settings have seed 1234).
    assert again == first and again["CodeResult"] == "100"


@pytest.mark.parametrize("method, path, status, allow", [
    ("GET", "/_mock/nothing", 404, None),
    ("POST", "/_mock/health", 405, "GET, HEAD"),
    ("PUT", "/_mock/messages", 405, "DELETE, GET, HEAD"),
    ("GET", "/no/such/path", 404, None),
    ("DELETE", "/_mock/clock/advance", 405, "POST"),
    ("POST", "/_mock/ui/", 405, "GET, HEAD"),
])
async def test_unknown_paths_and_verbs_answer_json(mock_client, method, path, status, allow):
    resp = await mock_client.request(method, path)
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"] == resp.headers["X-Mock-Reason"]
    # RFC 9110 §15.5.6: a 405 "MUST generate an Allow header field" (it was missing from the control API's).
    assert resp.headers.get("Allow") == allow


async def test_root_redirects_to_ui(mock_client):
    resp = await mock_client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/_mock/ui/"


@pytest.mark.parametrize("path", ["/", "/_mock/ui"])
async def test_the_redirects_to_the_inbox_carry_the_mock_and_ui_headers(mock_client, path):
    # README: "Every response carries X-Mock-Server"; "Every UI response carries Content-Security-Policy ... and
    # X-Content-Type-Options: nosniff". The two redirects were raised as HTTPFound, past the layers that add them.
    resp = await mock_client.get(path, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/_mock/ui/"
    assert resp.headers["X-Mock-Server"] == "0.1.0"
    assert resp.headers["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_event_stream_carries_x_mock_server_too(mock_client):
    # README: "Every response carries X-Mock-Server: <version>". The stream's headers are sent when the handler
    # prepares it, before the root middleware's stamp: GET /_mock/events went out without it.
    resp = await mock_client.get("/_mock/events")
    try:
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers.get("X-Mock-Server") == "0.1.0"
    finally:
        resp.close()
