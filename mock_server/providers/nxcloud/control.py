"""NXCLOUD's part of the control API: balances and app webhooks at run time, simulated user replies, sessions.
Registered by mock_server/control/routes.py's add_routes (paths relative to /_mock)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...control.routes import ControlError, apply_balance, read_body
from ...core.masking import mask_url
from ...core.phones import digits
from ...httputil import json_response
from ...keys import core_key
from . import codec
from .backend import NAME, NxcloudBackend, is_http_url


async def _body(request: web.Request, schema: str) -> dict[str, Any]:
    body = await read_body(request)
    violations = request.config_dict[core_key].schemas.validate(f"nxcloud/{schema}", body)
    if violations:
        raise ControlError(400, violations[0].message)
    return body


def _backend(request: web.Request) -> NxcloudBackend:
    return request.config_dict[core_key].providers[NAME].backend  # type: ignore[return-value]


async def list_sessions(request: web.Request) -> web.Response:
    """Every session window (per app and phone) with its counts, as the session rules see them now."""
    items = _backend(request).sessions_json()
    return json_response({"items": items, "total": len(items)})


async def set_webhooks(request: web.Request) -> web.Response:
    """Change an app's dr_webhook / message_webhook / sign_callbacks now (until the next reset); answers the app."""
    body = await _body(request, "control_webhooks.request")
    for name in ("dr_webhook", "message_webhook"):
        # The schema's pattern lets "http://[::1" through, and no callback can go there: refused by the same words.
        if body.get(name) and not is_http_url(body[name]):
            raise ControlError(400, f'{name}: must be "" (none) or an http(s) URL')
    found = _backend(request).find_app(request.match_info["appkey"])
    if found is None:
        raise ControlError(404, f"no NXCLOUD app {request.match_info['appkey']!r} in the configured accounts")
    owner, app = found
    access_key = request.match_info.get("access_key")  # the path under /_mock/accounts names the app's account
    if access_key is not None and owner.access_key != access_key:
        raise ControlError(404, f"no NXCLOUD app {app.appkey!r} under access_key {access_key!r}")
    for name in ("dr_webhook", "message_webhook", "sign_callbacks"):
        if name in body:
            setattr(app, name, body[name])
    return json_response(app.to_json())


async def set_balance(request: web.Request) -> web.Response:
    """`{"balance": N}` sets an account's balance (USD), `{"add": N}` tops it up (negative drains it)."""
    body = await _body(request, "control_balance.request")
    account = _backend(request).accounts.get(request.match_info["access_key"])
    if account is None:
        raise ControlError(404, f"no NXCLOUD account with access_key {request.match_info['access_key']!r}")
    account.balance = apply_balance(account.balance, body)
    return json_response(account.to_json())


async def add_reply(request: web.Request) -> web.Response:
    """Simulate the user replying to a message the app sent: opens (or keeps) the 24 h session window, resets the
    consecutive-message count, and POSTs the documented body to the app's message_webhook (spec §3.2)."""
    core = request.config_dict[core_key]
    backend = _backend(request)
    body = await _body(request, "control_reply.request")
    appkey, phone = body["appkey"], body["phone"]
    found = backend.find_app(appkey)
    if found is None:
        raise ControlError(404, f"no NXCLOUD app {appkey!r} in the configured accounts")
    account, app = found
    sent = [m for m in core.store.query(provider=NAME, phone=phone)[0]
            if m.meta.get("appkey") == appkey and digits(m.phone) == digits(phone)]
    if "traceRequestId" in body:
        sent = [m for m in sent if m.provider_id == body["traceRequestId"]]
    if not sent:
        # "Only replies to messages the business has sent are pushed" (spec §3.2).
        raise ControlError(404, f"app {appkey} has sent no message to {phone}"
                                + (f" with requestId {body['traceRequestId']}" if "traceRequestId" in body else "")
                                + ": NXCLOUD pushes only replies to messages the business has sent")
    replied_to = sent[0]  # newest first
    session = backend.user_message(appkey, phone)
    message = {"text": body["text"]} if "text" in body else {"media": body["media"], "fileName": body["fileName"]}
    reply = codec.reply_body(replied_to.phone, appkey, replied_to.provider_id, message, core.clock.now())
    if app.message_webhook:
        backend.send_callback(account, app, kind="mo", url=app.message_webhook, body=reply, message_id=replied_to.id)
    return json_response({"reply": reply, "webhook": mask_url(app.message_webhook) or None,
                          "session": session.to_json(core.clock.now())}, status=201)


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/accounts/nxcloud/{access_key}/balance", set_balance)
    # product.md §5 puts "NXCLOUD app webhooks at run time" under POST /_mock/accounts/...: the app under its account,
    # beside its balance. The shorter path came first and stays.
    router.add_post("/accounts/nxcloud/{access_key}/apps/{appkey}/webhooks", set_webhooks)
    router.add_post("/nxcloud/apps/{appkey}/webhooks", set_webhooks)
    router.add_post("/nxcloud/replies", add_reply)
    router.add_get("/nxcloud/sessions", list_sessions)
