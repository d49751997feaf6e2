"""The pytest plugin's sync flavour: a threaded server per session, its client helpers, the threaded listener."""

from __future__ import annotations

import asyncio
import time

import pytest

from mock_server.testing import CallbackReceiver, MockServerClient, MockServerError, ThreadedMockServer
from mock_server.testing import test_settings as settings_for  # (named so pytest does not collect it)

SEND = "/MainService.svc/json/Send_Multiple_Sms_OTT/"
BODY = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND", "SmsType": "23",
        "Content": "Hi", "Phones": ["0901255500"]}


def test_server_is_reset_between_tests_part_1(mock_server: MockServerClient):
    assert mock_server.call("POST", SEND, BODY)["CodeResult"] == "100"
    assert len(mock_server.messages()) == 1
    mock_server.add_rule(phone="0901255500", outcome="blocked")


def test_server_is_reset_between_tests_part_2(mock_server: MockServerClient):
    assert mock_server.messages() == []
    assert mock_server.call("POST", SEND, BODY)["CodeResult"] == "100"  # the rule of part 1 is gone


def test_wait_for_message_and_callback(mock_server: MockServerClient, callback_listener):
    mock_server.call("POST", SEND, {**BODY, "CallbackUrl": callback_listener.url + "/cb"})
    message = mock_server.wait_for_message(phone="84901255500", status="accepted")
    mock_server.advance(1)
    delivered = mock_server.wait_for_message(phone="0901255500", status="delivered")
    assert delivered["id"] == message["id"]
    (hit,) = callback_listener.wait_for(1)
    assert hit.path == "/cb" and hit.params["SendSuccess"] == "1"
    attempt = mock_server.wait_for_callback(message_id=message["id"], delivered=True)
    assert attempt["status"] == 200
    assert [a["attempt"] for a in mock_server.callbacks_for(message["id"])] == [1]


def test_wait_times_out_with_a_clear_message(mock_server: MockServerClient):
    with pytest.raises(AssertionError, match=r"timed out after 0.3 s waiting for a message \(phone=0900000000"):
        mock_server.wait_for_message(phone="0900000000", timeout=0.3)


def test_wait_gives_up_at_its_timeout_though_other_events_came_late(mock_server: MockServerClient):
    # A non-matching event just before the deadline started a read that waited the whole timeout again: timeout=1.5
    # gave up after about 2.5 s.
    import threading

    late = threading.Timer(1.0, lambda: mock_server.call("POST", SEND, BODY))
    late.start()
    started = time.monotonic()
    try:
        with pytest.raises(AssertionError, match="timed out after 1.5 s"):
            mock_server.wait_for_message(phone="0900000000", timeout=1.5)
    finally:
        late.join()
    assert time.monotonic() - started < 2.1


def test_listener_retries_and_faults(mock_server: MockServerClient, callback_listener):
    callback_listener.respond_with(503)
    mock_server.add_fault(action="http_error", status=500, times=1)
    with pytest.raises(MockServerError, match="answered 500"):
        mock_server.call("POST", SEND, BODY)
    mock_server.call("POST", SEND, {**BODY, "CallbackUrl": callback_listener.url})
    mock_server.advance(1)
    callback_listener.wait_for(1)
    msg = mock_server.message("latest")
    mock_server.wait_for_callback(message_id=msg["id"], delivered=False)
    mock_server.advance(0.5)
    assert [r.params["SMSID"] for r in callback_listener.wait_for(2)] == [msg["provider_id"]] * 2
    assert mock_server.wait_for_callback(message_id=msg["id"], delivered=True)["attempt"] == 2
    assert [r["status"] for r in mock_server.requests(path="Send_Multiple")] == [200, 500]


def test_control_errors_are_raised_with_the_server_message(mock_server: MockServerClient):
    with pytest.raises(MockServerError, match="outcome"):
        mock_server.add_rule(phone="1", outcome="vanish")


def test_the_settings_helper_takes_another_seed_and_clock():
    # The helper behind mock_settings, for a user overriding that fixture: a seed or a clock of one's own was
    # "replace() got multiple values for keyword argument 'seed'".
    settings = settings_for(seed=7, clock="real", max_body_bytes=4096)
    assert (settings.seed, settings.clock, settings.max_body_bytes) == (7, "real", 4096)
    assert (settings_for().seed, settings_for().clock) == (1234, "manual")
    server = ThreadedMockServer(settings).start()
    try:
        assert MockServerClient(server.url).call("GET", "/_mock/health")["clock"]["mode"] == "real"
    finally:
        server.stop()


async def test_a_hanging_callback_receiver_closes_at_once(mock_client, advance):
    # README: callback_receiver's .respond_with(503, "hang", ...). A hanging answer was never cancelled (aiohttp leaves
    # a handler running when its client goes), so the fixture's teardown waited aiohttp's 60 s shutdown timeout.
    receiver = await CallbackReceiver().start()
    receiver.respond_with("hang")
    resp = await mock_client.post(SEND, json={**BODY, "CallbackUrl": receiver.url + "/cb"})
    assert (await resp.json())["CodeResult"] == "100"
    await advance(1)
    (hit,) = await receiver.wait_for(1)
    assert hit.path == "/cb"
    started = time.monotonic()
    await asyncio.wait_for(receiver.close(), 5)
    assert time.monotonic() - started < 2
