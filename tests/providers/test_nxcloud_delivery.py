"""NXCLOUD receipts at a real listener (success, then delivered / seen / failed / expired), signed callbacks, user
replies to message_webhook, and the session rules on the manual clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from mock_server.providers.nxcloud import signing
from mock_server.providers.nxcloud.errors import NxcloudCode
from mock_server.providers.nxcloud.signing import sign_headers, verify_sign

MT = "/api/viber/mt"
KEY, SECRET, APP = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"
UTC8 = timezone(timedelta(hours=8))


def send_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC8).strftime("%Y-%m-%d %H:%M:%S")


def body(phone: str, function_type: str = "text", **data: Any) -> dict[str, Any]:
    return {"appkey": APP, "phone": phone, "functionType": function_type,
            "messageData": data or {"rateType": "Transactional", "text": "Your code is 989724."}}


async def send(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    resp = await client.post(MT, data=raw, headers=sign_headers(KEY, SECRET, raw))
    assert resp.status == 200
    return await resp.json()


async def send_ok(client: Any, payload: dict[str, Any]) -> str:
    answer = await send(client, payload)
    assert answer["code"] == 0, answer
    return answer["data"]["requestId"]


async def set_webhooks(client: Any, **hooks: Any) -> dict[str, Any]:
    resp = await client.post(f"/_mock/nxcloud/apps/{APP}/webhooks", json=hooks)
    assert resp.status == 200, await resp.text()
    return await resp.json()


COST_TRANSACTIONAL = {"currency": "USD", "localPrice": 0.09425, "originalPrice": 0.013, "rateType": "Transactional"}


def receipt(status: str, request_id: str, code: int, message: str, at: float, cost: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "requestId": request_id, "code": code, "message": message,
                           "sendTime": send_time(at)}
    if cost:
        out["cost"] = COST_TRANSACTIONAL
    return out


# --- receipts --------------------------------------------------------------------------------------------------------


async def test_delivered_receipts_reach_the_dr_webhook(mock_client, callback_receiver, mock_clock, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url + "/nx/dr")
    t0 = mock_clock.now()
    request_id = await send_ok(mock_client, body("79100055500"))
    await advance(0.2)
    (success,) = await callback_receiver.wait_for(1)
    assert success.method == "POST" and success.path == "/nx/dr"
    assert success.headers["Content-Type"] == "application/json"
    assert "sign" not in success.headers
    # The documented key order, compact JSON.
    assert success.body.decode() == json.dumps(
        receipt("success", request_id, 0, "Successfully sent.", t0 + 0.2, cost=True), separators=(",", ":"))
    await advance(0.5)
    _, delivered = await callback_receiver.wait_for(2)
    assert delivered.json() == receipt("delivered", request_id, 11001, "Viber message has delivered", t0 + 0.7,
                                       cost=True)
    stored = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [h["status"] for h in stored["history"]] == ["accepted", "sent", "delivered"]
    assert [c["status"] for c in stored["callbacks"]] == [200, 200]


async def test_seen_receipts(mock_client, callback_receiver, mock_clock, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    t0 = mock_clock.now()
    request_id = await send_ok(mock_client, body("79100055504"))
    for step, count in ((0.2, 1), (0.5, 2), (0.5, 3)):
        await advance(step)
        hits = await callback_receiver.wait_for(count)
    assert [h.json() for h in hits] == [
        receipt("success", request_id, 0, "Successfully sent.", t0 + 0.2, cost=True),
        receipt("delivered", request_id, 11001, "Viber message has delivered", t0 + 0.7, cost=True),
        receipt("seen", request_id, 11002, "Viber message has seen", t0 + 1.2),
    ]


async def test_failed_receipt_for_undeliverable(mock_client, callback_receiver, mock_clock, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    t0 = mock_clock.now()
    request_id = await send_ok(mock_client, body("79100055501"))
    await advance(0.2)
    await callback_receiver.wait_for(1)
    await advance(0.5)
    _, failed = await callback_receiver.wait_for(2)
    assert failed.json() == receipt("failed", request_id, 11000, "Viber send error", t0 + 0.7)


async def test_expired_receipt_after_the_validity_period(mock_client, callback_receiver, mock_clock, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    t0 = mock_clock.now()
    request_id = await send_ok(mock_client, body("79100055502"))
    await advance(0.2)
    await callback_receiver.wait_for(1)
    await advance(86400 - 1)
    assert len(callback_receiver.requests) == 1  # not yet
    await advance(1)
    _, expired = await callback_receiver.wait_for(2)
    assert expired.json() == receipt("expired", request_id, 11003, "Viber message has expired", t0 + 86400)


async def test_slow_delivery_after_ten_minutes(mock_client, callback_receiver, mock_clock, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    t0 = mock_clock.now()
    request_id = await send_ok(mock_client, body("79100055505"))
    await advance(0.2)
    await callback_receiver.wait_for(1)
    await advance(600 - 0.2 - 1)
    assert len(callback_receiver.requests) == 1
    await advance(1)
    _, delivered = await callback_receiver.wait_for(2)
    assert delivered.json() == receipt("delivered", request_id, 11001, "Viber message has delivered", t0 + 600,
                                       cost=True)


async def test_forced_status_sends_its_receipt(mock_client, callback_receiver, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    await send_ok(mock_client, body("79100012345"))
    message_id = (await (await mock_client.get("/_mock/messages/latest")).json())["id"]
    resp = await mock_client.post(f"/_mock/messages/{message_id}/status", json={"status": "undeliverable"})
    assert resp.status == 200, await resp.text()
    hits = await callback_receiver.wait_for(2)  # both are sent at once: either may arrive first
    assert sorted(h.json()["status"] for h in hits) == ["failed", "success"]


async def test_no_dr_webhook_no_receipt(mock_client, callback_receiver, advance):
    await send_ok(mock_client, body("79100055500"))
    await advance(1)
    stored = await (await mock_client.get("/_mock/messages/latest")).json()
    assert stored["status"] == "delivered" and stored["callbacks"] == []
    assert stored["meta"]["receipts_skipped"] == ["success: app TexxxP6 has no dr_webhook",
                                                  "delivered: app TexxxP6 has no dr_webhook"]


async def test_receipt_retried_on_503(mock_client, callback_receiver, advance):
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    callback_receiver.respond_with(503)
    await send_ok(mock_client, body("79100055500"))
    await advance(0.2)
    await callback_receiver.wait_for(1)
    await advance(0.5)  # fast back-off: the retry is due 0.5 s later, together with the delivered receipt
    hits = await callback_receiver.wait_for(3)
    assert sorted(h.json()["status"] for h in hits) == ["delivered", "success", "success"]


async def test_signed_callbacks_verify_with_the_same_algorithm(mock_client, callback_receiver, advance):
    app = await set_webhooks(mock_client, dr_webhook=callback_receiver.url, sign_callbacks=True)
    assert app["sign_callbacks"] is True
    await send_ok(mock_client, body("79100055500"))
    await advance(0.2)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["accessKey"] == KEY and hit.headers["bizType"] == "7" and hit.headers["action"] == "dr"
    assert verify_sign(hit.headers, hit.body, SECRET)
    assert not verify_sign(hit.headers, hit.body + b" ", SECRET)


async def test_a_signed_receipt_is_signed_again_with_a_fresh_ts_for_each_try(mock_client, callback_receiver, advance,
                                                                               monkeypatch):
    # ts is the wall clock of the sending, tolerated within 60 s (nxcloud.md §1.1; product.md §9: it "guards transport
    # freshness"): a retry kept its first try's ts, stale by NXCLOUD's own rule once 60 s had passed (every retry of
    # schedule = "provider", every callback re-sent after a restart).
    wall = [1_800_000_000_000]
    monkeypatch.setattr(signing, "wall_clock_ms", lambda: wall[0])
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url, sign_callbacks=True)
    callback_receiver.respond_with(503)
    await send_ok(mock_client, body("79100055500"))
    await advance(0.2)  # sent: the "success" receipt, answered 503
    (first,) = await callback_receiver.wait_for(1)
    wall[0] += 61_000  # a minute of wall time before the retry
    await advance(0.5)  # the retry, after the fast back-off's 0.5 s, with the "delivered" receipt
    hits = await callback_receiver.wait_for(3)
    (retry,) = [h for h in hits[1:] if h.json()["status"] == "success"]
    assert retry.body == first.body
    assert (first.headers["ts"], retry.headers["ts"]) == ("1800000000000", "1800000061000")
    assert verify_sign(first.headers, first.body, SECRET) and verify_sign(retry.headers, retry.body, SECRET)


async def test_webhook_control_validates(mock_client):
    resp = await mock_client.post("/_mock/nxcloud/apps/NOPE/webhooks", json={"dr_webhook": "http://x"})
    assert resp.status == 404
    resp = await mock_client.post(f"/_mock/nxcloud/apps/{APP}/webhooks", json={"dr_webhook": "ftp://x"})
    assert resp.status == 400
    assert (await resp.json())["error"] == 'dr_webhook: must be "" (none) or an http(s) URL'
    resp = await mock_client.post(f"/_mock/nxcloud/apps/{APP}/webhooks", json={"callback": "http://x"})
    assert resp.status == 400


async def test_webhooks_can_be_set_under_the_apps_account_as_product_md_places_them(mock_client, callback_receiver,
                                                                                       advance):
    # product.md §5: "POST /_mock/accounts/..." covers NXCLOUD app webhooks at run time; the app under its account,
    # beside its balance (the shorter /_mock/nxcloud/apps/{appkey}/webhooks works too).
    resp = await mock_client.post(f"/_mock/accounts/nxcloud/{KEY}/apps/{APP}/webhooks",
                                  json={"dr_webhook": callback_receiver.url})
    assert resp.status == 200 and (await resp.json())["dr_webhook"] == callback_receiver.url
    request_id = await send_ok(mock_client, body("79100055500"))
    await advance(0.3)
    (hit,) = await callback_receiver.wait_for(1)
    assert (hit.json()["requestId"], hit.json()["status"]) == (request_id, "success")
    resp = await mock_client.post(f"/_mock/accounts/nxcloud/NXCLOUD_POOR_KEY/apps/{APP}/webhooks",
                                  json={"dr_webhook": ""})
    assert (resp.status, (await resp.json())["error"]) == (404, f"no NXCLOUD app {APP!r} under access_key "
                                                                 "'NXCLOUD_POOR_KEY'")
    resp = await mock_client.post(f"/_mock/accounts/nxcloud/{KEY}/apps/NOPE/webhooks", json={"dr_webhook": ""})
    assert resp.status == 404


async def test_webhook_control_refuses_a_url_that_cannot_be_parsed(mock_client, advance):
    # The schema's pattern let "http://[::1" through (200); no receipt could go there, and only the stored
    # message's meta.receipts_skipped said why.
    # A bad port parses too ("http://u:p@h:99999/x"), and failed only when a receipt was sent.
    for name, url in (("dr_webhook", "http://[::1"), ("message_webhook", "https://[fe80::1/x"),
                      ("dr_webhook", "http://u:p@h.example:99999/x"), ("dr_webhook", "http://h.example:abc/x"),
                      ("message_webhook", "http://h.example:0/x"), ("dr_webhook", "http://u:p@/x")):
        resp = await mock_client.post(f"/_mock/nxcloud/apps/{APP}/webhooks", json={name: url, "sign_callbacks": True})
        assert resp.status == 400
        assert (await resp.json())["error"] == f'{name}: must be "" (none) or an http(s) URL'
    accounts = (await (await mock_client.get("/_mock/accounts")).json())["nxcloud"]
    app = next(a for a in accounts[0]["apps"] if a["appkey"] == APP)
    assert (app["dr_webhook"], app["message_webhook"], app["sign_callbacks"]) == ("", "", False)  # nothing changed


async def test_reset_restores_configured_webhooks_and_balances(mock_client):
    await set_webhooks(mock_client, dr_webhook="http://127.0.0.1:9/dr")
    await send_ok(mock_client, body("79100055500"))
    assert (await mock_client.post("/_mock/reset")).status == 200
    accounts = (await (await mock_client.get("/_mock/accounts")).json())["nxcloud"]
    main = next(a for a in accounts if a["access_key"] == KEY)
    assert main["balance"] == 100.0
    assert next(a for a in main["apps"] if a["appkey"] == APP)["dr_webhook"] == ""
    assert "access_secret" not in main


# --- replies and sessions --------------------------------------------------------------------------------------------


async def reply(client: Any, phone: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/_mock/nxcloud/replies", json={"appkey": APP, "phone": phone, "text": "hi", **extra})
    return resp.status, await resp.json()


def session_body(phone: str, text: str = "Thanks for writing") -> dict[str, Any]:
    return body(phone, rateType="Session", text=text)


async def billed(client: Any) -> tuple[str, str]:
    meta = (await (await client.get("/_mock/messages/latest")).json())["meta"]
    return meta["billed_rate_type"], meta["price"]


async def test_reply_is_posted_to_message_webhook(mock_client, callback_receiver, mock_clock):
    await set_webhooks(mock_client, message_webhook=callback_receiver.url + "/mo")
    request_id = await send_ok(mock_client, body("79100012345"))
    resp = await mock_client.post("/_mock/nxcloud/replies", json={"appkey": APP, "phone": "79100012345",
                                                                   "text": "text test"})
    assert resp.status == 201
    answer = await resp.json()
    expected = {"phone": "79100012345", "appkey": APP, "traceRequestId": request_id,
                "message": {"text": "text test"}, "sendTime": send_time(mock_clock.now())}
    assert answer["reply"] == expected and answer["session"]["active"] is True
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.path == "/mo" and hit.method == "POST" and hit.json() == expected
    assert list(hit.json()) == ["phone", "appkey", "traceRequestId", "message", "sendTime"]


async def test_media_reply_and_trace_request_id(mock_client, callback_receiver):
    await set_webhooks(mock_client, message_webhook=callback_receiver.url)
    first = await send_ok(mock_client, body("79100012345"))
    await send_ok(mock_client, body("79100012345"))
    resp = await mock_client.post("/_mock/nxcloud/replies", json={
        "appkey": APP, "phone": "79100012345", "media": "https:media-link", "fileName": "xxxx.jpeg",
        "traceRequestId": first})
    assert resp.status == 201
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.json()["traceRequestId"] == first
    assert hit.json()["message"] == {"media": "https:media-link", "fileName": "xxxx.jpeg"}


async def test_reply_needs_a_message_sent_first(mock_client):
    status, answer = await reply(mock_client, "79100099999")
    assert status == 404
    assert "NXCLOUD pushes only replies to messages the business has sent" in answer["error"]
    status, answer = await reply(mock_client, "79100099999", media="x")
    assert status == 400


async def test_session_message_outside_a_session_is_billed_by_type(mock_client):
    await send_ok(mock_client, session_body("79100012345"))
    assert await billed(mock_client) == ("Transactional", "0.013")
    await send_ok(mock_client, body("79100012345", "image", rateType="Session", image="https://x/a.jpg"))
    assert await billed(mock_client) == ("Promotional", "0.021")


async def test_session_billing_and_the_five_consecutive_limit(mock_client, callback_receiver, advance):
    phone = "79100012345"
    await set_webhooks(mock_client, dr_webhook=callback_receiver.url)
    await send_ok(mock_client, body(phone))
    assert (await reply(mock_client, phone))[0] == 201
    await send_ok(mock_client, session_body(phone))
    assert await billed(mock_client) == ("Session", "0.009")  # the first session message is billed as Session
    for _ in range(4):
        await send_ok(mock_client, session_body(phone))
        assert await billed(mock_client) == ("Session", "0")  # the next ones in the session are free
    resp = await mock_client.post(MT, data=(raw := json.dumps(session_body(phone)).encode()),
                                  headers=sign_headers(KEY, SECRET, raw))
    assert await resp.json() == {"code": -1, "message": "Failure"}
    assert resp.headers["X-Mock-Reason"].startswith("session limit: 5 consecutive Session messages to 79100012345")
    # Other rate types are not session messages: not limited.
    await send_ok(mock_client, body(phone))
    # The user replies: five more.
    await reply(mock_client, phone)
    for _ in range(5):
        await send_ok(mock_client, session_body(phone))
    assert (await send(mock_client, session_body(phone)))["code"] == -1
    sessions = (await (await mock_client.get("/_mock/nxcloud/sessions")).json())["items"]
    assert sessions[0]["sent"] == 10 and sessions[0]["consecutive"] == 5 and sessions[0]["active"] is True
    # The free session message's receipt carries a zero cost.
    await advance(0.2)
    hits = await callback_receiver.wait_for(12)
    costs = [h.json()["cost"]["originalPrice"] for h in hits if h.json()["status"] == "success"]
    assert sorted(costs) == [0.0] * 9 + [0.009] + [0.013] * 2


async def test_session_window_closes_after_24_hours(mock_client, advance):
    phone = "79100012345"
    await send_ok(mock_client, body(phone))
    await reply(mock_client, phone)
    await advance(86400 - 1)
    await send_ok(mock_client, session_body(phone))
    assert await billed(mock_client) == ("Session", "0.009")
    await advance(1)
    # Window over: no longer in a session, so billed by type and not limited.
    for _ in range(6):
        await send_ok(mock_client, session_body(phone))
        assert await billed(mock_client) == ("Transactional", "0.013")


async def test_session_ends_after_60_messages_and_a_reply_starts_a_new_one(mock_client):
    phone = "79100012345"
    await send_ok(mock_client, body(phone))
    for i in range(60):
        if i % 5 == 0:
            await reply(mock_client, phone)
        await send_ok(mock_client, session_body(phone))
    sessions = (await (await mock_client.get("/_mock/nxcloud/sessions")).json())["items"]
    assert sessions[0]["sent"] == 60 and sessions[0]["active"] is False
    await send_ok(mock_client, session_body(phone))  # the session ended: billed by type
    assert await billed(mock_client) == ("Transactional", "0.013")
    await reply(mock_client, phone)  # a new session
    await send_ok(mock_client, session_body(phone))
    assert await billed(mock_client) == ("Session", "0.009")


async def test_sessions_are_per_app_and_phone_and_cleared_by_reset(mock_client):
    await send_ok(mock_client, body("79100012345"))
    await reply(mock_client, "79100012345")
    await send_ok(mock_client, session_body("79100067890"))
    assert await billed(mock_client) == ("Transactional", "0.013")
    await mock_client.post("/_mock/reset")
    assert (await (await mock_client.get("/_mock/nxcloud/sessions")).json()) == {"items": [], "total": 0}


async def test_free_session_message_needs_no_balance_but_the_first_does(mock_client):
    phone = "79100012345"
    await send_ok(mock_client, body(phone))
    await reply(mock_client, phone)
    await mock_client.post(f"/_mock/accounts/nxcloud/{KEY}/balance", json={"balance": 0.009})
    await send_ok(mock_client, session_body(phone))  # exactly the Session price
    await send_ok(mock_client, session_body(phone))  # free
    answer = await send(mock_client, body(phone))
    assert answer == {"code": NxcloudCode.INSUFFICIENT_BALANCE.code, "message": "Insufficient balance"}


async def test_sessions_are_listed_newest_first(mock_client, advance):
    # product.md §5.1: "Lists answer {"items": [...], "total": N}, newest first"; sessions came oldest first, and a
    # session opened again kept the place of the one it replaced.
    async def listed() -> list[tuple[str, str]]:
        items = (await (await mock_client.get("/_mock/nxcloud/sessions")).json())["items"]
        return [(s["phone"], s["opened_at"]) for s in items]

    for phone in ("79100012345", "79100067890"):
        await send_ok(mock_client, body(phone))
    await reply(mock_client, "79100012345")
    await advance(10)
    await reply(mock_client, "79100067890")
    first = await listed()
    assert [phone for phone, _ in first] == ["79100067890", "79100012345"]
    await advance(25 * 3600)  # both windows are over; a reply opens a new one
    await reply(mock_client, "79100012345")
    again = await listed()
    assert [phone for phone, _ in again] == ["79100012345", "79100067890"] and again[1] == first[0]


async def test_webhook_control_refuses_a_url_ending_in_a_newline(mock_client):
    # The schema's pattern ended in `$`, which in Python also matches before a final newline: "http://x.io/dr\n" was
    # stored as the app's webhook (200); a space or a newline anywhere else was already refused.
    for name in ("dr_webhook", "message_webhook"):
        resp = await mock_client.post(f"/_mock/nxcloud/apps/{APP}/webhooks", json={name: "http://x.io/dr\n"})
        assert resp.status == 400
        assert (await resp.json())["error"] == f'{name}: must be "" (none) or an http(s) URL'
    accounts = (await (await mock_client.get("/_mock/accounts")).json())["nxcloud"]
    app = next(a for a in accounts[0]["apps"] if a["appkey"] == APP)
    assert (app["dr_webhook"], app["message_webhook"]) == ("", "")
