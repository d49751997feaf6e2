"""GET /_mock/openapi.json: valid OpenAPI 3.1, every route in it, built from the schemas the server validates with."""

from __future__ import annotations

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
