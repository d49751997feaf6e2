"""Message summaries: the event stream and `GET /_mock/messages?view=summary` leave out a request body over 4 KB (a big
batch's, the same on each of its messages); `GET /_mock/messages/{id}` and the default list keep it (README, Events)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.control.test_control import SEND
from tests.control.test_control_actions import read_events


def batch(phones: int, start: int = 0) -> dict[str, Any]:
    return {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
            "SmsType": "23", "Content": "Hi", "Phones": [f"09{start + i:08d}" for i in range(phones)]}


async def test_a_big_batch_body_is_left_out_of_summaries_and_kept_in_the_message(mock_client, advance):
    await mock_client.post("/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", json={"balance": 10**9})
    stream = await mock_client.get("/_mock/events", params={"types": "message.created,message.updated"})
    assert await stream.content.readline() == b": connected\n"
    small, big = batch(2), batch(400, start=100)  # 400 phones: a body of ~5.6 KB once stored (SecretKey masked)
    for body in (small, big):
        resp = await mock_client.post(SEND, json=body)
        assert (await resp.json())["CodeResult"] == "100"
    created = await read_events(stream, 402)
    by_phone = {data["phone"]: data for kind, data in created if kind == "message.created"}
    assert by_phone["0900000000"]["raw_request"] == {**small, "SecretKey": "***"}  # small: as before
    assert "raw_request" not in by_phone["0900000100"]  # big: left out, everything else there
    assert by_phone["0900000100"]["content"] == {"text": "Hi"} and by_phone["0900000100"]["status"] == "accepted"
    await advance(1)
    updated = await read_events(stream, 804)
    assert all("raw_request" not in data for _, data in updated if data["phone"] >= "0900000100")
    stream.close()

    summary = await (await mock_client.get("/_mock/messages", params={"limit": 500, "view": "summary"})).json()
    full = await (await mock_client.get("/_mock/messages", params={"limit": 500})).json()
    assert summary["total"] == full["total"] == 402
    for brief, whole in zip(summary["items"], full["items"]):
        expect = dict(whole)
        if whole["phone"] >= "0900000100":
            del expect["raw_request"]
        assert brief == expect  # the same message, only the big body left out
    one = await (await mock_client.get(f"/_mock/messages/{summary['items'][0]['id']}")).json()
    assert one["raw_request"] == {**big, "SecretKey": "***"}


async def test_view_takes_full_or_summary(mock_client):
    resp = await mock_client.get("/_mock/messages", params={"view": "short"})
    assert resp.status == 400 and (await resp.json())["error"] == "view must be full or summary"


def test_wait_for_message_gives_the_whole_message_when_the_stream_had_its_summary(mock_server, monkeypatch):
    # The sync helper matches a message from the event stream; the stream leaves out a big body, which a `where`
    # predicate (and the caller) may read: the helper fetches the message whole before matching it.
    mock_server.call("POST", "/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", {"balance": 10**9})
    body = batch(400, start=500)

    def send_instead_of_listing(**_filters: Any) -> list[dict[str, Any]]:
        # The helper lists what is stored once it listens to the stream: sent here, the batch reaches it only
        # through the stream (no timing involved).
        assert mock_server.call("POST", SEND, body)["CodeResult"] == "100"
        return []

    monkeypatch.setattr(mock_server, "messages", send_instead_of_listing)
    found = mock_server.wait_for_message(
        phone="0900000899", where=lambda m: m["raw_request"]["Phones"][-1] == "0900000899", timeout=10)
    assert found["raw_request"]["Phones"] == body["Phones"] and found["phone"] == "0900000899"


async def test_a_big_send_with_a_listener_publishes_no_body(mock_client):
    # What the summaries are for: a 5 000-phone send with the inbox open parsed its 65 KB body for every phone's
    # event and pushed 157 MB. The bytes published are now those of the summaries alone.
    await mock_client.post("/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", json={"balance": 10**9})
    stream = await mock_client.get("/_mock/events", params={"types": "message.created"})
    assert await stream.content.readline() == b": connected\n"
    resp = await mock_client.post(SEND, json=batch(5000))
    assert (await resp.json())["CodeResult"] == "100"
    events = await asyncio.wait_for(read_events(stream, 5000), 60)
    stream.close()
    assert all("raw_request" not in data for _, data in events)
    assert max(len(json.dumps(data)) for _, data in events) < 2048


def test_wait_for_message_gives_the_change_it_matched_with_its_body(mock_server, monkeypatch):
    # The helper fetched the message whole in place of the change that passed its filters: a message that had moved on
    # meanwhile came back with a status it was not asked for, and `where` judged that later state, not the change.
    mock_server.call("POST", "/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", {"balance": 10**9})
    body = batch(400, start=1000)

    def send_and_deliver_instead_of_listing(**_filters: Any) -> list[dict[str, Any]]:
        # Sent and delivered once the helper listens: the stream then holds the whole walk, `accepted` first.
        assert mock_server.call("POST", SEND, body)["CodeResult"] == "100"
        mock_server.advance(3600)
        return []

    monkeypatch.setattr(mock_server, "messages", send_and_deliver_instead_of_listing)
    seen: list[str] = []
    found = mock_server.wait_for_message(
        phone="0900001399", status="accepted", where=lambda m: seen.append(m["status"]) or "raw_request" in m,
        timeout=10)
    assert found["status"] == "accepted" and seen == ["accepted"]
    assert found["raw_request"]["Phones"] == body["Phones"]
