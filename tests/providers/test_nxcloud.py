"""NXCLOUD over real HTTP: signed requests, every function type and OTP template, every code, bad input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mock_server.providers.nxcloud import codec, signing
from mock_server.providers.nxcloud.errors import NxcloudCode
from mock_server.providers.nxcloud.signing import sign_headers

MT = "/api/viber/mt"
KEY, SECRET, APP = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"
PHONE = "79100055500"  # the seed page's 791xxxxx730 with digits, ending in the magic 55500 (delivered)
VECTOR_TS = 1655710885431
VIBER_VECTOR = ('{"appkey":"TexxxP6","phone":"791xxxxx730","functionType":"text","messageData":'
                '{"rateType":"Transactional","text":"Your code is 989724."}}').encode()

# The nine request examples of the 'Viber Send Message' page (seeds/004), as printed there (newlines and key order
# kept: the signature covers these exact bytes); only the masked phone's x's are digits here.
SEED_EXAMPLES = {
    "text": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "text",\n"messageData": {\n'
            '"rateType": "Transactional",\n"text": "Your code is 989724."\n}\n}',
    "image": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "image",\n"messageData": {\n'
             '"rateType": "Promotional",\n"image": "https://***.jpeg"\n}\n}',
    "text_image": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "text_image",\n'
                  '"messageData": {\n"rateType": "Promotional",\n"text": "Your code is 989724.",\n'
                  '"image": "https://***.jpeg"\n}\n}',
    "text_image_button": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "text_image_button",\n'
                         '"messageData": {\n"rateType": "Promotional",\n"text": "Your code is 989724.",\n'
                         '"image": "https://***.jpeg",\n"buttonText": "Click me",\n'
                         '"buttonLink": "http://www.viber.com"\n}\n}',
    "text_button": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "text_button",\n'
                   '"messageData": {\n"rateType": "Promotional",\n"text": "Your code is 989724.",\n'
                   '"buttonText": "Click me",\n"buttonLink": "http://www.viber.com"\n}\n}',
    "file": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "file",\n"messageData": {\n'
            '"rateType": "Transactional",\n"fileType": "pdf",\n"fileName": "fileName.pdf",\n'
            '"fileLink": "https://***.pdf"\n}\n}',
    "video": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "video",\n"messageData": {\n'
             '"rateType": "Promotional",\n"thumbnail": "https://***.jpeg",\n"videoSize": 882472,\n'
             '"duration": 15,\n"videoLink": "https://***.mp4"\n}\n}',
    "video_text": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "video_text",\n'
                  '"messageData": {\n"rateType": "Promotional",\n"thumbnail": "https://***.jpeg",\n'
                  '"videoSize": 882472,\n"duration": 15,\n"videoLink": "https://***.mp4",\n'
                  '"text": "Your code is 989724."\n}\n}',
    "video_text_button": '{\n"appkey": "TexxxP6",\n"phone": "791xxxxx730",\n"functionType": "video_text_button",\n'
                         '"messageData": {\n"rateType": "Promotional",\n"thumbnail": "https://***.jpeg",\n'
                         '"videoSize": 882472,\n"duration": 15,\n"videoLink": "https://***.mp4",\n'
                         '"text": "Your code is 989724.",\n"buttonText": "button text"\n}\n}',
}


def body(phone: str = PHONE, function_type: str = "text", appkey: str = APP, **data: Any) -> dict[str, Any]:
    return {"appkey": appkey, "phone": phone, "functionType": function_type,
            "messageData": data or {"rateType": "Transactional", "text": "Your code is 989724."}}


async def send(client: Any, payload: Any = None, *, raw: bytes | None = None, key: str = KEY, secret: str = SECRET,
               headers: dict[str, str | None] | None = None, path: str = MT,
               **sign_kw: Any) -> tuple[dict[str, Any], Any]:
    """Sign (by default correctly) and POST; every NXCLOUD answer is HTTP 200 JSON, whatever the code."""
    data = raw if raw is not None else json.dumps(body() if payload is None else payload).encode()
    h: dict[str, Any] = sign_headers(key, secret, data, **sign_kw)
    for name, value in (headers or {}).items():
        if value is None:
            h.pop(name, None)
        else:
            h[name] = value
    resp = await client.post(path, data=data, headers=h)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json(), resp.headers


def assert_code(answer: dict[str, Any], code: NxcloudCode) -> None:
    assert answer == {"code": code.code, "message": code.message}
    assert type(answer["code"]) is int


def assert_success(answer: dict[str, Any]) -> str:
    assert list(answer) == ["code", "message", "data"]
    assert answer["code"] == 0 and type(answer["code"]) is int and answer["message"] == "Success"
    request_id = answer["data"]["requestId"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    return request_id


# --- success and the documented vectors ------------------------------------------------------------------------------


async def test_text_message_accepted_with_exact_envelope(mock_client):
    resp = await mock_client.post(MT, data=(raw := json.dumps(body()).encode()), headers=sign_headers(KEY, SECRET, raw))
    assert resp.status == 200 and "X-Mock-Reason" not in resp.headers
    text = await resp.text()
    assert text.startswith('{"code":0,"message":"Success","data":{"requestId":"')
    request_id = assert_success(json.loads(text))
    stored = await (await mock_client.get("/_mock/messages/latest")).json()
    assert stored["provider"] == "nxcloud" and stored["provider_id"] == request_id and stored["account"] == KEY
    assert stored["phone"] == PHONE and stored["channel"] == "viber" and stored["status"] == "accepted"
    assert stored["content"] == {"text": "Your code is 989724."}
    assert stored["meta"]["appkey"] == APP and stored["meta"]["billed_rate_type"] == "Transactional"


async def test_spec_viber_vector_signature_accepted_over_http(mock_client, monkeypatch):
    """The spec's Viber vector, byte for byte with its documented sign, at its own ts (the wall clock pinned there):
    the signature passes; the masked phone "791xxxxx730" is then refused as a phone (9002), not as auth."""
    monkeypatch.setattr(signing, "wall_clock_ms", lambda: VECTOR_TS + 1500)
    headers = {"accessKey": KEY, "ts": str(VECTOR_TS), "bizType": "7", "action": "mt",
               "sign": "2465f94d213fb0682edab6f90d0428ca", "Content-Type": "application/json"}
    resp = await mock_client.post(MT, data=VIBER_VECTOR, headers=headers)
    answer = await resp.json()
    assert_code(answer, NxcloudCode.PHONE_NUMBER_ERROR)
    assert resp.headers["X-Mock-Reason"].startswith("phone: must be the country code and the number, digits only")
    sha = {**headers, "algorithm": "sha256",
           "sign": "9bf8b1fb8271b5bee374e6a91012646a401e882bcbe5a3c18500df8e67c610ee"}
    assert_code(await (await mock_client.post(MT, data=VIBER_VECTOR, headers=sha)).json(),
                NxcloudCode.PHONE_NUMBER_ERROR)
    # One byte of the vector's sign changed: now it is the signature that fails.
    bad = {**headers, "sign": "2465f94d213fb0682edab6f90d0428cb"}
    assert_code(await (await mock_client.post(MT, data=VIBER_VECTOR, headers=bad)).json(),
                NxcloudCode.INVALID_SIGNATURE)
    # The vector with the x's as digits, signed at the vector's ts, is sent.
    real = VIBER_VECTOR.replace(b"791xxxxx730", b"79100055730")
    assert_success((await send(mock_client, raw=real, ts=VECTOR_TS))[0])


@pytest.mark.parametrize("function_type", list(SEED_EXAMPLES))
async def test_every_seed_example_accepted_when_signed(mock_client, function_type):
    raw = SEED_EXAMPLES[function_type].replace("791xxxxx730", "79100055730").encode()
    answer, headers = await send(mock_client, raw=raw)
    request_id = assert_success(answer)
    stored = await (await mock_client.get("/_mock/messages/latest")).json()
    assert stored["provider_id"] == request_id and stored["meta"]["function_type"] == function_type
    assert stored["raw_request"] == json.loads(raw)


async def test_seed_examples_content_is_stored_with_neutral_names(mock_client):
    await send(mock_client, raw=SEED_EXAMPLES["text_image_button"].replace("791xxxxx730", "79100055730").encode())
    content = (await (await mock_client.get("/_mock/messages/latest")).json())["content"]
    assert content == {"text": "Your code is 989724.", "image": "https://***.jpeg", "button_text": "Click me",
                       "button_url": "http://www.viber.com"}
    await send(mock_client, raw=SEED_EXAMPLES["video"].replace("791xxxxx730", "79100055730").encode())
    content = (await (await mock_client.get("/_mock/messages/latest")).json())["content"]
    assert content == {"thumbnail": "https://***.jpeg", "video": "https://***.mp4", "video_size": 882472,
                       "video_duration": 15}


async def test_sha256_and_upper_case_sign_accepted(mock_client):
    assert_success((await send(mock_client, algorithm="sha256"))[0])
    raw = json.dumps(body()).encode()
    ts = signing.wall_clock_ms()  # one ts for both: signed a millisecond apart, the signs differed (flaky)
    upper = sign_headers(KEY, SECRET, raw, ts=ts)["sign"].upper()
    assert_success((await send(mock_client, raw=raw, headers={"sign": upper}, ts=ts))[0])


async def test_header_names_are_case_insensitive(mock_client):
    raw = json.dumps(body()).encode()
    signed = sign_headers(KEY, SECRET, raw)
    lower = {name.lower(): value for name, value in signed.items()}
    resp = await mock_client.post(MT, data=raw, headers=lower)
    assert_success(await resp.json())


async def test_ts_is_checked_against_the_wall_clock_not_the_mock_clock(mock_client, advance):
    await advance(2 * 86400)  # the mock clock two days ahead: a fresh ts must still pass
    assert_success((await send(mock_client))[0])


# --- OTP templates ---------------------------------------------------------------------------------------------------

TEMPLATE_PARAMS = {"pin": "132132", "businessPlatformName": "Acme", "pinType": "login", "codeValidityTime": 5,
                   "businessPlatformActionName": "Acme login", "codeReason": "you asked to sign in"}


@pytest.mark.parametrize("template_id", list(codec.OTP_TEMPLATES))
@pytest.mark.parametrize("spelling", ["temolate", "template"])
async def test_every_otp_template_accepted_in_both_spellings(mock_client, template_id, spelling):
    uuid, params, _ = codec.OTP_TEMPLATES[template_id]
    data = {"rateType": "OtpTemplate", f"{spelling}Id": template_id,
            f"{spelling}Params": {p: TEMPLATE_PARAMS[p] for p in params}, f"{spelling}Lang": "en"}
    assert_success((await send(mock_client, body(**data)))[0])
    content = (await (await mock_client.get("/_mock/messages/latest")).json())["content"]
    assert content["template_id"] == template_id and "132132" in content["text"]
    assert content["text"].endswith("Please don't share your code with ANYONE. We'll never call or message you and "
                                    "ask for it.")
    # The Viber template UUID names the same template.
    data[f"{spelling}Id"] = uuid
    assert_success((await send(mock_client, body(**data)))[0])


async def test_otp_text_rendered_from_params(mock_client):
    data = {"rateType": "OtpTemplate", "templateId": "5", "templateLang": "vi",
            "templateParams": {"pin": "4242", "pinType": "login", "codeValidityTime": 10}}
    assert_success((await send(mock_client, body(**data)))[0])
    content = (await (await mock_client.get("/_mock/messages/latest")).json())["content"]
    assert content["text"].startswith("Your login code is 4242. It's valid for 10 minutes. Please don't share")
    assert content["template_lang"] == "vi"


@pytest.mark.parametrize("params", ['{"pin":"132132"}', '{"pin","132132"}'])
async def test_otp_params_as_string_accepted_leniently(mock_client, params):
    # The English page types temolateParams as String and prints the non-JSON example {"pin","132132"}.
    data = {"rateType": "OtpTemplate", "temolateId": "1", "temolateParams": params, "temolateLang": "en"}
    assert_success((await send(mock_client, body(**data)))[0])
    content = (await (await mock_client.get("/_mock/messages/latest")).json())["content"]
    assert content["template_params"] == {"pin": "132132"}


@pytest.mark.parametrize("params", ['{"pin":"132132","extra":NaN}', '{"pin":"132132","x":Infinity}',
                                    '{"pin":"132132","x":1e999}', '{"pin":"132132","x":"\\ud800"}',
                                    '{"pin",NaN}'])
async def test_otp_params_as_string_are_json_by_the_same_rules_as_a_body(mock_client, params):
    # json.loads took NaN, Infinity and a lone surrogate inside the string; stored, they broke every control-API answer
    # that showed the message (README: NaN/Infinity/1e999 are 9000, a lone surrogate refused like invalid UTF-8).
    data = {"rateType": "OtpTemplate", "temolateId": "1", "temolateParams": params, "temolateLang": "en"}
    answer, headers = await send(mock_client, body(**data))
    assert answer["code"] == 9000 and "templateParams" in headers["X-Mock-Reason"]
    resp = await mock_client.get("/_mock/messages")
    assert resp.status == 200 and await resp.json() == {"items": [], "total": 0}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"templateId": "3", "templateParams": {"pin": "1"}, "templateLang": "en"},
         "messageData.templateParams.businessPlatformName is required"),
        ({"templateParams": {"pin": "1"}, "templateLang": "en"},
         "messageData.templateId is required (also accepted as temolateId)"),
        ({"temolateId": "1", "temolateParams": {"pin": "1"}},
         "messageData.templateLang is required (also accepted as temolateLang)"),
        ({"templateId": "10", "templateParams": {"pin": "1"}, "templateLang": "en"},
         'messageData.templateId: must be an OTP template id "1" to "9" or a Viber template UUID'),
        ({"templateId": "1", "templateParams": {"pin": "1"}, "templateLang": "xx"},
         "messageData.templateLang: must be one of the OTP template languages"),
        ({"templateId": "1", "templateParams": {"pin": "see https://x.io"}, "templateLang": "en"},
         "messageData.templateParams.pin: must be a string of 1 to 50 characters without URLs"),
        # A variable is one line: "12\n34" is refused, and so is "1234\n" (a regex `$` also matches before a final
        # newline, so the pattern let that one through, code 0).
        ({"templateId": "1", "templateParams": {"pin": "12\n34"}, "templateLang": "en"},
         "messageData.templateParams.pin: must be a string of 1 to 50 characters without URLs"),
        ({"templateId": "1", "templateParams": {"pin": "1234\n"}, "templateLang": "en"},
         "messageData.templateParams.pin: must be a string of 1 to 50 characters without URLs"),
        ({"templateId": "3", "templateParams": {"pin": "1234", "businessPlatformName": "Acme\n"}, "templateLang": "en"},
         "messageData.templateParams.businessPlatformName: must be a string of 1 to 50 characters without URLs"),
        ({"templateId": "4", "templateParams": {"pin": "1", "codeValidityTime": "5"}, "templateLang": "en"},
         "messageData.templateParams.codeValidityTime: must be an integer number of minutes"),
        ({"templateId": "1", "templateParams": "pin=1", "templateLang": "en"},
         "messageData.templateParams must be of type object, got string"),
    ],
)
async def test_otp_template_errors_answer_9000(mock_client, data, reason):
    answer, headers = await send(mock_client, body(rateType="OtpTemplate", **data))
    assert_code(answer, NxcloudCode.REQUEST_PARAMETER_ERROR)
    assert headers["X-Mock-Reason"].startswith(reason)


# --- auth: 1001 → 1002 → 1004 → 1005 → 1003 --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["accessKey", "ts", "bizType", "action", "sign"])
async def test_missing_common_header_answers_1001(mock_client, header):
    answer, headers = await send(mock_client, headers={header: None})
    assert_code(answer, NxcloudCode.MISSING_PARAMETERS)
    assert headers["X-Mock-Reason"] == f"missing common header(s): {header}"


async def test_unsigned_request_answers_1001(mock_client):
    resp = await mock_client.post(MT, json=body())
    assert resp.status == 200
    assert_code(await resp.json(), NxcloudCode.MISSING_PARAMETERS)
    assert resp.headers["X-Mock-Reason"] == "missing common header(s): accessKey, ts, bizType, action, sign"


@pytest.mark.parametrize(("kw", "reason"), [({"biz_type": "3"}, 'bizType must be "7" (Viber) here, got \'3\''),
                                            ({"action": "send"}, 'action must be "mt" here, got \'send\'')])
async def test_wrong_biz_type_or_action_answers_1002(mock_client, kw, reason):
    answer, headers = await send(mock_client, **kw)
    assert_code(answer, NxcloudCode.PARAMETER_ERROR)
    assert headers["X-Mock-Reason"] == reason


async def test_stale_ts_answers_1004(mock_client):
    now = signing.wall_clock_ms()
    answer, headers = await send(mock_client, ts=now - 61_000)
    assert_code(answer, NxcloudCode.TIMESTAMP_EXPIRED)
    assert "at most 60 s allowed" in headers["X-Mock-Reason"]
    assert_code((await send(mock_client, ts=now + 61_000))[0], NxcloudCode.TIMESTAMP_EXPIRED)
    assert_code((await send(mock_client, ts=now // 1000))[0], NxcloudCode.TIMESTAMP_EXPIRED)  # seconds, not ms
    assert_success((await send(mock_client, ts=now - 50_000))[0])


@pytest.mark.parametrize("ts", ["yesterday", "-1655710885431", "1655710885431.5", "9" * 5000])
async def test_non_numeric_ts_answers_1004(mock_client, ts):
    answer, headers = await send(mock_client, ts=ts)
    assert_code(answer, NxcloudCode.TIMESTAMP_EXPIRED)
    assert headers["X-Mock-Reason"].startswith("ts must be epoch milliseconds (digits only), got")


async def test_unknown_access_key_answers_1005(mock_client):
    answer, headers = await send(mock_client, key="nobody")
    assert_code(answer, NxcloudCode.INSUFFICIENT_PERMISSIONS)
    assert headers["X-Mock-Reason"] == "accessKey 'nobody' is not a configured NXCLOUD account"


async def test_check_order_follows_the_spec(mock_client):
    now = signing.wall_clock_ms()
    # Stale and unknown key and wrong action: 1002 first; stale and unknown key: 1004 first.
    assert_code((await send(mock_client, key="nobody", ts=now - 120_000, action="x"))[0], NxcloudCode.PARAMETER_ERROR)
    assert_code((await send(mock_client, key="nobody", ts=now - 120_000))[0], NxcloudCode.TIMESTAMP_EXPIRED)
    assert_code((await send(mock_client, key="nobody", headers={"sign": "0" * 32}))[0],
                NxcloudCode.INSUFFICIENT_PERMISSIONS)


async def test_wrong_secret_answers_1003(mock_client):
    answer, headers = await send(mock_client, secret="not-the-secret")
    assert_code(answer, NxcloudCode.INVALID_SIGNATURE)
    assert headers["X-Mock-Reason"].startswith('sign does not match: expected md5("accessKey=...&action=...')


async def test_body_re_serialised_after_signing_answers_1003(mock_client):
    compact = json.dumps(body(), separators=(",", ":")).encode()
    signed = sign_headers(KEY, SECRET, compact)
    resp = await mock_client.post(MT, data=json.dumps(body()).encode(), headers=signed)  # same JSON, other bytes
    assert_code(await resp.json(), NxcloudCode.INVALID_SIGNATURE)


async def test_algorithm_in_headers_str_refused_by_default(mock_client):
    raw = json.dumps(body()).encode()
    h = sign_headers(KEY, SECRET, raw, algorithm="sha256")
    h["sign"] = signing.compute_sign(h, raw, SECRET, algorithm="sha256", include_algorithm=True)
    assert_code(await (await mock_client.post(MT, data=raw, headers=h)).json(), NxcloudCode.INVALID_SIGNATURE)


async def test_unknown_algorithm_answers_1003(mock_client):
    answer, headers = await send(mock_client, headers={"algorithm": "sha1"})
    assert_code(answer, NxcloudCode.INVALID_SIGNATURE)
    assert headers["X-Mock-Reason"] == "algorithm must be md5 or sha256, got 'sha1'"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_answers_1003(mock_client, content_type):
    answer, headers = await send(mock_client, headers={"Content-Type": content_type}, content_type=None)
    assert_code(answer, NxcloudCode.INVALID_SIGNATURE)
    assert headers["X-Mock-Reason"].startswith("Content-Type must be application/json")


async def test_json_content_type_with_charset_accepted(mock_client):
    assert_success((await send(mock_client, content_type="application/json; charset=utf-8"))[0])


# --- body: 9000 / 9002 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"appkey": "TexxxP6",', "malformed JSON"),
        (b'{"appkey": "\xff\xfe"}', "body is not valid UTF-8"),
        (b"", "body is empty"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        (b'{"phone": NaN}', "malformed JSON"),
    ],
)
async def test_signed_body_that_is_not_json_answers_9000(mock_client, raw, reason):
    answer, headers = await send(mock_client, raw=raw)
    assert_code(answer, NxcloudCode.REQUEST_PARAMETER_ERROR)
    assert headers["X-Mock-Reason"].startswith(reason)


@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
async def test_over_limit_body_answers_9000(mock_client):
    raw = json.dumps(body(text="x" * (1024 * 1024 + 10), rateType="Transactional")).encode()
    resp = await mock_client.post(MT, data=raw, headers=sign_headers(KEY, SECRET, raw))
    assert resp.status == 200
    assert_code(await resp.json(), NxcloudCode.REQUEST_PARAMETER_ERROR)
    assert "max_body_bytes" in resp.headers["X-Mock-Reason"]
    assert_success((await send(mock_client))[0])  # still serving


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([body()], "the body must be of type object, got array"),
        ({k: v for k, v in body().items() if k != "appkey"}, "appkey is required"),
        ({k: v for k, v in body().items() if k != "messageData"}, "messageData is required"),
        ({k: v for k, v in body().items() if k != "phone"}, "phone is required"),
        (body(function_type="carousel"), "functionType: must be one of text, image"),
        ({**body(), "messageData": "hello"}, "messageData must be of type object, got string"),
        (body(rateType="Transactional"), "messageData.text is required"),
        (body(rateType="Promotional", text=7), "messageData.text must be of type string, got number"),
        (body(rateType="Marketing", text="x"), "messageData.rateType: must be one of Transactional, Session"),
        (body(function_type="image", rateType="Transactional", image="https://x/a.jpg"),
         "messageData.rateType: must be one of Promotional, Session for this functionType"),
        (body(function_type="text_button", rateType="Promotional", text="x", buttonText="Go"),
         "messageData.buttonLink is required"),
        (body(function_type="file", rateType="Transactional", fileName="a.exe", fileLink="https://x/a.exe",
              fileType="exe"), "messageData.fileType: must be one of the supported file types"),
        (body(function_type="video", rateType="Promotional", thumbnail="t", videoLink="v", videoSize=209715201,
              duration=15), "messageData.videoSize: must be a number of bytes, more than 0 and at most 200 MB"),
        (body(function_type="video", rateType="Promotional", thumbnail="t", videoLink="v", videoSize=1,
              duration=601), "messageData.duration: must be a number of seconds, more than 0 and at most 600"),
        (body(function_type="video", rateType="Promotional", thumbnail="t", videoLink="v", videoSize="1",
              duration=6), "messageData.videoSize: must be a number of bytes"),
    ],
)
async def test_invalid_body_answers_9000_naming_the_field(mock_client, payload, reason):
    answer, headers = await send(mock_client, payload)
    assert_code(answer, NxcloudCode.REQUEST_PARAMETER_ERROR)
    assert headers["X-Mock-Reason"].startswith(reason), headers["X-Mock-Reason"]


async def test_video_text_button_needs_no_button_link_and_limits_are_inclusive(mock_client):
    data = {"rateType": "Promotional", "thumbnail": "t", "videoLink": "v", "videoSize": 209715200, "duration": 600,
            "text": "x", "buttonText": "Go"}
    assert_success((await send(mock_client, body(function_type="video_text_button", **data)))[0])


# "79100055500\n": a regex `$` also matches before a final newline, so the pattern let it through (code 0).
@pytest.mark.parametrize("phone", ["+79100055500", "079100055500", "791xxxxx730", "7910 0055500", "123", 79100055500,
                                   "79100055500\n"])
async def test_invalid_phone_answers_9002(mock_client, phone):
    answer, headers = await send(mock_client, body(phone=phone))
    assert_code(answer, NxcloudCode.PHONE_NUMBER_ERROR)
    assert headers["X-Mock-Reason"].startswith("phone: must be the country code and the number, digits only")


# --- business codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("appkey", "code", "reason"),
    [
        ("NO_SUCH_APP", NxcloudCode.APP_UNAVAILABLE, "appkey 'NO_SUCH_APP' is not an app of this account"),
        ("POOR_APP", NxcloudCode.APP_UNAVAILABLE, "appkey 'POOR_APP' is not an app of this account"),
        ("APP_DISABLED", NxcloudCode.APP_UNAVAILABLE, "appkey 'APP_DISABLED' is disabled"),
        ("APP_NO_QUOTATION", NxcloudCode.APP_NO_QUOTATION, "app APP_NO_QUOTATION has quotation = false"),
        ("APP_NO_ROUTES", NxcloudCode.APP_ROUTES_MISSING, "app APP_NO_ROUTES has routes = false"),
    ],
)
async def test_app_codes(mock_client, appkey, code, reason):
    answer, headers = await send(mock_client, body(appkey=appkey))
    assert_code(answer, code)
    assert headers["X-Mock-Reason"] == reason


async def test_disabled_account_answers_1100(mock_client):
    answer, headers = await send(mock_client, body(appkey="DISABLED_ACCOUNT_APP"), key="NXCLOUD_DISABLED_KEY",
                                 secret="NXCLOUD_DISABLED_SECRET")
    assert_code(answer, NxcloudCode.CUSTOMER_UNAVAILABLE)
    assert headers["X-Mock-Reason"] == "account NXCLOUD_DISABLED_KEY is disabled in the config"


async def test_balance_is_charged_and_runs_out_with_1102(mock_client):
    poor = {"key": "NXCLOUD_POOR_KEY", "secret": "NXCLOUD_POOR_SECRET"}
    assert_success((await send(mock_client, body(appkey="POOR_APP"), **poor))[0])
    answer, headers = await send(mock_client, body(appkey="POOR_APP"), **poor)
    assert_code(answer, NxcloudCode.INSUFFICIENT_BALANCE)
    assert headers["X-Mock-Reason"] == "balance 0.007 USD is below the 0.013 USD this Transactional message costs"
    accounts = (await (await mock_client.get("/_mock/accounts")).json())["nxcloud"]
    assert {a["access_key"]: a["balance"] for a in accounts}["NXCLOUD_POOR_KEY"] == 0.007
    # Topped up through the control API, it sends again.
    resp = await mock_client.post("/_mock/accounts/nxcloud/NXCLOUD_POOR_KEY/balance", json={"add": 1})
    assert resp.status == 200 and (await resp.json())["balance"] == 1.007
    assert_success((await send(mock_client, body(appkey="POOR_APP"), **poor))[0])


@pytest.mark.parametrize(
    ("last5", "code", "reason"),
    [
        ("55503", NxcloudCode.PHONE_NUMBER_ERROR, "magic number 55503: rejected for phone 791000"),
        ("55506", NxcloudCode.PHONE_NUMBER_ERROR, "magic number 55506: blocked for phone 791000"),
        ("55507", NxcloudCode.INSUFFICIENT_BALANCE, "magic number 55507: no_balance for phone 791000"),
        ("55508", NxcloudCode.SYSTEM_BUSINESS_ERROR, "magic number 55508: provider_error for phone 791000"),
    ],
)
async def test_magic_numbers_rejected_at_submit(mock_client, last5, code, reason):
    answer, headers = await send(mock_client, body(phone="791000" + last5))
    assert_code(answer, code)
    assert headers["X-Mock-Reason"] == reason + last5
    assert (await (await mock_client.get("/_mock/messages?provider=nxcloud")).json())["total"] == 0


async def test_rule_decides_the_outcome(mock_client):
    resp = await mock_client.post("/_mock/rules", json={"phone": "79100012345", "provider": "nxcloud",
                                                        "outcome": "provider_error", "times": 1})
    assert resp.status == 201
    assert_code((await send(mock_client, body(phone="79100012345")))[0], NxcloudCode.SYSTEM_BUSINESS_ERROR)
    assert_success((await send(mock_client, body(phone="79100012345")))[0])


@pytest.mark.parametrize("code", [c for c in NxcloudCode if c is not NxcloudCode.SUCCESS])
async def test_every_code_can_be_forced_through_faults(mock_client, code):
    resp = await mock_client.post("/_mock/faults", json={"action": "provider_code", "provider": "nxcloud",
                                                         "code": code.code, "times": 2})
    assert resp.status == 201, await resp.text()
    fault_id = (await resp.json())["id"]
    for _ in range(2):
        answer, headers = await send(mock_client)
        assert_code(answer, code)
        assert headers["X-Mock-Reason"] == f"fault {fault_id}: injected provider_code"
    assert_success((await send(mock_client))[0])


@pytest.mark.parametrize(("status", "code"), [(503, NxcloudCode.SYSTEM_BUSINESS_ERROR), (429, NxcloudCode.FAILURE)])
async def test_http_error_fault_keeps_the_nxcloud_envelope(mock_client, status, code):
    resp = await mock_client.post("/_mock/faults", json={"action": "http_error", "provider": "nxcloud",
                                                         "status": status, "times": 1})
    assert resp.status == 201
    data = json.dumps(body()).encode()
    resp = await mock_client.post(MT, data=data, headers=sign_headers(KEY, SECRET, data))
    assert resp.status == status
    assert_code(await resp.json(), code)


# --- paths, verbs, never a 500 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_verb_answers_1003(mock_client, method):
    resp = await mock_client.request(method, MT)
    assert resp.status == 200
    assert_code(await resp.json(), NxcloudCode.INVALID_SIGNATURE)
    assert resp.headers["X-Mock-Reason"] == f"{method} is not allowed: /api/viber/mt is POST only"


@pytest.mark.parametrize("path", ["/api/viber/mo", "/api/viber/", "/api/viber/mt/extra", "/api/viber",
                                  "/api/viber/mt/"])
async def test_unknown_path_answers_failure(mock_client, path):
    resp = await mock_client.post(path, data=b"{}")
    assert resp.status == 200
    assert_code(await resp.json(), NxcloudCode.FAILURE)
    assert resp.headers["X-Mock-Reason"].startswith(f"no NXCLOUD endpoint at {path}")  # not "POST is not allowed"
