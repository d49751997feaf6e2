"""eSMS over real HTTP: every endpoint, every code, the callback at a real listener, dedup, sandbox, balance."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from mock_server import testing

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


# --- the seeds' own examples, verbatim with sandbox credentials ------------------------------------------------------


async def test_seed_000_curl_body_verbatim(mock_client, callback_receiver):
    # shared/seeds/000: the EN "Send message via Viber" curl, placeholders filled with sandbox values.
    raw = (
        '{\n    "ApiKey": "ESMS_SANDBOX_KEY",\n    "SecretKey": "ESMS_SANDBOX_SECRET",\n'
        '    "Brandname": "BAT DONG SAN GIA TOT",\n    "SmsType": "23",\n    "Content": "Xin chao \\r\\nBan co 1 uu dai",\n'
        '    "OttImgUrl": "https://example.com/a.png",\n    "OttLabel": "Xem ngay",\n    "OttUrl": "https://example.com/deal",\n'
        '    "Phones": [\n        "0901255500","0918255500","0765455500"\n    ],\n    "IsSandBox": "0",\n'
        '    "RequestId": "seed-000",\n    "CallbackUrl": "' + callback_receiver.url + '/cb"\n}'
    )
    resp = await mock_client.post(SEND, data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 200 and body["CodeResult"] == "100" and body["CountRegenerate"] == 0
    listed = await (await mock_client.get("/_mock/messages", params={"provider": "esms"})).json()
    assert listed["total"] == 3
    assert {m["content"]["button_text"] for m in listed["items"]} == {"Xem ngay"}
    assert listed["items"][0]["meta"]["layout"] == "Text - Image - Button"


async def test_seed_001_vn_curl_with_cookie_header(mock_client):
    # shared/seeds/001: the VN page's curl sends an ASP.NET session cookie and IsSandBox "0".
    resp = await mock_client.post(
        SEND,
        data='{"ApiKey":"ESMS_SANDBOX_KEY","Brandname":"MOCKBRAND","Content":"Noi dung","IsSandBox":"0",'
             '"OttImgUrl":"https://example.com/i.jpg","OttLabel":"Mua","OttUrl":"https://example.com",'
             '"Phones":["0901255500"],"SecretKey":"ESMS_SANDBOX_SECRET","CallbackUrl":"","SmsType":"23"}',
        headers={"Content-Type": "application/json", "Cookie": "ASP.NET_SessionId=4nga3iwpro5vka3xffydrsgq"},
    )
    assert (await resp.json())["CodeResult"] == "100"


async def test_seed_002_get_url_verbatim(mock_client, callback_receiver, advance):
    # shared/seeds/002: the GET form, with its OTT* spellings, singular Phone and Sandbox.
    resp = await mock_client.get(
        "/MainService.svc/json/SendMultipleMessage_V4_get?SmsType=23&OTTUrl=https://example.com/b"
        "&OTTImgUrl=https://example.com/i.png&Phone=0961255500&Content=Hello&ApiKey=ESMS_SANDBOX_KEY"
        "&SecretKey=ESMS_SANDBOX_SECRET&Brandname=MOCKBRAND&OTTLabel=Open"
        f"&CallbackUrl={callback_receiver.url}/get-cb&Sandbox=0"
    )
    body = await resp.json()
    assert resp.status == 200 and body["CodeResult"] == "100"
    await advance(1)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.params["telcoid"] == "1" and hit.params["phonenumber"] == "0961255500"


# --- variants --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/MainService.svc/json/Send_Multiple_Sms_OTT",
    "/MainService.svc/json/Send_Multiple_Sms_OTT/",
    "/MainService.svc/JSON/send_multiple_sms_ott/",
    "/MainService.svc/json/SendMultipleMessage_V4_post_json/",
    "/MainService.svc/json/SendMultipleMessage_V4_post_json",
])
async def test_post_paths_with_and_without_trailing_slash(mock_client, path):
    status, body, _ = await send(mock_client, viber(), path)
    assert (status, body["CodeResult"]) == (200, "100")


async def test_get_query_names_are_case_insensitive(mock_client):
    resp = await mock_client.get(
        "/MainService.svc/json/SendMultipleMessage_V4_get",
        params={"APIKEY": KEY, "SECRETKEY": SECRET, "BRANDNAME": "MOCKBRAND", "SMSTYPE": "23", "PHONE": "84901255500",
                "CONTENT": "Hi", "sandbox": "0", "CallBackUrl": ""},
    )
    assert (await resp.json())["CodeResult"] == "100"


async def test_v4_post_json_single_phone_and_numbers_as_numbers(mock_client):
    body = {"ApiKey": KEY, "SecretKey": SECRET, "Brandname": "MOCKBRAND", "SmsType": 23, "Content": "Hi",
            "Phone": "0901255500", "Sandbox": 0, "IsUnicode": 0, "RequestId": None, "campaignid": None}
    status, out, _ = await send(mock_client, body, "/MainService.svc/json/SendMultipleMessage_V4_post_json/")
    assert (status, out["CodeResult"]) == (200, "100")


async def test_ottlabel_in_either_casing(mock_client):
    for label_key, url_key, img_key in (("OttLabel", "OttUrl", "OttImgUrl"), ("OTTLabel", "OTTUrl", "OTTImgUrl")):
        body = viber(**{label_key: "Go", url_key: "https://example.com", img_key: "https://example.com/x.png"})
        status, out, _ = await send(mock_client, body)
        assert out["CodeResult"] == "100", label_key
    latest = await (await mock_client.get("/_mock/messages/latest")).json()
    assert latest["content"] == {"text": "Hello", "image": "https://example.com/x.png", "button_text": "Go",
                                 "button_url": "https://example.com"}


@pytest.mark.parametrize("fields", [
    {"Content": "Only text"},
    {"Content": ..., "OttImgUrl": "https://example.com/only-image.png"},
    {"OttUrl": "https://example.com", "OttLabel": "Go"},
    {"OttUrl": "https://example.com", "OttLabel": "Go", "OttImgUrl": "https://example.com/x.png"},
])
async def test_the_four_layouts_are_accepted(mock_client, fields):
    status, body, _ = await send(mock_client, viber(**fields))
    assert body["CodeResult"] == "100"


@pytest.mark.parametrize("fields, reason_part", [
    ({"OttLabel": "Go"}, "OttLabel"),
    ({"OttUrl": "https://example.com"}, "OttUrl"),
    ({"OttImgUrl": "https://example.com/x.png"}, "OttImgUrl"),
    ({"Content": ..., "OttUrl": "https://e.com", "OttLabel": "Go"}, "button needs Content"),
    ({"Content": ..., "OttImgUrl": "http://example.com/insecure.png"}, "https"),
    ({"Content": ""}, "nothing"),
])
async def test_undocumented_layouts_and_http_images_answer_118(mock_client, fields, reason_part):
    status, body, headers = await send(mock_client, viber(**fields))
    assert status == 200
    assert body == {"CodeResult": "118", "CountRegenerate": 0, "ErrorMessage": "Unsupported message type"}
    assert reason_part in headers["X-Mock-Reason"]


# --- codes -----------------------------------------------------------------------------------------------------------


async def test_101_wrong_secret_exact_body(mock_client):
    resp = await mock_client.post(SEND, json=viber(SecretKey="nope"))
    assert resp.status == 200
    assert await resp.text() == '{"CodeResult":"101","CountRegenerate":0,"ErrorMessage":"Authorize Failed"}'
    assert "SecretKey" in resp.headers["X-Mock-Reason"]


async def test_101_missing_api_key(mock_client):
    status, body, headers = await send(mock_client, viber(ApiKey=...))
    assert body == {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}
    assert headers["X-Mock-Reason"] == "ApiKey missing or empty"


async def test_104_unknown_brandname_exact_body(mock_client):
    resp = await mock_client.post(SEND, json=viber(Brandname="NOT REGISTERED"))
    assert await resp.text() == '{"CodeResult":"104","CountRegenerate":0,"ErrorMessage":"Brand name code is not exist"}'
    assert "Brandname" in resp.headers["X-Mock-Reason"]


async def test_300_missing_sms_type_and_118_other_type(mock_client):
    _, body, headers = await send(mock_client, viber(SmsType=...))
    assert body == {"CodeResult": "300", "CountRegenerate": 0, "ErrorMessage": "Missing message type"}
    assert headers["X-Mock-Reason"] == "SmsType is missing or empty"
    _, body, headers = await send(mock_client, viber(SmsType="2"))
    assert body["CodeResult"] == "118" and "only 23" in headers["X-Mock-Reason"]


@pytest.mark.parametrize("phone", ["+84901255500", "090125550", "09012555000", "841255500", "abc", ""])
async def test_108_phone_format(mock_client, phone):
    _, body, headers = await send(mock_client, viber(Phones=["0901255500", phone]))
    assert body == {"CodeResult": "108", "CountRegenerate": 0, "ErrorMessage": f"The phone number {phone} is not valid."}
    assert "phone" in headers["X-Mock-Reason"]


async def test_108_no_phones(mock_client):
    _, body, _ = await send(mock_client, viber(Phones=[]))
    assert body["CodeResult"] == "108"


async def test_103_balance_runs_out_and_balance_queries_agree(mock_client):
    poor = {"ApiKey": "ESMS_POOR_KEY", "SecretKey": "ESMS_POOR_SECRET"}
    _, body, _ = await send(mock_client, viber(**poor))
    assert body["CodeResult"] == "100"
    _, body, headers = await send(mock_client, viber(**poor))
    assert body == {"CodeResult": "103", "CountRegenerate": 0, "ErrorMessage": "Not enough balance"}
    assert "balance 30" in headers["X-Mock-Reason"]
    resp = await mock_client.get("/MainService.svc/json/GetBalance/ESMS_POOR_KEY/ESMS_POOR_SECRET")
    assert await resp.text() == '{"Balance":30,"CodeResponse":"100","UserID":10001}'


async def test_balance_goes_down_by_price_per_phone(mock_client):
    _, body, _ = await send(mock_client, viber(Phones=["0901255500", "0911255500", "0921255500"]))
    assert body["CodeResult"] == "100"
    resp = await mock_client.post("/MainService.svc/json/GetBalance_json", json={"ApiKey": KEY, "SecretKey": SECRET})
    assert await resp.json() == {"Balance": 1000000 - 3 * 470, "CodeResponse": "100", "UserID": 9999}


async def test_124_request_id_repeated_within_24h_then_free_again(mock_client, advance):
    _, body, _ = await send(mock_client, viber(RequestId="dup-1"))
    assert body["CodeResult"] == "100"
    _, body, headers = await send(mock_client, viber(RequestId="dup-1"))
    assert body == {"CodeResult": "124", "CountRegenerate": 0, "ErrorMessage": "Request exist 1"}
    assert "dup-1" in headers["X-Mock-Reason"]
    await advance(24 * 3600 - 1)
    _, body, _ = await send(mock_client, viber(RequestId="dup-1"))
    assert body["CodeResult"] == "124"
    await advance(2)
    _, body, _ = await send(mock_client, viber(RequestId="dup-1"))
    assert body["CodeResult"] == "100"


async def test_request_id_longer_than_50(mock_client):
    _, body, _ = await send(mock_client, viber(RequestId="x" * 51))
    assert body == {"CodeResult": "159", "CountRegenerate": 0, "ErrorMessage": "RequestId is too long"}


@pytest.mark.parametrize("phone, code, message", [
    ("0901255503", "108", "The phone number 0901255503 is not valid."),
    ("0901255506", "99", "Phone number is blocked"),
    ("0901255507", "103", "Not enough balance"),
    ("0901255508", "99", "Unknown error, please retry"),
])
async def test_magic_numbers_rejected_at_submit(mock_client, phone, code, message):
    _, body, headers = await send(mock_client, viber(Phones=[phone]))
    assert body == {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message}
    assert "magic number" in headers["X-Mock-Reason"]
    listed = await (await mock_client.get("/_mock/messages")).json()
    assert listed["total"] == 0


# --- sandbox ---------------------------------------------------------------------------------------------------------


async def test_sandbox_is_answered_but_not_stored_charged_or_called_back(mock_client, callback_receiver, advance):
    _, body, headers = await send(mock_client, viber(IsSandBox="1", CallbackUrl=callback_receiver.url, RequestId="sb"))
    assert body["CodeResult"] == "100" and list(body) == ["CodeResult", "CountRegenerate", "SMSID"]
    await advance(60)
    assert (await (await mock_client.get("/_mock/messages")).json())["total"] == 0
    resp = await mock_client.get("/MainService.svc/json/GetSendStatus",
                                 params={"RefId": body["SMSID"], "ApiKey": KEY, "SecretKey": SECRET})
    assert await resp.json() == {"CodeResponse": "105", "SMSID": body["SMSID"]}
    balance = await (await mock_client.get(f"/MainService.svc/json/GetBalance/{KEY}/{SECRET}")).json()
    assert balance["Balance"] == 1000000
    assert callback_receiver.requests == []
    _, body, _ = await send(mock_client, viber(RequestId="sb"))  # a sandbox RequestId does not block a real one
    assert body["CodeResult"] == "100"


async def test_sandbox_still_validates(mock_client):
    _, body, _ = await send(mock_client, viber(IsSandBox=1, SecretKey="bad"))
    assert body["CodeResult"] == "101"


async def test_misnamed_sandbox_on_ott_endpoint_is_a_real_send_and_flagged(mock_client):
    status, body, headers = await send(mock_client, viber(Sandbox="1"))
    assert body["CodeResult"] == "100"
    assert "IsSandBox" in headers["X-Mock-Warning"]
    assert (await (await mock_client.get("/_mock/messages")).json())["total"] == 1


# --- lifecycle and callbacks -----------------------------------------------------------------------------------------


async def test_one_callback_per_phone_with_running_totals(mock_client, callback_receiver, advance):
    _, body, _ = await send(mock_client, viber(Phones=["0901255500", "0981255501"], CallbackUrl=callback_receiver.url))
    await advance(1)
    hits = await callback_receiver.wait_for(2)
    by_phone = {h.params["phonenumber"]: h.params for h in hits}
    assert set(by_phone) == {"0901255500", "0981255501"}
    # Both phones become final in one clock step; the callback enqueued second carries both in its totals (the two
    # may arrive in either order).
    (last,) = [h.params for h in hits if h.params["SendSuccess"] == "1" and h.params["SendFailed"] == "1"]
    assert (last["SendSuccess"], last["SendFailed"], last["TotalReceiver"], last["TotalSent"], last["TotalPrice"]) == (
        "1", "1", "2", "2", "470.0000")
    assert by_phone["0981255501"]["telcoid"] == "1"


async def test_phones_with_the_same_outcome_each_get_their_callback(mock_client, callback_receiver, advance):
    # The phones of a request with one outcome share their stored meta; marking one callback sent must not mark
    # the other's.
    _, body, _ = await send(mock_client, viber(Phones=["0901255500", "0911255500"], CallbackUrl=callback_receiver.url))
    await advance(1)
    hits = await callback_receiver.wait_for(2)
    assert sorted(h.params["phonenumber"] for h in hits) == ["0901255500", "0911255500"]
    listed = (await (await mock_client.get("/_mock/messages")).json())["items"]
    assert [(m["phone"], m["status"], m["meta"]["callback_sent"], m["meta"]["outcome"]) for m in listed] == [
        ("0911255500", "delivered", True, "delivered"), ("0901255500", "delivered", True, "delivered")]
    await send(mock_client, viber(Phones=["0921255500"]))
    newest = (await (await mock_client.get("/_mock/messages", params={"limit": 1})).json())["items"][0]
    assert "callback_sent" not in newest["meta"] and newest["meta"]["callback_url"] == ""


async def test_each_callback_counts_its_batch_as_its_change_left_it(mock_client, callback_receiver, advance):
    # The totals of a phone's callback move with each change (EsmsBackend._batch_totals: counted once, then by each
    # phone's old and new status; counted over the batch per phone, 5 000 phones held the loop ~5 s). Three delivered,
    # two undeliverable and one slow phone finish one by one: each callback must count the phones done before it and
    # itself, and a status forced later must count everything again.
    phones = ["0901255500", "0911255500", "0921255500", "0931255501", "0941255501", "0951255505"]
    _, body, _ = await send(mock_client, viber(Phones=phones, CallbackUrl=callback_receiver.url))
    await advance(1)
    hits = await callback_receiver.wait_for(5)
    rows = sorted((int(h.params["SendSuccess"]), int(h.params["SendFailed"]), h.params["TotalSent"],
                   h.params["TotalReceiver"], h.params["TotalPrice"], h.params["phonenumber"][-1]) for h in hits)
    # One more final phone per callback: (success, failed) grows by the finishing phone's own outcome each time.
    done = [s + f for s, f, *_ in rows]
    assert sorted(done) == [1, 2, 3, 4, 5]
    steps = sorted(rows, key=lambda r: r[0] + r[1])
    previous = (0, 0)
    for success, failed, sent, receivers, price, last_digit in steps:
        own = (1, 0) if last_digit == "0" else (0, 1)  # ...55500 delivered, ...55501 undeliverable
        assert (success, failed) == (previous[0] + own[0], previous[1] + own[1])
        assert (sent, receivers, price) == ("6", "6", f"{470 * success}.0000")
        previous = (success, failed)
    slow = (await (await mock_client.get("/_mock/messages", params={"phone": "0951255505"})).json())["items"][0]
    resp = await mock_client.post(f"/_mock/messages/{slow['id']}/status", json={"status": "undeliverable"})
    assert resp.status == 200
    last = (await callback_receiver.wait_for(6))[-1]
    assert (last.params["phonenumber"], last.params["SendSuccess"], last.params["SendFailed"],
            last.params["TotalSent"]) == ("0951255505", "3", "3", "6")
    resp = await mock_client.get("/MainService.svc/json/GetSendStatus",
                                 params={"RefId": body["SMSID"], "ApiKey": KEY, "SecretKey": SECRET})
    answer = await resp.json()
    assert (answer["SendSuccess"], answer["SendFailed"], answer["TotalSent"]) == (3, 3, 6)


async def test_equal_sends_share_their_meta_and_each_still_gets_its_callback(mock_client, callback_receiver, advance):
    # Sends with equal fields share one stored meta dict across requests (EsmsBackend.shared_meta); the callback
    # marked on the first must neither be marked on nor skip the second's.
    await send(mock_client, viber(Phones=["0901255500"], CallbackUrl=callback_receiver.url))
    await advance(1)
    await callback_receiver.wait_for(1)
    await send(mock_client, viber(Phones=["0901255500"], CallbackUrl=callback_receiver.url))
    listed = (await (await mock_client.get("/_mock/messages")).json())["items"]
    assert [(m["status"], m["meta"].get("callback_sent")) for m in listed] == [("accepted", None), ("delivered", True)]
    await advance(1)
    hits = await callback_receiver.wait_for(2)
    assert [h.params["phonenumber"] for h in hits] == ["0901255500", "0901255500"]
    assert len({h.params["SMSID"] for h in hits}) == 2
    listed = (await (await mock_client.get("/_mock/messages")).json())["items"]
    assert [(m["status"], m["meta"]["callback_sent"]) for m in listed] == [("delivered", True), ("delivered", True)]


async def test_callback_retried_on_503_with_backoff_on_the_mock_clock(mock_client, callback_receiver, advance, callback_attempts):
    callback_receiver.respond_with(503, 500)
    await send(mock_client, viber(CallbackUrl=callback_receiver.url))
    await advance(1)
    await callback_receiver.wait_for(1)
    await callback_attempts(1)
    await advance(0.5)  # fast back-off: 0.5 s, then 1 s
    await callback_receiver.wait_for(2)
    await callback_attempts(2)
    await advance(1)
    hits = await callback_receiver.wait_for(3)
    assert hits[0].query == hits[2].query
    attempts = await callback_attempts(3)
    assert [(a["attempt"], a["status"], a["delivered"]) for a in reversed(attempts)] == [
        (1, 503, False), (2, 500, False), (3, 200, True)]


async def test_callback_gives_up_after_max_attempts(mock_client, callback_receiver, advance, callback_attempts):
    callback_receiver.respond_with(500, 500, 500, 500, 500, 500)
    await send(mock_client, viber(CallbackUrl=callback_receiver.url))
    await advance(1)
    for n in range(1, 6):
        await callback_receiver.wait_for(n)
        await callback_attempts(n)
        await advance(30)
    attempts = await callback_attempts(5)
    assert attempts[0]["final"] and "gave up after 5 attempt(s)" in attempts[0]["error"]
    assert len(callback_receiver.requests) == 5


async def test_callback_not_retried_on_404(mock_client, callback_receiver, advance, callback_attempts):
    callback_receiver.respond_with(404)
    await send(mock_client, viber(CallbackUrl=callback_receiver.url))
    await advance(1)
    await callback_receiver.wait_for(1)
    attempts = await callback_attempts(1)
    assert attempts[0]["final"] and not attempts[0]["delivered"]
    await advance(60)
    assert len(callback_receiver.requests) == 1


async def test_undeliverable_and_expired_callbacks_count_as_failed(mock_client, callback_receiver, advance):
    await send(mock_client, viber(Phones=["0901255501"], CallbackUrl=callback_receiver.url))
    await advance(1)
    (hit,) = await callback_receiver.wait_for(1)
    assert (hit.params["SendSuccess"], hit.params["SendFailed"], hit.params["TotalPrice"]) == ("0", "1", "0.0000")
    await send(mock_client, viber(Phones=["0901255502"], CallbackUrl=callback_receiver.url))
    await advance(3600)
    assert len(callback_receiver.requests) == 1  # not expired yet: the default validity is 24 h
    await advance(86400)
    hits = await callback_receiver.wait_for(2)
    assert hits[1].params["SendFailed"] == "1"
    latest = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [h["status"] for h in latest["history"]] == ["accepted", "sent", "expired"]


async def test_slow_magic_number_delivers_after_ten_minutes(mock_client, advance):
    await send(mock_client, viber(Phones=["0901255505"]))
    await advance(599)
    assert (await (await mock_client.get("/_mock/messages/latest")).json())["status"] == "sent"
    await advance(1)
    assert (await (await mock_client.get("/_mock/messages/latest")).json())["status"] == "delivered"


async def test_seen_magic_number(mock_client, advance):
    await send(mock_client, viber(Phones=["0901255504"]))
    await advance(5)
    latest = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [h["status"] for h in latest["history"]] == ["accepted", "sent", "delivered", "seen"]


async def test_send_date_in_the_future_holds_the_message(mock_client, mock_clock, advance):
    from datetime import datetime, timedelta, timezone

    later = datetime.fromtimestamp(mock_clock.now() + 3600, timezone(timedelta(hours=7)))
    await send(mock_client, viber(SendDate=later.strftime("%Y-%m-%d %H:%M:%S")))
    await advance(60)
    assert (await (await mock_client.get("/_mock/messages/latest")).json())["status"] == "accepted"
    await advance(3600)
    assert (await (await mock_client.get("/_mock/messages/latest")).json())["status"] == "delivered"


# --- status queries --------------------------------------------------------------------------------------------------


async def test_get_send_status_follows_the_lifecycle(mock_client, advance):
    _, body, _ = await send(mock_client, viber(Phones=["0901255500", "0901255501"]))
    smsid = body["SMSID"]
    url = "/MainService.svc/json/GetSendStatus"
    q = {"RefId": smsid, "ApiKey": KEY, "SecretKey": SECRET}
    assert await (await mock_client.get(url, params=q)).text() == (
        f'{{"CodeResponse":"100","SMSID":"{smsid}","SendFailed":0,"SendStatus":2,"SendSuccess":0,'
        '"TotalPrice":0.0000,"TotalReceiver":2,"TotalSent":0}')
    await advance(0.3)
    assert (await (await mock_client.get(url, params=q)).json())["SendStatus"] == 7
    await advance(1)
    assert await (await mock_client.get(url, params=q)).text() == (
        f'{{"CodeResponse":"100","SMSID":"{smsid}","SendFailed":1,"SendStatus":5,"SendSuccess":1,'
        '"TotalPrice":470.0000,"TotalReceiver":2,"TotalSent":2}')


async def test_get_send_status_errors(mock_client):
    url = "/MainService.svc/json/GetSendStatus"
    resp = await mock_client.get(url, params={"RefId": "abc", "ApiKey": KEY, "SecretKey": "x"})
    assert await resp.text() == '{"CodeResponse":"101","SMSID":"abc"}'
    resp = await mock_client.get(url, params={"refid": "abc", "apikey": KEY, "secretkey": SECRET})
    assert await resp.text() == '{"CodeResponse":"105","SMSID":"abc"}'


async def test_receiver_status(mock_client, advance):
    _, body, _ = await send(mock_client, viber(Phones=["84901255500", "0981255501"]))
    url = "/MainService.svc/json/GetSmsReceiverStatus_get"
    q = {"ApiKey": KEY, "SecretKey": SECRET, "RefId": body["SMSID"]}
    await advance(1)
    out = await (await mock_client.get(url, params=q)).json()
    assert out == {"CodeResult": "100", "ReceiverList": [
        {"IsSent": True, "NetworkName": "Mobifone", "Phone": "0901255500", "Retry": 0, "SentResult": True},
        {"IsSent": True, "NetworkName": "Viettel", "Phone": "0981255501", "Retry": 0, "SentResult": False},
    ]}
    resp = await mock_client.get(url, params={**q, "SecretKey": "no"})
    assert await resp.text() == '{"CodeResult":"101","ErrorMessage":"Authorize Failed"}'


async def test_balance_errors_and_brandname_list(mock_client):
    resp = await mock_client.get("/MainService.svc/json/GetBalance/ESMS_SANDBOX_KEY/wrong")
    assert await resp.text() == '{"Balance":0,"CodeResponse":"101","ErrorMessage":"Authorize Failed"}'
    resp = await mock_client.post("/MainService.svc/json/GetBalance_json", json={"ApiKey": KEY})
    assert (await resp.json())["CodeResponse"] == "101"
    resp = await mock_client.get(f"/MainService.svc/json/GetListBrandname/{KEY}/{SECRET}")
    assert await resp.json() == {"CodeResponse": "100", "ListBrandName": [
        {"Brandname": "BAT DONG SAN GIA TOT", "Type": 23}, {"Brandname": "MOCKBRAND", "Type": 23},
        {"Brandname": "Baotrixemay", "Type": 2}, {"Brandname": "QC_ONLINE", "Type": 1}]}
    resp = await mock_client.get(f"/MainService.svc/json/GetListBrandname/{KEY}/nope")
    assert await resp.text() == '{"CodeResponse":"101","ErrorMessage":"Authorize Failed"}'


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, ctype, status, reason_part", [
    (b'{"ApiKey": ', "application/json", 400, "malformed JSON"),
    (b"", "application/json", 400, "empty"),
    (b"[1,2]", "application/json", 400, "JSON object"),
    (b"\xff\xfe{}", "application/json", 400, "UTF-8"),
    (b'{"ApiKey": "k"}', "text/plain", 400, "Content-Type"),
    (b"ApiKey=k&SecretKey=s", "application/x-www-form-urlencoded", 400, "Content-Type"),
    (b"[" * 10000 + b"]" * 10000, "application/json", 400, "JSON"),
    (b'{"Phones": "0901255500", "ApiKey": "k", "SecretKey": "s", "Brandname": "b", "SmsType": "23"}',
     "application/json", 400, "Phones must be of type array"),
    (b'{"ApiKey": {"a": 1}, "SecretKey": "s", "Brandname": "b", "SmsType": "23", "Phones": []}',
     "application/json", 400, "ApiKey must be of type"),
    (b'{"ApiKey": "k", "SecretKey": "s", "Brandname": "b", "SmsType": "23", "Phones": [["x"]]}',
     "application/json", 400, "Phones[0]"),
    (b'{"a": NaN}', "application/json", 400, "NaN"),
])
async def test_bad_bodies_get_the_esms_envelope(mock_client, data, ctype, status, reason_part):
    resp = await mock_client.post(SEND, data=data, headers={"Content-Type": ctype})
    assert resp.status == status
    assert await resp.json() == {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Request Error"}
    assert reason_part in resp.headers["X-Mock-Reason"]


async def test_5_mib_body_is_refused_with_413_and_server_keeps_serving(mock_client):
    await send(mock_client, viber())
    big = b'{"Content": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    resp = await mock_client.post(SEND, data=io.BytesIO(big), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert await resp.json() == {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Request Entity Too Large"}
    assert "max_body_bytes" in resp.headers["X-Mock-Reason"]
    _, body, _ = await send(mock_client, viber())
    assert body["CodeResult"] == "100"
    assert (await (await mock_client.get("/_mock/messages")).json())["total"] == 2


@pytest.mark.parametrize("method, path, status, reason_part", [
    ("GET", SEND, 405, "POST only"),
    ("PUT", "/MainService.svc/json/GetBalance_json", 405, "POST only"),
    ("POST", "/MainService.svc/json/GetBalance/k/s", 405, "GET only"),
    ("GET", "/MainService.svc/json/NoSuchOperation", 404, "unknown eSMS operation"),
    ("GET", "/MainService.svc/xml/GetBalance/k/s", 404, "/xml/"),
    ("GET", "/MainService.svc/json/GetBalance/only-one", 404, "path segment"),
    ("GET", "/MainService.svc/help", 404, "no eSMS endpoint"),
])
async def test_wrong_verbs_and_unknown_operations(mock_client, method, path, status, reason_part):
    resp = await mock_client.request(method, path)
    assert resp.status == status
    body = await resp.json()
    assert body["CodeResult"] == "99" and body["CountRegenerate"] == 0
    assert reason_part in resp.headers["X-Mock-Reason"]


async def test_phone_given_as_number_is_accepted(mock_client):
    _, body, _ = await send(mock_client, viber(Phones=[84901255500]))
    assert body["CodeResult"] == "100"



async def test_a_multi_phone_send_shares_its_lifecycle_jobs_and_each_phone_still_walks(mock_client, advance):
    # One job per step for the phones of a request with the same outcome (Core.accept_many): two jobs for the three
    # delivered phones, three for the one also seen; every phone still gets its own states, at the same instants.
    from mock_server.keys import core_key

    phones = ["0901255500", "0902255500", "0903255500", "0901255504"]  # 55504: delivered, then seen
    status, body, _ = await send(mock_client, viber(Phones=phones))
    assert (status, body["CodeResult"]) == (200, "100")
    core = mock_client.server.app[core_key]
    ids = [m.id for m in core.store.batch("esms", body["SMSID"])]
    assert [(j.kind, list(j.args[0]), j.args[1]) for j in core.scheduler.jobs()] == [
        ("core.steps", ids[:3], "sent"), ("core.steps", ids[3:], "sent"),
        ("core.steps", ids[:3], "delivered"), ("core.steps", ids[3:], "delivered"),
        ("core.steps", ids[3:], "seen"),
    ]
    await advance(60)
    resp = await mock_client.get("/_mock/messages", params={"provider": "esms", "limit": "10"})
    items = {m["phone"]: m for m in (await resp.json())["items"]}
    assert {p: items[p]["status"] for p in phones} == {phones[0]: "delivered", phones[1]: "delivered",
                                                       phones[2]: "delivered", phones[3]: "seen"}
    assert len({tuple(h["at"] for h in items[p]["history"][:3]) for p in phones}) == 1


async def test_callback_query_follows_the_url_s_own_query_and_comes_before_a_fragment(mock_client, callback_receiver,
                                                                                       advance, callback_attempts):
    await send(mock_client, viber(CallbackUrl=callback_receiver.url + "/cb?token=abc#section"))
    await advance(1)
    [hit] = await callback_receiver.wait_for(1)
    assert hit.path == "/cb" and [k for k, _ in hit.query][:2] == ["token", "SMSID"]
    assert hit.params["token"] == "abc" and hit.params["phonenumber"] == "0901255500"
    [attempt] = await callback_attempts(1)
    assert attempt["url"].startswith(callback_receiver.url + "/cb?token=abc&SMSID=")
    assert attempt["url"].endswith("&phonenumber=0901255500#section") and attempt["delivered"]


ZERO_DELAY = testing.test_settings()
ZERO_DELAY = replace(ZERO_DELAY, timing=replace(ZERO_DELAY.timing, accept_to_sent=0.0, sent_to_final=0.0))


@pytest.mark.parametrize("mock_settings", [ZERO_DELAY])
async def test_zero_delay_steps_happen_on_the_manual_clock_without_an_advance(mock_client, callback_receiver):
    # A step due now (accept_to_sent = sent_to_final = 0) waited for the next advance on the manual clock, where the
    # real clock runs it at once: the message stayed "accepted" and its callback never came until something advanced.
    status, body, _ = await send(mock_client, viber(CallbackUrl=callback_receiver.url))
    assert status == 200 and body["CodeResult"] == "100"
    message = await (await mock_client.get("/_mock/messages/latest")).json()
    assert [h["status"] for h in message["history"]] == ["accepted", "sent", "delivered"]
    assert len({h["at"] for h in message["history"]}) == 1  # all at the moment of the send: the clock did not move
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.params["SMSID"] == body["SMSID"]
