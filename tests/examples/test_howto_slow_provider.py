"""How to simulate a slow or failing provider: faults for the next N requests, then back to normal."""

import pytest

from tests.examples.myservice import OtpSender, SmsGatewayDown


def test_my_client_times_out_on_a_slow_provider_and_retries(mock_server):
    mock_server.add_fault(action="latency", latency_ms=3000, provider="esms", times=1)
    sender = OtpSender(mock_server.url, timeout=1.0, retries=1)

    assert sender.send_otp("0901234567", "222222")  # the first try times out, the retry succeeds
    assert [m["status"] for m in mock_server.messages(phone="0901234567")] == ["accepted"]
    # The slow first try ends when its delay is over; by then the client had hung up, so it stored nothing. Wait for
    # it to be journaled, so that it does not land in the next test.
    first = mock_server.wait_for_request(path="Send_Multiple", where=lambda e: e["fault"] is not None, timeout=10)
    assert (first["status"], first["body"]) == (0, "(no answer: ConnectionResetError)")


def test_my_client_gives_up_when_the_provider_is_down(mock_server):
    mock_server.add_fault(action="http_error", status=503, provider="esms")
    with pytest.raises(SmsGatewayDown):
        OtpSender(mock_server.url, retries=2).send_otp("0901234567", "333333")
    assert [r["status"] for r in mock_server.requests()] == [503, 503, 503]
