"""A stand-in for *your* service: the code under test in the how-to examples. It talks to eSMS the way a real
integration does (plain HTTP, standard library), with a base URL it takes from its configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class SmsGatewayDown(Exception):
    pass


class OtpSender:
    def __init__(self, base_url: str, *, api_key: str = "ESMS_SANDBOX_KEY", secret_key: str = "ESMS_SANDBOX_SECRET",
                 callback_url: str = "", timeout: float = 5.0, retries: int = 0) -> None:
        self.base_url, self.api_key, self.secret_key = base_url, api_key, secret_key
        self.callback_url, self.timeout, self.retries = callback_url, timeout, retries

    def send_otp(self, phone: str, code: str) -> str:
        """Send a Viber OTP; return eSMS's SMSID. Retries transport failures `retries` times."""
        body = {"ApiKey": self.api_key, "SecretKey": self.secret_key, "Brandname": "MOCKBRAND", "SmsType": "23",
                "Content": f"{code} is your verification code", "Phones": [phone], "CallbackUrl": self.callback_url}
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(f"{self.base_url}/MainService.svc/json/Send_Multiple_Sms_OTT/",
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    answer = json.loads(resp.read())
            except (urllib.error.URLError, TimeoutError) as exc:
                if attempt == self.retries:
                    raise SmsGatewayDown(str(exc)) from exc
                continue
            if answer["CodeResult"] != "100":
                raise ValueError(f"eSMS refused: {answer['CodeResult']} {answer.get('ErrorMessage')}")
            return answer["SMSID"]
        raise AssertionError("unreachable")

    def resend_if_failed(self, callback_params: dict[str, str], phone: str, code: str) -> str | None:
        """Your retry logic: when eSMS reports the Viber message failed, send it once more."""
        if callback_params["SendFailed"] != "0":
            return self.send_otp(phone, code)
        return None
