"""The bounded memory store: beyond [server] max_messages the oldest final messages go first, and health counts it."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from tests.control.test_control import get, send
from tests.providers.test_infobip import advanced, post


@pytest.fixture
def mock_settings(mock_settings):
    return replace(mock_settings, max_messages=3)


async def test_oldest_final_messages_are_evicted_first(mock_client, advance):
    await send(mock_client, "0901255505")  # slow: stays "sent" for 10 minutes
    await send(mock_client, "0901255500")
    await send(mock_client, "0911255500")
    await advance(1)  # the last two are final now, the first is not
    await send(mock_client, "0921255500")  # a fourth: the oldest *final* one goes
    _, listed = await get(mock_client, "/_mock/messages")
    assert [m["phone"] for m in listed["items"]] == ["0921255500", "0911255500", "0901255505"]
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["messages"] == 3 and health["counts"]["evicted"] == 1
    await send(mock_client, "0931255500")  # nothing final but the third: it goes
    await send(mock_client, "0941255500")  # nothing final at all: the oldest goes
    _, listed = await get(mock_client, "/_mock/messages")
    assert [m["phone"] for m in listed["items"]] == ["0941255500", "0931255500", "0921255500"]
    _, by_phone = await get(mock_client, "/_mock/messages", phone="0901255505")
    assert by_phone == {"items": [], "total": 0}
    await advance(600)  # the evicted slow message's remaining step finds nothing to do
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["evicted"] == 3 and health["counts"]["messages"] == 3


async def test_an_evicted_message_owes_no_more_callbacks_and_the_others_still_do(mock_client, callback_receiver,
                                                                                 advance, callback_attempts):
    callback_receiver.respond_with(*[503] * 20)  # every try fails, so both callbacks stay owed, retrying
    await send(mock_client, "0901255500", CallbackUrl=callback_receiver.url + "/first")
    await send(mock_client, "0911255500", CallbackUrl=callback_receiver.url + "/second")
    await advance(1)  # both final: one callback each, both answered 503
    await callback_attempts(2)
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["callbacks_pending"] == 2
    await send(mock_client, "0921255500")
    await send(mock_client, "0931255500")  # a fourth message: the oldest final one (the first) is evicted
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["evicted"] == 1 and health["counts"]["callbacks_pending"] == 1
    for tried in range(3, 7):  # the second message's 4 retries (each is scheduled once the try before it failed)
        await advance(60)
        attempts = await callback_attempts(tried)
    await advance(60)
    paths = [urlsplit(a["url"]).path.rsplit("/", 1)[1] for a in attempts]
    assert paths.count("first") == 1 and paths.count("second") == 5
    _, health = await get(mock_client, "/_mock/health")
    assert health["counts"]["callbacks_pending"] == 0


async def test_health_counts_follow_sends_status_changes_evictions_and_clears(mock_client, advance):
    async def counts() -> tuple[dict, dict, int]:
        _, health = await get(mock_client, "/_mock/health")
        return health["counts"]["by_provider"], health["counts"]["by_status"], health["counts"]["messages"]

    async def recount() -> tuple[dict, dict, int]:
        _, listed = await get(mock_client, "/_mock/messages")
        by_provider: dict[str, int] = {}
        by_status: dict[str, int] = {}
        for m in listed["items"]:
            by_provider[m["provider"]] = by_provider.get(m["provider"], 0) + 1
            by_status[m["status"]] = by_status.get(m["status"], 0) + 1
        return by_provider, by_status, listed["total"]

    await send(mock_client, "0901255505")  # slow: "sent" for 10 minutes
    await send(mock_client, "0901255501")  # undeliverable
    assert await counts() == ({"esms": 2}, {"accepted": 2}, 2)
    await advance(1)
    assert await counts() == await recount() == ({"esms": 2}, {"sent": 1, "undeliverable": 1}, 2)
    await send(mock_client, "0911255500")
    await send(mock_client, "0921255500")  # a fourth: the undeliverable one is evicted
    assert await counts() == await recount() == ({"esms": 3}, {"accepted": 2, "sent": 1}, 3)
    slow = (await get(mock_client, "/_mock/messages", phone="0901255505"))[1]["items"][0]
    resp = await mock_client.post(f"/_mock/messages/{slow['id']}/status", json={"status": "seen"})
    assert resp.status == 200, await resp.text()
    assert await counts() == await recount() == ({"esms": 3}, {"accepted": 2, "seen": 1}, 3)
    _, accepted = await get(mock_client, "/_mock/messages", provider="esms", status="accepted", limit="1")
    assert accepted["total"] == 2 and [m["phone"] for m in accepted["items"]] == ["0921255500"]
    _, seen = await get(mock_client, "/_mock/messages", status="seen")
    assert seen["total"] == 1 and [m["phone"] for m in seen["items"]] == ["0901255505"]
    await mock_client.delete("/_mock/messages")
    assert await counts() == ({}, {}, 0)
    await advance(600)  # what was planned for the cleared messages finds nothing to change
    assert await counts() == ({}, {}, 0)


async def test_a_message_under_way_again_after_a_failover_is_not_evicted_as_final(mock_client, advance):
    # 55501 on Infobip: undeliverable on VIBER (final for a moment), then on to SMS, under way again.
    status, answer, _ = await post(mock_client, "/omni/1/advanced", advanced("41793055501"))
    assert status == 200
    failover_id = answer["messages"][0]["messageId"]
    await send(mock_client, "0901255500")
    await send(mock_client, "0911255500")
    await advance(1)  # the eSMS two delivered; the Infobip one failed on VIBER and was sent again by SMS
    await send(mock_client, "0921255500")  # a fourth: the oldest message that *is* final goes (the first eSMS one)
    _, listed = await get(mock_client, "/_mock/messages")
    assert [(m["provider"], m["phone"], m["status"]) for m in listed["items"]] == [
        ("esms", "0921255500", "accepted"), ("esms", "0911255500", "delivered"),
        ("infobip", "41793055501", "sent")]
    await advance(1)  # and the failover runs to its end: delivered by SMS
    _, listed = await get(mock_client, "/_mock/messages", provider="infobip")
    assert [(m["provider_id"], m["channel"], m["status"]) for m in listed["items"]] == [
        (failover_id, "sms", "delivered")]
