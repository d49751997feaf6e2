"""eSMS state: accounts and balances, registered brandnames, RequestId dedup; the callback on each final state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from ...core import Core, ProviderHooks
from ...core.callbacks import CallbackRequest
from ...core.shared import SharedDicts
from ...httputil import url_scheme
from ...core.models import FINAL_STATUSES, Message, Status, StatusChange
from ...core.store import REMOVED
from . import codec

log = logging.getLogger(__name__)

NAME = "esms"
STATUS_WINDOW = 7 * 86400.0  # GetSendStatus and GetSmsReceiverStatus_get cover "the last 7 days" (esms.md §5)
DEDUP_WINDOW = 24 * 3600.0  # a RequestId blocks duplicates for 24 h (esms.md §2a, "valid for blocking for 24 hours")
# The changes on_status acts on: a phone's callback fires once its final state is known; SEEN adds nothing (product.md
# §9). The core skips the call for the others (a 100-phone send's `sent` step: bench/cpu.py esms_100).
CALLBACK_STATUSES = FINAL_STATUSES - {Status.SEEN}
META_CACHE = 1024  # distinct meta dicts EsmsBackend.shared_meta remembers (core/shared.py)
DEFAULT_VIBER_PRICE = 470  # VND; the Viber callback sample's TotalPrice=470.0000 for one message (esms.md §4)


@dataclass
class Account:
    api_key: str
    secret_key: str
    brandnames: list[str]  # registered Viber brandnames (GetListBrandname Type 23)
    balance: Decimal  # VND
    user_id: int  # GetBalance's UserID
    other_brandnames: list[dict[str, Any]] = field(default_factory=list)  # non-Viber entries for GetListBrandname


class EsmsBackend:
    """Everything eSMS remembers besides the messages themselves (which live in the core store)."""

    def __init__(self, core: Core, config: Mapping[str, Any]) -> None:
        self.core = core
        self.config = config
        self.price = codec.money(config.get("viber_price", DEFAULT_VIBER_PRICE))
        self.reset()
        core.register_provider(NAME, ProviderHooks(on_status=self.on_status, reset=self.reset, accounts=self.accounts_json,
                                                   backend=self, dump=self.dump, restore=self.restore,
                                                   statuses=CALLBACK_STATUSES))

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}  # api_key -> account, from [[esms.accounts]]
        for i, raw in enumerate(self.config.get("accounts", ())):
            account = Account(
                api_key=str(raw["api_key"]),
                secret_key=str(raw["secret_key"]),
                brandnames=[str(b) for b in raw.get("brandnames", ())],
                balance=Decimal(str(raw.get("balance", 0))),
                user_id=int(raw.get("user_id", 10000 + i)),
                other_brandnames=list(raw.get("other_brandnames", ())),
            )
            self.accounts[account.api_key] = account
        self.request_ids: dict[tuple[str, str], float] = {}  # (api_key, RequestId) -> mock time first accepted
        self._pruned_at = self.core.clock.now()  # when remember_request last dropped the RequestIds past their window
        # Equal meta dicts are one dict, across requests too (core/shared.py); on_status gives a message another one.
        self.shared_meta = SharedDicts(META_CACHE)
        # (SMSID, store.changes, [success, failed, sent, receivers]) as of the last callback built (_batch_totals)
        self._counts_memo: tuple[str | None, int, list[int]] | None = None

    def dump(self) -> dict[str, Any]:
        """Balances, brandnames and the RequestIds still inside their 24 h window (--store sqlite:PATH)."""
        now = self.core.clock.now()
        return {
            "accounts": {k: {"balance": str(a.balance), "brandnames": a.brandnames} for k, a in self.accounts.items()},
            "request_ids": [[key, rid, at] for (key, rid), at in self.request_ids.items() if now - at < DEDUP_WINDOW],
        }

    def restore(self, rows: dict[str, Any]) -> None:
        state = rows.get("state", {})
        for key, saved in state.get("accounts", {}).items():
            if key in self.accounts:
                self.accounts[key].balance = Decimal(saved["balance"])
                self.accounts[key].brandnames = list(saved["brandnames"])
        self.request_ids = {(key, rid): at for key, rid, at in state.get("request_ids", [])}

    def accounts_json(self) -> list[dict[str, Any]]:
        return [
            {"api_key": a.api_key, "brandnames": list(a.brandnames), "balance": float(a.balance), "user_id": a.user_id}
            for a in self.accounts.values()
        ]

    def authenticate(self, api_key: str, secret_key: str) -> Account | None:
        account = self.accounts.get(api_key)
        if account is None or account.secret_key != secret_key:
            return None
        return account

    def is_duplicate(self, account: Account, request_id: str) -> bool:
        seen = self.request_ids.get((account.api_key, request_id))
        return seen is not None and self.core.clock.now() - seen < DEDUP_WINDOW

    def remember_request(self, account: Account, request_id: str) -> None:
        now = self.core.clock.now()
        if now - self._pruned_at >= DEDUP_WINDOW:
            # Once a window, the RequestIds whose 24 h are over go: without it the table grew by one entry per send
            # for the life of the process (README: the memory store is bounded).
            self.request_ids = {key: at for key, at in self.request_ids.items() if now - at < DEDUP_WINDOW}
            self._pruned_at = now
        self.request_ids[(account.api_key, request_id)] = now

    def batch(self, account: Account, smsid: str) -> list[Message]:
        """An SMSID's messages for the status queries, which cover the last 7 days (esms.md §5); older: none."""
        since = self.core.clock.now() - STATUS_WINDOW
        return [m for m in self.core.store.batch(NAME, smsid) if m.account == account.api_key and m.created_at >= since]

    def _batch_totals(self, message: Message) -> dict[str, Any]:
        """The SMSID's totals as this message's change left them. Counted over the batch, they made the callbacks of
        one group step O(phones²): a 5 000-phone send held the event loop ~5 s when its phones became final. When the
        store says that exactly one change happened since the last count (store.changes), and it is this message's
        in the same SMSID, the count moves by that message's old and new status instead: O(1) per phone."""
        store, memo = self.core.store, self._counts_memo
        if (memo is not None and memo[0] == message.batch_id and memo[1] + 1 == store.changes
                and message.seq != REMOVED and len(message.history) >= 2):
            counts = memo[2]
            for i, (was, now) in enumerate(zip(codec.contribution(message.history[-2].status),
                                                codec.contribution(message.status))):
                counts[i] += now - was
        else:
            counts = codec.counts(store.batch(NAME, message.batch_id or ""))
        self._counts_memo = (message.batch_id, store.changes, counts)
        return codec.totals_of(counts, self.price)

    def on_status(self, message: Message, change: StatusChange) -> None:
        """One callback per phone once its final state is known (product.md §9); SEEN adds nothing for eSMS."""
        if change.status not in CALLBACK_STATUSES or message.meta.get("callback_sent"):
            return
        url = message.meta.get("callback_url", "")
        if not url:
            return
        # Messages share their meta dict (shared_meta): this message gets another one, shared too.
        if url_scheme(url) not in ("http", "https"):
            message.meta = self.shared_meta({**message.meta, "callback_sent": True,
                                             "callback_skipped": f"CallbackUrl {url!r} is not an http(s) URL"})
            return
        message.meta = self.shared_meta({**message.meta, "callback_sent": True})
        self.core.callbacks.enqueue(
            CallbackRequest(
                provider=NAME,
                kind="callback",
                method="GET",  # esms.md §4: HTTP GET, everything in the query string, no body
                url=url,
                query=codec.callback_query(message, self._batch_totals(message)),
                message_id=message.id,
            )
        )
