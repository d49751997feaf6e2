"""No secret in what the mock shows: a callback URL's password (http://user:pass@host/cb) is masked wherever the URL
is shown or logged, and the callback is still sent with the real credentials (Basic auth from the URL)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from mock_server import testing

SECRET = "s3cret"
BASIC = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
ESMS = "/MainService.svc/json/Send_Multiple_Sms_OTT/"


def with_password(url: str) -> str:
    """http://127.0.0.1:port -> http://user:s3cret@127.0.0.1:port"""
    return url.replace("http://", f"http://user:{SECRET}@", 1)


def shown(url: str) -> str:
    """The same URL as the mock shows it."""
    return url.replace("http://", "http://user:***@", 1)


async def esms_send(client: Any, callback_url: str, phone: str = "0901255500") -> str:
    resp = await client.post(ESMS, json={"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET",
                                         "Brandname": "MOCKBRAND", "SmsType": "23", "Content": "Hi",
                                         "Phones": [phone], "CallbackUrl": callback_url})
    body = await resp.json(content_type=None)
    assert body["CodeResult"] == "100", body
    return body["SMSID"]


async def text_of(client: Any, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200
    return await resp.text()


class Events:
    """GET /_mock/events of the given types, read as they come."""

    def __init__(self, client: Any, types: str) -> None:
        self.client, self.types, self.items = client, types, []

    async def __aenter__(self) -> "Events":
        self._resp = await self.client.get("/_mock/events", params={"types": self.types})
        assert (await self._resp.content.readline()).startswith(b": connected")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._resp.close()

    async def read(self, count: int) -> list[str]:
        while len(self.items) < count:
            line = await self._resp.content.readline()
            if line.startswith(b"data: "):
                self.items.append(line[6:].decode())
        return self.items[:count]


# --- the callback attempt log ----------------------------------------------------------------------------------------


async def test_attempt_log_and_its_event_mask_the_url_password_and_the_receiver_gets_it(
        mock_client, callback_receiver, advance, callback_attempts):
    url = with_password(callback_receiver.url) + "/cb"
    async with Events(mock_client, "callback.attempted") as events:
        smsid = await esms_send(mock_client, url)
        await advance(1)
        (hit,) = await callback_receiver.wait_for(1)
        (event,) = await events.read(1)
    assert hit.headers["Authorization"] == BASIC and hit.path == "/cb"
    (attempt,) = await callback_attempts(1)
    assert attempt["url"].startswith(shown(callback_receiver.url) + f"/cb?SMSID={smsid}&")
    assert json.loads(event)["url"] == attempt["url"]
    assert SECRET not in await text_of(mock_client, "/_mock/callbacks") and SECRET not in event
    # The inbox's re-send still sends the real credentials.
    resp = await mock_client.post(f"/_mock/callbacks/{attempt['id']}/replay")
    assert resp.status == 202
    _, again = await callback_receiver.wait_for(2)
    assert again.headers["Authorization"] == BASIC


ONLY_EXAMPLE_COM = testing.test_settings()
ONLY_EXAMPLE_COM = replace(ONLY_EXAMPLE_COM, callbacks=replace(ONLY_EXAMPLE_COM.callbacks, allow_hosts=["example.com"]))


@pytest.mark.parametrize("mock_settings", [ONLY_EXAMPLE_COM])
async def test_a_refused_host_is_named_without_its_password(mock_client, advance, callback_attempts):
    await esms_send(mock_client, f"http://user:{SECRET}@127.0.0.1:9/cb")
    await advance(1)
    (attempt,) = await callback_attempts(1)
    query = attempt["url"].split("?", 1)[1]
    assert attempt["url"] == "http://user:***@127.0.0.1:9/cb?" + query
    assert attempt["error"] == (f"host not allowed: 'http://user:***@127.0.0.1:9/cb?{query}' names no host in "
                                "[callbacks] allow_hosts; gave up after 1 attempt(s)")


async def test_an_unsendable_url_is_quoted_without_its_password(mock_client, advance, callback_attempts):
    # http_client's "no host in <url>" quotes the URL it could not send to: the attempt's error shows it masked.
    await esms_send(mock_client, f"http://user:{SECRET}@/cb")
    await advance(1)
    (attempt,) = await callback_attempts(1)
    query = attempt["url"].split("?", 1)[1]
    assert attempt["url"] == "http://user:***@/cb?" + query
    assert attempt["error"] == f"ValueError: no host in 'http://user:***@/cb?{query}'; gave up after 1 attempt(s)"


@pytest.mark.parametrize("url, masked", [
    ("http://user:s3cret@h:9/cb", "http://user:***@h:9/cb"),
    ("http://user:p@ss@h/cb?a=b@c", "http://user:***@h/cb?a=b@c"),  # the userinfo ends at the authority's last @
    ("http://a@b:pw@h/", "http://a@b:***@h/"),  # the username at the userinfo's first :
    ("http://token@h/cb", "http://token@h/cb"),  # no password
    ("http://user:@h/cb", "http://user:@h/cb"),  # an empty one: nothing to hide
    ("http://h:80/x@y:z", "http://h:80/x@y:z"),  # an @ in the path is no userinfo
    ("CallbackUrl 'ftp://u:pw@h' is not an http(s) URL", "CallbackUrl 'ftp://u:***@h' is not an http(s) URL"),
])
def test_the_password_masked_is_the_one_sent(url, masked):
    from urllib.parse import urlsplit

    from mock_server.core.masking import mask_url

    assert mask_url(url) == masked
    if url.startswith("http"):
        sent, kept = urlsplit(url), urlsplit(masked)
        assert (kept.username, kept.hostname, kept.path) == (sent.username, sent.hostname, sent.path)
        assert kept.password == ("***" if sent.password else sent.password)


# --- messages: the inbox, GET /_mock/messages, message events ------------------------------------------------------


async def test_esms_message_shows_its_callback_url_masked_and_the_callback_carries_it(
        mock_client, callback_receiver, advance):
    url = with_password(callback_receiver.url) + "/cb"
    async with Events(mock_client, "message.created,message.updated") as events:
        await esms_send(mock_client, url)
        await advance(1)
        seen = await events.read(3)  # created, sent, delivered
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["Authorization"] == BASIC
    message = json.loads(await text_of(mock_client, "/_mock/messages/latest"))
    assert message["meta"]["callback_url"] == shown(callback_receiver.url) + "/cb"
    assert message["raw_request"]["CallbackUrl"] == shown(callback_receiver.url) + "/cb"
    assert message["raw_request"]["SecretKey"] == "***"
    assert json.loads(seen[0])["meta"]["callback_url"] == shown(callback_receiver.url) + "/cb"
    for text in (*seen, await text_of(mock_client, "/_mock/messages")):
        assert SECRET not in text


async def test_a_skipped_callback_names_its_url_masked(mock_client, advance):
    await esms_send(mock_client, f"ftp://user:{SECRET}@files.example/cb")
    await advance(1)
    message = json.loads(await text_of(mock_client, "/_mock/messages/latest"))
    assert message["meta"]["callback_skipped"] == "CallbackUrl 'ftp://user:***@files.example/cb' is not an http(s) URL"
    assert message["meta"]["callback_url"] == "ftp://user:***@files.example/cb"


@pytest.mark.parametrize("prefix, password", [
    ("http:/\t/", SECRET), ("http\r\n://", SECRET), ("ht\ntp://", f"{SECRET} x"), ("\x00http://", f"{SECRET} x"),
    ("\x01\x1fhttp://", f'{SECRET}"<x>'),
])
async def test_a_callback_url_that_urlsplit_cleans_up_is_shown_masked(mock_client, callback_receiver, advance,
                                                                     callback_attempts, prefix, password):
    # urlsplit (so the callback client) deletes every tab, CR and LF and strips leading C0 controls before it splits:
    # these URLs go to the receiver with the password as Basic auth. The mask wanted a plain "://" at the value's
    # first non-blank; elsewhere it reads a URL within prose, ended by a space or a quote: the messages, the attempt
    # log and the journal showed the password (or its part after a space or quote) in clear.
    url = callback_receiver.url.replace("http://", f"{prefix}user:{password}@", 1) + "/cb"
    await esms_send(mock_client, url)
    await advance(1)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["Authorization"] == "Basic " + base64.b64encode(f"user:{password}".encode()).decode()
    assert hit.path == "/cb"
    (attempt,) = await callback_attempts(1)
    assert attempt["url"].startswith(prefix + "user:***@")
    message = json.loads(await text_of(mock_client, "/_mock/messages/latest"))
    assert message["meta"]["callback_url"] == prefix + "user:***@" + callback_receiver.url[7:] + "/cb"
    for path in ("/_mock/messages", "/_mock/callbacks", "/_mock/requests"):
        assert SECRET not in await text_of(mock_client, path), path


INFOBIP_AUTH = {"Authorization": "Basic " + base64.b64encode(b"Aladdin:open sesame").decode()}


async def test_infobip_message_shows_its_notify_url_masked_and_the_report_carries_it(
        mock_client, callback_receiver, advance):
    url = with_password(callback_receiver.url) + "/dlr"
    resp = await mock_client.post("/omni/1/advanced", headers=INFOBIP_AUTH, json={
        "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": [{"to": {"phoneNumber": "41793055500"}}],
        "viber": {"text": "Hi"}, "notifyUrl": url})
    assert resp.status == 200, await resp.text()
    await advance(5)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["Authorization"] == BASIC and hit.path == "/dlr"
    message = json.loads(await text_of(mock_client, "/_mock/messages/latest"))
    assert message["meta"]["notify_url"] == shown(callback_receiver.url) + "/dlr"
    assert message["raw_request"]["notifyUrl"] == shown(callback_receiver.url) + "/dlr"
    assert SECRET not in await text_of(mock_client, "/_mock/messages")


# --- the request journal (GET /_mock/requests, request.recorded events), where SecretKey is masked -----------------


async def journal(client: Any) -> list[dict[str, Any]]:
    return (await (await client.get("/_mock/requests")).json())["items"]


async def test_journal_masks_a_callback_url_password_in_a_json_body(mock_client):
    async with Events(mock_client, "request.recorded") as events:
        await esms_send(mock_client, f"http://user:{SECRET}@127.0.0.1:9/cb")
        (event,) = await events.read(1)
    (entry,) = await journal(mock_client)
    body = json.loads(entry["body"])
    assert (body["CallbackUrl"], body["SecretKey"]) == ("http://user:***@127.0.0.1:9/cb", "***")
    assert json.loads(event)["body"] == entry["body"]
    assert SECRET not in await text_of(mock_client, "/_mock/requests")


async def test_journal_masks_a_callback_url_password_in_a_query_and_in_unparsed_json(mock_client):
    resp = await mock_client.get(
        "/MainService.svc/json/SendMultipleMessage_V4_get?SmsType=23&Phone=0961255500&Content=Hi"
        "&ApiKey=ESMS_SANDBOX_KEY&SecretKey=ESMS_SANDBOX_SECRET&Brandname=MOCKBRAND"
        f"&CallbackUrl=http://user:{SECRET}%40127.0.0.1:9/get-cb")
    assert (await resp.json(content_type=None))["CodeResult"] == "100"
    truncated = ('{"ApiKey":"ESMS_SANDBOX_KEY","SecretKey":"ESMS_SANDBOX_SECRET",'
                 f'"CallbackUrl":"http://user:{SECRET}@127.0.0.1:9/cb","Phones":[')
    await mock_client.post(ESMS, data=truncated, headers={"Content-Type": "application/json"})
    bad_json, get = await journal(mock_client)
    assert get["path"] == ("/MainService.svc/json/SendMultipleMessage_V4_get?SmsType=23&Phone=0961255500&Content=Hi"
                           "&ApiKey=ESMS_SANDBOX_KEY&SecretKey=***&Brandname=MOCKBRAND"
                           "&CallbackUrl=http://user:***%40127.0.0.1:9/get-cb")
    assert bad_json["body"] == ('{"ApiKey":"ESMS_SANDBOX_KEY","SecretKey":"***",'
                                '"CallbackUrl":"http://user:***@127.0.0.1:9/cb","Phones":[')


async def test_journal_masks_escaped_secrets_in_a_body_cut_at_64_kb(mock_client, callback_receiver, advance):
    # A body over 64 KB is journaled as text: the masks read it as it stands, so a SecretKey key spelt S\u0065cretKey
    # and a URL whose @ or / are JSON escapes (\u0040, \/) showed their secrets in clear; eSMS reads them all and
    # the callback carries the password.
    url = with_password(callback_receiver.url) + "/cb"
    raw = ('{"ApiKey":"ESMS_SANDBOX_KEY","S\\u0065cretKey":"ESMS_SANDBOX_SECRET","Brandname":"MOCKBRAND",'
           '"SmsType":"23","Phones":["0901255500"],"CallbackUrl":%s,"Content":"%s"}'
           % (json.dumps(url).replace("@", "\\u0040").replace("/", "\\/"), "a" * 70_000))
    resp = await mock_client.post(ESMS, data=raw.encode(), headers={"Content-Type": "application/json"})
    assert (await resp.json(content_type=None))["CodeResult"] == "100"
    await advance(1)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["Authorization"] == BASIC
    (entry,) = await journal(mock_client)
    assert entry["body"].startswith('{"ApiKey":"ESMS_SANDBOX_KEY","S\\u0065cretKey":"***","Brandname":"MOCKBRAND",')
    assert f'"CallbackUrl":"{shown(callback_receiver.url)}/cb"' in entry["body"]
    text = await text_of(mock_client, "/_mock/requests")
    assert SECRET not in text and "ESMS_SANDBOX_SECRET" not in text


# --- NXCLOUD app webhooks: GET /_mock/accounts and the control answers ------------------------------------------------

NX_KEY, NX_SECRET, NX_APP = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"


async def test_nxcloud_webhooks_shown_masked_and_receipts_and_replies_carry_the_password(
        mock_client, callback_receiver, advance, callback_attempts):
    from mock_server.providers.nxcloud.signing import sign_headers

    base = with_password(callback_receiver.url)
    resp = await mock_client.post(f"/_mock/nxcloud/apps/{NX_APP}/webhooks",
                                  json={"dr_webhook": base + "/dr", "message_webhook": base + "/mo"})
    assert resp.status == 200
    app = await resp.json()
    assert (app["dr_webhook"], app["message_webhook"]) == (shown(callback_receiver.url) + "/dr",
                                                           shown(callback_receiver.url) + "/mo")
    accounts = (await (await mock_client.get("/_mock/accounts")).json())["nxcloud"]
    listed = next(a for acc in accounts for a in acc["apps"] if a["appkey"] == NX_APP)
    assert (listed["dr_webhook"], listed["message_webhook"]) == (app["dr_webhook"], app["message_webhook"])
    resp = await mock_client.post(f"/_mock/accounts/nxcloud/{NX_KEY}/balance", json={"add": 1})
    assert SECRET not in await resp.text()

    raw = json.dumps({"appkey": NX_APP, "phone": "79100055500", "functionType": "text",
                      "messageData": {"rateType": "Transactional", "text": "Hi"}}).encode()
    resp = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers(NX_KEY, NX_SECRET, raw))
    assert (await resp.json())["code"] == 0
    await advance(0.2)
    (receipt,) = await callback_receiver.wait_for(1)
    assert receipt.path == "/dr" and receipt.headers["Authorization"] == BASIC
    resp = await mock_client.post("/_mock/nxcloud/replies", json={"appkey": NX_APP, "phone": "79100055500",
                                                                   "text": "hi"})
    assert resp.status == 201
    assert (await resp.json())["webhook"] == shown(callback_receiver.url) + "/mo"
    _, reply = await callback_receiver.wait_for(2)
    assert reply.path == "/mo" and reply.headers["Authorization"] == BASIC
    await callback_attempts(2)
    for path in ("/_mock/accounts", "/_mock/callbacks", "/_mock/messages"):
        assert SECRET not in await text_of(mock_client, path)


# --- validation answers that quote the value ---------------------------------------------------------------------------


async def test_a_refused_notify_url_is_quoted_without_its_password(mock_client):
    # jsonschema's "'<value>' is too long" quotes the whole value: X-Mock-Reason and the journal's reason showed it.
    path = "/" + "x" * 2048
    resp = await mock_client.post("/omni/1/advanced", headers=INFOBIP_AUTH, json={
        "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": [{"to": {"phoneNumber": "41793055500"}}],
        "viber": {"text": "Hi"}, "notifyUrl": f"http://user:{SECRET}@127.0.0.1:9{path}"})
    assert resp.status == 400
    expected = f"notifyUrl: 'http://user:***@127.0.0.1:9{path}' is too long"
    assert resp.headers["X-Mock-Reason"] == expected[:1000]
    (entry,) = await journal(mock_client)
    assert entry["reason"] == expected[:1000]


# --- the durable store ----------------------------------------------------------------------------------------------


async def test_durable_store_keeps_the_request_body_masked_and_the_callback_url_it_sends_to(aiohttp_client, tmp_path):
    import sqlite3

    from mock_server.app import create_app
    from mock_server.core.clock import ManualClock

    db = tmp_path / "mock.db"
    client = await aiohttp_client(create_app(testing.test_settings(store=f"sqlite:{db}"), clock=ManualClock()))
    url = f"http://user:{SECRET}@127.0.0.1:9/cb"
    await esms_send(client, url)  # answered once written (app.root_middleware)
    with sqlite3.connect(db) as conn:
        (record,) = [json.loads(r) for (r,) in conn.execute("SELECT record FROM messages")]
    # SecretKey is masked before the body is kept; the URL's password beside it too. meta keeps the URL the callback
    # goes to (after a restart as well).
    assert (record["raw_request"]["SecretKey"], record["raw_request"]["CallbackUrl"]) == (
        "***", "http://user:***@127.0.0.1:9/cb")
    assert record["meta"]["callback_url"] == url


async def test_infobip_notify_url_with_an_escaped_at_sign_is_shown_masked(mock_client, callback_receiver, advance):
    # JSON may spell the @ of user:pass@host as \u0040: the body's bytes then hold no "@", yet the URL sent to (and
    # shown) has a password. The raw_request view showed it in clear.
    url = with_password(callback_receiver.url) + "/dlr"
    raw = json.dumps({"scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654",
                      "destinations": [{"to": {"phoneNumber": "41793055500"}}],
                      "viber": {"text": "Hi"}, "notifyUrl": url}).replace("@", "\\u0040").encode()
    assert b"@" not in raw
    resp = await mock_client.post("/omni/1/advanced", headers={**INFOBIP_AUTH, "Content-Type": "application/json"},
                                  data=raw)
    assert resp.status == 200, await resp.text()
    await advance(5)
    (hit,) = await callback_receiver.wait_for(1)
    assert hit.headers["Authorization"] == BASIC
    message = json.loads(await text_of(mock_client, "/_mock/messages/latest"))
    assert message["raw_request"]["notifyUrl"] == shown(callback_receiver.url) + "/dlr"
    assert SECRET not in await text_of(mock_client, "/_mock/messages")
