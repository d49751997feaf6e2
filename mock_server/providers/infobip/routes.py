"""Infobip OMNI routes under /omni: the route table and its thin handlers (infobip.md §1).

Each path takes every method and the table answers a wrong one with 405 in Infobip's envelope; anything else under
/omni is a 404 in the same envelope. Absolute-form request lines (`POST http://host:port/omni/1/advanced`, as the
2018 Python client sends them) route normally: aiohttp matches on the path (infobip.md §12).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from ...core.errors import reason_header
from ...core.schemas import Violation
from ...httputil import BodyError, dumps, is_json_content_type, parse_json, read_bytes
from . import codec
from .backend import Account, InfobipBackend, LogQuery
from .errors import CONTENT_TYPE, GENERAL_STATUSES, InfobipError, ServiceException
from .scenarios import default_flag, flow_from

backend_key = web.AppKey("infobip_backend", InfobipBackend)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_REPORT_LIMIT = 1000  # reports and logs: "limit" default 50, max 1000 (infobip.md §6, §7)
DEFAULT_REPORT_LIMIT = 50
DEFAULT_SCENARIO_LIMIT = 100  # scenarios list: limit default 100, page 0 (infobip.md §3.3)


# --- helpers ---------------------------------------------------------------------------------------------------------


def omni_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(body).encode("utf-8"), status=status,
                        headers={"Content-Type": CONTENT_TYPE, **(headers or {})})


def backend_of(request: web.Request) -> InfobipBackend:
    return request.config_dict[backend_key]


def authenticate(request: web.Request) -> Account:
    account, why = backend_of(request).authenticate(request.headers.get("Authorization"))
    if account is None:
        raise InfobipError(ServiceException.UNAUTHORIZED, why)
    return account


def bad_request(request: web.Request, field: str, message: str) -> InfobipError:
    extra = {field: [message]} if backend_of(request).validation_errors else None
    return InfobipError(ServiceException.BAD_REQUEST, f"{field}: {message}" if field else message,
                        validation_errors=extra)


async def json_body(request: web.Request) -> dict[str, Any]:
    # A declared non-JSON type is refused; no Content-Type at all is read as JSON (curl -d users forget it).
    if request.headers.get("Content-Type") and not is_json_content_type(request):
        raise bad_request(request, "", f"Content-Type {request.content_type!r} is not application/json")
    try:
        raw = await read_bytes(request)
        body = parse_json(raw)
    except BodyError as exc:
        if exc.kind == "too_large":
            raise InfobipError(ServiceException.TOO_LARGE, exc.reason) from None
        raise bad_request(request, "", exc.reason) from None
    if not isinstance(body, dict):
        raise bad_request(request, "", "the body must be a JSON object")
    return body  # lone UTF-16 surrogate escapes ("\ud800") are refused by parse_json already


def validate(request: web.Request, schema: str, body: Any) -> None:
    violations = request.config_dict[backend_key].core.schemas.validate(f"infobip/{schema}", body)
    if violations:
        raise from_violations(request, violations)


def from_violations(request: web.Request, violations: list[Violation]) -> InfobipError:
    """Every schema violation is Infobip's 400 BAD_REQUEST; the first names the field in X-Mock-Reason, and all go
    into validationErrors when [infobip] validation_errors = true (product.md §9)."""
    extra = None
    if backend_of(request).validation_errors:
        extra = {}
        for v in violations:
            extra.setdefault(v.path or "body", []).append(v.message)
    return InfobipError(ServiceException.BAD_REQUEST, violations[0].message, validation_errors=extra)


def int_param(request: web.Request, name: str, default: int, *, minimum: int, cap: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(request, name, f"{raw!r} is not an integer") from None
    if value < minimum:
        raise bad_request(request, name, f"must be at least {minimum}")
    return value if cap is None else min(value, cap)


def bool_param(request: web.Request, *names: str) -> bool | None:
    for name in names:
        raw = request.query.get(name)
        if raw is not None and raw != "":
            if raw.lower() not in ("true", "false"):
                raise bad_request(request, name, f"{raw!r} is not true or false")
            return raw.lower() == "true"
    return None


def list_param(request: web.Request, name: str) -> list[str]:
    # Java sends repeated parameters (bulkId=a&bulkId=b); others join them with commas.
    return [v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v.strip()]


def date_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return codec.parse_date(raw)
    except ValueError as exc:
        raise bad_request(request, name, str(exc)) from None


# --- scenarios -------------------------------------------------------------------------------------------------------


def scenario_fields(body: dict[str, Any]) -> tuple[str | None, list[Any], bool | None]:
    name = body.get("name")
    return (None if name is None else str(name)), flow_from(body["flow"]), default_flag(body)


async def create_scenario(request: web.Request) -> web.Response:
    """Create a scenario (201); the account's first one becomes its default."""
    account = authenticate(request)
    body = await json_body(request)
    validate(request, "scenario.request", body)
    store = backend_of(request).scenarios[account.username]
    scenario = store.create(*scenario_fields(body))
    # 201 as the OAS and infobip.com say; the seed page's "200 OK" is the outlier (infobip.md decision 4).
    return omni_response(scenario.to_json(), status=201)


async def get_scenarios(request: web.Request) -> web.Response:
    """List the account's scenarios (isDefault, limit, page)."""
    account = authenticate(request)
    # `isDefault` (OAS and clients) or `default` (the old docs' label): infobip.md §3.3.
    is_default = bool_param(request, "isDefault", "default")
    limit = int_param(request, "limit", DEFAULT_SCENARIO_LIMIT, minimum=0)
    page = int_param(request, "page", 0, minimum=0)
    scenarios = backend_of(request).scenarios[account.username].list(is_default, limit, page)
    return omni_response({"scenarios": [s.to_json() for s in scenarios]})


def find_scenario(request: web.Request, account: Account) -> Any:
    key = request.match_info["scenarioKey"]
    scenario = backend_of(request).scenarios[account.username].items.get(key)
    if scenario is None:
        raise InfobipError(ServiceException.SCENARIO_NOT_FOUND, f"no scenario {key!r} for this account")
    return scenario


async def get_scenario(request: web.Request) -> web.Response:
    """One scenario by key (404 when unknown)."""
    account = authenticate(request)
    return omni_response(find_scenario(request, account).to_json())


async def update_scenario(request: web.Request) -> web.Response:
    """Replace a scenario (404 when unknown)."""
    account = authenticate(request)
    find_scenario(request, account)  # an unknown key is 404 whatever the body
    body = await json_body(request)
    validate(request, "scenario.request", body)
    # Found again once the body is read: a reset meanwhile replaced the account's scenarios, and updating the old
    # object answered 200 for a scenario gone, and with `default: true` left the account no default scenario at all.
    scenario = find_scenario(request, account)
    store = backend_of(request).scenarios[account.username]
    return omni_response(store.update(scenario, *scenario_fields(body)).to_json())


# --- sends -----------------------------------------------------------------------------------------------------------


async def _send(request: web.Request, account: Account, body: dict[str, Any], source: str) -> web.Response:
    # The messages keep the body as received (aiohttp's cached bytes, which the journal keeps too), not the parsed dict.
    answer, reasons = backend_of(request).submit(account, body, source, raw_request=await request.read())
    # A destination rejected at submit is still HTTP 200 (its status says REJECTED_...); say why in the header.
    return omni_response(answer, headers=reason_header("; ".join(reasons)) if reasons else None)


async def send_advanced(request: web.Request) -> web.Response:
    """Send with a data object per channel; each destination walks the scenario flow."""
    account = authenticate(request)
    body = await json_body(request)
    validate(request, "advanced.request", body)
    if body.get("viber") is not None:
        problem = codec.viber_layout_problem(body["viber"])
        if problem:
            raise bad_request(request, "viber", problem)
    return await _send(request, account, body, "advanced")  # codec.advanced_data


async def send_text(request: web.Request) -> web.Response:
    """Send one text on every channel of the scenario."""
    account = authenticate(request)
    body = await json_body(request)
    validate(request, "text.request", body)
    return await _send(request, account, body, "text")  # codec.text_data: one text for every channel


# --- reports and logs ------------------------------------------------------------------------------------------------


async def get_reports(request: web.Request) -> web.Response:
    """Final delivery reports, each returned once (bulkId, messageId, channel, limit)."""
    account = authenticate(request)
    results = backend_of(request).take_reports(
        account,
        bulk_id=request.query.get("bulkId") or None,
        message_id=request.query.get("messageId") or None,
        channel=request.query.get("channel") or None,
        limit=int_param(request, "limit", DEFAULT_REPORT_LIMIT, minimum=1, cap=MAX_REPORT_LIMIT),
    )
    return omni_response({"results": results})


async def get_logs(request: web.Request) -> web.Response:
    """Message logs of the last 48 h, repeatable, with their filters."""
    account = authenticate(request)
    general_status = request.query.get("generalStatus") or None
    if general_status is not None and general_status not in GENERAL_STATUSES:
        raise bad_request(request, "generalStatus", f"must be one of {', '.join(GENERAL_STATUSES)}")
    mcc, mnc = request.query.get("mcc") or None, request.query.get("mnc") or None
    query = LogQuery(
        limit=int_param(request, "limit", DEFAULT_REPORT_LIMIT, minimum=1, cap=MAX_REPORT_LIMIT),
        senders=list_param(request, "from"),
        to=list_param(request, "to"),
        bulk_ids=list_param(request, "bulkId"),
        message_ids=list_param(request, "messageId"),
        general_status=general_status,
        channel=request.query.get("channel") or None,
        sent_since=date_param(request, "sentSince"),
        sent_until=date_param(request, "sentUntil"),
        mcc=mcc,
        mnc=mnc,
    )
    return omni_response({"results": backend_of(request).logs(account, query)})


# --- the route table -------------------------------------------------------------------------------------------------

# Static paths before parameterised ones (stripe-mock); each maps methods to handlers.
ROUTES: tuple[tuple[str, dict[str, Handler]], ...] = (
    ("/1/scenarios", {"POST": create_scenario, "GET": get_scenarios}),
    ("/1/text", {"POST": send_text}),
    ("/1/advanced", {"POST": send_advanced}),
    ("/1/reports", {"GET": get_reports}),
    ("/1/logs", {"GET": get_logs}),
    ("/1/scenarios/{scenarioKey}", {"GET": get_scenario, "PUT": update_scenario}),
)


def by_method(methods: dict[str, Handler]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        target = methods.get(request.method)
        if target is None:
            raise InfobipError(ServiceException.METHOD_NOT_ALLOWED,
                               f"{request.method} is not allowed on {request.path}; allowed: {', '.join(methods)}",
                               allow=list(methods))
        return await target(request)

    return handler


async def not_found(request: web.Request) -> web.Response:
    raise InfobipError(ServiceException.NOT_FOUND, f"no Infobip OMNI endpoint at {request.path}")


def add_routes(app: web.Application) -> None:
    for path, methods in ROUTES:
        app.router.add_route("*", path, by_method(methods))
    app.router.add_route("*", "/{rest:.*}", not_found)  # anything else under /omni, in Infobip's envelope
