"""Control API handlers: health, messages, callbacks, rules, clock, reset (product.md §5, §5.1)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from .. import __version__
from ..core import StateConflict
from ..core.clock import LATEST, iso_utc
from ..core.events import (CALLBACK_ATTEMPTED, CLOSED, EVENTS_DROPPED, MESSAGE_CREATED, MESSAGE_UPDATED,
                           MESSAGES_CLEARED, RESET, Event)
from ..core.models import Status
from ..core.rules import RuleError
from ..core.store import REMOVED
from ..core.errors import reason_header
from ..httputil import BodyError, json_response, json_text, parse_json, read_bytes
from ..journal import REQUEST_RECORDED
from ..keys import core_key, faults_key, journal_key
from ..faults import FaultError
from ..ui import SECURITY_HEADERS

log = logging.getLogger(__name__)

PROVIDER_NAMES = ("esms", "infobip", "nxcloud")
MAX_LIMIT = 10_000


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": message}, status=status, headers={**reason_header(message), **(headers or {})})


def framework_error(request: web.Request, exc: web.HTTPException,
                    not_found: str = "nothing here: {path} is neither a provider endpoint nor under /_mock",
                    ) -> web.Response | None:
    """The JSON answer to aiohttp's own failures (None: `exc` is none of them): a path nothing claims, a wrong method
    (405 with the `Allow` header RFC 9110 §15.5.6 requires: "MUST generate"), an over-limit body. The root layer, the
    control API and the request journal (so that its entry keeps the answer) all answer with it."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        return error_response(405, f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}",
                              {"Allow": ", ".join(allowed)})
    if isinstance(exc, web.HTTPNotFound):
        return error_response(404, not_found.format(path=request.path))
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(413, "body larger than [server] max_body_bytes")
    return None


@web.middleware
async def control_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except ControlError as exc:
        return error_response(exc.status, exc.message)
    except (web.HTTPRequestEntityTooLarge, web.HTTPMethodNotAllowed, web.HTTPNotFound) as exc:
        answer = framework_error(request, exc, not_found="no control endpoint at {path}")
        if answer is not None and (request.path == "/_mock/ui" or request.path.startswith("/_mock/ui/")):
            # README: every UI response carries the security headers, its 404s and 405s too (they echo the path).
            answer.headers.update(SECURITY_HEADERS)
        return answer
    except (web.HTTPException, ConnectionResetError):
        raise  # a client that hung up mid-body is no error of the mock's: the root layer drops it quietly
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error in the mock (see its log)")


BALANCE_LIMIT = Decimal(10) ** 15  # a balance stays within ±10^15 (README "Out-of-range values")


def apply_balance(current: Decimal, body: dict[str, Any]) -> Decimal:
    """A balance change of the control API (validated by its schema): `{"balance": N}` sets, `{"add": N}` tops up."""
    if "balance" in body:
        return Decimal(str(body["balance"]))
    balance = current + Decimal(str(body["add"]))
    if abs(balance) > BALANCE_LIMIT:
        raise ControlError(400, f"add: the balance would be {balance}, beyond ±10^15")
    return balance


async def read_body(request: web.Request, schema: str | None = None) -> dict[str, Any]:
    try:
        body = parse_json(await read_bytes(request))
    except BodyError as exc:
        raise ControlError(413 if exc.kind == "too_large" else 400, exc.reason) from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    if schema:
        violations = request.config_dict[core_key].schemas.validate(f"control/{schema}", body)
        if violations:
            raise ControlError(400, violations[0].message)
    return body


def _limit(request: web.Request, default: int | None = None) -> int | None:
    raw = request.query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ControlError(400, f"limit must be an integer, not {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ControlError(400, f"limit must be between 1 and {MAX_LIMIT}")
    return value


# --- health ----------------------------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    """Liveness, version, uptime, clock and counts."""
    core = request.config_dict[core_key]
    by_provider, by_status = core.store.counts()
    return json_response({
        "status": "ok",
        "version": __version__,
        "uptime_seconds": round(time.time() - core.started_at, 3),
        "clock": {"mode": "manual" if core.clock.manual else "real", "now": iso_utc(core.clock.now())},
        "store": core.settings.store,
        "store_write_errors": core.persist.errors,  # failed writes to the durable store (each is in the log)
        "counts": {
            "messages": len(core.store),
            "evicted": core.store.evicted,
            "max_messages": core.store.max_messages,
            "journal": len(request.config_dict[journal_key].entries),
            "journal_evicted": request.config_dict[journal_key].evicted,
            "by_provider": by_provider,
            "by_status": by_status,
            "scheduled": len(core.scheduler),
            "callbacks_attempted": len(core.callbacks.attempts),
            "callbacks_pending": core.callbacks.pending,
            "rules": len(core.outcomes.rules),
        },
    })


# --- messages --------------------------------------------------------------------------------------------------------


async def list_messages(request: web.Request) -> web.Response:
    """Stored messages, newest first; filters provider, phone (either form), status, limit; view full or summary."""
    core = request.config_dict[core_key]
    provider = request.query.get("provider") or None
    if provider is not None and provider not in PROVIDER_NAMES:
        raise ControlError(400, f"provider must be one of {', '.join(PROVIDER_NAMES)}")
    status = request.query.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        raise ControlError(400, f"status must be one of {', '.join(s.value for s in Status)}")
    view = request.query.get("view") or "full"
    if view not in ("full", "summary"):
        raise ControlError(400, "view must be full or summary")
    items, total = core.store.query(
        provider=provider,
        phone=request.query.get("phone") or None,
        status=Status(status) if status else None,
        limit=_limit(request, 100),
    )
    # The inbox loads up to 10 000 messages as summaries: after two 5 000-phone eSMS sends, the full list was a 658 MB
    # answer that held the event loop 18.7 s (each message repeats its batch's 65 KB body).
    summary = view == "summary"
    return json_response({"items": [m.to_json(summary=summary) for m in items], "total": total})


async def get_message(request: web.Request) -> web.Response:
    """One message by id; `latest` is the newest."""
    core = request.config_dict[core_key]
    message_id = request.match_info["id"]
    message = core.store.latest() if message_id == "latest" else core.store.get(message_id)
    if message is None:
        raise ControlError(404, "no messages yet" if message_id == "latest" else f"no message {message_id!r}")
    return json_response(message.to_json())


async def delete_messages(request: web.Request) -> web.Response:
    """Forget every message."""
    return json_response({"deleted": request.config_dict[core_key].clear_messages()})


async def force_status(request: web.Request) -> web.Response:
    """Force a status now (`{"status": "delivered"}`), firing the callbacks and reports it implies; `latest` is the
    newest message, as on GET /_mock/messages/{id} (product.md §5)."""
    core = request.config_dict[core_key]
    message_id = request.match_info["id"]
    message = core.store.latest() if message_id == "latest" else core.store.get(message_id)
    if message is None:
        raise ControlError(404, "no messages yet" if message_id == "latest" else f"no message {message_id!r}")
    body = await read_body(request, "message_status.request")
    # Not stored any more: a DELETE /_mock/messages or a reset came while the body was read. Forced all the same, the
    # gone message fired its callbacks, and its durable row was written back (it came back at the next start).
    if message.seq == REMOVED:
        raise ControlError(404, f"no message {message.id!r}")
    try:
        core.force_status(message, Status(body["status"]))
    except StateConflict as exc:
        raise ControlError(409, str(exc)) from None
    return json_response(message.to_json())


# --- callbacks -------------------------------------------------------------------------------------------------------


async def list_callbacks(request: web.Request) -> web.Response:
    """Every callback attempt, newest first; filters message_id, limit."""
    core = request.config_dict[core_key]
    message_id = request.query.get("message_id") or None
    items = [a for a in reversed(core.callbacks.attempts) if message_id is None or a.message_id == message_id]
    limit = _limit(request, None)
    return json_response({"items": [a.to_json() for a in items[:limit]], "total": len(items)})


async def replay_callback(request: web.Request) -> web.Response:
    """Send a recorded callback again (a new series of tries)."""
    core = request.config_dict[core_key]
    attempt = core.callbacks.find(request.match_info["id"])
    if attempt is None or attempt.source is None:
        raise ControlError(404, f"no callback attempt {request.match_info['id']!r}")
    core.callbacks.replay(attempt)
    return json_response({"replayed": attempt.id}, status=202)


# --- events ----------------------------------------------------------------------------------------------------------

KEEPALIVE_SECONDS = 15.0
# What ?types= may name: every event the stream sends (events.dropped is sent whatever ?types= says).
EVENT_TYPES = (MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGES_CLEARED, CALLBACK_ATTEMPTED, REQUEST_RECORDED, RESET,
               EVENTS_DROPPED)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: message.created, message.updated, callback.attempted, reset (Mailpit's api/events)."""
    core = request.config_dict[core_key]
    if request.query.get("since"):
        # The bus keeps no history, so there is nothing to send "since" anything: refused, not ignored (ignored, it
        # started a stream, and a client resuming from an id, or a typo such as since=abc, was told nothing).
        raise ControlError(400, "since: the event stream has no history, it sends what happens from now on (read "
                                "what came before from /_mock/messages, /_mock/callbacks or /_mock/requests?since=)")
    wanted = {t for t in request.query.get("types", "").split(",") if t}
    if unknown := sorted(wanted.difference(EVENT_TYPES)):
        # A misspelt type (message.update) matched nothing, and the stream stayed silent for good.
        raise ControlError(400, f"types: unknown event type(s) {', '.join(unknown)}; the types are "
                                f"{', '.join(EVENT_TYPES)}")
    sub = core.events.subscribe()
    # X-Mock-Server here: a stream's headers go out at prepare(), before the root middleware could add it.
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no", "X-Mock-Server": __version__})
    try:
        await response.prepare(request)
        await response.write(b": connected\n\n")
        while True:
            try:
                event: Event = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event.type == CLOSED:
                break  # the server is stopping
            if sub.dropped:
                # The bus dropped events this stream could not keep up with (a clock advance over thousands of
                # messages publishes them all at once): say how many, whatever ?types= asks for, so the inbox (or a
                # waiting test) reloads instead of showing statuses that silently stopped changing.
                lost, sub.dropped = sub.dropped, 0
                await response.write(f"event: {EVENTS_DROPPED}\ndata: {json_text({'dropped': lost})}\n\n".encode())
            if wanted and event.type not in wanted:
                continue
            # json_text: a journaled header byte aiohttp decoded with surrogateescape has no UTF-8 form as is; encoded
            # raw it raised UnicodeEncodeError and cut every open stream (request.recorded carries the headers).
            data = json_text(event.data)
            await response.write(f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        core.events.unsubscribe(sub)
    return response


# --- request journal -------------------------------------------------------------------------------------------------


async def list_requests(request: web.Request) -> web.Response:
    """Every provider request received, newest first, with the answer given and why; filters provider, path
    (substring), status, since (an ISO time of the mock clock, or a request id such as req_12), limit."""
    journal = request.config_dict[journal_key]
    provider = request.query.get("provider") or None
    if provider is not None and provider not in (*PROVIDER_NAMES, "unknown"):
        raise ControlError(400, f"provider must be one of {', '.join(PROVIDER_NAMES)}, unknown")
    status = request.query.get("status") or None
    # isdigit() alone would pass "²" and 5000-digit strings that int() refuses: ASCII digits, at most 3 of them.
    if status is not None and not (status.isascii() and status.isdigit() and len(status) <= 3):
        raise ControlError(400, f"status must be an HTTP status code, not {status!r}")
    since = request.query.get("since") or None
    since_seq = since_at = None
    if since is not None:
        if since.startswith("req_") and since[4:].isascii() and since[4:].isdigit() and len(since) <= 24:
            since_seq = int(since[4:])
        else:
            since_at = _parse_time(since, "since")
    items, total = journal.query(provider=provider, path=request.query.get("path") or None,
                                 status=int(status) if status else None, since_seq=since_seq, since_at=since_at,
                                 limit=_limit(request, 100))
    return json_response({"items": [e.to_json() for e in items], "total": total, "evicted": journal.evicted})


def _parse_time(value: str, name: str) -> float:
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ControlError(400, f"{name} must be an ISO 8601 time or a request id (req_N), not {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


# --- faults ----------------------------------------------------------------------------------------------------------


async def list_faults(request: web.Request) -> web.Response:
    """Active faults, newest first."""
    faults = request.config_dict[faults_key].faults
    return json_response({"items": [f.to_json() for f in reversed(faults)], "total": len(faults)})


async def add_fault(request: web.Request) -> web.Response:
    """Add a fault; answers it with its id (201)."""
    body = await read_body(request, "fault.request")
    try:
        fault = request.config_dict[faults_key].add(body)
    except FaultError as exc:
        raise ControlError(400, str(exc)) from None
    return json_response(fault.to_json(), status=201)


async def delete_faults(request: web.Request) -> web.Response:
    faults = request.config_dict[faults_key]
    count = len(faults.faults)
    faults.faults.clear()
    return json_response({"deleted": count})


async def delete_fault(request: web.Request) -> web.Response:
    if not request.config_dict[faults_key].remove(request.match_info["id"]):
        raise ControlError(404, f"no fault {request.match_info['id']!r}")
    return json_response({"deleted": 1})


# --- OpenAPI ---------------------------------------------------------------------------------------------------------


async def openapi(request: web.Request) -> web.Response:
    """An OpenAPI 3.1 document of the control API and the emulated endpoints, from the schemas the server uses."""
    from .. import openapi as oas

    root = request.match_info.apps[0]  # the root application: every provider and the control API
    return json_response(oas.build(root, request.config_dict[core_key].schemas))


# --- accounts --------------------------------------------------------------------------------------------------------


async def list_accounts(request: web.Request) -> web.Response:
    """Each provider's accounts as they are now (balances, brandnames, apps); secrets left out."""
    core = request.config_dict[core_key]
    return json_response({name: hooks.accounts() for name, hooks in core.providers.items() if hooks.accounts})


# --- rules -----------------------------------------------------------------------------------------------------------


async def list_rules(request: web.Request) -> web.Response:
    """Active outcome rules, newest first (the newest matching rule wins)."""
    rules = request.config_dict[core_key].outcomes.rules
    return json_response({"items": [r.to_json() for r in reversed(rules)], "total": len(rules)})


async def add_rule(request: web.Request) -> web.Response:
    """Add an outcome rule; answers it with its id (201)."""
    body = await read_body(request, "rule.request")
    try:
        rule = request.config_dict[core_key].outcomes.add_rule(body)
    except RuleError as exc:
        raise ControlError(400, str(exc)) from None
    return json_response(rule.to_json(), status=201)


async def delete_rules(request: web.Request) -> web.Response:
    """Remove every rule."""
    outcomes = request.config_dict[core_key].outcomes
    count = len(outcomes.rules)
    outcomes.rules.clear()
    return json_response({"deleted": count})


async def delete_rule(request: web.Request) -> web.Response:
    """Remove one rule."""
    rule_id = request.match_info["id"]
    if not request.config_dict[core_key].outcomes.remove_rule(rule_id):
        raise ControlError(404, f"no rule {rule_id!r}")
    return json_response({"deleted": 1})


# --- clock and reset -------------------------------------------------------------------------------------------------


async def get_clock(request: web.Request) -> web.Response:
    core = request.config_dict[core_key]
    return json_response({"now": iso_utc(core.clock.now()), "mode": "manual" if core.clock.manual else "real"})


async def advance_clock(request: web.Request) -> web.Response:
    """Move the mock clock forward by `seconds`; everything that fell due has happened when this answers."""
    body = await read_body(request, "clock_advance.request")
    core, seconds = request.config_dict[core_key], float(body["seconds"])
    if core.clock.now() + seconds >= LATEST:
        raise ControlError(400, f"seconds: {seconds:g} would move the mock clock past the year 9000, which it never "
                                "passes (it is at " + iso_utc(core.clock.now()) + ")")
    return json_response({"now": iso_utc(core.advance(seconds))})


async def reset(request: web.Request) -> web.Response:
    """Back to the configured start state (product.md §9)."""
    request.config_dict[core_key].reset()
    return json_response({"status": "reset"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/health", health)
    r.add_get("/messages", list_messages)
    r.add_delete("/messages", delete_messages)
    r.add_get("/messages/{id}", get_message)
    r.add_post("/messages/{id}/status", force_status)
    r.add_get("/callbacks", list_callbacks)
    r.add_post("/callbacks/{id}/replay", replay_callback)
    r.add_get("/events", events)
    r.add_get("/rules", list_rules)
    r.add_post("/rules", add_rule)
    r.add_delete("/rules", delete_rules)
    r.add_delete("/rules/{id}", delete_rule)
    r.add_get("/clock", get_clock)
    r.add_post("/clock/advance", advance_clock)
    r.add_post("/reset", reset)
    r.add_get("/requests", list_requests)
    r.add_get("/faults", list_faults)
    r.add_post("/faults", add_fault)
    r.add_delete("/faults", delete_faults)
    r.add_delete("/faults/{id}", delete_fault)
    r.add_get("/accounts", list_accounts)
    r.add_get("/openapi.json", openapi)
    from ..providers.esms.control import add_control_routes as add_esms_routes  # local: import cycle
    add_esms_routes(r)
    from ..providers.nxcloud.control import add_control_routes as add_nxcloud_routes  # local: import cycle
    add_nxcloud_routes(r)
