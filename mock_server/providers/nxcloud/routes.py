"""NXCLOUD routes: `POST /api/viber/mt` and its thin handler; every other path or verb under /api/viber answers in
NXCLOUD's envelope too (HTTP 200 with a documented code), never aiohttp's text pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...core.rules import SUBMIT_OUTCOMES
from ...httputil import BodyError, is_json_content_type, json_response, parse_json, read_bytes
from ...keys import core_key
from . import codec, signing
from .backend import NAME, Account, NxcloudBackend
from .errors import NxcloudCode, NxcloudError, from_violations

backend_key = web.AppKey("nxcloud_backend", NxcloudBackend)

# Rejections at submit decided by a rule or a magic number (product.md §4), as NXCLOUD answers them.
SUBMIT_CODES: dict[str, NxcloudCode] = {
    "rejected": NxcloudCode.PHONE_NUMBER_ERROR,
    # NXCLOUD documents no blocklist code. 9002 "Phone number error" ("Invalid phone number, please check the
    # correctness of the number") is the only code about the recipient, and a blocked number cannot be sent to: the
    # nearest documented code. X-Mock-Reason says it was blocked.
    "blocked": NxcloudCode.PHONE_NUMBER_ERROR,
    "no_balance": NxcloudCode.INSUFFICIENT_BALANCE,
    "provider_error": NxcloudCode.SYSTEM_BUSINESS_ERROR,
}


def authenticate(request: web.Request, backend: NxcloudBackend) -> Account:
    """The common-header checks in the order the spec decides (decision 3): 1001 → 1002 → 1004 → 1005, then the
    request-shape causes of 1003 (algorithm, Content-Type). The signature itself needs the body: see viber_mt."""
    h = request.headers  # CIMultiDictProxy: header names are case-insensitive (spec §1.1)
    missing = [name for name in signing.REQUIRED_HEADERS if not h.get(name, "").strip()]
    if missing:
        raise NxcloudError(NxcloudCode.MISSING_PARAMETERS, f"missing common header(s): {', '.join(missing)}")
    if h["bizType"] != "7":
        raise NxcloudError(NxcloudCode.PARAMETER_ERROR, f"bizType must be \"7\" (Viber) here, got {h['bizType']!r}")
    if h["action"] != "mt":
        raise NxcloudError(NxcloudCode.PARAMETER_ERROR, f"action must be \"mt\" here, got {h['action']!r}")
    ts = h["ts"].strip()
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 20:
        raise NxcloudError(NxcloudCode.TIMESTAMP_EXPIRED, f"ts must be epoch milliseconds (digits only), got {ts!r}")
    # The real wall clock, not the mock clock: ts guards transport freshness (product.md §9).
    drift_ms = signing.wall_clock_ms() - int(ts)
    if abs(drift_ms) > signing.TS_WINDOW_MS:
        raise NxcloudError(NxcloudCode.TIMESTAMP_EXPIRED,
                           f"ts {ts} is {abs(drift_ms) / 1000:.3f} s from the server's wall clock; at most 60 s "
                           "allowed (ts is in milliseconds)")
    account = backend.accounts.get(h["accessKey"])
    if account is None:
        raise NxcloudError(NxcloudCode.INSUFFICIENT_PERMISSIONS,
                           f"accessKey {h['accessKey']!r} is not a configured NXCLOUD account")
    algorithm = h.get("algorithm", "").strip() or "md5"
    if algorithm.lower() not in signing.ALGORITHMS:
        raise NxcloudError(NxcloudCode.INVALID_SIGNATURE, f"algorithm must be md5 or sha256, got {algorithm!r}")
    if not is_json_content_type(request):
        # The convention lists a wrong Content-Type among the causes of 1003 (spec decision 5, §4).
        sent = request.headers.get("Content-Type")  # request.content_type defaults to application/octet-stream
        raise NxcloudError(NxcloudCode.INVALID_SIGNATURE,
                           f"Content-Type must be application/json, got {sent!r}" if sent else
                           "no Content-Type header; it must be application/json")
    return account


def check_sign(request: web.Request, account: Account, raw: bytes, lenient: bool) -> None:
    h = request.headers
    if signing.verify_sign(h, raw, account.access_secret, lenient=lenient):
        return
    algorithm = (h.get("algorithm", "").strip() or "md5").lower()
    expected = signing.compute_sign(h, raw, account.access_secret, algorithm=algorithm)
    body_part = f"&body=<the {len(raw)} body bytes as sent>" if raw else ""
    raise NxcloudError(NxcloudCode.INVALID_SIGNATURE,
                       f"sign does not match: expected {algorithm}(\"accessKey=...&action=...&bizType=...&ts=...{body_part}"
                       f"&accessSecret=...\") = {expected}, got {h['sign']!r}; sign the exact bytes you send")


async def viber_mt(request: web.Request) -> web.Response:
    """POST /api/viber/mt: authenticate, verify the signature over the raw bytes, validate, then accept or refuse."""
    core = request.config_dict[core_key]
    backend = request.config_dict[backend_key]
    account = authenticate(request, backend)
    limit = core.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        # Decided from the declared length: a middleware (the request journal) may have consumed part of the body.
        raise NxcloudError(NxcloudCode.REQUEST_PARAMETER_ERROR,
                           f"body of {request.content_length} bytes is larger than the {limit} bytes allowed "
                           "([server] max_body_bytes)")
    try:
        raw = await read_bytes(request)
    except BodyError as exc:
        # product.md §9: an over-limit body answers HTTP 200 with 9000.
        raise NxcloudError(NxcloudCode.REQUEST_PARAMETER_ERROR, exc.reason) from None
    # Again, once the body is read: a reset meanwhile replaced every Account, and the send was charged to (and its
    # app's state read from) the old one, so the account the next sends are checked against was never charged.
    account = authenticate(request, backend)
    check_sign(request, account, raw, backend.lenient_signing)
    try:
        received = parse_json(raw)
    except BodyError as exc:
        # product.md §9: a correctly signed body that is not JSON (or not UTF-8) answers 9000.
        raise NxcloudError(NxcloudCode.REQUEST_PARAMETER_ERROR, exc.reason) from None
    body: Any = codec.normalise(received)
    violations = core.schemas.validate("nxcloud/mt.request", body)
    if violations:
        raise from_violations(violations)
    appkey, phone, data = body["appkey"], body["phone"], body["messageData"]
    if account.disabled:
        raise NxcloudError(NxcloudCode.CUSTOMER_UNAVAILABLE, f"account {account.access_key} is disabled in the config")
    app = account.apps.get(appkey)
    if app is None or app.disabled:
        why = "is disabled" if app is not None else "is not an app of this account"
        raise NxcloudError(NxcloudCode.APP_UNAVAILABLE, f"appkey {appkey!r} {why}")
    if not app.quotation:
        raise NxcloudError(NxcloudCode.APP_NO_QUOTATION, f"app {appkey} has quotation = false")
    if not app.routes:
        raise NxcloudError(NxcloudCode.APP_ROUTES_MISSING, f"app {appkey} has routes = false")
    decision = core.decide(NAME, "viber", phone, consume=False)  # used up only once the message is accepted
    if decision.outcome in SUBMIT_OUTCOMES:
        core.use(decision)
        raise NxcloudError(SUBMIT_CODES[decision.outcome], f"{decision.source}: {decision.outcome} for phone {phone}")
    billing = backend.billing(appkey, phone, body["functionType"], data["rateType"])
    if account.balance < billing.price:
        raise NxcloudError(NxcloudCode.INSUFFICIENT_BALANCE,
                           f"balance {account.balance} USD is below the {billing.price} USD this "
                           f"{billing.rate_type} message costs")
    backend.commit(account, billing)
    core.use(decision)
    request_id = core.uuid().hex  # 32 lowercase hex, the shape of the documented requestId (spec decision 2)
    message = core.new_message(
        provider=NAME,
        provider_id=request_id,
        account=account.access_key,
        phone=phone,
        channel="viber",
        content=codec.content_of(data),
        meta={"appkey": appkey, "function_type": body["functionType"], "rate_type": data["rateType"],
              "billed_rate_type": billing.rate_type, "price": str(billing.price),
              "in_session": billing.session is not None},
        raw_request=received,
    )
    core.accept(message, decision)
    return json_response(codec.send_success(request_id))


async def not_found(request: web.Request) -> web.Response:
    if request.path.rstrip("/") == "/api/viber/mt" and request.method != "POST":
        # The convention lists a wrong request method among the causes of 1003 (spec §4).
        raise NxcloudError(NxcloudCode.INVALID_SIGNATURE, f"{request.method} is not allowed: /api/viber/mt is POST only")
    raise NxcloudError(NxcloudCode.FAILURE, f"no NXCLOUD endpoint at {request.path}; the Viber API is POST /api/viber/mt"
                                            " (no trailing slash)")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/mt", viber_mt)
    app.router.add_route("*", "/{rest:.*}", not_found)  # anything else under /api/viber, in NXCLOUD's envelope
