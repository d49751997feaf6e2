"""Hostile input against every provider endpoint and the control API (product.md §8, issue 7): malformed, truncated,
deep, huge and mistyped bodies, wrong content types, invalid UTF-8, header injection and path traversal.

Each request gets its provider's documented error envelope (or 400/404/413 on the control API) with the exact status
and code, an X-Mock-Reason header, never a 500; afterwards the server still serves and what it had stored is intact.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from mock_server.providers.nxcloud.signing import sign_headers
from mock_server.resources import schemas_dir
from tests.rawhttp import raw_request

ES = "/MainService.svc/json/"
IB_AUTH = {"Authorization": "App INFOBIP_SANDBOX_API_KEY"}
NX_KEY, NX_SECRET = "fme2na3kdi3ki", "abciiiko2k3"
SCENARIO = "CC9F01A5DC7BEE2C2B829D203482A654"

ESMS_BAD = {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Request Error"}
ESMS_TOO_LARGE = {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Request Entity Too Large"}
IB_BAD = {"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": "Bad request"}}}
IB_TOO_LARGE = {"requestError": {"serviceException": {"messageId": "REQUEST_ENTITY_TOO_LARGE",
                                                      "text": "Request entity too large"}}}
IB_NOT_FOUND = {"requestError": {"serviceException": {"messageId": "NOT_FOUND", "text": "Not found"}}}
NX_9000 = {"code": 9000, "message": "Request parameter error"}
NX_1003 = {"code": 1003, "message": "Invalid signature"}
NX_9002 = {"code": 9002, "message": "Phone number error"}
CONTROL = object()  # expected body marker: {"error": "<a non-empty reason>"}


def esms_send(**fields: Any) -> dict[str, Any]:
    body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND", "SmsType": "23",
            "Content": "Hello", "Phones": ["0901255500"]}
    return {**body, **fields}


def infobip_send(**fields: Any) -> dict[str, Any]:
    body = {"scenarioKey": SCENARIO, "destinations": [{"to": {"phoneNumber": "41793055500"}}],
            "viber": {"text": "Hello"}, "sms": {"text": "Hello"}}
    return {**body, **fields}


def nxcloud_send(**fields: Any) -> dict[str, Any]:
    body = {"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
            "messageData": {"rateType": "Transactional", "text": "Hello"}}
    return {**body, **fields}


@dataclass
class Endpoint:
    """One endpoint that reads a JSON body, what a valid body looks like, and how it answers a bad one."""

    name: str
    method: str
    path: str  # may name {esms_id}: a stored message's id
    valid: dict[str, Any]
    schema: str  # schemas/<schema>.json validates the body
    bad: tuple[int, Any]  # (HTTP status, body) for a body that is not a valid JSON object
    too_large: tuple[int, Any]
    headers: dict[str, str] = field(default_factory=dict)
    signed: bool = False  # NXCLOUD: sign each body so the body check is reached
    wrong_type: Callable[[str], tuple[int, Any]] | None = None  # field path -> answer for a wrong JSON type there

    def __str__(self) -> str:
        return self.name


def nx_wrong_type(path: str) -> tuple[int, Any]:
    # A phone present but not country code + digits is 9002; any other wrong type 9000 (nxcloud.md "Codes").
    return (200, NX_9002) if path == "phone" else (200, NX_9000)


ENDPOINTS = [
    Endpoint("esms Send_Multiple_Sms_OTT", "POST", ES + "Send_Multiple_Sms_OTT/", esms_send(),
             "esms/send_multiple_sms_ott.request", (400, ESMS_BAD), (413, ESMS_TOO_LARGE)),
    Endpoint("esms SendMultipleMessage_V4_post_json", "POST", ES + "SendMultipleMessage_V4_post_json/", esms_send(),
             "esms/send_multiple_message_v4_post_json.request", (400, ESMS_BAD), (413, ESMS_TOO_LARGE)),
    Endpoint("esms GetBalance_json", "POST", ES + "GetBalance_json",
             {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET"},
             # Framework-level failures answer WCF's envelope, CodeResult "99", on every operation (product.md §9).
             "esms/get_balance_json.request", (400, ESMS_BAD), (413, ESMS_TOO_LARGE)),
    Endpoint("infobip advanced", "POST", "/omni/1/advanced", infobip_send(), "infobip/advanced.request",
             (400, IB_BAD), (413, IB_TOO_LARGE), headers=IB_AUTH),
    Endpoint("infobip text", "POST", "/omni/1/text",
             {"scenarioKey": SCENARIO, "destinations": [{"to": {"phoneNumber": "41793055500"}}], "text": "Hi"},
             "infobip/text.request", (400, IB_BAD), (413, IB_TOO_LARGE), headers=IB_AUTH),
    Endpoint("infobip create scenario", "POST", "/omni/1/scenarios",
             {"name": "s", "flow": [{"from": "ViberSender", "channel": "VIBER"}], "default": False},
             "infobip/scenario.request", (400, IB_BAD), (413, IB_TOO_LARGE), headers=IB_AUTH),
    Endpoint("infobip update scenario", "PUT", f"/omni/1/scenarios/{SCENARIO}",
             {"name": "s", "flow": [{"from": "ViberSender", "channel": "VIBER"}], "default": True},
             "infobip/scenario.request", (400, IB_BAD), (413, IB_TOO_LARGE), headers=IB_AUTH),
    Endpoint("nxcloud mt", "POST", "/api/viber/mt", nxcloud_send(), "nxcloud/mt.request", (200, NX_9000),
             (200, NX_9000), signed=True, wrong_type=nx_wrong_type),
    Endpoint("control rules", "POST", "/_mock/rules", {"phone": "0901234567", "outcome": "delivered", "times": 1},
             "control/rule.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control faults", "POST", "/_mock/faults",
             {"action": "latency", "latency_ms": 1, "provider": "esms", "endpoint": "nothing-matches", "times": 1},
             "control/fault.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control clock advance", "POST", "/_mock/clock/advance", {"seconds": 0}, "control/clock_advance.request",
             (400, CONTROL), (413, CONTROL)),
    Endpoint("control force status", "POST", "/_mock/messages/{esms_id}/status", {"status": "delivered"},
             "control/message_status.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control esms balance", "POST", "/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", {"add": 0},
             "control/esms_balance.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control esms brandnames", "POST", "/_mock/accounts/esms/ESMS_SANDBOX_KEY/brandnames",
             {"brandname": "MOCKBRAND"}, "control/esms_brandname.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control nxcloud balance", "POST", f"/_mock/accounts/nxcloud/{NX_KEY}/balance", {"add": 0},
             "nxcloud/control_balance.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control nxcloud webhooks", "POST", "/_mock/nxcloud/apps/TexxxP6/webhooks", {"dr_webhook": ""},
             "nxcloud/control_webhooks.request", (400, CONTROL), (413, CONTROL)),
    Endpoint("control nxcloud replies", "POST", "/_mock/nxcloud/replies",
             {"appkey": "TexxxP6", "phone": "79100055500", "text": "hi"}, "nxcloud/control_reply.request",
             (400, CONTROL), (413, CONTROL)),
]

DEEP = 10_000
HOSTILE_BODIES: dict[str, bytes] = {
    "malformed": b'{"ApiKey": ',
    "truncated": json.dumps(esms_send()).encode()[:57],
    "trailing garbage": b'{"a": 1} {"b": 2}',
    "single quotes": b"{'a': 1}",
    "invalid UTF-8": b'{"a": "\xff\xfe"}',
    "overlong UTF-8": b'{"a": "\xc0\xaf"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "lone surrogate escape": b'{"a": "\\ud800"}',
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "number overflowing to infinity": b'{"a": 1e999}',
    "integer of 5000 digits": b'{"a": ' + b"9" * 5000 + b"}",
    "array nested 10 000 deep": b"[" * DEEP + b"]" * DEEP,
    "object nested 10 000 deep": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "array": b"[]",
    "string": b'"x"',
    "null": b"null",
    "number": b"42",
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "NUL bytes": b"\x00" * 64,
}


# --- helpers ---------------------------------------------------------------------------------------------------------


def path_of(endpoint: Endpoint, seeded: dict[str, str]) -> str:
    return endpoint.path.format(esms_id=seeded["esms"])


def headers_for(endpoint: Endpoint, raw: bytes, content_type: str | None = "application/json") -> dict[str, str]:
    if endpoint.signed:
        return sign_headers(NX_KEY, NX_SECRET, raw, content_type=content_type)
    return {**endpoint.headers, **({"Content-Type": content_type} if content_type else {})}


async def call(client: Any, endpoint: Endpoint, seeded: dict[str, str], raw: bytes | io.BytesIO,
               headers: dict[str, str]) -> tuple[int, Any, Any]:
    resp = await client.request(endpoint.method, path_of(endpoint, seeded), data=raw, headers=headers,
                                skip_auto_headers=["Content-Type"])
    text = await resp.text()
    return resp.status, text, resp.headers


def assert_answer(label: str, got: tuple[int, str, Any], expected: tuple[int, Any]) -> None:
    status, text, headers = got
    want_status, want_body = expected
    assert status == want_status, f"{label}: HTTP {status}, expected {want_status}: {text[:300]}"
    body = json.loads(text)
    if want_body is CONTROL:
        assert list(body) == ["error"] and body["error"], f"{label}: {text[:300]}"
    else:
        assert body == want_body, f"{label}: {text[:300]}"
    assert headers.get("X-Mock-Reason"), f"{label}: no X-Mock-Reason"
    assert headers["Content-Type"].startswith("application/json"), f"{label}: {headers['Content-Type']}"


@pytest.fixture
async def seeded(mock_client: Any) -> dict[str, str]:
    """One accepted message per provider, stored before the hostile requests; `assert_intact` checks them after."""
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", json=esms_send())
    assert (await resp.json())["CodeResult"] == "100"
    resp = await mock_client.post("/omni/1/advanced", json=infobip_send(), headers=IB_AUTH)
    assert resp.status == 200
    raw = json.dumps(nxcloud_send()).encode()
    resp = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers(NX_KEY, NX_SECRET, raw))
    assert (await resp.json())["code"] == 0
    items = (await (await mock_client.get("/_mock/messages")).json())["items"]
    return {m["provider"]: m["id"] for m in items}


async def assert_intact(client: Any, seeded: dict[str, str], *, extra: int = 0) -> None:
    """The server still answers, and the messages stored before are all there, unchanged (still accepted)."""
    health = await client.get("/_mock/health")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    listed = await (await client.get("/_mock/messages", params={"limit": 10_000})).json()
    by_id = {m["id"]: m for m in listed["items"]}
    assert listed["total"] == 3 + extra
    for provider, message_id in seeded.items():
        assert by_id[message_id]["provider"] == provider and by_id[message_id]["status"] == "accepted"
    journal = await client.get("/_mock/requests", params={"limit": 10_000})
    assert journal.status == 200, await journal.text()
    json.loads(await journal.text())  # valid JSON, whatever bytes were journaled
    for path in ("/_mock/rules", "/_mock/faults", "/_mock/accounts", "/_mock/callbacks", "/_mock/nxcloud/sessions"):
        resp = await client.get(path)
        assert resp.status == 200, f"{path}: {await resp.text()}"
        json.loads(await resp.text())


# --- bodies that are not a JSON object ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_hostile_bodies_get_the_documented_error(mock_client, seeded, endpoint):
    for name, raw in HOSTILE_BODIES.items():
        got = await call(mock_client, endpoint, seeded, raw, headers_for(endpoint, raw))
        assert_answer(f"{endpoint} / {name}", got, endpoint.bad)
    await assert_intact(mock_client, seeded)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_ten_megabyte_body_is_refused(mock_client, seeded, endpoint):
    big = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    got = await call(mock_client, endpoint, seeded, io.BytesIO(big), headers_for(endpoint, big))
    assert_answer(f"{endpoint} / 10 MB", got, endpoint.too_large)
    assert "max_body_bytes" in got[2]["X-Mock-Reason"]
    await assert_intact(mock_client, seeded)


# --- content types ---------------------------------------------------------------------------------------------------

WRONG_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.path.startswith("/_mock")], ids=str)
@pytest.mark.parametrize("content_type", [*WRONG_TYPES, None], ids=lambda c: c or "no Content-Type")
async def test_provider_refuses_non_json_content_type(mock_client, seeded, endpoint, content_type):
    raw = json.dumps(endpoint.valid).encode()
    got = await call(mock_client, endpoint, seeded, raw, headers_for(endpoint, raw, content_type))
    if endpoint.signed:
        expected = (200, NX_1003)  # nxcloud.md: a Content-Type that is not JSON answers 1003
    elif endpoint.path.startswith("/omni") and content_type is None:
        # infobip.md: no Content-Type at all is read as JSON (curl -d users forget it): the request is served.
        assert got[0] in (200, 201), got
        return
    else:
        expected = endpoint.bad
    assert_answer(f"{endpoint} / {content_type}", got, expected)
    assert (content_type or "no Content-Type header").split(";")[0] in got[2]["X-Mock-Reason"]
    await assert_intact(mock_client, seeded)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/problem+json"])
async def test_json_content_type_variants_are_served(mock_client, seeded, content_type):
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", data=json.dumps(esms_send()),
                                  headers={"Content-Type": content_type})
    assert (await resp.json())["CodeResult"] == "100"
    await assert_intact(mock_client, seeded, extra=1)


async def test_control_api_reads_json_whatever_the_content_type(mock_client, seeded):
    # The README's curl examples send control bodies with -d (application/x-www-form-urlencoded).
    resp = await mock_client.post("/_mock/clock/advance", data=b'{"seconds": 0}',
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and "now" in await resp.json()


# --- wrong JSON types in every field, generated from the request schemas ------------------------------------------------

SAMPLES: dict[str, Any] = {"string": "x", "integer": 7, "number": 1.5, "boolean": True, "null": None,
                           "array": [], "object": {}}


def _load(name: str) -> dict[str, Any]:
    return json.loads((schemas_dir() / f"{name}.json").read_text(encoding="utf-8"))


def _resolve(schema: dict[str, Any], base: str) -> tuple[dict[str, Any], str]:
    """Follow a $ref (relative file and/or #/$defs pointer) to the schema it names."""
    while "$ref" in schema:
        ref_file, _, pointer = schema["$ref"].partition("#")
        if ref_file:
            base = f"{base.rsplit('/', 1)[0]}/{ref_file.removesuffix('.json')}"
        target = _load(base)
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        schema = target
    return schema, base


def _allowed(schema: dict[str, Any], base: str) -> set[str] | None:
    """The JSON types a (sub)schema admits, or None when it does not say."""
    schema, base = _resolve(schema, base)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        allowed = set(types) | ({"integer"} if "number" in types else set())
        return allowed
    if "enum" in schema:
        return {next(t for t, s in SAMPLES.items() if type(s) is type(v) and s is not None or v is s is None)
                for v in schema["enum"]} | ({"number"} if any(type(v) is int for v in schema["enum"]) else set())
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [_allowed(s, base) for s in schema[key]]
            return None if any(p is None for p in parts) else set().union(*parts)
    return None


def _properties(schema: dict[str, Any], base: str) -> dict[str, tuple[dict[str, Any], str]]:
    schema, base = _resolve(schema, base)
    props = {name: (sub, base) for name, sub in schema.get("properties", {}).items()}
    for part in schema.get("allOf", []):
        sub, sub_base = _resolve(part, base)
        for name, p in sub.get("properties", {}).items():
            props.setdefault(name, (p, sub_base))
    return props


def wrong_type_cases(schema_name: str, valid: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(field path, body, the JSON type put there) for every property the schema types, nested ones included where
    the valid body has the parent, and every JSON type that property does not admit."""
    out: list[tuple[str, Any, str]] = []

    def walk(schema: dict[str, Any], base: str, instance: Any, path: list[Any]) -> None:
        for name, (sub, sub_base) in _properties(schema, base).items():
            allowed = _allowed(sub, sub_base)
            if allowed is not None:
                for json_type, sample in SAMPLES.items():
                    if json_type not in allowed and not (json_type == "integer" and "number" in allowed):
                        out.append((".".join(map(str, path + [name])), _replace(valid, path + [name], sample),
                                    json_type))
            value = instance.get(name) if isinstance(instance, dict) else None
            resolved, resolved_base = _resolve(sub, sub_base)
            if isinstance(value, dict):
                walk(resolved, resolved_base, value, path + [name])
            elif isinstance(value, list) and value and isinstance(value[0], dict) and "items" in resolved:
                walk(resolved["items"], resolved_base, value[0], path + [name, 0])

    walk(_load(schema_name), schema_name, valid, [])
    return out


def _replace(body: Any, path: list[Any], value: Any) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_wrong_type_in_every_field(mock_client, seeded, endpoint):
    cases = wrong_type_cases(endpoint.schema, endpoint.valid)
    assert len(cases) >= 3, cases  # the generator found the schema's fields
    for field_path, body, json_type in cases:
        raw = json.dumps(body).encode()
        got = await call(mock_client, endpoint, seeded, raw, headers_for(endpoint, raw))
        expected = endpoint.wrong_type(field_path) if endpoint.wrong_type else endpoint.bad
        assert_answer(f"{endpoint} / {field_path} as {json_type}", got, expected)
        last = field_path.rsplit(".", 1)[-1]
        assert last in got[2]["X-Mock-Reason"] or endpoint.signed, (field_path, got[2]["X-Mock-Reason"])
    await assert_intact(mock_client, seeded)


def test_wrong_type_generator_covers_nested_fields():
    paths = {p for p, _, _ in wrong_type_cases("infobip/advanced.request", infobip_send())}
    assert {"destinations", "destinations.0.to.phoneNumber", "viber.text", "viber.isPromotional", "sms.text",
            "notifyUrl", "intermediateReport"} <= paths
    paths = {p for p, _, _ in wrong_type_cases("nxcloud/mt.request", nxcloud_send())}
    assert {"appkey", "phone", "functionType", "messageData"} <= paths


# --- huge arrays within the size limit -------------------------------------------------------------------------------

HUGE = 100_000


async def test_esms_100k_phones_answers_120(mock_client, seeded):
    for path in ("Send_Multiple_Sms_OTT/", "SendMultipleMessage_V4_post_json/"):
        resp = await mock_client.post(ES + path, json=esms_send(Phones=["0"] * HUGE))
        assert resp.status == 200
        assert await resp.json() == {"CodeResult": "120", "CountRegenerate": 0, "ErrorMessage": "Phone list exceeds limit"}
        assert resp.headers["X-Mock-Reason"] == "100000 phones; at most 5000 per request"
    # V4's comma-separated Phone: 100 000 numbers (1.2 MB would be over the limit, so short ones)
    resp = await mock_client.post(ES + "SendMultipleMessage_V4_post_json/",
                                  json={**{k: v for k, v in esms_send().items() if k != "Phones"},
                                        "Phone": ",".join(["1"] * HUGE)})
    assert (await resp.json())["CodeResult"] == "120"
    await assert_intact(mock_client, seeded)


async def test_infobip_100k_destinations_answers_400_quickly(mock_client, seeded):
    loop = asyncio.get_running_loop()
    for destinations in ([{}] * HUGE, [{"to": {"phoneNumber": "1"}}] * 30_000):
        started = loop.time()
        resp = await mock_client.post("/omni/1/advanced", json=infobip_send(destinations=destinations), headers=IB_AUTH)
        assert resp.status == 400 and await resp.json() == IB_BAD
        assert resp.headers["X-Mock-Reason"].startswith("destinations")
        # Schema errors are bounded: no 100 000-error report (unbounded, this took 7.5 s; bounded, well under 1 s; the
        # margin keeps a slow machine from failing it).
        assert loop.time() - started < 10.0
    await assert_intact(mock_client, seeded)


async def test_nxcloud_huge_array_as_phone_answers_9002(mock_client, seeded):
    raw = json.dumps(nxcloud_send(phone=["79100055500"] * 50_000)).encode()
    resp = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers(NX_KEY, NX_SECRET, raw))
    assert resp.status == 200 and await resp.json() == NX_9002
    await assert_intact(mock_client, seeded)


async def test_control_huge_arrays_answer_400(mock_client, seeded):
    for path, body in (("/_mock/rules", {"phone": ["1"] * HUGE, "outcome": "delivered"}),
                       ("/_mock/faults", {"action": "latency", "latency_ms": [1] * HUGE}),
                       ("/_mock/clock/advance", {"seconds": [1] * HUGE})):
        resp = await mock_client.post(path, json=body)
        assert resp.status == 400, path
        assert list(await resp.json()) == ["error"] and resp.headers["X-Mock-Reason"]
    await assert_intact(mock_client, seeded)


# --- values that are the right type but out of every range -------------------------------------------------------------


async def test_infobip_validity_period_of_5000_digits_is_clamped(mock_client, seeded):
    # Was a 500 (int() refuses over 4300 digits) that left a half-stored message breaking /omni/1/logs for good.
    body = infobip_send(viber={"text": "Hi", "validityPeriod": "9" * 5000, "validityPeriodTimeUnit": "DAYS"})
    resp = await mock_client.post("/omni/1/advanced", json=body, headers=IB_AUTH)
    assert resp.status == 200
    (message,) = (await resp.json())["messages"]
    assert message["status"]["name"] == "PENDING_ENROUTE"
    logs = await mock_client.get("/omni/1/logs", headers=IB_AUTH)
    assert logs.status == 200 and len((await logs.json())["results"]) == 2
    await assert_intact(mock_client, seeded, extra=1)


async def test_a_long_word_beside_an_at_and_a_scheme_is_shown_in_linear_time(mock_client, seeded):
    # Every shown body goes through the URL-password mask. Its scheme pattern retried each letter of a long run of
    # letters up to the run's end: O(n²), so a 100 000-letter Content with an "@" and a "://" held the event loop
    # about 10 s on each GET of the message or of the journal (a 1 MB one, many minutes).
    content = "a" * 100_000 + "@://"
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", json=esms_send(Content=content))
    assert (await resp.json())["CodeResult"] == "100"
    for path in ("/_mock/messages/latest", "/_mock/messages", "/_mock/requests?limit=1"):  # the journal's is cut
        started = time.perf_counter()
        resp = await mock_client.get(path)
        assert resp.status == 200 and (content in await resp.text() or "requests" in path)
        assert time.perf_counter() - started < 2, path
    await assert_intact(mock_client, seeded, extra=1)


async def test_an_unclosed_string_of_escaped_quotes_is_journaled_in_linear_time(mock_client, seeded):
    # The journal masks secrets in JSON it cannot parse; its two regexes retried from every quote up to the text's
    # end, so 60 KB of a\"b in a string never closed held the event loop about 25 s on each GET /_mock/requests.
    raw = ('{"ApiKey":"ESMS_SANDBOX_KEY","SecretKey":"ESMS_SANDBOX_SECRET","Content":"' + 'a\\"b' * 15_000).encode()
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", data=raw, headers={"Content-Type": "application/json"})
    assert (resp.status, await resp.json(content_type=None)) == (400, ESMS_BAD)
    started = time.perf_counter()
    resp = await mock_client.get("/_mock/requests", params={"limit": "1"})
    (entry,) = (await resp.json())["items"]
    assert time.perf_counter() - started < 2
    assert entry["body"].startswith('{"ApiKey":"ESMS_SANDBOX_KEY","SecretKey":"***","Content":"a\\"b')
    await assert_intact(mock_client, seeded)


@pytest.mark.parametrize("notify_url", ["http://[::1", "http://127.0.0.1:1/\r\nX-Evil: 1", "ftp://x", "::::"])
async def test_infobip_unusable_notify_url_never_breaks_the_lifecycle(mock_client, seeded, advance, notify_url,
                                                                      caplog):
    # "http://[::1" made urlsplit raise inside the scheduled final step: no report was ever stored.
    resp = await mock_client.post("/omni/1/advanced", json=infobip_send(notifyUrl=notify_url), headers=IB_AUTH)
    assert resp.status == 200
    message_id = (await resp.json())["messages"][0]["messageId"]
    await advance(5)
    reports = await (await mock_client.get("/omni/1/reports", params={"messageId": message_id}, headers=IB_AUTH)).json()
    assert [r["status"]["name"] for r in reports["results"]] == ["DELIVERED_TO_HANDSET"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # no step raised


@pytest.mark.parametrize("callback_url", ["http://[::1", "http://127.0.0.1:1/cb\r\nX-Evil: 1", "::::"])
async def test_esms_unusable_callback_url_never_breaks_the_lifecycle(mock_client, seeded, advance, callback_url,
                                                                     caplog):
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", json=esms_send(CallbackUrl=callback_url))
    assert (await resp.json())["CodeResult"] == "100"
    await advance(5)
    latest = await (await mock_client.get("/_mock/messages/latest")).json()
    assert latest["status"] == "delivered"
    statuses = {m["status"] for m in (await (await mock_client.get("/_mock/messages")).json())["items"]}
    assert statuses == {"delivered"}  # the seeded ones moved on too: nothing stuck
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("body, field_name", [
    ({"balance": 1e308}, "balance"), ({"add": 1e308}, "add"), ({"add": -1e308}, "add"),
])
async def test_control_balance_out_of_range_answers_400(mock_client, seeded, body, field_name):
    # {"add": 1e308} twice made the balance inf, answered as the non-JSON `Infinity`.
    for path in ("/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", f"/_mock/accounts/nxcloud/{NX_KEY}/balance"):
        resp = await mock_client.post(path, json=body)
        assert resp.status == 400
        assert (await resp.json())["error"].startswith(f"{field_name}: ")
    accounts = json.loads(await (await mock_client.get("/_mock/accounts")).text())
    assert accounts["esms"][0]["balance"] == 1_000_000 - 470


@pytest.mark.parametrize("query, reason", [
    ({"status": "9" * 5000}, "status must be an HTTP status code"),
    ({"status": "²"}, "status must be an HTTP status code"),
    ({"since": "req_" + "9" * 5000}, "since must be an ISO 8601 time"),
    ({"since": "0001-01-01T00:00:00-23:59"}, None),
    ({"limit": "9" * 5000}, "limit must be an integer"),
    ({"limit": "0"}, "limit must be between 1 and 10000"),
])
async def test_control_journal_query_parameters(mock_client, seeded, query, reason):
    resp = await mock_client.get("/_mock/requests", params=query)
    if reason is None:
        assert resp.status == 200
    else:
        assert resp.status == 400 and (await resp.json())["error"].startswith(reason)
        assert resp.headers["X-Mock-Reason"].startswith(reason)


@pytest.mark.parametrize("query", [
    "sentSince=0001-01-01T00:00:00%2B0100", "sentUntil=9999-12-31T23:59:59-2359", "limit=" + "9" * 5000,
    "generalStatus=%00", "bulkId=" + "%2C" * 1000, "mcc=%ff&mnc=%ed%a0%80",
])
async def test_infobip_logs_hostile_queries(mock_client, seeded, query):
    resp = await mock_client.get("/omni/1/logs?" + query, headers=IB_AUTH)
    assert resp.status in (200, 400), await resp.text()
    body = await resp.json()
    assert body == IB_BAD if resp.status == 400 else list(body) == ["results"]
    await assert_intact(mock_client, seeded)


# --- headers: injection attempts and bytes that are not text --------------------------------------------------------


def http(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: mock", *headers, f"Content-Length: {len(body)}",
             "Connection: close"]
    # Latin-1 puts "\xff" on the wire as the single byte 0xff; lines beyond it go as UTF-8.
    return b"\r\n".join(_wire(line) for line in lines) + b"\r\n\r\n" + body


def _wire(line: str) -> bytes:
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


@pytest.mark.parametrize("field_name, value, code", [
    ("Brandname", "MOCK\r\nX-Evil: 1", "104"),
    ("SmsType", "23\r\nX-Evil: 1", "118"),
    ("Phones", ["0901\r\nX-Evil: 1"], "108"),
    ("ApiKey", "\x00\x1b[31m\r\nX-Evil: 1", "101"),
])
async def test_crlf_in_fields_named_in_x_mock_reason(mock_client, seeded, field_name, value, code):
    resp = await mock_client.post(ES + "Send_Multiple_Sms_OTT/", json=esms_send(**{field_name: value}))
    assert resp.status == 200 and (await resp.json())["CodeResult"] == code
    reason = resp.headers["X-Mock-Reason"]
    assert "X-Evil" not in resp.headers and not re.search(r"[\x00-\x1f\x7f]", reason)
    await assert_intact(mock_client, seeded)


@pytest.mark.parametrize("target, status, envelope", [
    ("/omni/1/scenarios/%0d%0aX-Evil:%201", 404, "infobip"),
    ("/omni/1/%00%0d%0a", 404, "infobip"),
    ("/MainService.svc/json/%0d%0aX-Evil:%201", 404, "esms"),
    ("/MainService.svc/%00", 404, "esms"),
    ("/api/viber/%0d%0aX-Evil:%201", 200, "nxcloud"),
    ("/_mock/messages/%0d%0aX-Evil:%201", 404, "control"),
    ("/_mock/ui/static/app.js%00", 404, "control"),
    ("/%0d%0aX-Evil:%201", 404, "control"),
])
async def test_control_characters_in_paths_are_escaped_in_the_reason(mock_client, seeded, target, status, envelope):
    # A NUL or CR in X-Mock-Reason made aiohttp refuse the answer and drop the connection.
    got_status, headers, body = await raw_request(mock_client, http("GET", target, *(
        ["Authorization: App INFOBIP_SANDBOX_API_KEY"] if envelope == "infobip" else [])))
    assert got_status == status
    assert "x-evil" not in headers and headers["x-mock-reason"]
    assert not re.search(r"[\x00-\x1f\x7f]", headers["x-mock-reason"])
    parsed = json.loads(body)
    if envelope == "infobip":
        assert parsed["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
    elif envelope == "esms":
        assert parsed == {"CodeResult": "99", "CountRegenerate": 0, "ErrorMessage": "Endpoint not found"}
    elif envelope == "nxcloud":
        assert parsed == {"code": -1, "message": "Failure"}
    else:
        assert list(parsed) == ["error"]
    await assert_intact(mock_client, seeded)


async def test_non_utf8_header_bytes_do_not_break_the_journal(mock_client, seeded):
    # aiohttp decodes header bytes with surrogateescape; journaled as is, they made GET /_mock/requests a 500.
    body = json.dumps(esms_send(Phones=["0901255501"])).encode()
    status, _, answer = await raw_request(mock_client, http(
        "POST", ES + "Send_Multiple_Sms_OTT/", "Content-Type: application/json", "X-Bin: \xff\xfe\x80", body=body))
    assert status == 200 and json.loads(answer)["CodeResult"] == "100"
    resp = await mock_client.get("/_mock/requests", params={"limit": 1})
    assert resp.status == 200
    (entry,) = (await resp.json())["items"]
    assert entry["headers"]["X-Bin"] == "\udcff\udcfe\udc80"  # \u-escaped JSON: the bytes stay visible
    await assert_intact(mock_client, seeded, extra=1)


async def test_non_ascii_basic_credentials_answer_401(mock_client, seeded):
    # base64 of non-ASCII text raised ValueError: a 500 where Infobip answers 401.
    status, headers, body = await raw_request(mock_client, http(
        "GET", "/omni/1/logs", "Authorization: Basic \xff\xfe\xe9"))
    assert status == 401
    assert json.loads(body) == {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED",
                                                                      "text": "Invalid login details"}}}
    assert headers["x-mock-reason"].startswith("Authorization: Basic credentials are not base64")


@pytest.mark.parametrize("header", [
    "X-Evil: a\rInjected: 1",  # bare CR
    "X-Evil: a\x00b",  # NUL
    "X-Evil: a\r\n Injected: 1",  # obsolete line folding
    "X-Big: " + "a" * 20_000,  # longer than aiohttp's 8190-byte line limit
])
async def test_malformed_header_lines_are_refused_by_the_http_parser(mock_client, seeded, header):
    # These never reach a route: aiohttp's HTTP parser answers 400 itself (a plain-text page, the one place the
    # provider envelope cannot be given; docs/reliability.md). The point here: 400, not 500, and still serving.
    status, headers, _ = await raw_request(mock_client, http("POST", ES + "Send_Multiple_Sms_OTT/", header))
    assert status == 400 and "injected" not in headers
    await assert_intact(mock_client, seeded)


async def test_nxcloud_non_digit_ts_and_odd_header_bytes(mock_client, seeded):
    raw = json.dumps(nxcloud_send()).encode()
    headers = sign_headers(NX_KEY, NX_SECRET, raw)
    for name, value in (("ts", "١٢٣"), ("ts", "9" * 5000), ("bizType", "７"), ("accessKey", "\u202e" * 100)):
        status, answer_headers, body = await raw_request(mock_client, http(
            "POST", "/api/viber/mt", *(f"{k}: {v}" for k, v in {**headers, name: value}.items()), body=raw))
        assert status == 200 and answer_headers["x-mock-reason"], (name, value)
        assert json.loads(body)["code"] in (1002, 1004, 1005), (name, value, body)
    await assert_intact(mock_client, seeded)


# --- path traversal in the static routes -----------------------------------------------------------------------------

TRAVERSALS = [
    "/_mock/ui/static/../../app.py",
    "/_mock/ui/static/../__init__.py",
    "/_mock/ui/static/%2e%2e/%2e%2e/app.py",
    "/_mock/ui/static/%2e%2e%2f__init__.py",
    "/_mock/ui/static/..%2f..%2fapp.py",
    "/_mock/ui/static/%252e%252e/__init__.py",
    "/_mock/ui/static/..%5c__init__.py",
    "/_mock/ui/static/..\\..\\app.py",
    "/_mock/ui/static//etc/passwd",
    "/_mock/ui/static/%2fetc%2fpasswd",
    "/_mock/ui//static/../../../app.py",
    "/_mock/ui/static/.",
    "/_mock/ui/static/",
    "/_mock/ui/static/app.js%00.png",
    "/_mock/ui/static/" + "a" * 5000,
    "/_mock/ui/static/%c0%ae%c0%ae/__init__.py",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_static_route_traversal_is_a_json_404(mock_client, seeded, target):
    status, headers, body = await raw_request(mock_client, http("GET", target))
    assert status == 404, body[:200]
    assert list(json.loads(body)) == ["error"] and headers["x-mock-reason"]
    assert b"import" not in body and b"root:" not in body
    await assert_intact(mock_client, seeded)


async def test_static_files_are_still_served(mock_client):
    status, headers, body = await raw_request(mock_client, http("GET", "/_mock/ui/static/app.js"))
    assert status == 200 and headers["content-security-policy"] and body


async def test_control_balance_stays_within_10_to_the_15_over_repeated_adds(mock_client):
    for path in ("/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", f"/_mock/accounts/nxcloud/{NX_KEY}/balance"):
        assert (await mock_client.post(path, json={"balance": 1e15})).status == 200
        resp = await mock_client.post(path, json={"add": 1})
        assert resp.status == 400 and (await resp.json())["error"].startswith("add: the balance would be ")
        assert (await mock_client.post(path, json={"add": -1e15})).status == 200  # back to 0
        assert (await mock_client.post(path, json={"add": -1e15})).status == 200  # -10^15: the floor
        assert (await mock_client.post(path, json={"add": -1})).status == 400


# --- what aiohttp itself logs -----------------------------------------------------------------------------------------


def tracebacks(caplog: Any) -> list[str]:
    """Records that would print a traceback (or an unhandled-error line) in the server's log."""
    return [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records
            if r.exc_info or r.exc_text or "unhandled" in r.getMessage().lower()]


@pytest.mark.parametrize("request_bytes", [
    b"GET /omni/1/reports?\xc3\xa9=1 HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n",  # raw non-ASCII in a URL
    b"GET /_mock/messages?a=\x7f HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n",  # DEL in a query
    b"GET /omni/1/logs?" + b"a=b&" * 3000 + b" HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n",  # over 8 190 bytes
    b"GET /_mock/health?x=a b HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n",  # a raw space: bad request line
    http("POST", ES + "Send_Multiple_Sms_OTT/", "X-Evil: a\rInjected: 1"),  # bare CR in a header
    http("POST", "/omni/1/advanced", "Content-Type: application/json", "Content-Type: text/plain", body=b"{}"),
], ids=["non-ASCII URL", "DEL in query", "long URL", "space in URL", "bare CR", "duplicate Content-Type"])
async def test_requests_the_http_parser_refuses_log_one_line_not_a_traceback(mock_client, seeded, caplog,
                                                                             request_bytes):
    # aiohttp logged each of these at ERROR with a full traceback ("Error handling request from ..."): a client's
    # malformed request filled the mock's log with stack traces. One WARNING line says what was refused.
    caplog.set_level(logging.DEBUG)
    status, _, _ = await raw_request(mock_client, request_bytes)
    assert status == 400
    assert tracebacks(caplog) == []
    assert [r for r in caplog.records if r.name == "aiohttp.server" and r.levelno == logging.WARNING
            and r.getMessage().startswith("refused a malformed request")]
    await assert_intact(mock_client, seeded)


@pytest.mark.parametrize("target", [ES + "Send_Multiple_Sms_OTT/", "/omni/1/advanced", "/api/viber/mt", "/_mock/rules",
                                    "/_mock/clock/advance"])
def test_client_hanging_up_mid_body_is_no_error_in_the_log(mock_server, caplog, target):
    # Content-Length promises 1 000 bytes, 10 arrive, the client closes. The provider layers re-raised the
    # ConnectionResetError for aiohttp, which logged it at ERROR with a traceback (and "answered" 500); the control
    # API logged "unhandled error" and answered 500. Nobody is there to answer: nothing to log above DEBUG. The
    # threaded server, as the CLI runs it: the in-process test server cancels the handler instead.
    caplog.set_level(logging.DEBUG)
    host, port = mock_server.url.removeprefix("http://").rsplit(":", 1)
    headers = {"Content-Type": "application/json", "Authorization": "App INFOBIP_SANDBOX_API_KEY",
               **(sign_headers(NX_KEY, NX_SECRET, b"x" * 1000) if target == "/api/viber/mt" else {})}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"POST {target} HTTP/1.1\r\nHost: mock\r\n{head}Content-Length: 1000\r\n\r\n".encode()
                     + b'{"a": 1, ')
        time.sleep(0.1)  # the handler is reading the body
    time.sleep(0.3)  # the server has seen the connection go
    assert mock_server.call("GET", "/_mock/health")["status"] == "ok"
    assert tracebacks(caplog) == []
    if not target.startswith("/_mock"):
        entries = mock_server.call("GET", "/_mock/requests?limit=1")["items"]
        assert [(e["path"], e["status"], e["body"]) for e in entries] == [
            (target, 0, "(no answer: ConnectionResetError)")]  # status 0: no answer was given
