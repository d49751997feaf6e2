"""Property-based and schema-driven fuzzing (issue 7): hypothesis sends arbitrary JSON bodies, bytes and header sets
to every provider endpoint, and schemathesis walks the server's own OpenAPI document; nothing answers 5xx, and every
answer is in the provider's envelope.

Bounded and reproducible: a fixed number of examples per test, derandomized, no deadline (CI machines are slow).
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from mock_server.providers.nxcloud.signing import sign_headers

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ES = "/MainService.svc/json/"
NX_KEY, NX_SECRET = "fme2na3kdi3ki", "abciiiko2k3"
AUTH = {"Authorization": "App INFOBIP_SANDBOX_API_KEY"}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                                  max_size=4),
                           max_leaves=12)

ESMS_SEND = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
             "SmsType": "23", "Content": "Hi", "Phones": ["0901234567"]}
INFOBIP_SEND = {"destinations": [{"to": {"phoneNumber": "41793012345"}}], "viber": {"text": "Hi"},
                "sms": {"text": "Hi"}}
NXCLOUD_SEND = {"appkey": "TexxxP6", "phone": "79101234567", "functionType": "text",
                "messageData": {"rateType": "Transactional", "text": "Hi"}}

# (method, path, a valid body whose fields the fuzzer overwrites, the headers it needs)
BODY_ENDPOINTS = {
    "esms Send_Multiple_Sms_OTT": ("POST", ES + "Send_Multiple_Sms_OTT/", ESMS_SEND, {}),
    "esms SendMultipleMessage_V4_post_json": ("POST", ES + "SendMultipleMessage_V4_post_json/", ESMS_SEND, {}),
    "esms GetBalance_json": ("POST", ES + "GetBalance_json", {"ApiKey": "ESMS_SANDBOX_KEY",
                                                                 "SecretKey": "ESMS_SANDBOX_SECRET"}, {}),
    "infobip advanced": ("POST", "/omni/1/advanced", INFOBIP_SEND, AUTH),
    "infobip text": ("POST", "/omni/1/text", {"destinations": INFOBIP_SEND["destinations"], "text": "Hi"}, AUTH),
    "infobip scenarios": ("POST", "/omni/1/scenarios", {"name": "s", "flow": [{"channel": "VIBER", "from": "x"}]},
                          AUTH),
    "nxcloud mt": ("POST", "/api/viber/mt", NXCLOUD_SEND, {}),
}


def request(base_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any, Any]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()


def assert_envelope(name: str, status: int, raw: bytes, headers: Any) -> None:
    """The provider's own envelope, never a 5xx (but Infobip's documented 500 for a provider_error outcome)."""
    body = json.loads(raw)
    reason = headers.get("X-Mock-Reason") or ""
    if name.startswith("esms"):
        assert status in (200, 400, 404, 405, 413), (status, body, reason)
        # GetBalance's own answers carry CodeResponse; framework-level failures (HTTP 4xx) CodeResult (product.md §9).
        key = "CodeResponse" if "Balance" in name and status == 200 else "CodeResult"
        assert isinstance(body[key], str), body
        if body[key] == "100":
            assert "SMSID" in body or "Balance" in body, body
        else:
            assert isinstance(body["ErrorMessage"], str) and reason, (body, reason)
    elif name.startswith("infobip"):
        if status in (200, 201):
            assert {"messages", "key", "results", "scenarios"} & set(body), body  # send, scenario, reports/logs
        else:
            exception = body["requestError"]["serviceException"]
            assert set(exception) <= {"messageId", "text", "validationErrors"} and reason, body
            assert status < 500 or "provider_error" in reason, (status, body, reason)
    else:
        assert status == 200 and isinstance(body["code"], int) and isinstance(body["message"], str), body
        assert body["code"] == 0 or (set(body) == {"code", "message"} and reason), (body, reason)


def header_sets() -> st.SearchStrategy[dict[str, str]]:
    """Header names the providers read plus arbitrary ones; values any printable Latin-1 text (no CR/LF/NUL, which
    the HTTP parser refuses before any route: test_hostile_input covers those)."""
    names = st.sampled_from(["Content-Type", "Authorization", "accessKey", "ts", "bizType", "action", "sign",
                             "algorithm", "Accept", "X-Forwarded-For", "Transfer-Encoding-X"]) | st.from_regex(
        r"\AX-[A-Za-z0-9-]{1,12}\Z")
    values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
    return st.dictionaries(names, values, max_size=6)


@pytest.mark.parametrize("name", list(BODY_ENDPOINTS))
def test_fuzzed_json_fields_never_5xx(mock_server, name):
    method, path, valid, needed = BODY_ENDPOINTS[name]

    @FUZZ
    @given(changes=st.dictionaries(st.sampled_from(sorted(valid)) | st.text(max_size=8), json_values, max_size=4))
    def run(changes: dict[str, Any]) -> None:
        raw = json.dumps({**valid, **changes}).encode()
        headers = sign_headers(NX_KEY, NX_SECRET, raw) if name.startswith("nxcloud") else {
            "Content-Type": "application/json", **needed}
        assert_envelope(name, *request(mock_server.url, method, path, raw, headers))

    run()
    assert mock_server.call("GET", "/_mock/health")["status"] == "ok"


@pytest.mark.parametrize("name", list(BODY_ENDPOINTS))
def test_fuzzed_bytes_and_headers_never_5xx(mock_server, name):
    method, path, _, needed = BODY_ENDPOINTS[name]

    @FUZZ
    @given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()), headers=header_sets())
    def run(raw: bytes, headers: dict[str, str]) -> None:
        if name.startswith("nxcloud") and "sign" not in headers:
            headers = {**sign_headers(NX_KEY, NX_SECRET, raw), **headers}  # signed, unless the fuzzer signs itself
        headers = {**needed, **headers} if "Authorization" not in headers else headers
        assert_envelope(name, *request(mock_server.url, method, path, raw, headers))

    run()
    assert mock_server.call("GET", "/_mock/health")["status"] == "ok"


QUERY_ENDPOINTS = {
    "esms GetSendStatus": ES + "GetSendStatus",
    "esms GetSmsReceiverStatus_get": ES + "GetSmsReceiverStatus_get",
    "esms SendMultipleMessage_V4_get": ES + "SendMultipleMessage_V4_get",
    "infobip reports": "/omni/1/reports",
    "infobip logs": "/omni/1/logs",
    "infobip scenarios list": "/omni/1/scenarios",
}
QUERY_NAMES = ["RefId", "ApiKey", "SecretKey", "Phone", "SmsType", "Brandname", "Content", "SendDate", "Sandbox",
               "limit", "page", "bulkId", "messageId", "channel", "sentSince", "sentUntil", "generalStatus", "mcc",
               "isDefault", "from", "to"]


@pytest.mark.parametrize("name", list(QUERY_ENDPOINTS))
def test_fuzzed_query_strings_never_5xx(mock_server, name):
    from urllib.parse import urlencode

    @FUZZ
    @given(params=st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=6), st.text(max_size=30)),
                           max_size=6))
    def run(params: list[tuple[str, str]]) -> None:
        if name.startswith("esms"):
            params = [("ApiKey", "ESMS_SANDBOX_KEY"), ("SecretKey", "ESMS_SANDBOX_SECRET"), *params]
        status, raw, headers = request(mock_server.url, "GET", QUERY_ENDPOINTS[name] + "?" + urlencode(params), None,
                                       AUTH)
        if name.startswith("esms"):
            body = json.loads(raw)
            assert status == 200 and {"CodeResult", "CodeResponse"} & set(body), (status, body)
        else:
            assert_envelope(name, status, raw, headers)

    run()


# --- schemathesis against GET /_mock/openapi.json ------------------------------------------------------------------

# Streams forever (SSE); resets wipe what other operations set up (harmless, but pointless to fuzz).
SKIPPED = {("GET", "/_mock/events")}


def test_schemathesis_openapi_operations_never_answer_5xx(mock_server):
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(mock_server.url + "/_mock/openapi.json")
    tested, failures = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        try:
            strategy = operation.as_strategy()
        except Exception as exc:  # a schema construct schemathesis cannot generate from (NXCLOUD's if/then chain)
            failures.append(("unsupported", operation.method, operation.path, type(exc).__name__))
            continue

        @settings(max_examples=8, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            headers = AUTH if case.path.startswith("/omni") else {}
            response = case.call(base_url=mock_server.url, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
            tested.append((operation.method, operation.path))
        except Exception as exc:
            if type(exc).__name__ == "UnsupportedSchema":
                failures.append(("unsupported", operation.method, operation.path, type(exc).__name__))
            else:
                raise
    assert len(tested) >= 40, tested
    # Only generation gaps are tolerated, and only where this suite fuzzes the operation itself (above).
    assert {path for kind, _, path, _ in failures} <= {"/api/viber/mt"}, failures
