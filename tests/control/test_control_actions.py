"""Control actions over real HTTP: force a status, replay a callback, the server-sent event stream."""

from __future__ import annotations

import json
from typing import Any

import pytest


from tests.control.test_control import get, send


async def test_force_delivered_walks_through_sent_and_fires_the_callback(mock_client, callback_receiver):
    await send(mock_client, "0901234567", CallbackUrl=callback_receiver.url)
    _, msg = await get(mock_client, "/_mock/messages/latest")
    resp = await mock_client.post(f"/_mock/messages/{msg['id']}/status", json={"status": "delivered"})
    assert resp.status == 200
    forced = await resp.json()
    assert [h["status"] for h in forced["history"]] == ["accepted", "sent", "delivered"]
    assert forced["history"][2]["detail"] == "forced through the control API"
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.params["SendSuccess"] == "1"


async def test_force_seen_implies_delivered(mock_client, advance):
    await send(mock_client, "0901234567")
    await advance(0.2)
    _, msg = await get(mock_client, "/_mock/messages/latest")
    resp = await mock_client.post(f"/_mock/messages/{msg['id']}/status", json={"status": "seen"})
    assert [h["status"] for h in (await resp.json())["history"]] == ["accepted", "sent", "delivered", "seen"]
    await advance(5)  # the planned delivery no longer happens
    _, msg = await get(mock_client, "/_mock/messages/latest")
    assert msg["status"] == "seen" and len(msg["history"]) == 4


async def test_force_status_conflicts_and_bad_input(mock_client, advance):
    await send(mock_client, "0901255501")
    await advance(1)
    _, msg = await get(mock_client, "/_mock/messages/latest")
    url = f"/_mock/messages/{msg['id']}/status"
    resp = await mock_client.post(url, json={"status": "delivered"})
    assert resp.status == 409 and await resp.json() == {"error": f"message {msg['id']} is already undeliverable"}
    resp = await mock_client.post(url, json={"status": "accepted"})
    assert resp.status == 400 and "status" in (await resp.json())["error"]
    resp = await mock_client.post("/_mock/messages/m_nope/status", json={"status": "seen"})
    assert resp.status == 404


async def test_force_status_takes_latest_as_the_newest_message(mock_client, callback_receiver):
    # product.md §5: `latest` is an alias for the newest message wherever a message {id} goes; the status route
    # answered 404 "no message 'latest'".
    resp = await mock_client.post("/_mock/messages/latest/status", json={"status": "delivered"})
    assert resp.status == 404 and await resp.json() == {"error": "no messages yet"}
    await send(mock_client, "0901234566")
    await send(mock_client, "0901234567", CallbackUrl=callback_receiver.url)
    resp = await mock_client.post("/_mock/messages/latest/status", json={"status": "delivered"})
    assert resp.status == 200
    forced = await resp.json()
    assert forced["phone"] == "0901234567" and forced["status"] == "delivered"
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.params["phonenumber"] == "0901234567"
    _, older = await get(mock_client, "/_mock/messages", phone="0901234566")
    assert older["items"][0]["status"] == "accepted"


async def test_replay_a_callback(mock_client, callback_receiver, advance, callback_attempts):
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url)
    await advance(1)
    await callback_receiver.wait_for(1)
    await callback_attempts(1)
    _, log = await get(mock_client, "/_mock/callbacks")
    first = log["items"][0]
    resp = await mock_client.post(f"/_mock/callbacks/{first['id']}/replay")
    assert resp.status == 202 and await resp.json() == {"replayed": first["id"]}
    hits = await callback_receiver.wait_for(2)
    assert hits[0].query == hits[1].query
    resp = await mock_client.post("/_mock/callbacks/cb_999/replay")
    assert resp.status == 404


async def read_events(resp: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    kind = None
    while len(events) < count:
        line = (await resp.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
    return events


async def test_event_stream_reports_creation_updates_and_callbacks(mock_client, callback_receiver, advance):
    resp = await mock_client.get("/_mock/events")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    assert await resp.content.readline() == b": connected\n"
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url)
    await advance(1)
    events = await read_events(resp, 5)
    assert [(k, d.get("status")) for k, d in events] == [
        ("message.created", "accepted"), ("request.recorded", 200), ("message.updated", "sent"),
        ("message.updated", "delivered"), ("callback.attempted", 200)]
    resp.close()


async def test_event_stream_type_filter(mock_client, advance):
    resp = await mock_client.get("/_mock/events", params={"types": "message.updated"})
    await resp.content.readline()
    await send(mock_client, "0901255500")
    await advance(1)
    events = await read_events(resp, 2)
    assert [d["status"] for _, d in events] == ["sent", "delivered"]
    resp.close()


@pytest.mark.parametrize("since", ["abc", "-1", "12", "req_3"])
async def test_event_stream_refuses_since_with_the_error_envelope(mock_client, since):
    # The stream keeps no history, so ?since= (a request id or time on /_mock/requests) can mean nothing here; it
    # was ignored and the stream started (200, text/event-stream), even for since=abc.
    resp = await mock_client.get("/_mock/events", params={"since": since})
    assert resp.status == 400 and resp.headers["Content-Type"].startswith("application/json")
    body = await resp.json()
    assert body["error"].startswith("since: the event stream has no history")
    assert resp.headers["X-Mock-Reason"] == body["error"]


async def test_event_stream_refuses_an_unknown_type(mock_client):
    # A misspelt type matched no event: the stream started and stayed silent (a waiting test timed out, not failed).
    resp = await mock_client.get("/_mock/events", params={"types": "message.updated,message.update"})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith("types: unknown event type(s) message.update; the types are "
                                                   "message.created, message.updated,")


async def test_event_stream_survives_a_header_byte_that_is_not_utf8(mock_client, advance):
    # aiohttp decodes header bytes with surrogateescape; the request.recorded event carries the headers, and the
    # stream encoded its JSON as UTF-8 as is: UnicodeEncodeError, every open stream (the inbox's too) cut off.
    from tests.rawhttp import raw_request
    from tests.reliability.test_hostile_input import ES, esms_send, http

    resp = await mock_client.get("/_mock/events", params={"types": "request.recorded,message.updated"})
    assert await resp.content.readline() == b": connected\n"
    body = json.dumps(esms_send(Phones=["0901255500"])).encode()
    status, _, _ = await raw_request(mock_client, http(
        "POST", ES + "Send_Multiple_Sms_OTT/", "Content-Type: application/json", "X-Bin: \xff\xfe\x80", body=body))
    assert status == 200
    await advance(1)
    events = await read_events(resp, 3)
    assert [k for k, _ in events] == ["request.recorded", "message.updated", "message.updated"]
    assert events[0][1]["headers"]["X-Bin"] == "\udcff\udcfe\udc80"  # \u-escaped JSON: the bytes stay visible
    resp.close()


async def test_event_stream_says_how_many_events_it_lost(mock_client, advance, monkeypatch):
    # A subscriber that falls more than the bus's queue behind loses events (a clock advance over thousands of
    # messages publishes them in one go); the stream went on as if nothing had happened, so the inbox kept showing
    # statuses that had since changed. A smaller queue here stands for 10 000 events.
    from mock_server.core import events as bus

    monkeypatch.setattr(bus, "QUEUE_SIZE", 20, raising=False)
    resp = await mock_client.get("/_mock/events", params={"types": "message.updated,request.recorded"})
    assert await resp.content.readline() == b": connected\n"
    await send(mock_client, "0901255500", Phones=[f"09012{i:05d}" for i in range(15)])
    assert [k for k, _ in await read_events(resp, 1)] == ["request.recorded"]  # the stream has caught up
    await advance(1)  # 15 sent and 15 delivered at once: 20 fit the queue, 10 are lost
    events = await read_events(resp, 21)
    assert events[0] == ("events.dropped", {"dropped": 10})
    assert [d["status"] for _, d in events[1:]] == ["sent"] * 15 + ["delivered"] * 5
    resp.close()


async def test_event_stream_carries_the_providers_note_on_the_change(mock_client, advance):
    # The provider hears a status change after the message.updated event was published, and eSMS's note on it
    # (callback_skipped, callback_sent; Infobip's notify_skipped) replaces the message's meta: the event (and so
    # the inbox, live) showed the meta from before, without the reason no callback arrived.
    resp = await mock_client.get("/_mock/events", params={"types": "message.updated"})
    assert await resp.content.readline() == b": connected\n"
    await send(mock_client, "0901255500", CallbackUrl="ftp://example.com/cb")
    await advance(1)
    (_, sent), (_, delivered) = await read_events(resp, 2)
    _, stored = await get(mock_client, f"/_mock/messages/{delivered['id']}")
    assert "callback_skipped" not in sent["meta"]
    assert delivered["meta"]["callback_skipped"] == "CallbackUrl 'ftp://example.com/cb' is not an http(s) URL"
    assert delivered == stored
    resp.close()


async def test_event_stream_shows_each_nxcloud_skipped_receipt_as_of_its_change(mock_client, advance):
    # NXCLOUD notes each receipt it could not send (no dr_webhook) in the message's meta. It appended to the meta's
    # list in place, so the `sent` event, still queued when `delivered` happened, showed both notes.
    from mock_server.providers.nxcloud.signing import sign_headers

    resp = await mock_client.get("/_mock/events", params={"types": "message.updated"})
    assert await resp.content.readline() == b": connected\n"
    raw = json.dumps({"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
                      "messageData": {"rateType": "Transactional", "text": "Hi"}}).encode()
    sent = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers("fme2na3kdi3ki", "abciiiko2k3", raw))
    assert (await sent.json())["code"] == 0
    await advance(1)  # sent, then delivered: both events queued before the stream reads either
    (_, on_sent), (_, on_delivered) = await read_events(resp, 2)
    assert on_sent["meta"]["receipts_skipped"] == ["success: app TexxxP6 has no dr_webhook"]
    assert on_delivered["meta"]["receipts_skipped"] == ["success: app TexxxP6 has no dr_webhook",
                                                        "delivered: app TexxxP6 has no dr_webhook"]
    resp.close()


async def test_event_stream_shows_an_infobip_failover_as_the_change_left_it(mock_client, advance):
    # Viber undeliverable (55501): Infobip moves the message to its SMS step (channel and content) when it hears the
    # change, after the event was published; the event said viber and the Viber text until the SMS step's next change.
    resp = await mock_client.get("/_mock/events", params={"types": "message.updated"})
    assert await resp.content.readline() == b": connected\n"
    body = {"scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": [{"to": {"phoneNumber": "84901255501"}}],
            "viber": {"text": "Hi on Viber"}, "sms": {"text": "Hi by SMS"}}
    sent = await mock_client.post("/omni/1/advanced", json=body, headers={"Authorization": "App INFOBIP_SANDBOX_API_KEY"})
    assert sent.status == 200
    await advance(0.7)  # sent, then undeliverable on Viber
    (_, on_viber), (_, failed) = await read_events(resp, 2)
    _, stored = await get(mock_client, f"/_mock/messages/{failed['id']}")
    assert (on_viber["channel"], on_viber["content"]) == ("viber", {"text": "Hi on Viber"})
    assert (failed["status"], failed["channel"], failed["content"]) == ("undeliverable", "sms", {"text": "Hi by SMS"})
    assert failed == stored
    resp.close()
