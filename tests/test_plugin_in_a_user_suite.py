"""The plugin as a user's suite meets it: a fresh pytest run in its own folder (none of this repository's settings,
pytest-asyncio in its default strict mode), with the README's async example and a sync one."""

from __future__ import annotations

pytest_plugins = ["pytester"]

USER_TESTS = '''
import json

import pytest
from mock_server.providers.nxcloud.signing import sign_headers


@pytest.mark.asyncio
async def test_receipt(mock_client, callback_receiver, advance):  # the README's NXCLOUD example, marked
    await mock_client.post("/_mock/nxcloud/apps/TexxxP6/webhooks", json={"dr_webhook": callback_receiver.url})
    body = json.dumps({"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
                       "messageData": {"rateType": "Transactional", "text": "Hi"}}).encode()
    await mock_client.post("/api/viber/mt", data=body, headers=sign_headers("fme2na3kdi3ki", "abciiiko2k3", body))
    await advance(1)
    hits = await callback_receiver.wait_for(2)
    assert sorted(h.json()["code"] for h in hits) == [0, 11001]


@pytest.mark.asyncio
async def test_attempts(mock_client, callback_receiver, advance, callback_attempts):
    await mock_client.post("/MainService.svc/json/Send_Multiple_Sms_OTT/", json={
        "ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND", "SmsType": "23",
        "Content": "Hi", "Phones": ["0901255500"], "CallbackUrl": callback_receiver.url})
    await advance(1)
    (attempt,) = await callback_attempts(1)
    assert attempt["delivered"]


def test_sync(mock_server):
    assert mock_server.advance(1).endswith("Z")
'''


def test_the_fixtures_work_in_a_user_suite_in_pytest_asyncio_strict_mode(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict", "-W", "error")
    result.assert_outcomes(passed=3)


SETTINGS_TESTS = '''
import pytest
from mock_server.testing import test_settings


@pytest.fixture
def mock_settings():
    return test_settings(seed=99)


@pytest.mark.asyncio
async def test_seeded(mock_client, mock_settings):
    assert mock_settings.seed == 99
    assert (await (await mock_client.get("/_mock/health")).json())["status"] == "ok"
'''


def test_the_settings_helper_imported_by_its_own_name_is_not_collected_as_a_test(pytester):
    # README: mock_server.testing.test_settings(**changes) for an overriding settings fixture. Imported as is, pytest
    # collected it too: a second, phantom test that returned a value (an error under -W error).
    pytester.makepyfile(test_user=SETTINGS_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict", "-W", "error")
    result.assert_outcomes(passed=1)


SESSION_SETTINGS_CONFTEST = '''
import pytest
from mock_server.testing import test_settings


@pytest.fixture(scope="session")  # README: mock_server_settings is session-scoped
def mock_server_settings():
    return test_settings(clock="real", seed=7)
'''

SESSION_SETTINGS_TESTS = '''
def test_real_clock(mock_server):
    assert mock_server.call("GET", "/_mock/health")["clock"]["mode"] == "real"
'''


def test_the_threaded_servers_settings_are_overridden_as_the_readme_says(pytester):
    # README said "override the settings fixtures" without the scope: a plain @pytest.fixture override of
    # mock_server_settings is a ScopeMismatch, the threaded server being one per session.
    pytester.makeconftest(SESSION_SETTINGS_CONFTEST)
    pytester.makepyfile(test_user=SESSION_SETTINGS_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)
