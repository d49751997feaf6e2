"""GET /_mock/openapi.json: valid OpenAPI 3.1, every route in it, built from the schemas the server validates with."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.web_request import BaseRequest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mock_server.keys import core_key
from mock_server.openapi import routes


async def test_document_is_valid_openapi_3_1(mock_client):
    resp = await mock_client.get("/_mock/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


async def test_every_route_is_in_the_document(mock_client):
    doc = await (await mock_client.get("/_mock/openapi.json")).json()
    listed = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {(path, method) for method, path, _ in routes(mock_client.app) if method != "*"}
    assert served and served <= listed
    for expected in [("/MainService.svc/json/Send_Multiple_Sms_OTT", "POST"),
                     ("/MainService.svc/json/GetBalance/{ApiKey}/{SecretKey}", "GET"),
                     ("/omni/1/advanced", "POST"), ("/omni/1/scenarios/{scenarioKey}", "PUT"),
                     ("/api/viber/mt", "POST"), ("/_mock/rules", "POST"), ("/_mock/events", "GET")]:
        assert expected in listed, expected


async def test_embedded_schemas_are_the_servers_own(mock_client):
    doc = await (await mock_client.get("/_mock/openapi.json")).json()
    registry = mock_client.app[core_key].schemas
    resource = Resource(contents=doc, specification=DRAFT202012)
    refs = Registry().with_resource("urn:oas", resource)
    op = doc["paths"]["/MainService.svc/json/Send_Multiple_Sms_OTT"]["post"]
    schema = {"$ref": "urn:oas" + op["requestBody"]["content"]["application/json"]["schema"]["$ref"]}
    validator = Draft202012Validator(schema, registry=refs)
    good = {"ApiKey": "k", "SecretKey": "s", "Brandname": "b", "SmsType": 23, "Phones": ["0901255500"]}
    bad = {"ApiKey": "k", "SecretKey": "s", "Brandname": "b", "SmsType": 23, "Phones": "0901255500"}
    for body in (good, bad):
        assert validator.is_valid(body) == (registry.validate("esms/send_multiple_sms_ott.request", body) == [])
    assert not validator.is_valid(bad)


class RecordingQuery:
    """request.query for the test below: records each parameter a handler asks for ("*": it read the whole query)."""

    def __init__(self, query: Any, read: set[str]) -> None:
        self._query, self._read = query, read

    def get(self, name: str, default: Any = None) -> Any:
        self._read.add(name)
        return self._query.get(name, default)

    def getall(self, name: str, default: Any = ()) -> Any:
        self._read.add(name)
        return self._query.getall(name, default)

    def getone(self, name: str, default: Any = None) -> Any:
        self._read.add(name)
        return self._query.getone(name, default)

    def __getitem__(self, name: str) -> Any:
        self._read.add(name)
        return self._query[name]

    def __contains__(self, name: object) -> bool:
        self._read.add(str(name))
        return name in self._query

    def __getattr__(self, name: str) -> Any:  # items(), keys(), iteration...: the whole query
        self._read.add("*")
        return getattr(self._query, name)

    def __iter__(self) -> Any:
        self._read.add("*")
        return iter(self._query)

    def __len__(self) -> int:
        self._read.add("*")
        return len(self._query)


async def test_documented_query_parameters_are_the_ones_the_handlers_read(mock_client, monkeypatch):
    # The document listed no query parameter for any GET but eSMS's (whose query a schema validates): not the control
    # API's filters, not Infobip's reports, logs and scenarios. Each GET is called over HTTP with a parameter no
    # handler knows, and the parameters its handler asked request.query for must be exactly the documented ones:
    # a filter added to a handler but not to the document fails here, and so does one documented but never read.
    doc = await (await mock_client.get("/_mock/openapi.json")).json()
    read: set[str] = set()
    monkeypatch.setattr(BaseRequest, "query", property(lambda self: RecordingQuery(self.rel_url.query, read)))
    fill = {"id": "latest", "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "ApiKey": "k", "SecretKey": "s"}
    checked = []
    for path, ops in doc["paths"].items():
        if "get" not in ops or path == "/":
            continue
        documented = {p["name"] for p in ops["get"].get("parameters", ()) if p["in"] == "query"}
        read.clear()
        url = re.sub(r"\{(\w+)\}", lambda m: fill.get(m[1], "x"), path)
        resp = await mock_client.get(url, params={"no_such_parameter": "1"},
                                     headers={"Authorization": "App INFOBIP_SANDBOX_API_KEY"})
        resp.close()  # the event stream has answered its headers: its handler has read its parameters
        if "*" in read:  # the whole query, held to a JSON Schema: the document lists that schema's properties
            assert documented and ops["get"]["tags"] == ["esms"], path
            continue
        assert read == documented, path
        checked.append(path)
    for path in ("/_mock/messages", "/_mock/requests", "/_mock/callbacks", "/_mock/events", "/omni/1/reports",
                 "/omni/1/logs", "/omni/1/scenarios"):
        assert path in checked, path
    params = {p["name"]: p for p in doc["paths"]["/_mock/messages"]["get"]["parameters"]}
    assert set(params) == {"provider", "phone", "status", "limit", "view"}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 100}
    validate(doc)
