"""GET /_mock/openapi.json: an OpenAPI 3.1 document of the control API and the emulated endpoints.

Built when asked from what the server itself runs — the routers, the providers' operation tables and the very JSON
Schemas the server validates with (embedded under components/schemas) — so it cannot drift from the behaviour.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterator

from aiohttp import web

from . import __version__
from .core.schemas import SchemaRegistry

# Which schema validates each operation's body (or, for GET operations, its query), by (provider, path, method).
REQUEST_SCHEMAS: dict[tuple[str, str, str], str] = {
    ("control", "/_mock/rules", "POST"): "control/rule.request",
    ("control", "/_mock/faults", "POST"): "control/fault.request",
    ("control", "/_mock/clock/advance", "POST"): "control/clock_advance.request",
    ("control", "/_mock/messages/{id}/status", "POST"): "control/message_status.request",
    ("control", "/_mock/accounts/esms/{api_key}/balance", "POST"): "control/esms_balance.request",
    ("control", "/_mock/accounts/esms/{api_key}/brandnames", "POST"): "control/esms_brandname.request",
    ("control", "/_mock/accounts/nxcloud/{access_key}/balance", "POST"): "nxcloud/control_balance.request",
    ("control", "/_mock/accounts/nxcloud/{access_key}/apps/{appkey}/webhooks", "POST"):
        "nxcloud/control_webhooks.request",
    ("control", "/_mock/nxcloud/apps/{appkey}/webhooks", "POST"): "nxcloud/control_webhooks.request",
    ("control", "/_mock/nxcloud/replies", "POST"): "nxcloud/control_reply.request",
    ("infobip", "/omni/1/scenarios", "POST"): "infobip/scenario.request",
    ("infobip", "/omni/1/scenarios/{scenarioKey}", "PUT"): "infobip/scenario.request",
    ("infobip", "/omni/1/text", "POST"): "infobip/text.request",
    ("infobip", "/omni/1/advanced", "POST"): "infobip/advanced.request",
    ("nxcloud", "/api/viber/mt", "POST"): "nxcloud/mt.request",
    ("esms", "/MainService.svc/json/Send_Multiple_Sms_OTT", "POST"): "esms/send_multiple_sms_ott.request",
    ("esms", "/MainService.svc/json/SendMultipleMessage_V4_post_json", "POST"):
        "esms/send_multiple_message_v4_post_json.request",
    ("esms", "/MainService.svc/json/SendMultipleMessage_V4_get", "GET"): "esms/send_multiple_message_v4_get.request",
    ("esms", "/MainService.svc/json/GetSendStatus", "GET"): "esms/status_query.request",
    ("esms", "/MainService.svc/json/GetSmsReceiverStatus_get", "GET"): "esms/status_query.request",
    ("esms", "/MainService.svc/json/GetBalance_json", "POST"): "esms/get_balance_json.request",
}


def _query_params() -> dict[tuple[str, str, str], dict[str, tuple[dict[str, Any], str]]]:
    """The query parameters each GET handler reads, by (provider, path, method): name -> (JSON Schema, description).
    GETs whose query a JSON Schema validates (eSMS) list theirs from REQUEST_SCHEMAS instead; any other parameter is
    ignored. tests/control/test_openapi.py checks this table against what the handlers really read, over HTTP."""
    from .control.routes import EVENT_TYPES, MAX_LIMIT, PROVIDER_NAMES  # local: control imports this module
    from .core.models import Status
    from .providers.infobip.errors import GENERAL_STATUSES
    from .providers.infobip.routes import DEFAULT_REPORT_LIMIT, DEFAULT_SCENARIO_LIMIT, MAX_REPORT_LIMIT

    def limit(default: int | None) -> tuple[dict[str, Any], str]:
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
        return ({**schema, "default": default} if default else schema), "at most this many items (others: 400)"

    text = {"type": "string"}
    many = {"type": "array", "items": text}  # repeated (bulkId=a&bulkId=b) or comma-separated (bulkId=a,b)
    infobip_limit = ({"type": "integer", "minimum": 1, "default": DEFAULT_REPORT_LIMIT},
                     f"at most this many results; larger values are capped at {MAX_REPORT_LIMIT}")
    date = ({"type": "string"}, "yyyy-MM-ddTHH:mm:ss.SSS with an optional Z, +HHMM or +HH:MM offset (none: UTC)")
    return {
        ("control", "/_mock/messages", "GET"): {
            "provider": ({"enum": list(PROVIDER_NAMES)}, "only this provider's messages"),
            "phone": (text, "only this phone, in either form (0901… = 84901…)"),
            "status": ({"enum": [s.value for s in Status]}, "only messages with this status now"),
            "limit": limit(100),
            "view": ({"enum": ["full", "summary"], "default": "full"},
                     "summary: leave out a request body over 4 KB (a big batch's, the same on each of its messages), as "
                     "the event stream does; GET /_mock/messages/{id} always has it"),
        },
        ("control", "/_mock/callbacks", "GET"): {
            "message_id": (text, "only this message's callback attempts"),
            "limit": limit(None),
        },
        ("control", "/_mock/requests", "GET"): {
            "provider": ({"enum": [*PROVIDER_NAMES, "unknown"]},
                         "only this provider's requests (unknown: paths no provider serves)"),
            "path": (text, "only requests whose path contains this (case-insensitive)"),
            "status": ({"type": "integer", "minimum": 0, "maximum": 999},
                       "only requests answered with this HTTP status"),
            "since": (text, "only newer requests: an ISO 8601 time of the mock clock, or a request id such as req_12"),
            "limit": limit(100),
        },
        ("control", "/_mock/events", "GET"): {
            "types": (text, f"comma-separated event types to send (others: 400): {', '.join(EVENT_TYPES)}"),
            "since": (text, "refused (400): the stream has no history, it sends what happens from now on"),
        },
        ("infobip", "/omni/1/scenarios", "GET"): {
            "isDefault": ({"type": "boolean"}, "only the default scenario (true) or the others (false)"),
            "default": ({"type": "boolean"}, "the old docs' name of isDefault (isDefault wins when both are given)"),
            "limit": ({"type": "integer", "minimum": 0, "default": DEFAULT_SCENARIO_LIMIT}, "scenarios per page"),
            "page": ({"type": "integer", "minimum": 0, "default": 0}, "the page, from 0"),
        },
        ("infobip", "/omni/1/reports", "GET"): {
            "bulkId": (text, "only this bulk's reports"),
            "messageId": (text, "only this message's report"),
            "channel": (text, "only reports of this channel (VIBER, SMS)"),
            "limit": infobip_limit,
        },
        ("infobip", "/omni/1/logs", "GET"): {
            "from": (many, "only these senders"),
            "to": (many, "only these destinations"),
            "bulkId": (many, "only these bulks"),
            "messageId": (many, "only these messages"),
            "generalStatus": ({"enum": list(GENERAL_STATUSES)}, "only logs in this status group"),
            "channel": (text, "only logs of this channel (VIBER, SMS)"),
            "sentSince": (date[0], "only messages sent at or after this time: " + date[1]),
            "sentUntil": (date[0], "only messages sent at or before this time: " + date[1]),
            "mcc": (text, "only this mobile country code (the first part of mccMnc)"),
            "mnc": (text, "only this mobile network code (the second part of mccMnc)"),
            "limit": infobip_limit,
        },
    }


_CATCH_ALL = re.compile(r"\{[^}]*:")  # regex path parameters ({rest:.*}) are fallbacks, not operations


def component_name(schema: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", schema)


def _components(registry: SchemaRegistry) -> dict[str, Any]:
    """Every schema, its relative $refs (`common.json#/$defs/str`) pointed at the embedded copy."""
    out = {}
    for name, doc in registry.documents.items():
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        body = copy.deepcopy(doc)
        body.pop("$schema", None)
        body.pop("$id", None)
        out[component_name(name)] = _rewrite_refs(body, folder, component_name(name))
    return out


def _rewrite_refs(node: Any, folder: str, this: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = f"#/components/schemas/{this}{value[1:]}"  # a pointer into the same document
            elif key == "$ref" and isinstance(value, str):
                file, _, pointer = value.partition("#")
                target = f"{folder}/{file[:-5] if file.endswith('.json') else file}".lstrip("/")
                out[key] = f"#/components/schemas/{component_name(target)}{pointer}"
            elif key == "errorMessage":
                out["description"] = value  # our own keyword: kept as documentation
            else:
                out[key] = _rewrite_refs(value, folder, this)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, folder, this) for v in node]
    return node


def routes(app: web.Application) -> Iterator[tuple[str, str, Any]]:
    """(method, full path, handler) of every route, sub-apps included; catch-all fallbacks and static files left out."""
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if sub is not None:
            yield from routes(sub)  # a sub-app's resources already carry its prefix
            continue
        path = resource.canonical
        if _CATCH_ALL.search(path) or isinstance(resource, web.StaticResource):
            continue
        for route in resource:
            if route.method != "HEAD":
                yield route.method, path, route.handler


def _provider_of(path: str) -> str:
    if path.startswith("/_mock"):
        return "control"
    if path.startswith("/MainService.svc"):
        return "esms"
    if path.startswith("/omni"):
        return "infobip"
    if path.startswith("/api/viber"):
        return "nxcloud"
    return "mock"


def operations(app: web.Application) -> list[tuple[str, str, str]]:
    """(provider, method, path) of every operation the server answers, with its summary."""
    from .providers.esms.routes import OPERATIONS
    from .providers.infobip.routes import ROUTES

    ops: list[tuple[str, str, str, str]] = []
    for method, path, handler in routes(app):
        if method == "*":
            continue  # provider tables below say which methods these take
        ops.append((_provider_of(path), method, path, _summary(handler)))
    for op in OPERATIONS.values():
        path = "/MainService.svc/json/" + op.name + "".join(f"/{{{n}}}" for n in ("ApiKey", "SecretKey")[: op.path_args])
        ops.append(("esms", op.method, path, _summary(op.handler) or op.name))
    for path, methods in ROUTES:
        for method, handler in methods.items():
            ops.append(("infobip", method, "/omni" + path, _summary(handler)))
    return ops  # type: ignore[return-value]


def _summary(handler: Any) -> str:
    doc = (getattr(handler, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else getattr(handler, "__name__", "").replace("_", " ")


def build(app: web.Application, registry: SchemaRegistry) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    query_params = _query_params()
    for provider, method, path, summary in operations(app):  # type: ignore[misc]
        slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") + ("_index" if path.endswith("/") else "")
        op: dict[str, Any] = {"tags": [provider], "summary": summary or f"{method} {path}",
                              "operationId": f"{provider}_{method.lower()}_{slug}",
                              "responses": {"default": {"description": "the provider's answer (see the README)"}}}
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"\{([^}]+)\}", path)]
        schema = REQUEST_SCHEMAS.get((provider, path, method))
        if schema and method == "GET":
            doc = registry.documents[schema]
            required = set(doc.get("required", ()))
            params += [{"name": name, "in": "query", "required": name in required,
                        "schema": {"$ref": f"#/components/schemas/{component_name(schema)}/properties/{name}"}}
                       for name in doc.get("properties", {})]
        elif schema:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{component_name(schema)}"}}}}
        params += [{"name": name, "in": "query", "required": False, "description": description, "schema": schema_}
                   for name, (schema_, description) in query_params.get((provider, path, method), {}).items()]
        if params:
            op["parameters"] = params
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "viber-mock-server", "version": __version__,
                 "description": "Mock of the eSMS, Infobip OMNI and NXCLOUD Viber APIs, and its control API. "
                                "Query parameters an operation does not list are ignored."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "tags": [{"name": "control"}, {"name": "esms"}, {"name": "infobip"}, {"name": "nxcloud"}, {"name": "mock"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _components(registry)},
    }
