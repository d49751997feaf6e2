"""eSMS routes: one table of WCF operations under /MainService.svc/json/, and their thin handlers.

WCF matches operation names and the `json` segment case-insensitively and the docs mix trailing slashes
(spec/providers/esms.md §8 items 6-7), so a single route takes `/{format}/{operation}[/...]` and the table decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Awaitable, Callable

from aiohttp import web

from ...core.models import Message
from ...core.rules import SUBMIT_OUTCOMES
from ...core.schemas import Violation
from ...httputil import BodyError, dumps, is_json_content_type, parse_json, read_bytes
from ...keys import core_key
from . import codec
from .backend import NAME, Account, EsmsBackend
from .errors import (BALANCE, BRANDNAME, RECEIVER, SEND, SEND_STATUS, EsmsCode, EsmsError, fault_response,
                     render_error)

backend_key = web.AppKey("esms_backend", EsmsBackend)

MAX_PHONES = 5000  # [I] the largest documented list (ads, esms.md §7); more -> 120 "Phone list exceeds limit"
MAX_REQUEST_ID = 50  # esms.md §2a: "Maximum length 50 characters"
VN_TZ = timezone(timedelta(hours=7))  # SendDate is Vietnamese local time

# Rejections at submit decided by a rule or a magic number (product.md §4), as eSMS answers them.
SUBMIT_CODES: dict[str, EsmsCode] = {
    "rejected": EsmsCode.INVALID_PHONE,
    "blocked": EsmsCode.BLOCKED,
    "no_balance": EsmsCode.NOT_ENOUGH_BALANCE,
    "provider_error": EsmsCode.UNKNOWN_ERROR,
}


def from_violations(violations: list[Violation]) -> EsmsError | None:
    """Schema violations -> the eSMS answer: a wrong JSON type fails WCF deserialisation (HTTP 400). A missing member
    is none: WCF binds it as empty, and the operation's own checks answer it in their order (auth first: a request
    with a wrong SecretKey and no Phones is 101, not 108)."""
    for v in violations:
        if v.kind != "required":
            return EsmsError(EsmsCode.BAD_REQUEST, v.message)
    return None


def validate(request: web.Request, schema: str, instance: Any) -> None:
    violations = request.config_dict[core_key].schemas.validate(f"esms/{schema}", instance)
    if violations:
        error = from_violations(violations)
        if error is not None:
            raise error


async def json_body(request: web.Request) -> dict[str, Any]:
    # WCF webHttpBinding refuses bodies not declared as JSON before the operation runs (esms.md §8 item 9).
    if not is_json_content_type(request):
        # request.content_type is application/octet-stream when no header was sent (RFC 7231): name what was sent.
        sent = request.headers.get("Content-Type")
        raise EsmsError(EsmsCode.BAD_REQUEST, f"Content-Type {sent!r} is not application/json" if sent else
                        "no Content-Type header; application/json is required")
    try:
        body = parse_json(await read_bytes(request))
    except BodyError as exc:
        raise EsmsError(EsmsCode.TOO_LARGE if exc.kind == "too_large" else EsmsCode.BAD_REQUEST, exc.reason) from None
    if not isinstance(body, dict):
        raise EsmsError(EsmsCode.BAD_REQUEST, "the body must be a JSON object")
    return body


def scalar_fields(body: dict[str, Any]) -> dict[str, str]:
    """Loose scalars as strings, and the OttX / OTTX spellings folded into OttX (esms.md decision 2)."""
    fields = {k: codec.text(v) for k, v in body.items() if not isinstance(v, (list, dict))}
    for ott, upper in codec.OTT_ALIASES.items():
        if not fields.get(ott) and fields.get(upper):
            fields[ott] = fields[upper]
    return fields


def authenticate(request: web.Request, fields: dict[str, str], **extra: str) -> Account:
    account = request.config_dict[backend_key].authenticate(fields.get("ApiKey", ""), fields.get("SecretKey", ""))
    if account is None:
        missing = [name for name in ("ApiKey", "SecretKey") if not fields.get(name)]
        raise EsmsError(EsmsCode.AUTHORIZE_FAILED, f"{' and '.join(missing)} missing or empty" if missing else
                        "ApiKey/SecretKey do not match a configured eSMS account", **extra)
    return account


def _send_date(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=VN_TZ).timestamp()
    except ValueError:
        # A string member WCF binds fine, so no HTTP 400 (esms.md decision 3: business errors are HTTP 200); eSMS
        # documents no code for it, and the mock answers its "unknown error" 99.
        raise EsmsError(EsmsCode.UNKNOWN_ERROR, f"SendDate {value!r} is not yyyy-mm-dd hh:MM:ss") from None


async def submit(request: web.Request, fields: dict[str, str], phones: list[str], *, sandbox: bool,
                 raw: Any, headers: dict[str, str] | None = None) -> web.Response:
    """The Viber send every variant shares: checks in eSMS's order, then accept (or, in sandbox, only answer)."""
    core = request.config_dict[core_key]
    backend = request.config_dict[backend_key]
    account = authenticate(request, fields)
    sms_type = fields.get("SmsType", "").strip()
    if not sms_type:
        raise EsmsError(EsmsCode.MISSING_TYPE, "SmsType is missing or empty")
    if sms_type != "23":
        raise EsmsError(EsmsCode.UNSUPPORTED_TYPE, f"SmsType {sms_type!r}: only 23 (Viber) is emulated")
    brandname = fields.get("Brandname", "")
    if brandname not in account.brandnames:
        raise EsmsError(EsmsCode.BRANDNAME_NOT_EXIST,
                        f"Brandname {brandname!r} is not a registered Viber brandname of this account")
    if not phones:
        raise EsmsError(EsmsCode.INVALID_PHONE, "no phone number given", phone="")
    if len(phones) > MAX_PHONES:
        raise EsmsError(EsmsCode.PHONE_LIST_LIMIT, f"{len(phones)} phones; at most {MAX_PHONES} per request")
    for phone in phones:
        if not codec.PHONE_RE.fullmatch(phone):  # fullmatch: `$` would let a trailing newline through
            raise EsmsError(EsmsCode.INVALID_PHONE,
                            f"phone {phone!r} is not 0 + 9 digits or 84 + 9 digits", phone=phone)
    content = codec.content_of(fields)
    layout = codec.LAYOUTS.get(frozenset(content))
    if layout is None:
        names = {"text": "Content", "image": "OttImgUrl", "button_text": "OttLabel", "button_url": "OttUrl"}
        given = ", ".join(names[k] for k in content) or "nothing"
        raise EsmsError(EsmsCode.UNSUPPORTED_TYPE,
                        f"Viber content with {given} is none of the four layouts (Text; Image; Text+Button; "
                        "Text+Image+Button): a button needs Content, OttUrl and OttLabel together")
    if "image" in content and not content["image"].lower().startswith("https://"):
        raise EsmsError(EsmsCode.UNSUPPORTED_TYPE, "OttImgUrl must be an https URL")
    request_id = fields.get("RequestId", "")
    if len(request_id) > MAX_REQUEST_ID:
        raise EsmsError(EsmsCode.REQUEST_ID_TOO_LONG, f"RequestId has {len(request_id)} characters; at most 50")
    send_at = _send_date(fields.get("SendDate", ""))
    if request_id and backend.is_duplicate(account, request_id):
        raise EsmsError(EsmsCode.DUPLICATE_REQUEST, f"RequestId {request_id!r} was used within the last 24 h")
    # Rules are only looked at here: a sandbox send, or one refused below, uses none of them up.
    pending: dict[str, int] = {}
    decisions = [core.decide(NAME, "viber", phone, consume=False, pending=pending) for phone in phones]
    for phone, decision in zip(phones, decisions):
        if decision.outcome in SUBMIT_OUTCOMES:
            if not sandbox:  # a sandbox send is answered as the rule says but uses none (README, Rules)
                core.use(decision)
            raise EsmsError(SUBMIT_CODES[decision.outcome], f"{decision.source}: {decision.outcome} for {phone}",
                            phone=phone)
    cost = backend.price * len(phones)
    if not sandbox and account.balance < cost:
        raise EsmsError(EsmsCode.NOT_ENOUGH_BALANCE,
                        f"balance {account.balance} VND is below the {cost} VND these {len(phones)} messages cost")
    # SMSID: 32 hex digits and a short numeric suffix, like "d8e0f1f0702544b2acb456ca9ccfd111250" (esms.md §8 item 10)
    smsid = core.uuid().hex + str(core.rng.randint(10, 999))
    if sandbox:
        # Validated and answered like a real send, but not stored, charged, delivered or called back (esms.md §6).
        return esms_response(codec.send_success(smsid), headers={**(headers or {}), "X-Mock-Sandbox": "1"})
    core.use(*decisions)
    account.balance -= cost
    if request_id:
        backend.remember_request(account, request_id)
    masked = {**raw, "SecretKey": "***"} if isinstance(raw, dict) and "SecretKey" in raw else raw
    # Kept as compact JSON bytes, parsed when shown (models.plain): the parsed dict and its masked copy were ~1 KB of
    # every message sent one a request (bench/run.py --scenarios memory), the bytes ~250 B.
    kept = dumps(masked).encode() if isinstance(masked, dict) else masked
    accepted = []
    # What every phone of the request shares is worked out once (a 100-phone send: bench/cpu.py esms_100), and equal
    # meta dicts are one dict, within the request and across requests (EsmsBackend.shared_meta).
    price, callback_url, now = str(backend.price), fields.get("CallbackUrl", ""), core.clock.now()
    metas: dict[str, dict[str, Any]] = {}
    for phone, decision in zip(phones, decisions):
        meta = metas.get(decision.outcome)
        if meta is None:
            meta = metas[decision.outcome] = backend.shared_meta({
                "brandname": brandname, "layout": layout, "request_id": request_id, "price": price,
                "callback_url": callback_url, "outcome": decision.outcome})
        message = core.new_message(
            provider=NAME,
            provider_id=smsid,
            account=account.api_key,
            phone=phone,
            channel="viber",
            content=content,
            batch_id=smsid,
            meta=meta,
            raw_request=kept,
            created_at=now,
        )
        accepted.append((message, decision))
    core.accept_many(accepted, base=send_at if send_at and send_at > core.clock.now() else None)
    return esms_response(codec.send_success(smsid), headers=headers)


def esms_response(body: dict[str, Any], *, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=codec.esms_json(body), content_type="application/json", charset="utf-8", headers=headers)


# --- handlers --------------------------------------------------------------------------------------------------------


async def send_multiple_sms_ott(request: web.Request, _args: list[str]) -> web.Response:
    body = await json_body(request)
    validate(request, "send_multiple_sms_ott.request", body)
    fields = scalar_fields(body)
    headers = {}
    if "Sandbox" in body and "IsSandBox" not in body:
        # The flag of this endpoint is IsSandBox; WCF ignores unknown members, so a `Sandbox` (as WP-SMS sends) is a
        # real send on the real service. Honour that, and say so (esms.md §6, decision 7).
        headers["X-Mock-Warning"] = "Sandbox is not a field of Send_Multiple_Sms_OTT (use IsSandBox): sent for real"
    phones = [p if type(p) is str else codec.text(p) for p in body.get("Phones") or []]
    return await submit(request, fields, phones, sandbox=codec.flag(body.get("IsSandBox")), raw=body, headers=headers)


async def send_multiple_message_v4_post_json(request: web.Request, _args: list[str]) -> web.Response:
    body = await json_body(request)
    validate(request, "send_multiple_message_v4_post_json.request", body)
    fields = scalar_fields(body)
    if body.get("Phones"):
        phones = [codec.text(p) for p in body["Phones"]]
    else:
        phones = [p.strip() for p in fields.get("Phone", "").split(",") if p.strip()]
    sandbox = codec.flag(body.get("Sandbox")) or codec.flag(body.get("IsSandBox"))
    return await submit(request, fields, phones, sandbox=sandbox, raw=body)


async def send_multiple_message_v4_get(request: web.Request, _args: list[str]) -> web.Response:
    query = codec.canonical_query(request.query.items())
    validate(request, "send_multiple_message_v4_get.request", query)
    fields = scalar_fields(query)
    # The GET spells the Viber fields OTTUrl/OTTImgUrl/OTTLabel (esms.md §2b); scalar_fields folds them into OttX.
    # geek-sms sends several numbers comma-separated in Phone (esms.md §7).
    phones = [p.strip() for p in query.get("Phone", "").split(",") if p.strip()]
    return await submit(request, fields, phones, sandbox=codec.flag(query.get("Sandbox")), raw=dict(query))


def _queried_batch(request: web.Request) -> tuple[str, list[Message]]:
    """The status queries' shared part: the SMSID asked about (RefId) and its messages of the last 7 days."""
    query = codec.canonical_query(request.query.items(), ("RefId", "ApiKey", "SecretKey"))
    validate(request, "status_query.request", query)
    smsid = query.get("RefId", "")
    account = authenticate(request, query, smsid=smsid)  # GetSendStatus's 101 echoes the SMSID (esms.md §5 sample)
    batch = request.config_dict[backend_key].batch(account, smsid)
    if not batch:
        raise EsmsError(EsmsCode.NOT_FOUND, f"no message with SMSID {smsid!r} for this account in the last 7 days",
                        smsid=smsid)
    return smsid, batch


async def get_send_status(request: web.Request, _args: list[str]) -> web.Response:
    smsid, batch = _queried_batch(request)
    return esms_response(codec.send_status_body(smsid, batch, request.config_dict[backend_key].price))


async def get_sms_receiver_status(request: web.Request, _args: list[str]) -> web.Response:
    _smsid, batch = _queried_batch(request)
    return esms_response(codec.receiver_list_body(batch))


def _balance_body(account: Account) -> dict[str, Any]:
    balance: Decimal = account.balance
    # Balance is a JSON number (esms.md §5): an integer when whole, as in the samples (36693).
    return {"Balance": int(balance) if balance == balance.to_integral_value() else float(balance),
            "CodeResponse": "100", "UserID": account.user_id}


async def get_balance_json(request: web.Request, _args: list[str]) -> web.Response:
    body = await json_body(request)
    validate(request, "get_balance_json.request", body)
    return esms_response(_balance_body(authenticate(request, scalar_fields(body))))


async def get_balance(request: web.Request, args: list[str]) -> web.Response:
    account = authenticate(request, {"ApiKey": args[0], "SecretKey": args[1]})
    return esms_response(_balance_body(account))


async def get_list_brandname(request: web.Request, args: list[str]) -> web.Response:
    account = authenticate(request, {"ApiKey": args[0], "SecretKey": args[1]})
    brands = [{"Brandname": b, "Type": 23} for b in account.brandnames] + [
        {"Brandname": str(b["Brandname"]), "Type": int(b["Type"])} for b in account.other_brandnames
    ]
    return esms_response({"CodeResponse": "100", "ListBrandName": brands})


# --- the operation table ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str  # as documented; matched case-insensitively
    method: str
    handler: Callable[[web.Request, list[str]], Awaitable[web.Response]]
    envelope: str  # the shape of its error answers (errors.py)
    path_args: int = 0  # segments after the name: GetBalance/{ApiKey}/{SecretKey}


OPERATIONS = {
    op.name.lower(): op
    for op in (
        Operation("Send_Multiple_Sms_OTT", "POST", send_multiple_sms_ott, SEND),
        Operation("SendMultipleMessage_V4_post_json", "POST", send_multiple_message_v4_post_json, SEND),
        Operation("SendMultipleMessage_V4_get", "GET", send_multiple_message_v4_get, SEND),
        Operation("GetSendStatus", "GET", get_send_status, SEND_STATUS),
        Operation("GetSmsReceiverStatus_get", "GET", get_sms_receiver_status, RECEIVER),
        Operation("GetBalance_json", "POST", get_balance_json, BALANCE),
        Operation("GetBalance", "GET", get_balance, BALANCE, path_args=2),
        Operation("GetListBrandname", "GET", get_list_brandname, BRANDNAME, path_args=2),
    )
}


async def dispatch(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    name = request.match_info["op"]
    if fmt.lower() != "json":
        raise EsmsError(EsmsCode.ENDPOINT_NOT_FOUND, f"/{fmt}/ endpoints are not emulated; use /json/")
    op = OPERATIONS.get(name.lower())
    if op is None:
        raise EsmsError(EsmsCode.ENDPOINT_NOT_FOUND, f"unknown eSMS operation {name!r}")
    args = request.match_info.get("tail", "").split("/") if "tail" in request.match_info else []
    if args and args[-1] == "":  # one trailing slash is fine: the docs write both forms (esms.md §8 item 6)
        args.pop()
    if len(args) != op.path_args:
        raise EsmsError(EsmsCode.ENDPOINT_NOT_FOUND,
                        f"{op.name} takes {op.path_args} path segment(s) after its name, got {len(args)}")
    if request.method != op.method:
        raise EsmsError(EsmsCode.METHOD_NOT_ALLOWED, f"{op.name} is {op.method} only, not {request.method}")
    try:
        return await op.handler(request, args)
    except EsmsError as exc:
        # A framework-level failure (malformed JSON, an over-limit body) answers in WCF's envelope, whatever the
        # operation (product.md §9: CodeResult "99"); business codes in the operation's own.
        return render_error(exc, op.envelope if exc.code.http_status == 200 else SEND)


def render_fault(request: web.Request, *, status: int | None, code: Any, reason: str) -> web.Response:
    """An injected fault (/_mock/faults) in the envelope of the operation the path names."""
    parts = request.path.split("/")  # "", "MainService.svc", "json", the operation, its path arguments
    op = OPERATIONS.get(parts[3].lower()) if len(parts) > 3 else None
    smsid = codec.canonical_query(request.query.items(), ("RefId",)).get("RefId", "")
    return fault_response(status=status, code=code, reason=reason, envelope=op.envelope if op else SEND, smsid=smsid)


async def not_found(request: web.Request) -> web.Response:
    raise EsmsError(EsmsCode.ENDPOINT_NOT_FOUND, f"no eSMS endpoint at {request.path}")


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/{fmt}/{op}", dispatch)
    app.router.add_route("*", "/{fmt}/{op}/{tail:.*}", dispatch)
    app.router.add_route("*", "/{rest:.*}", not_found)  # anything else under /MainService.svc, in eSMS's envelope
