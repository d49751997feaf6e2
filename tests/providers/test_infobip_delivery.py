"""Infobip OMNI delivery over real HTTP: failover step by step, validity expiry on the manual clock, one-time reports,
logs and their filters, the notifyUrl push with retries."""

from __future__ import annotations

from typing import Any

from mock_server.providers.infobip.codec import omni_date

from .test_infobip import BAD_REQUEST, DELIVERED, NO_ERROR, SEED_KEY, advanced, get, post

UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                 "description": "Message sent not delivered"}
ABSENT = {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 6, "name": "EC_ABSENT_SUBSCRIBER_SM",
          "description": "Absent Subscriber", "permanent": False}
EXPIRED = {"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED", "description": "Message expired"}
VALIDITY_EXPIRED = {"groupId": 2, "groupName": "USER_ERRORS", "id": 4101, "name": "EC_VALIDITY_EXPIRED",
                    "description": "Validity expired", "permanent": True}


async def reports(client: Any, **params: Any) -> list[dict[str, Any]]:
    status, body, _ = await get(client, "/omni/1/reports", **params)
    assert status == 200
    return body["results"]


async def logs(client: Any, **params: Any) -> list[dict[str, Any]]:
    status, body, _ = await get(client, "/omni/1/logs", **params)
    assert status == 200, body
    return body["results"]


# --- failover --------------------------------------------------------------------------------------------------------


async def test_viber_undeliverable_fails_over_to_sms_with_final_report_on_sms(mock_client, advance, mock_clock,
                                                                             callback_receiver):
    t0 = mock_clock.now()
    status, body, _ = await post(mock_client, "/omni/1/advanced",
                                 advanced("41793055501", notifyUrl=callback_receiver.url + "/dlr",
                                          callbackData="order-7"))
    message_id = body["messages"][0]["messageId"]
    await advance(2)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.method == "POST" and hit.path == "/dlr"
    assert hit.headers["Content-Type"] == "application/json"
    (pushed,) = hit.json()["results"]
    # one final report per destination, naming the channel that delivered; the Viber step's failure is not reported
    (report,) = await reports(mock_client)
    assert report == pushed
    assert report == {
        "bulkId": report["bulkId"], "messageId": message_id, "to": "41793055501",
        "sentAt": omni_date(t0 + 0.7 + 0.2), "doneAt": omni_date(t0 + 0.7 + 0.7), "messageCount": 1,
        "mccMnc": "22801", "price": {"pricePerMessage": 0.01, "currency": "EUR"}, "status": DELIVERED,
        "error": NO_ERROR, "channel": "SMS", "callbackData": "order-7",
    }
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    assert [(h["status"], h.get("channel")) for h in stored["history"]] == [
        ("accepted", None), ("sent", "viber"), ("undeliverable", "viber"), ("sent", "sms"), ("delivered", "sms")]
    assert stored["channel"] == "sms" and stored["content"] == {"text": "Hi SMS"}
    assert len(callback_receiver.requests) == 1


async def test_a_finished_walk_lets_go_of_the_channel_data_and_still_reports_its_steps(mock_client, advance):
    # A finished walk keeps only its attempts' data (memory per message, issue 8): the report and the log still
    # carry what was sent on the step that ended it, Viber for one, SMS after a failover for the other.
    from mock_server.keys import core_key

    for phone in ("41793055500", "41793055501"):
        status, _, _ = await post(mock_client, "/omni/1/advanced", advanced(phone, viber={"text": "On Viber"},
                                                                           sms={"text": "By SMS " + "x" * 160}))
        assert status == 200
    await advance(3)
    backend = mock_client.server.app[core_key].providers["infobip"].backend
    assert [d.data for d in backend.deliveries.values()] == [{}, {}]
    by_phone = {entry["to"]: entry for entry in await logs(mock_client)}
    assert [(by_phone[p]["text"], by_phone[p]["messageCount"], by_phone[p]["channel"]) for p in sorted(by_phone)] == [
        ("On Viber", 1, "VIBER"), ("By SMS " + "x" * 160, 2, "SMS")]
    assert sorted((r["to"], r["channel"], r["messageCount"]) for r in await reports(mock_client)) == [
        ("41793055500", "VIBER", 1), ("41793055501", "SMS", 2)]


async def test_intermediate_report_per_failed_step(mock_client, advance, callback_receiver):
    await post(mock_client, "/omni/1/advanced",
               advanced("41793055501", notifyUrl=callback_receiver.url + "/dlr", intermediateReport=True))
    await advance(2)
    hits = await callback_receiver.wait_for(2)  # both pushes go out in one clock step: either may arrive first
    by_channel = {h.json()["results"][0]["channel"]: h.json()["results"][0] for h in hits}
    viber, sms = by_channel["VIBER"], by_channel["SMS"]
    assert (viber["channel"], viber["status"], viber["error"]) == ("VIBER", UNDELIVERABLE, ABSENT)
    assert viber["price"] == {"pricePerMessage": 0.0104, "currency": "EUR"}
    assert (sms["channel"], sms["status"]) == ("SMS", DELIVERED)
    # the pull endpoint has the final one only (product.md §9)
    assert [r["channel"] for r in await reports(mock_client)] == ["SMS"]


async def test_failover_without_sms_data_ends_undeliverable_on_viber(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced("41793055501", sms=...))
    await advance(5)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"], report["error"]) == ("VIBER", UNDELIVERABLE, ABSENT)


async def test_step_without_data_is_passed_over(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced("41793026727", viber=...))
    await advance(1)
    (report,) = await reports(mock_client)
    assert report["channel"] == "SMS" and report["status"] == DELIVERED
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    assert {h.get("channel") for h in stored["history"][1:]} == {"sms"}


async def test_send_with_no_data_for_any_step_is_400(mock_client):
    status, body, headers = await post(mock_client, "/omni/1/advanced", advanced(viber=..., sms=...,
                                                                                  email={"text": "x"}))
    assert status == 400 and "no VIBER or SMS step" in headers["X-Mock-Reason"]


async def test_rule_makes_sms_step_fail_too(mock_client, advance):
    resp = await mock_client.post("/_mock/rules", json={"phone": "41790000001", "provider": "infobip",
                                                        "outcome": "undeliverable"})
    assert resp.status == 201
    await post(mock_client, "/omni/1/advanced", advanced("41790000001"))
    await advance(5)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]["name"]) == ("SMS", "UNDELIVERABLE_NOT_DELIVERED")


async def test_a_rule_rejecting_the_viber_step_fails_over_to_sms(mock_client, advance, callback_receiver):
    # The seed page: "If the messages are rejected on Viber ..., the messages will be sent using SMS". A rule naming
    # the channel rejects that step, not the send; a rule without one (like 55503) rejects at submit.
    resp = await mock_client.post("/_mock/rules", json={"phone": "41790000001", "provider": "infobip",
                                                        "channel": "viber", "outcome": "rejected"})
    assert resp.status == 201
    status, body, headers = await post(mock_client, "/omni/1/advanced",
                                       advanced("41790000001", notifyUrl=callback_receiver.url,
                                                intermediateReport=True))
    assert status == 200 and body["messages"][0]["status"]["name"] == "PENDING_ENROUTE"
    assert "X-Mock-Reason" not in headers
    # The rejection is due at once: it happened right after the send, without an advance (it waited for one).
    message = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [(h["status"], h.get("channel")) for h in message["history"]] == [("accepted", None),
                                                                            ("rejected", "viber")]
    assert message["channel"] == "sms"  # the SMS step has begun
    (first,) = await callback_receiver.wait_for(1)
    assert first.json()["results"][0]["channel"] == "VIBER"
    await advance(5)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]["name"]) == ("SMS", "DELIVERED_TO_HANDSET")
    pushed = [r.json()["results"][0] for r in await callback_receiver.wait_for(2)]
    assert [(r["channel"], r["status"]["name"]) for r in pushed] == [("VIBER", "REJECTED_DESTINATION"),
                                                                    ("SMS", "DELIVERED_TO_HANDSET")]


async def test_a_provider_error_rule_fails_the_send_on_the_first_step_and_ends_a_later_step(mock_client, advance):
    # README (Failover): provider_error is the exception to a channel rule rejecting only its step: on the first step
    # the send answers HTTP 500 as 55508 does; on a later step that step ends REJECTED_SYSTEM_ERROR.
    resp = await mock_client.post("/_mock/rules", json={"phone": "41790000001", "provider": "infobip",
                                                        "channel": "viber", "outcome": "provider_error"})
    assert resp.status == 201
    status, _, headers = await post(mock_client, "/omni/1/advanced", advanced("41790000001"))
    assert status == 500 and "provider_error" in headers["X-Mock-Reason"]
    await mock_client.delete("/_mock/rules")
    for phone, outcome in (("41790000002", "undeliverable"), ("41790000002", "provider_error")):
        resp = await mock_client.post("/_mock/rules", json={"phone": phone, "provider": "infobip",
                                                            "channel": "viber" if outcome == "undeliverable" else "sms",
                                                            "outcome": outcome})
        assert resp.status == 201
    status, body, _ = await post(mock_client, "/omni/1/advanced", advanced("41790000002"))
    assert status == 200 and body["messages"][0]["status"]["name"] == "PENDING_ENROUTE"
    await advance(5)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]["name"]) == ("SMS", "REJECTED_SYSTEM_ERROR")


async def test_seen_reports_delivered_once(mock_client, advance, callback_receiver):
    await post(mock_client, "/omni/1/advanced", advanced("41793055504", notifyUrl=callback_receiver.url))
    await advance(5)
    await callback_receiver.wait_for(1)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]) == ("VIBER", DELIVERED)
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    assert stored["status"] == "seen"
    assert len(callback_receiver.requests) == 1


# --- validity on the manual clock ------------------------------------------------------------------------------------


async def test_every_step_expires_in_turn_on_its_validity(mock_client, advance, mock_clock, callback_receiver):
    t0 = mock_clock.now()
    await post(mock_client, "/omni/1/advanced",
               advanced("41793055502", viber={"text": "v", "validityPeriod": 1},
                        sms={"text": "s", "validityPeriod": 90, "validityPeriodTimeUnit": "SECONDS"},
                        notifyUrl=callback_receiver.url, intermediateReport=True))
    await advance(59.9)
    assert await reports(mock_client) == []
    (log,) = await logs(mock_client)
    assert log["channel"] == "VIBER" and log["status"]["name"] == "PENDING_ENROUTE"
    await advance(0.1)  # the Viber step's 1 minute is over: failover to SMS
    (viber,) = (await callback_receiver.wait_for(1))[0].json()["results"]
    assert (viber["channel"], viber["status"], viber["error"]) == ("VIBER", EXPIRED, VALIDITY_EXPIRED)
    assert viber["sentAt"] == omni_date(t0 + 0.2) and viber["doneAt"] == omni_date(t0 + 60)
    (log,) = await logs(mock_client)
    assert log["channel"] == "SMS" and log["status"]["groupName"] == "PENDING"
    await advance(89.9)
    assert await reports(mock_client) == []
    await advance(0.1)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"], report["error"]) == ("SMS", EXPIRED, VALIDITY_EXPIRED)
    assert report["doneAt"] == omni_date(t0 + 150)


async def test_slow_viber_beyond_its_validity_fails_over(mock_client, advance):
    # 55505 delivers after 10 minutes; a Viber validity of 2 minutes ends first, so SMS takes over.
    await post(mock_client, "/omni/1/advanced", advanced("41793055505", viber={"text": "v", "validityPeriod": 2}))
    await advance(120)
    assert await reports(mock_client) == []
    await advance(600)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]) == ("SMS", DELIVERED)


async def test_default_viber_validity_is_24_hours(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced("41793055502", sms=...))
    await advance(24 * 3600 - 1)
    assert await reports(mock_client) == []
    await advance(1)
    (report,) = await reports(mock_client)
    assert (report["channel"], report["status"]["name"]) == ("VIBER", "EXPIRED_EXPIRED")


async def test_send_at_defers_the_first_step(mock_client, advance, mock_clock):
    send_at = mock_clock.now() + 3600
    # +01:00 form, as the Java client's FormattedDate writes it
    local = omni_date(send_at + 3600).replace("+0000", "+01:00")
    await post(mock_client, "/omni/1/advanced", advanced(sendAt=local))
    await advance(3599)
    assert await reports(mock_client) == []
    await advance(2)
    (report,) = await reports(mock_client)
    assert report["sentAt"] == omni_date(send_at + 0.2)


async def test_send_at_must_be_less_than_180_days_ahead(mock_client, mock_clock):
    # OAS (infobip.md §5.1): sendAt "must be < 180 days ahead"; exactly 180 days was accepted.
    now = mock_clock.now()
    status, body, headers = await post(mock_client, "/omni/1/advanced", advanced(sendAt=omni_date(now + 180 * 86400)))
    assert (status, body) == (400, BAD_REQUEST) and "sendAt" in headers["X-Mock-Reason"]
    status, body, _ = await post(mock_client, "/omni/1/advanced", advanced(sendAt=omni_date(now + 180 * 86400 - 0.001)))
    assert status == 200


# --- one-time reports ------------------------------------------------------------------------------------------------


async def test_reports_are_returned_once_with_filters_and_limit(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced(bulkId="B1", destinations=[
        {"messageId": f"M{i}", "to": {"phoneNumber": f"4179302670{i}"}} for i in range(4)]))
    await post(mock_client, "/omni/1/advanced", advanced("41793055501", bulkId="B2",
                                                         destinations=[{"messageId": "F1",
                                                                        "to": {"phoneNumber": "41793055501"}}]))
    await advance(5)
    assert [r["messageId"] for r in await reports(mock_client, messageId="M2")] == ["M2"]
    assert [r["messageId"] for r in await reports(mock_client, channel="SMS")] == ["F1"]
    assert await reports(mock_client, bulkId="B2") == []  # already taken
    assert [r["messageId"] for r in await reports(mock_client, bulkId="B1", limit=2)] == ["M0", "M1"]
    # another account never sees them
    from .test_infobip import EMPTY_AUTH

    status, body, _ = await get(mock_client, "/omni/1/reports", EMPTY_AUTH)
    assert body == {"results": []}
    assert [r["messageId"] for r in await reports(mock_client, limit=5000)] == ["M3"]
    assert await reports(mock_client) == []


async def test_reports_sharing_a_messageid_are_each_returned_once_in_order(mock_client, advance):
    # A client may reuse its own messageId; the index keeps one report per key until a second one shares it.
    for bulk in ("D1", "D2", "D3"):
        await post(mock_client, "/omni/1/advanced", advanced(bulkId=bulk, destinations=[
            {"messageId": "SAME", "to": {"phoneNumber": "41793026727"}}]))
        await advance(2)
    assert [r["bulkId"] for r in await reports(mock_client, messageId="SAME", limit=2)] == ["D1", "D2"]
    assert [r["bulkId"] for r in await reports(mock_client, messageId="SAME")] == ["D3"]
    assert await reports(mock_client, messageId="SAME") == []
    await post(mock_client, "/omni/1/advanced", advanced(bulkId="D4", destinations=[
        {"messageId": "SAME", "to": {"phoneNumber": "41793026727"}}]))
    await advance(2)
    assert [(r["bulkId"], r["messageId"]) for r in await reports(mock_client, bulkId="D4")] == [("D4", "SAME")]
    assert await reports(mock_client) == []


async def test_report_limit_defaults_to_50(mock_client, advance):
    await post(mock_client, "/omni/1/text", {"scenarioKey": SEED_KEY, "text": "x", "destinations": [
        {"to": {"phoneNumber": f"4179{i:07d}"}} for i in range(60)]})
    await advance(5)
    assert len(await reports(mock_client)) == 50
    assert len(await reports(mock_client)) == 10


async def test_reports_are_kept_48_hours(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced())
    await advance(1)
    await advance(48 * 3600 + 1)
    assert await reports(mock_client) == []
    assert await logs(mock_client) == []


async def test_reports_are_kept_48_hours_from_when_the_message_finished_even_after_one_clock_jump(mock_client,
                                                                                                   advance):
    # One jump runs the steps at their due times: a report's 48 h count from its doneAt, not from the jump's end.
    await post(mock_client, "/omni/1/advanced", advanced("41793026727"))
    await post(mock_client, "/omni/1/advanced", advanced("41793026728"))
    await advance(48 * 3600 + 0.6)  # both delivered at 0.7 s: inside the window for another 0.1 s
    (first,) = await reports(mock_client, limit=1)
    assert first["to"] == "41793026727"
    await advance(0.2)  # the second is 48 h old now, though the jump that delivered it ended only 0.2 s ago
    assert await reports(mock_client) == []


# --- logs ------------------------------------------------------------------------------------------------------------


async def test_logs_are_repeatable_and_filtered(mock_client, advance, mock_clock):
    t0 = mock_clock.now()
    await post(mock_client, "/omni/1/advanced", advanced("41793026727", bulkId="B1",
                                                         destinations=[{"messageId": "A",
                                                                        "to": {"phoneNumber": "41793026727"}}]))
    await post(mock_client, "/omni/1/advanced", advanced("41793055501", bulkId="B2",
                                                         destinations=[{"messageId": "B",
                                                                        "to": {"phoneNumber": "41793055501"}}]))
    await post(mock_client, "/omni/1/advanced", advanced("84901255500", bulkId="B3",
                                                         destinations=[{"messageId": "C",
                                                                        "to": {"phoneNumber": "84901255500"}}]))
    await advance(0.3)
    # a pending entry carries its sentAt and a doneAt: never null (the Python client needs both)
    entries = await logs(mock_client)
    assert [e["messageId"] for e in entries] == ["C", "B", "A"]  # newest first
    assert all(e["status"]["groupName"] == "PENDING" and e["sentAt"] and e["doneAt"] for e in entries)
    await advance(5)
    entries = await logs(mock_client)
    assert entries == await logs(mock_client)  # repeatable
    a = next(e for e in entries if e["messageId"] == "A")
    assert a == {"bulkId": "B1", "messageId": "A", "to": "41793026727", "from": "ViberSender", "text": "Hi Viber",
                 "sentAt": omni_date(t0 + 0.2), "doneAt": omni_date(t0 + 0.7), "messageCount": 1, "mccMnc": "22801",
                 "price": {"pricePerMessage": 0.0104, "currency": "EUR"}, "status": DELIVERED, "channel": "VIBER"}
    assert all("error" not in e for e in entries)

    async def ids(**params: Any) -> list[str]:
        return [e["messageId"] for e in await logs(mock_client, **params)]

    assert await ids(channel="SMS") == ["B"]
    assert await ids(**{"from": "InfoSMS"}) == ["B"]
    assert await ids(to="84901255500") == ["C"]
    assert await ids(bulkId="B1") == ["A"]
    assert await ids(messageId="A,C") == ["C", "A"]
    assert await ids(generalStatus="DELIVERED", limit=2) == ["C", "B"]
    assert await ids(generalStatus="UNDELIVERABLE") == []
    assert await ids(mcc="452", mnc="04") == ["C"]
    assert await ids(mcc="228") == ["B", "A"]
    assert await ids(sentSince=omni_date(t0 + 0.2)) == ["C", "B", "A"]
    assert await ids(sentSince=omni_date(t0 + 0.3).replace("+0000", "Z")) == ["B"]  # B's SMS step began later
    assert await ids(sentUntil=omni_date(t0 + 0.3)[:-5]) == ["C", "A"]
    # Java sends list filters as repeated parameters
    resp = await mock_client.get("/omni/1/logs?messageId=A&messageId=B",
                                 headers={"Authorization": "App INFOBIP_SANDBOX_API_KEY"})
    assert [e["messageId"] for e in (await resp.json())["results"]] == ["B", "A"]


async def test_logs_by_a_messageid_a_client_gave_twice_list_both(mock_client, advance):
    # The store indexes the first message of each messageId: a reused one must not hide the second from the logs.
    for phone, bulk in (("41793026727", "B1"), ("41793026728", "B2"), ("41793026729", "B3")):
        await post(mock_client, "/omni/1/advanced", advanced(phone, bulkId=bulk, destinations=[
            {"messageId": "SAME" if bulk != "B2" else "OTHER", "to": {"phoneNumber": phone}}]))
    await advance(5)
    entries = await logs(mock_client, messageId="SAME")
    assert [(e["messageId"], e["bulkId"], e["to"]) for e in entries] == [
        ("SAME", "B3", "41793026729"), ("SAME", "B1", "41793026727")]
    assert [e["bulkId"] for e in await logs(mock_client, messageId="OTHER,SAME", to="41793026727")] == ["B1"]
    assert [e["bulkId"] for e in await logs(mock_client, bulkId="B2,B3", limit=1)] == ["B3"]


async def test_logs_keep_a_walk_48_hours_from_when_it_ended(mock_client, advance, mock_clock):
    # "All logs are available for the last 48 hours!" (infobip.md §7): a send scheduled 50 h ahead (sendAt) is sent
    # and delivered now, so its log is there; it vanished the moment it ended, aged from its request.
    send_at = mock_clock.now() + 50 * 3600
    await post(mock_client, "/omni/1/advanced", advanced(sendAt=omni_date(send_at), destinations=[
        {"messageId": "LATER", "to": {"phoneNumber": "41793026727"}}]))
    await advance(50 * 3600 + 1)
    (entry,) = await logs(mock_client)
    assert (entry["messageId"], entry["status"], entry["sentAt"]) == ("LATER", DELIVERED, omni_date(send_at + 0.2))
    await advance(48 * 3600 - 2)  # doneAt + 48 h is not over yet
    assert [e["messageId"] for e in await logs(mock_client)] == ["LATER"]
    await advance(2)
    assert await logs(mock_client) == []


async def test_rejected_message_is_logged_as_rejected(mock_client):
    await post(mock_client, "/omni/1/advanced", advanced("41793055507"))
    (entry,) = await logs(mock_client, generalStatus="REJECTED")
    assert entry["status"]["name"] == "REJECTED_NOT_ENOUGH_CREDITS"
    assert entry["price"]["pricePerMessage"] == 0.0


# --- notifyUrl -------------------------------------------------------------------------------------------------------


async def test_notify_url_retried_after_503(mock_client, advance, callback_receiver):
    callback_receiver.respond_with(503)
    status, body, _ = await post(mock_client, "/omni/1/advanced",
                                 advanced(notifyUrl=callback_receiver.url + "/dlr?token=abc"))
    await advance(1)
    (first,) = await callback_receiver.wait_for(1)
    await advance(0.5)  # the fast schedule's first back-off
    first, second = await callback_receiver.wait_for(2)
    assert first.body == second.body and second.raw_path == "/dlr?token=abc"
    assert second.json()["results"][0]["messageId"] == body["messages"][0]["messageId"]
    status, attempts, _ = await get(mock_client, "/_mock/callbacks")
    assert [(a["attempt"], a["status"], a["kind"], a["delivered"]) for a in reversed(attempts["items"])] == [
        (1, 503, "report", False), (2, 200, "report", True)]


async def test_notify_false_sends_nothing(mock_client, advance, callback_receiver):
    await post(mock_client, "/omni/1/advanced", advanced(notify=False, notifyUrl=callback_receiver.url + "/off",
                                                         destinations=[{"messageId": "OFF",
                                                                        "to": {"phoneNumber": "41793026727"}}]))
    await post(mock_client, "/omni/1/advanced", advanced(notifyUrl=callback_receiver.url + "/on",
                                                         destinations=[{"messageId": "ON",
                                                                        "to": {"phoneNumber": "41793026727"}}]))
    await advance(2)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.path == "/on"
    status, attempts, _ = await get(mock_client, "/_mock/callbacks")
    assert attempts["total"] == 1
    # the pull report is there all the same
    assert sorted(r["messageId"] for r in await reports(mock_client)) == ["OFF", "ON"]


async def test_forced_status_through_control_api_reports(mock_client, callback_receiver):
    await post(mock_client, "/omni/1/advanced", advanced("41793055502", notifyUrl=callback_receiver.url))
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    resp = await mock_client.post(f"/_mock/messages/{stored['id']}/status", json={"status": "delivered"})
    assert resp.status == 200, await resp.text()
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.json()["results"][0]["status"] == DELIVERED
    (report,) = await reports(mock_client)
    assert report["channel"] == "VIBER"


async def test_a_status_can_be_forced_on_the_step_a_failover_began(mock_client, callback_receiver, advance):
    # A forced (or real) Viber failure starts the SMS step at once; until that step is sent (0.2 s) the message still
    # shows the Viber step's final status, and forcing the SMS step's outcome was refused: 409 "already undeliverable",
    # for a message whose walk had not ended (README: 409 only if the message is already final).
    await post(mock_client, "/omni/1/advanced", advanced(notifyUrl=callback_receiver.url))
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    url = f"/_mock/messages/{stored['id']}/status"
    resp = await mock_client.post(url, json={"status": "undeliverable"})
    assert resp.status == 200 and (await resp.json())["status"] == "undeliverable"
    resp = await mock_client.post(url, json={"status": "delivered"})
    assert resp.status == 200, await resp.text()
    forced = await resp.json()
    assert [h["status"] for h in forced["history"]] == ["accepted", "sent", "undeliverable", "sent", "delivered"]
    assert forced["status"] == "delivered" and forced["channel"] == "sms"
    (hit,) = await callback_receiver.wait_for(1)
    (report,) = await reports(mock_client)
    assert hit.json()["results"] == [report]
    assert report["channel"] == "SMS" and report["status"] == DELIVERED
    assert report["sentAt"] == report["doneAt"]  # the SMS step was sent and delivered at the forced moment
    resp = await mock_client.post(url, json={"status": "undeliverable"})
    assert resp.status == 409  # now it is final
    await advance(5)  # the SMS step's planned changes no longer happen
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    assert len(stored["history"]) == 5 and len(callback_receiver.requests) == 1


async def test_a_status_can_be_forced_while_the_sms_step_of_a_real_failover_is_not_yet_sent(mock_client, advance):
    await post(mock_client, "/omni/1/advanced", advanced("41793055501"))
    await advance(0.7)  # the Viber step is undeliverable; the SMS step is sent 0.2 s later
    status, stored, _ = await get(mock_client, "/_mock/messages/latest")
    assert stored["status"] == "undeliverable"
    resp = await mock_client.post(f"/_mock/messages/{stored['id']}/status", json={"status": "expired"})
    assert resp.status == 200, await resp.text()
    (report,) = await reports(mock_client)
    assert report["channel"] == "SMS" and report["status"]["name"] == "EXPIRED_EXPIRED"
