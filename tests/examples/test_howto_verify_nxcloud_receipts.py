"""How to check that my service verifies NXCLOUD receipts: signed receipts from the mock, and a forged one."""

import json
import urllib.request

from mock_server.providers.nxcloud.signing import sign_headers, verify_sign

ACCESS_KEY, ACCESS_SECRET, APPKEY = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"


def my_receipt_handler(headers, body: bytes) -> str:
    """Your service's dr_webhook: accept only receipts signed with your access secret."""
    if not verify_sign(headers, body, ACCESS_SECRET):
        return "rejected"
    return json.loads(body)["status"]


def test_my_service_accepts_signed_receipts_and_rejects_forged_ones(mock_server, callback_listener):
    mock_server.call("POST", f"/_mock/nxcloud/apps/{APPKEY}/webhooks",
                     {"dr_webhook": callback_listener.url + "/nxcloud-dr", "sign_callbacks": True})
    body = json.dumps({"appkey": APPKEY, "phone": "84901255500", "functionType": "text",
                       "messageData": {"rateType": "Transactional", "text": "Hello"}}).encode()
    req = urllib.request.Request(mock_server.url + "/api/viber/mt", data=body,
                                 headers=sign_headers(ACCESS_KEY, ACCESS_SECRET, body))
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["code"] == 0

    mock_server.advance(1)  # sent (receipt "success"), then delivered (receipt "delivered")
    receipts = callback_listener.wait_for(2)  # both are sent at once, so they may arrive in either order
    assert sorted(my_receipt_handler(r.headers, r.body) for r in receipts) == ["delivered", "success"]
    (delivered,) = [r for r in receipts if r.json()["status"] == "delivered"]

    forged = delivered.body.replace(b"delivered", b"seen")
    assert my_receipt_handler(delivered.headers, forged) == "rejected"
