"""How to make delivery fail and check my retry logic: a one-time rule, the callback, your reaction to it."""

from tests.examples.myservice import OtpSender


def test_my_service_resends_when_viber_delivery_fails(mock_server, callback_listener):
    sender = OtpSender(mock_server.url, callback_url=callback_listener.url + "/esms")
    mock_server.add_rule(phone="0901234567", outcome="undeliverable", times=1)  # only the first send fails

    sender.send_otp("0901234567", "111111")
    mock_server.advance(1)  # accepted -> sent -> undeliverable; eSMS calls back
    (callback,) = callback_listener.wait_for(1)
    assert callback.params["SendFailed"] == "1"

    resent = sender.resend_if_failed(callback.params, "0901234567", "111111")
    assert resent is not None
    mock_server.advance(1)
    assert callback_listener.wait_for(2)[1].params["SendSuccess"] == "1"
    assert [m["status"] for m in mock_server.messages(phone="84901234567")] == ["delivered", "undeliverable"]
