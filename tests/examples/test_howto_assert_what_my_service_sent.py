"""How to assert what my service sent: run your code against the mock, then look at what the mock received."""

from tests.examples.myservice import OtpSender


def test_my_service_sends_the_otp_as_a_viber_text(mock_server):
    OtpSender(mock_server.url).send_otp("0901234567", "482913")

    message = mock_server.wait_for_message(phone="0901234567")
    assert message["provider"] == "esms" and message["channel"] == "viber"
    assert message["content"] == {"text": "482913 is your verification code"}
    (request,) = mock_server.requests(path="Send_Multiple_Sms_OTT")
    assert request["status"] == 200 and '"Brandname": "MOCKBRAND"' in request["body"]
