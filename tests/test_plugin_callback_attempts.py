"""The plugin's callback_attempts against a receiver that never answers (README "For test suites")."""

from __future__ import annotations

import dataclasses

import pytest

from mock_server.testing import test_settings as settings_for  # (named so pytest does not collect it)

SEND = "/MainService.svc/json/Send_Multiple_Sms_OTT/"


@pytest.fixture
def mock_settings():
    settings = settings_for()
    return dataclasses.replace(settings, callbacks=dataclasses.replace(settings.callbacks, timeout=5.5))


async def test_callback_attempts_waits_for_a_try_that_ends_in_the_callback_timeout(
        mock_client, callback_receiver, advance, callback_attempts):
    # README: respond_with(503, "hang", ...); `await callback_attempts(n)` answers once n attempts are recorded. It gave
    # up at the event bus's own 5 s (a bare TimeoutError): a hanging try is recorded only at [callbacks] timeout.
    callback_receiver.respond_with("hang")
    resp = await mock_client.post(SEND, json={
        "ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND", "SmsType": "23",
        "Content": "Hi", "Phones": ["0901255500"], "CallbackUrl": callback_receiver.url})
    assert (await resp.json())["CodeResult"] == "100"
    await advance(1)
    (attempt,) = await callback_attempts(1)
    assert (attempt["error"], attempt["delivered"], attempt["final"]) == ("timeout after 5.5 s", False, False)
