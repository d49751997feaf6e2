"""eSMS accounts at run time (/_mock/accounts/esms/...): top up or drain a balance, register a brandname."""

from __future__ import annotations


from aiohttp import web

from ...control.routes import ControlError, apply_balance, read_body
from ...httputil import json_response
from ...keys import core_key
from .backend import NAME, Account, EsmsBackend


def _account(request: web.Request) -> Account:
    # Looked up once the body is read, never before: a reset while it was read replaces every Account, and the change
    # landed on the old one (answered 200; the account sends are checked against kept its configured balance).
    backend: EsmsBackend = request.config_dict[core_key].providers[NAME].backend  # type: ignore[assignment]
    account = backend.accounts.get(request.match_info["api_key"])
    if account is None:
        raise ControlError(404, f"no eSMS account with api_key {request.match_info['api_key']!r}")
    return account


async def set_balance(request: web.Request) -> web.Response:
    """`{"balance": N}` sets it, `{"add": N}` tops it up (negative drains it)."""
    body = await read_body(request, "esms_balance.request")
    account = _account(request)
    account.balance = apply_balance(account.balance, body)
    return json_response({"api_key": account.api_key, "balance": float(account.balance)})


async def add_brandname(request: web.Request) -> web.Response:
    """`{"brandname": "X"}` registers a Viber brandname on the account."""
    body = await read_body(request, "esms_brandname.request")
    account = _account(request)
    if body["brandname"] not in account.brandnames:
        account.brandnames.append(body["brandname"])
    return json_response({"api_key": account.api_key, "brandnames": account.brandnames})


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/accounts/esms/{api_key}/balance", set_balance)
    router.add_post("/accounts/esms/{api_key}/brandnames", add_brandname)
