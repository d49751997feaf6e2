"""How to make Viber fail over to SMS (Infobip OMNI): a VIBER -> SMS scenario and a number not on Viber."""

import base64

AUTH = {"Authorization": "Basic " + base64.b64encode(b"Aladdin:open sesame").decode()}


def test_my_service_sees_the_sms_fallback_in_the_report(mock_server, callback_listener):
    # Your service sends one OMNI message with data for both channels, on the scenario the sandbox account ships.
    answer = _post(mock_server, "/omni/1/advanced", {
        "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654",  # VIBER ViberSender -> SMS InfoSMS (the seed page's)
        "destinations": [{"to": {"phoneNumber": "41793055501"}}],  # ...55501: not reachable on Viber
        "viber": {"text": "Your code is 1234"}, "sms": {"text": "Your code is 1234"},
        "notifyUrl": callback_listener.url + "/infobip-dlr"})
    message_id = answer["messages"][0]["messageId"]

    mock_server.advance(2)  # Viber: sent -> undeliverable; then the SMS step: sent -> delivered

    (push,) = callback_listener.wait_for(1)
    report = push.json()["results"][0]
    assert (report["messageId"], report["channel"], report["status"]["groupName"]) == (message_id, "SMS", "DELIVERED")
    message = mock_server.wait_for_message(phone="41793055501", status="delivered")
    assert [(h["status"], h.get("channel")) for h in message["history"]][-2:] == [("sent", "sms"), ("delivered", "sms")]


def _post(mock_server, path, body):
    import json
    import urllib.request

    req = urllib.request.Request(mock_server.url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **AUTH})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
