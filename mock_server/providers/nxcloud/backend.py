"""NXCLOUD state: accounts, their apps (webhooks, status), balances and session windows; and the receipts, sent to the app's dr_webhook on every status change (the on_status hook)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlsplit

from ...core import Core, ProviderHooks
from ...core.callbacks import CallbackRequest
from ...core.clock import iso_utc
from ...core.masking import mask_url
from ...core.models import Message, StatusChange
from ...core.phones import digits
from ...httputil import dumps
from . import codec
from .errors import NxcloudCode, NxcloudError
from .signing import sign_headers

log = logging.getLogger(__name__)

NAME = "nxcloud"

# Session rules (seeds/004 "Session Description"): a 24 h window opened by the user, at most 5 session messages in a
# row without a reply, at most 60 per session (then it ends).
SESSION_WINDOW = 24 * 3600.0
MAX_CONSECUTIVE = 5
MAX_PER_SESSION = 60

# Prices in USD per message by billed rateType [I]: NXCLOUD publishes no price list; these are of the order of the
# receipt example's (spec §3.1). Configurable as [nxcloud] prices = { Transactional = …, … }.
DEFAULT_PRICES = {"Transactional": "0.0130", "Promotional": "0.0210", "Session": "0.0090", "OtpTemplate": "0.0130"}
DEFAULT_CNY_PER_USD = "7.25"  # localPrice / originalPrice in the receipt example: 29.89465 / 4.1234 ≈ 7.25
# A Session message sent outside a session is "billed separately based on the message type (e.g., for text type
# messages, … billed as Transactional)" (seeds/004): text and file are Transactional types, image Promotional.
OUTSIDE_SESSION_RATE = {"text": "Transactional", "file": "Transactional", "image": "Promotional"}


@dataclass
class App:
    appkey: str
    dr_webhook: str  # receipts go here ("" = none)
    message_webhook: str  # user replies go here ("" = none)
    disabled: bool = False  # 9003 "Customer APP does not exist / Status is unavailable"
    quotation: bool = True  # false: 9004 "Customer APP does not have quotation"
    routes: bool = True  # false: 9005 "Missing customer APP routes"
    sign_callbacks: bool = False  # sign receipts and replies like requests (bizType 7, action dr / mo; spec §3.3)

    def to_json(self) -> dict[str, Any]:
        """The app as the control API shows it: a webhook's password masked (it is sent as Basic auth, not shown)."""
        return {"appkey": self.appkey, "dr_webhook": mask_url(self.dr_webhook),
                "message_webhook": mask_url(self.message_webhook), "disabled": self.disabled,
                "quotation": self.quotation, "routes": self.routes, "sign_callbacks": self.sign_callbacks}

    def to_record(self) -> dict[str, Any]:
        """What the durable store keeps: the webhooks as sent to."""
        return {"dr_webhook": self.dr_webhook, "message_webhook": self.message_webhook,
                "sign_callbacks": self.sign_callbacks}


@dataclass
class Account:
    access_key: str
    access_secret: str
    balance: Decimal  # USD; each accepted message costs its billed price
    apps: dict[str, App] = field(default_factory=dict)  # appkey -> app
    disabled: bool = False  # 1100 "Customer does not exist / Status is unavailable"

    def to_json(self) -> dict[str, Any]:
        return {"access_key": self.access_key, "balance": float(self.balance), "disabled": self.disabled,
                "apps": [a.to_json() for a in self.apps.values()]}


@dataclass
class Session:
    appkey: str
    phone: str  # digits
    opened_at: float  # mock time of the user message that opened it
    ends_at: float  # opened_at + 24 h
    sent: int = 0  # session messages sent in this session
    consecutive: int = 0  # session messages since the user's last message

    def active(self, now: float) -> bool:
        return now < self.ends_at and self.sent < MAX_PER_SESSION

    def to_json(self, now: float) -> dict[str, Any]:
        return {"appkey": self.appkey, "phone": self.phone, "opened_at": iso_utc(self.opened_at),
                "ends_at": iso_utc(self.ends_at), "active": self.active(now), "sent": self.sent,
                "consecutive": self.consecutive}


@dataclass(frozen=True)
class Billing:
    rate_type: str  # what the message is billed as (cost.rateType)
    price: Decimal  # USD
    session: Session | None = None  # the open session it is sent in, counted on commit


def _flag(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    return bool(raw.get(name, default))


def is_http_url(url: str) -> bool:
    """An http(s) URL a receipt can be sent to: it parses, names a host, and its port (if any) is 1-65535, as the
    callback client needs (core/http_client.py refuses the rest with a ValueError at every try)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # "http://h:99999/x" and "http://h:abc/x" parse, and fail only here
    except ValueError:  # "http://[::1" and the like
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


class NxcloudBackend:
    """Everything NXCLOUD remembers besides the messages themselves (which live in the core store)."""

    def __init__(self, core: Core, config: Mapping[str, Any]) -> None:
        self.core = core
        self.config = config
        self.prices = {k: Decimal(str(v)) for k, v in {**DEFAULT_PRICES, **dict(config.get("prices", {}))}.items()}
        self.cny_per_usd = Decimal(str(config.get("cny_per_usd", DEFAULT_CNY_PER_USD)))
        self.lenient_signing = bool(config.get("lenient_signing", False))  # accept `algorithm` inside headersStr
        self.reset()
        core.register_provider(NAME, ProviderHooks(on_status=self.on_status, reset=self.reset, dump=self.dump,
                                                   restore=self.restore,
                                                   accounts=self.accounts_json, backend=self))
        core.callbacks.signers[NAME] = self.sign_callback

    def reset(self) -> None:
        """The configured start state: accounts, balances, app webhooks; no sessions."""
        sign_default = bool(self.config.get("sign_callbacks", False))
        self.accounts: dict[str, Account] = {}  # access_key -> account, from [[nxcloud.accounts]]
        for raw in self.config.get("accounts", ()):
            account = Account(
                access_key=str(raw["access_key"]),
                access_secret=str(raw["access_secret"]),
                balance=Decimal(str(raw.get("balance", 0))),
                disabled=_flag(raw, "disabled", False),
            )
            for app_raw in raw.get("apps", ()):
                app = App(
                    appkey=str(app_raw["appkey"]),
                    dr_webhook=str(app_raw.get("dr_webhook", "")),
                    message_webhook=str(app_raw.get("message_webhook", "")),
                    disabled=_flag(app_raw, "disabled", False),
                    quotation=_flag(app_raw, "quotation", True),
                    routes=_flag(app_raw, "routes", True),
                    sign_callbacks=_flag(app_raw, "sign_callbacks", sign_default),
                )
                account.apps[app.appkey] = app
            self.accounts[account.access_key] = account
        self.sessions: dict[tuple[str, str], Session] = {}  # (appkey, phone digits) -> the latest session

    # --- lookups ---------------------------------------------------------------------------------------------------

    def find_app(self, appkey: str) -> tuple[Account, App] | None:
        for account in self.accounts.values():
            if appkey in account.apps:
                return account, account.apps[appkey]
        return None

    # --- sessions and billing --------------------------------------------------------------------------------------

    def session(self, appkey: str, phone: str) -> Session | None:
        return self.sessions.get((appkey, digits(phone)))

    def billing(self, appkey: str, phone: str, function_type: str, rate_type: str) -> Billing:
        """What this message is billed as, applying the session rules for rateType Session (seeds/004)."""
        if rate_type != "Session":
            return Billing(rate_type, self.prices.get(rate_type, Decimal(0)))
        now = self.core.clock.now()
        session = self.session(appkey, phone)
        if session is None or not session.active(now):
            # No session (never opened, 24 h over, or ended after 60 messages): billed by the message's type.
            billed = OUTSIDE_SESSION_RATE.get(function_type, "Transactional")
            return Billing(billed, self.prices.get(billed, Decimal(0)))
        if session.consecutive >= MAX_CONSECUTIVE:
            # No code is documented for this limit: -1 "Failure" is the generic refusal [I].
            raise NxcloudError(
                NxcloudCode.FAILURE,
                f"session limit: {MAX_CONSECUTIVE} consecutive Session messages to {session.phone} without a user "
                f"reply; the user must reply before the next one (simulate it with POST /_mock/nxcloud/replies)")
        # "the first session message will be billed as Session, and subsequent session messages … not billed"
        price = self.prices.get("Session", Decimal(0)) if session.sent == 0 else Decimal(0)
        return Billing("Session", price, session)

    def commit(self, account: Account, billing: Billing) -> None:
        account.balance -= billing.price
        if billing.session is not None:
            billing.session.sent += 1
            billing.session.consecutive += 1

    def user_message(self, appkey: str, phone: str) -> Session:
        """A user message opens a 24 h session when none is open, and always resets the consecutive count."""
        now = self.core.clock.now()
        session = self.session(appkey, phone)
        if session is None or not session.active(now):
            session = Session(appkey, digits(phone), opened_at=now, ends_at=now + SESSION_WINDOW)
            self.sessions[(appkey, digits(phone))] = session
        session.consecutive = 0
        return session

    # --- callbacks -------------------------------------------------------------------------------------------------

    def send_callback(self, account: Account, app: App, *, kind: str, url: str, body: dict[str, Any],
                      message_id: str | None) -> None:
        """POST JSON to `url`; the bytes are fixed here so that a signature covers exactly what is sent."""
        raw = dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        # spec §3.3: the DID callback signs with the request convention; action dr / mo is guessed [I]. Signed by the
        # dispatcher at each try (sign_callback), so that every try carries its own ts.
        self.core.callbacks.enqueue(CallbackRequest(provider=NAME, kind=kind, method="POST", url=url, json_body=body,
                                                    body_bytes=raw, headers=headers, message_id=message_id,
                                                    sign_as=account.access_key if app.sign_callbacks else None))

    def sign_callback(self, request: CallbackRequest, body: bytes) -> dict[str, str]:
        """The signature headers of one try of a signed callback (accessKey, ts, bizType, action, sign)."""
        account = self.accounts.get(request.sign_as or "")
        if account is None:  # not configured any more (a restart with another config): sent unsigned
            return {}
        return sign_headers(account.access_key, account.access_secret, body, action=request.kind, content_type=None)

    def on_status(self, message: Message, change: StatusChange) -> None:
        """The `success` receipt when the message is sent, then its final state (and `seen`), to the app's current
        dr_webhook (spec §3.1; product.md §9)."""
        account = self.accounts.get(message.account)
        app = account.apps.get(message.meta.get("appkey", "")) if account else None
        if account is None or app is None:
            return
        meta = message.meta
        cost = codec.cost(Decimal(meta["price"]), self.cny_per_usd, meta["billed_rate_type"]) if "price" in meta else None
        body = codec.receipt(change.status, message.provider_id, change.at, cost)
        if body is None:
            return
        why = (f"app {app.appkey} has no dr_webhook" if not app.dr_webhook
               else None if is_http_url(app.dr_webhook) else "dr_webhook is not an http(s) URL")
        if why is not None:
            # A new meta dict and list, never changed in place: an event already published holds the old ones.
            message.meta = {**meta, "receipts_skipped": [*meta.get("receipts_skipped", ()), f"{body['status']}: {why}"]}
            return
        self.send_callback(account, app, kind="dr", url=app.dr_webhook, body=body, message_id=message.id)

    # --- durability (--store sqlite:PATH) --------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Balances, app webhooks and flags, and the sessions."""
        return {
            "accounts": {k: {"balance": str(a.balance), "apps": {ak: app.to_record() for ak, app in a.apps.items()}}
                         for k, a in self.accounts.items()},
            "sessions": [[s.appkey, s.phone, s.opened_at, s.ends_at, s.sent, s.consecutive]
                         for s in self.sessions.values()],
        }

    def restore(self, rows: dict[str, Any]) -> None:
        state = rows.get("state", {})
        for key, saved in state.get("accounts", {}).items():
            account = self.accounts.get(key)
            if account is None:
                continue
            account.balance = Decimal(saved["balance"])
            for appkey, app in saved.get("apps", {}).items():
                if appkey in account.apps:
                    for name in ("dr_webhook", "message_webhook", "sign_callbacks"):
                        setattr(account.apps[appkey], name, app[name])
        for appkey, phone, opened, ends, sent, consecutive in state.get("sessions", []):
            self.sessions[(appkey, phone)] = Session(appkey, phone, opened, ends, sent, consecutive)

    # --- control views ------------------------------------------------------------------------------------------

    def accounts_json(self) -> list[dict[str, Any]]:
        """The accounts as GET /_mock/accounts shows them: balances, apps and webhooks, no secrets."""
        return [a.to_json() for a in self.accounts.values()]

    def sessions_json(self) -> list[dict[str, Any]]:
        """Newest first, as every list of the control API (product.md §5.1): by the time each window opened (the dict
        keeps the order each app and phone first had one, and a window opened again takes the old one's place)."""
        now = self.core.clock.now()
        newest = sorted(reversed(self.sessions.values()), key=lambda s: s.opened_at, reverse=True)
        return [s.to_json(now) for s in newest]
