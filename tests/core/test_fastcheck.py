"""The fast check in front of jsonschema agrees with jsonschema on every schema: it may only skip work, never change
an answer. Differential testing with hypothesis: arbitrary JSON, and valid examples mutated one member at a time."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.core.fastcheck import Unsupported, compile_check
from mock_server.core.schemas import SchemaRegistry
from mock_server.resources import schemas_dir

REGISTRY = SchemaRegistry(schemas_dir())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=12), st.sampled_from(["", "23", "https://example.com/a.png", "0901255500",
                                                           "41793055501", "VIBER", "SMS", "Transactional", "text",
                                                           "Promotional", "1", "en", "pdf", "delivered", "latency"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)

EXAMPLES: dict[str, list[Any]] = {
    "esms/send_multiple_sms_ott.request": [
        {"ApiKey": "k", "SecretKey": "s", "Brandname": "B", "SmsType": "23", "Content": "Hi", "Phones": ["0901255500"],
         "OttLabel": "Go", "OttUrl": "https://e.com", "OttImgUrl": "https://e.com/i.png", "IsSandBox": "0",
         "RequestId": None, "CallbackUrl": "http://127.0.0.1/cb"}],
    "esms/send_multiple_message_v4_post_json.request": [
        {"ApiKey": "k", "SecretKey": "s", "Brandname": "B", "SmsType": 23, "Content": "Hi", "Phone": "0901255500",
         "Sandbox": 0, "IsUnicode": 0}],
    "esms/send_multiple_message_v4_get.request": [
        {"ApiKey": "k", "SecretKey": "s", "Brandname": "B", "SmsType": "23", "Phone": "0901255500", "Content": "x"}],
    "infobip/advanced.request": [
        {"scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "bulkId": "b", "notifyUrl": "http://127.0.0.1/n",
         "destinations": [{"to": {"phoneNumber": "41793055501"}, "messageId": "m"}],
         "viber": {"text": "Hi", "imageURL": "https://e.com/i.png", "buttonText": "Go", "buttonURL": "https://e.com",
                   "validityPeriod": 5, "validityPeriodTimeUnit": "MINUTES"},
         "sms": {"text": "Hi", "validityPeriod": 1, "validityPeriodTimeUnit": "HOURS"}, "intermediateReport": True}],
    "infobip/text.request": [{"destinations": [{"to": {"phoneNumber": "41793055501"}}], "text": "Hi"}],
    "infobip/scenario.request": [{"name": "s", "flow": [{"from": "B", "channel": "VIBER"}, {"channel": "SMS"}],
                                  "default": True}],
    "nxcloud/mt.request": [
        {"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
         "messageData": {"rateType": "Transactional", "text": "Hi"}},
        {"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
         "messageData": {"rateType": "OtpTemplate", "templateId": "3", "templateLang": "en",
                         "templateParams": {"pin": "1234", "businessPlatformName": "Shop"}}},
        {"appkey": "TexxxP6", "phone": "79100055500", "functionType": "video_text_button",
         "messageData": {"rateType": "Promotional", "thumbnail": "t", "videoLink": "v", "videoSize": 100,
                         "duration": 5, "text": "Hi", "buttonText": "Go"}},
        {"appkey": "TexxxP6", "phone": "79100055500", "functionType": "file",
         "messageData": {"rateType": "Transactional", "fileName": "a", "fileLink": "l", "fileType": "pdf"}}],
    "control/rule.request": [{"phone": "0901255500", "outcome": "undeliverable", "times": 1, "channel": "viber"}],
    "control/fault.request": [{"action": "latency", "latency_ms": [1, 5], "provider": "esms", "share": 0.5}],
}


def mutate(example: Any, data: st.DataObject) -> Any:
    """The example with one member replaced, removed or added, somewhere in it."""
    if isinstance(example, dict) and example:
        key = data.draw(st.sampled_from(sorted(example)))
        action = data.draw(st.sampled_from(["replace", "remove", "recurse", "add"]))
        out = dict(example)
        if action == "replace":
            out[key] = data.draw(json_values)
        elif action == "remove":
            del out[key]
        elif action == "add":
            out[data.draw(st.text(max_size=8))] = data.draw(json_values)
        else:
            out[key] = mutate(example[key], data)
        return out
    if isinstance(example, list) and example:
        i = data.draw(st.integers(0, len(example) - 1))
        out = list(example)
        out[i] = mutate(example[i], data) if data.draw(st.booleans()) else data.draw(json_values)
        return out
    return data.draw(json_values)


def agree(name: str, instance: Any) -> None:
    fast = REGISTRY._fast[name](instance)
    exact = REGISTRY._validators[name].is_valid(instance)
    assert fast == exact, (name, instance, fast, exact)


def test_every_schema_has_a_fast_check():
    assert set(REGISTRY._fast) == set(REGISTRY.names())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_are_valid_both_ways(name):
    for example in EXAMPLES[name]:
        assert REGISTRY._validators[name].is_valid(example), example
        agree(name, example)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_examples_agree(name, data):
    example = data.draw(st.sampled_from(EXAMPLES[name]))
    agree(name, mutate(example, data))


@pytest.mark.parametrize("name", REGISTRY.names())
@settings(max_examples=40, deadline=None, derandomize=True)
@given(instance=json_values)
def test_arbitrary_json_agrees(name, instance):
    agree(name, instance)


def test_unknown_keywords_get_no_fast_check():
    with pytest.raises(Unsupported):
        compile_check({"type": "object", "dependentRequired": {"a": ["b"]}})
    with pytest.raises(Unsupported):
        compile_check({"$ref": "#/$defs/x"})
