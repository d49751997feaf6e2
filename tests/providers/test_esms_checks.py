"""eSMS: the order of checks when fields are missing, the phone form, SendDate, the status queries' 7-day window, and
the envelope of framework errors and injected faults on the CodeResponse operations (esms.md decisions 3, 4, 6; §5)."""

from __future__ import annotations

import pytest

from tests.providers.test_esms import KEY, SECRET, SEND, send, viber

GET = "/MainService.svc/json/SendMultipleMessage_V4_get"
STATUS = "/MainService.svc/json/GetSendStatus"


# README: "JSON and types → 101 → 300/118 (type) → 104 → 108/120 → …": a missing member is an empty one
# (WCF binds it so), and fails its own check in that order rather than before authentication.
@pytest.mark.parametrize("fields, code", [
    ({"SecretKey": "bad", "SmsType": ...}, "101"),
    ({"SecretKey": "bad", "Brandname": ...}, "101"),
    ({"SecretKey": "bad", "Phones": ...}, "101"),
    ({"SecretKey": ..., "Phones": ...}, "101"),
    ({"SmsType": "2", "Brandname": ...}, "118"),
    ({"SmsType": ..., "Brandname": ...}, "300"),
    ({"Brandname": "NOT REGISTERED", "Phones": ...}, "104"),
    ({"Phones": ...}, "108"),
    ({"Phones": None}, "108"),  # WCF binds null as it binds a missing member (schemas/esms/common.json)
])
async def test_a_missing_field_fails_its_check_in_the_documented_order(mock_client, fields, code):
    status, body, _ = await send(mock_client, viber(**fields))
    assert (status, body["CodeResult"]) == (200, code)


async def test_missing_fields_on_the_get_form_and_the_status_query_fail_authentication_first(mock_client):
    resp = await mock_client.get(GET, params={"ApiKey": KEY, "SecretKey": "bad", "Brandname": "MOCKBRAND",
                                              "SmsType": "23", "Content": "x"})
    assert await resp.json() == {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}
    resp = await mock_client.get(STATUS, params={"ApiKey": KEY, "SecretKey": "bad"})
    assert await resp.json() == {"CodeResponse": "101", "SMSID": ""}
    resp = await mock_client.get(STATUS, params={"ApiKey": KEY, "SecretKey": SECRET})  # no RefId: nothing to find
    assert await resp.json() == {"CodeResponse": "105", "SMSID": ""}


async def test_get_send_status_101_echoes_the_ref_id_when_a_key_is_missing(mock_client):
    # esms.md §5: the 101 sample is {"CodeResponse":"101","SMSID":"<the RefId asked about>"}.
    resp = await mock_client.get(STATUS, params={"RefId": "abc", "SecretKey": SECRET})
    assert (resp.status, await resp.json()) == (200, {"CodeResponse": "101", "SMSID": "abc"})
    assert resp.headers["X-Mock-Reason"] == "ApiKey missing or empty"


@pytest.mark.parametrize("phone", ["0901255500\n", "84901255500\n"])
async def test_a_phone_with_a_trailing_newline_is_108(mock_client, phone):
    # esms.md decision 6: 0 + 9 digits or 84 + 9 digits (a regex `$` let the newline through).
    _, body, _ = await send(mock_client, viber(Phones=[phone]))
    assert body == {"CodeResult": "108", "CountRegenerate": 0,
                    "ErrorMessage": f"The phone number {phone} is not valid."}


async def test_a_bad_send_date_is_checked_after_the_request_id_length_and_before_its_reuse(mock_client):
    # README: "… → 159 → 99 (a SendDate not yyyy-mm-dd hh:MM:ss) → 124 → …"
    _, body, _ = await send(mock_client, viber(RequestId="r" * 51, SendDate="soon"))
    assert body["CodeResult"] == "159"
    _, body, _ = await send(mock_client, viber(RequestId="once"))
    assert body["CodeResult"] == "100"
    _, body, _ = await send(mock_client, viber(RequestId="once", SendDate="soon"))
    assert body["CodeResult"] == "99"
    _, body, _ = await send(mock_client, viber(RequestId="once"))
    assert body["CodeResult"] == "124"


@pytest.mark.parametrize("send_date", ["2026-11-26T10:00:00", "26/11/2026 10:00", 20261126])
async def test_an_unparseable_send_date_is_a_body_level_99(mock_client, send_date):
    # A string member WCF binds without complaint: no HTTP 400 (esms.md decision 3); eSMS documents no code for it.
    status, body, headers = await send(mock_client, viber(SendDate=send_date))
    assert (status, body) == (200, {"CodeResult": "99", "CountRegenerate": 0,
                                    "ErrorMessage": "Unknown error, please retry"})
    assert headers["X-Mock-Reason"] == f"SendDate {str(send_date)!r} is not yyyy-mm-dd hh:MM:ss"


@pytest.mark.parametrize("op, answer", [
    ("GetSendStatus", {"CodeResponse": "105", "SMSID": "{smsid}"}),
    ("GetSmsReceiverStatus_get", {"CodeResult": "105", "ErrorMessage": "Message id not found"}),
])
async def test_status_queries_cover_the_last_7_days(mock_client, advance, op, answer):
    _, sent, _ = await send(mock_client, viber())
    params = {"RefId": sent["SMSID"], "ApiKey": KEY, "SecretKey": SECRET}
    await advance(7 * 86400 - 1)
    resp = await mock_client.get(f"/MainService.svc/json/{op}", params=params)
    assert (await resp.json())[next(iter(answer))] == "100"
    await advance(2)
    resp = await mock_client.get(f"/MainService.svc/json/{op}", params=params)
    assert await resp.json() == {k: v.format(smsid=sent["SMSID"]) for k, v in answer.items()}


@pytest.mark.parametrize("endpoint, path, answer", [
    ("GetBalance", f"GetBalance/{KEY}/{SECRET}",
     {"Balance": 0, "CodeResponse": "101", "ErrorMessage": "Authorize Failed"}),
    ("GetListBrandname", f"GetListBrandname/{KEY}/{SECRET}",
     {"CodeResponse": "101", "ErrorMessage": "Authorize Failed"}),
    ("GetSendStatus", f"GetSendStatus?RefId=abc&ApiKey={KEY}&SecretKey={SECRET}",
     {"CodeResponse": "101", "SMSID": "abc"}),
    ("Send_Multiple_Sms_OTT", "Send_Multiple_Sms_OTT/",
     {"CodeResult": "101", "CountRegenerate": 0, "ErrorMessage": "Authorize Failed"}),
])
async def test_an_injected_provider_code_answers_in_the_operation_s_envelope(mock_client, endpoint, path, answer):
    # esms.md decision 4: CodeResponse on balance, GetSendStatus and the brandname list; a client reads that key.
    resp = await mock_client.post("/_mock/faults", json={"action": "provider_code", "code": "101", "provider": "esms",
                                                         "endpoint": endpoint})
    assert resp.status == 201
    url = "/MainService.svc/json/" + path
    resp = await (mock_client.post(url, json=viber()) if endpoint.startswith("Send") else mock_client.get(url))
    assert (resp.status, await resp.json()) == (200, answer)


async def test_framework_errors_of_a_code_response_operation_answer_in_wcf_s_envelope(mock_client):
    # product.md §9: malformed JSON, unknown operation, wrong verb answer the eSMS envelope with CodeResult "99".
    balance = "/MainService.svc/json/GetBalance_json"
    resp = await mock_client.post(balance, data=b"{", headers={"Content-Type": "application/json"})
    assert (resp.status, await resp.json()) == (400, {"CodeResult": "99", "CountRegenerate": 0,
                                                      "ErrorMessage": "Request Error"})
    resp = await mock_client.get(balance)
    assert (resp.status, await resp.json()) == (405, {"CodeResult": "99", "CountRegenerate": 0,
                                                      "ErrorMessage": "Method not allowed"})
    resp = await mock_client.post(balance, json={"ApiKey": KEY, "SecretKey": "bad"})  # a business code: its own
    assert (resp.status, await resp.json()) == (200, {"Balance": 0, "CodeResponse": "101",
                                                      "ErrorMessage": "Authorize Failed"})


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_a_400_not_a_500(mock_client, encoding):
    # product.md §8: "No request, however malformed (...), produces a 500". aiohttp's failed gunzip surfaced from
    # request.read() past the handler, and again from the journal's read: "500 Server got itself in trouble".
    resp = await mock_client.post(SEND, data=b'{"ApiKey":"x"}',
                                  headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert (resp.status, await resp.json()) == (400, {"CodeResult": "99", "CountRegenerate": 0,
                                                      "ErrorMessage": "Request Error"})
    assert resp.headers["X-Mock-Reason"] == f"body could not be read: Can not decode content-encoding: {encoding}"
    assert resp.headers["Connection"] == "close"  # aiohttp drops the connection after such a body
    journal = await (await mock_client.get("/_mock/requests")).json()
    assert journal["items"][0]["status"] == 400


async def test_a_sandbox_send_refused_by_a_times_rule_does_not_use_it_up(mock_client):
    # README (Rules): "a sandbox send ... uses none": it is answered as the rule says, and the real send meets it too.
    await mock_client.post("/_mock/rules", json={"phone": "0901234567", "outcome": "blocked", "times": 1})
    blocked = {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Phone number is blocked"}
    _, body, _ = await send(mock_client, viber(Phones=["0901234567"], IsSandBox="1"))
    assert body == blocked
    rules = await (await mock_client.get("/_mock/rules")).json()
    assert (rules["total"], rules["items"][0]["used"]) == (1, 0)
    _, body, _ = await send(mock_client, viber(Phones=["0901234567"]))
    assert body == blocked
    assert (await (await mock_client.get("/_mock/rules")).json())["total"] == 0


async def test_request_ids_past_their_24h_window_are_forgotten(mock_client, advance):
    # README: the memory store "is bounded". The RequestId dedup table kept every RequestId ever accepted (only the
    # --store sqlite dump left out the stale ones): one entry more per send, for the life of the process.
    from mock_server.keys import core_key

    backend = mock_client.server.app[core_key].providers["esms"].backend
    for i in range(3):
        assert (await send(mock_client, viber(RequestId=f"old-{i}")))[1]["CodeResult"] == "100"
    await advance(24 * 3600 + 1)
    assert (await send(mock_client, viber(RequestId="new")))[1]["CodeResult"] == "100"
    assert [rid for _, rid in backend.request_ids] == ["new"]
    assert (await send(mock_client, viber(RequestId="new")))[1]["CodeResult"] == "124"  # the window still holds
    assert (await send(mock_client, viber(RequestId="old-0")))[1]["CodeResult"] == "100"
