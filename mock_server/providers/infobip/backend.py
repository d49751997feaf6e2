"""Infobip state: accounts, scenarios, each destination's walk through its scenario flow, one-time reports, logs.

Every destination of a send is one core message. Its steps are driven here (the core's default plan knows one
channel only): each step is decided on its own (rules, then magic numbers, per channel), runs on the mock clock, and a
failed step hands over to the next one. `on_status` hears every status change and is where failover, reports and the
notifyUrl push happen (infobip.md §5.5, §6, §8).
"""

from __future__ import annotations

import base64
import functools
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ...core import Core, ProviderHooks, buckets
from ...core.callbacks import CallbackRequest
from ...httputil import url_scheme
from ...core.lifecycle import Step
from ...core.models import Message, Status, StatusChange, plain
from ...core.rules import SUBMIT_OUTCOMES, Decision
from ...core.shared import SharedDicts
from . import codec
from .errors import InfobipError, OmniErrorCode, OmniStatus, ServiceException
from .scenarios import (Attempt, FlowStep, Scenario, ScenarioStore, config_key, flow_from, next_step,
                        step_decision, step_plan)

log = logging.getLogger(__name__)

NAME = "infobip"
RETENTION = 48 * 3600.0  # reports and logs are kept 48 h (infobip.md §6, §7)
MAX_SEND_AHEAD = 180 * 86400.0  # sendAt "must be < 180 days ahead" (OAS, infobip.md §5.1)
SEND_STATUSES = {"PENDING_ENROUTE": OmniStatus.PENDING_ENROUTE, "MESSAGE_ACCEPTED": OmniStatus.MESSAGE_ACCEPTED}
DEFAULT_PRICES = {"VIBER": 0.0104, "SMS": 0.01}  # EUR: the seed page's Viber and SMS report prices
META_CACHE = 1024  # distinct meta dicts InfobipBackend.shared_meta remembers


@dataclass
class Account:
    username: str
    password: str
    api_key: str  # for "Authorization: App <key>"
    token: str | None  # accepted for "IBSSO <token>" and "Bearer <token>"
    start_scenarios: list[Mapping[str, Any]]  # [infobip.accounts] scenarios, restored on reset


@dataclass(slots=True)
class Delivery:
    """One destination of one send, walking the scenario flow."""

    message: Message  # its account (username), bulkId (batch_id), messageId (provider_id) and `to` are the message's
    flow: list[FlowStep]
    data: dict[str, Mapping[str, Any]]  # channel -> its data object in the request
    notify_url: str | None  # None: no push (no notifyUrl, or notify:false)
    intermediate: bool  # intermediateReport: push a report per failed step
    callback_data: str | None
    mcc_mnc: str
    # A tuple, replaced when a step begins: a list grown by append was 88 bytes, a one-step tuple is 48 (memory per
    # message, bench/run.py --scenarios memory).
    attempts: tuple[Attempt, ...] = ()
    token: int = 0  # bumped on failover: jobs scheduled for an earlier step see it and do nothing
    locked: bool = False  # rejected at submit: no failover (product.md §9)
    final: bool = False  # the final report is known (built from the last attempt when read: memory per message)
    rejection: OmniStatus | None = None  # the REJECTED status decided at submit or for a step
    # The send's only destination: its endpoint ("advanced", "text": codec.CHANNEL_DATA), whose body gives the data
    # back once the walk has let go of it (_finish). None: a send to several, whose data they share, kept.
    endpoint: str | None = None
    # When the final report was made: the walk is then its own unread report (UnreadReports) until fetched or 48 h old.
    report_at: float = 0.0

    @property
    def current(self) -> Attempt:
        return self.attempts[-1]

    # The message's own fields under Infobip's names: copies on the walk were 32 bytes of every message.
    @property
    def account(self) -> str:
        return self.message.account

    @property
    def bulk_id(self) -> str:
        return self.message.batch_id or ""

    @property
    def message_id(self) -> str:
        return self.message.provider_id

    @property
    def to(self) -> str:
        return self.message.phone

    # As an unread report (UnreadReports, with `account` above): an UnreadReport object per walk was 64 bytes of every
    # message.
    @property
    def id(self) -> str:
        return self.message.id

    @property
    def at(self) -> float:
        return self.report_at

    @property
    def channel(self) -> str:
        return self.current.channel


NO_DATA: dict[str, Mapping[str, Any]] = {}  # a finished walk's channel data (_finish); shared, never changed


class InfobipBackend:
    """Everything Infobip remembers besides the messages themselves (which live in the core store)."""

    def __init__(self, core: Core, config: Mapping[str, Any]) -> None:
        self.core = core
        self.config = config
        send_status = str(config.get("send_status", "PENDING_ENROUTE"))
        if send_status not in SEND_STATUSES:
            raise ValueError(f"[infobip] send_status must be one of {', '.join(SEND_STATUSES)}, not {send_status!r}")
        self.send_status = SEND_STATUSES[send_status]
        self.validation_errors = bool(config.get("validation_errors", False))
        self.currency = str(config.get("currency", "EUR"))
        self.prices = {"VIBER": float(config.get("viber_price", DEFAULT_PRICES["VIBER"])),
                       "SMS": float(config.get("sms_price", DEFAULT_PRICES["SMS"]))}
        self.reset()
        core.register_provider(NAME, ProviderHooks(on_status=self.on_status, reset=self.reset, dump=self.dump,
                                                   restore=self.restore, forget=self.forget,
                                                   under_way=self.under_way, accounts=self.accounts_json,
                                                   backend=self))
        core.scheduler.register("infobip.step", self._run)

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}  # username -> account, from [[infobip.accounts]]
        self.scenarios: dict[str, ScenarioStore] = {}  # username -> that account's scenarios
        for raw in self.config.get("accounts", ()):
            account = Account(
                username=str(raw["username"]),
                password=str(raw["password"]),
                api_key=str(raw.get("api_key", "")),
                token=None if raw.get("token") in (None, "") else str(raw["token"]),
                start_scenarios=list(raw.get("scenarios", ())),
            )
            self.accounts[account.username] = account
            store = self.scenarios[account.username] = ScenarioStore(self.new_scenario_key)
            for i, spec in enumerate(account.start_scenarios):
                name = spec.get("name")
                store.create(None if name is None else str(name), flow_from(spec.get("flow", ())),
                             bool(spec.get("default", False)),
                             key=str(spec.get("key") or config_key(account.username, i, str(name))))
        self.deliveries: dict[str, Delivery] = {}  # core message id -> its walk through the flow, oldest first
        self.reports = UnreadReports()  # final reports not yet fetched at /omni/1/reports
        # The order walks finished in, written with each unread report so a restart reads them back in it: their `at`
        # (the step's due time) ties, or runs against that order (statuses forced at one mock time, newer first; a
        # real-clock step run a moment late), so sorting by it served them in another order after a restart.
        self._finished = itertools.count()
        self.shared_meta = SharedDicts(META_CACHE)  # equal meta dicts are one (core/shared.py)
        # A client may give a destination the messageId of an earlier one; the store indexes the first message of each
        # provider id only, so once that happened, logs by messageId walk every delivery instead of using the index.
        self.ids_reused = False

    # --- durability (--store sqlite:PATH) --------------------------------------------------------------------------

    def _save(self, delivery: Delivery) -> None:
        if self.core.persist.enabled:
            # Evaluated at flush time, so several changes in one request are written once.
            self.core.persist.put(f"{NAME}/delivery/{delivery.message.id}", lambda: _delivery_record(delivery))

    def _unsave_report(self, entry: "Entry") -> None:
        if self.core.persist.enabled:
            self.core.persist.delete(f"{NAME}/report/{entry.id}")

    def dump(self) -> dict[str, Any]:
        """The scenarios of every account (deliveries and unread reports are written one by one)."""
        return {name: [{"key": sc.key, "name": sc.name, "flow": [st.to_json() for st in sc.flow], "default": sc.default}
                       for sc in store.items.values()]
                for name, store in self.scenarios.items()}

    def restore(self, rows: dict[str, Any]) -> None:
        for username, items in rows.get("state", {}).items():
            store = self.scenarios.get(username)
            if store is None:
                continue
            store.items.clear()
            for raw in items:
                scenario = Scenario(raw["key"], raw["name"], flow_from(raw["flow"]), raw["default"])
                store.items[scenario.key] = scenario
        for key, rec in rows.items():
            if key.startswith("delivery/"):
                message = self.core.store.get(rec["message"])
                if message is not None:
                    self.deliveries[message.id] = _delivery_from(rec, message)
        # Rows come back in key order (random ids); reports and deliveries are kept in time order (pruning stops at
        # the first one still inside the 48 h window), and ties (one send's destinations, one clock step) in the order
        # the messages were stored: logs newest first and reports oldest first, as before the restart.
        self.deliveries = dict(sorted(self.deliveries.items(), key=lambda kv: _walk_order(kv[1])))
        self.ids_reused = len({d.message_id for d in self.deliveries.values()}) != len(self.deliveries)

        def stored_order(row: list[Any]) -> tuple[int, float, int]:
            if len(row) > 4:  # the order the walks finished in
                return 1, row[4], 0
            # A row written before that order was kept: by time, ties in the order the messages were stored.
            message = self.core.store.get(row[3])
            return 0, row[1], message.seq if message is not None else -1

        last = -1
        for row in sorted((r for k, r in rows.items() if k.startswith("report/")), key=stored_order):
            user, at, report, key = row[:4]
            self.reports.add(UnreadReport(user, at, key, report))
            if len(row) > 4:
                last = max(last, int(row[4]))
        self._finished = itertools.count(last + 1)

    def forget(self, message: Message) -> None:
        """A message cleared or evicted from the store: its walk and unread report go with it."""
        self.deliveries.pop(message.id, None)
        if self.core.persist.enabled:  # also a row never read back (a cap lowered since: evicted at restore)
            self.core.persist.delete(f"{NAME}/delivery/{message.id}")
        entry = self.reports.get(message.account, message.id)
        if entry is not None:
            self.reports.remove(entry)
            self._unsave_report(entry)

    def accounts_json(self) -> list[dict[str, Any]]:
        """The accounts as GET /_mock/accounts shows them (README: each provider's, secrets left out): usernames and
        their scenarios as they are now; no password, API key or token."""
        return [{"username": a.username, "scenarios": [sc.to_json() for sc in self.scenarios[a.username].items.values()]}
                for a in self.accounts.values()]

    def under_way(self, message: Message) -> bool:
        """A failover began the destination's next step, not yet sent: the message shows the failed step's final
        status, but its walk goes on (the core lets a status be forced on that step)."""
        delivery = self.deliveries.get(message.id)
        return (delivery is not None and not delivery.final and bool(delivery.attempts)
                and delivery.current.status is None)

    def new_scenario_key(self) -> str:
        return self.core.uuid().hex.upper()  # 32 upper-case hex characters (infobip.md §2)

    # --- auth -----------------------------------------------------------------------------------------------------

    def authenticate(self, header: str | None) -> tuple[Account | None, str]:
        """The account an Authorization header names, or None and why (infobip.md §10: Basic, App, IBSSO, Bearer)."""
        if not header:
            return None, "no Authorization header"
        scheme, _, credential = header.strip().partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if scheme == "basic":
            try:
                username, sep, password = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
            except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII characters in the credential
                return None, "Authorization: Basic credentials are not base64 of username:password"
            if not sep:
                # Not named: without a ':' the decoded text is no username but a secret sent alone (an API key or a
                # password), and the reason is journaled where the Authorization header is masked.
                return None, "Authorization: Basic credentials are not username:password (no ':')"
            account = self.accounts.get(username)
            if account is None or account.password != password:
                return None, f"Authorization: Basic username {username!r} and password match no [[infobip.accounts]]"
            return account, ""
        if scheme == "app":
            account = next((a for a in self.accounts.values() if a.api_key and a.api_key == credential), None)
            return account, "" if account else "Authorization: App key matches no [[infobip.accounts]] api_key"
        if scheme in ("ibsso", "bearer"):
            account = next((a for a in self.accounts.values() if a.token and a.token == credential), None)
            return account, "" if account else f"Authorization: {scheme.upper()} token matches no account's token"
        return None, f"Authorization scheme {scheme!r} is none of Basic, App, IBSSO, Bearer"

    # --- sends ----------------------------------------------------------------------------------------------------

    def scenario_for(self, account: Account, key: str | None) -> Scenario:
        store = self.scenarios[account.username]
        if key:
            scenario = store.items.get(key)
            if scenario is None:
                raise InfobipError(ServiceException.SCENARIO_NOT_FOUND, f"scenarioKey {key!r}: no such scenario "
                                   "for this account")
            return scenario
        scenario = store.default()
        if scenario is None:
            # infobip.md decision 6: no scenarioKey and no default scenario -> 400 [I].
            raise InfobipError(ServiceException.BAD_REQUEST, "scenarioKey: not given and the account has no default "
                               "scenario (create one first)", validation_errors=self._field("scenarioKey",
                                                                                            "no default scenario"))
        return scenario

    def _field(self, name: str, message: str) -> dict[str, list[str]] | None:
        return {name: [message]} if self.validation_errors else None

    def submit(self, account: Account, body: Mapping[str, Any], source: str,
               raw_request: Any = None) -> tuple[dict[str, Any], list[str]]:
        """Accept a send to the `source` endpoint (codec.CHANNEL_DATA): one message per destination. Returns the
        answer and why any destination was rejected."""
        core = self.core
        data = codec.CHANNEL_DATA[source](body)
        scenario = self.scenario_for(account, body.get("scenarioKey"))
        first = next_step(scenario.flow, data, -1)
        if first is None:
            channels = ", ".join(s.channel for s in scenario.flow)
            raise InfobipError(ServiceException.BAD_REQUEST,
                               f"scenario {scenario.key} ({channels}) has no VIBER or SMS step this request has data "
                               "for (the mock delivers on VIBER and SMS)",
                               validation_errors=self._field("scenarioKey", "no step with channel data"))
        now = core.clock.now()
        base = now
        if body.get("sendAt"):
            try:
                send_at = codec.parse_date(body["sendAt"])
            except ValueError as exc:
                raise InfobipError(ServiceException.BAD_REQUEST, f"sendAt: {exc}",
                                   validation_errors=self._field("sendAt", "invalid date")) from None
            if send_at - now >= MAX_SEND_AHEAD:  # "must be < 180 days ahead": exactly 180 days is refused too
                raise InfobipError(ServiceException.BAD_REQUEST, "sendAt: not less than 180 days ahead",
                                   validation_errors=self._field("sendAt", "not less than 180 days ahead"))
            base = max(send_at, now)
        channel = scenario.flow[first].channel
        decisions: list[Decision] = []
        pending: dict[str, int] = {}  # rules looked at, used up only once the request is accepted
        for i, dest in enumerate(body["destinations"]):
            phone = dest["to"]["phoneNumber"]
            if not _valid_phone(phone):
                decisions.append(Decision("rejected", f"destinations[{i}].to.phoneNumber {phone!r} is not an "
                                                      "international number (digits, optional leading +)"))
                continue
            decision = step_decision(core.decide(NAME, _neutral(channel), phone, consume=False, pending=pending),
                                     channel)
            if decision.outcome == "provider_error":
                core.use(decision)
                # product.md §4, 55508: a transient failure at submit is Infobip's HTTP 500; nothing is stored.
                raise InfobipError(ServiceException.GENERAL_ERROR,
                                   f"{decision.source}: provider_error for destinations[{i}] {phone}")
            decisions.append(decision)
        core.use(*decisions)
        bulk_id = body.get("bulkId") or str(core.uuid())
        show_bulk = bool(body.get("bulkId")) or len(body["destinations"]) > 1
        notify_url = body.get("notifyUrl") if body.get("notify", True) is not False else None
        messages: list[dict[str, Any]] = []
        reasons: list[str] = []
        # The scenario's flow and its JSON, shared by the destinations and by the sends that use that flow (an update
        # replaces the scenario's list, never changes it): memory per message.
        flow = scenario.flow
        flow_json = scenario.flow_json()
        first_content = codec.neutral_content(channel, data[channel])
        alone = source if len(body["destinations"]) == 1 else None  # Delivery.endpoint
        # Destinations with the same outcome share one meta dict, and so do sends alike (self.shared_meta, across
        # requests): the core only adds "outcome", already there; the one later change, notify_skipped, gives the
        # message another dict. The bulkId is not in it (it is the message's batch_id): with it, every send one a
        # request had a meta of its own, ~270 bytes of each message (bench/run.py --scenarios memory).
        metas: dict[str, dict[str, Any]] = {}
        for i, (dest, decision) in enumerate(zip(body["destinations"], decisions)):
            phone = dest["to"]["phoneNumber"]
            message_id = dest.get("messageId") or str(core.uuid())
            if "messageId" in dest and core.store.by_provider_id(NAME, message_id) is not None:
                self.ids_reused = True
            message = core.new_message(
                provider=NAME, provider_id=message_id, account=account.username, phone=phone,
                channel=_neutral(channel), content=first_content, batch_id=bulk_id,
                meta=metas.get(decision.outcome) or metas.setdefault(decision.outcome, self.shared_meta({
                    "scenario_key": scenario.key, "notify_url": notify_url or "",
                    "callback_data": body.get("callbackData"),
                    "intermediate_report": bool(body.get("intermediateReport", False)), "flow": flow_json,
                    "outcome": decision.outcome})),
                raw_request=body if raw_request is None else raw_request,
            )
            delivery = Delivery(
                message=message, flow=flow, data=data, notify_url=notify_url,
                intermediate=bool(body.get("intermediateReport", False)), callback_data=body.get("callbackData"),
                mcc_mnc=codec.mcc_mnc_for(message.phone_intl) or self._random_network(), endpoint=alone,
            )
            self.deliveries[message.id] = delivery
            core.accept(message, decision, start=False)
            if decision.outcome in SUBMIT_OUTCOMES and not (decision.rule is not None and decision.rule.channel):
                # Rejected at submit: the answer carries the REJECTED status, and a final report with the same status
                # follows at once; no failover (product.md §9). A rule naming the first step's channel rejects that
                # step only, and the flow moves on like any failed step (README "Failover"; the seed page: "If the
                # messages are rejected on Viber ... the messages will be sent using SMS").
                status = codec.REJECTION_STATUS[decision.outcome]
                reasons.append(f"destinations[{i}] {phone}: {decision.source}: {decision.outcome} -> {status.name}")
                delivery.locked = True
                delivery.rejection = status
                delivery.attempts += (self._attempt(delivery, first, decision, now),)
                core.transition(message, Status.REJECTED, at=now, channel=_neutral(channel), detail=decision.source)
                self._save(delivery)
                messages.append(codec.send_message(dest["to"], status, message_id))
                continue
            self._start(delivery, first, base, decision)
            messages.append(codec.send_message(dest["to"], self.send_status, message_id))
        return codec.send_response(messages, bulk_id if show_bulk else None), reasons

    def _random_network(self) -> str:
        # A seeded, plausible MCC+MNC for countries the table does not know (product.md §2: --seed).
        return f"{self.core.rng.randint(200, 799)}{self.core.rng.randint(1, 99):02d}"

    def _attempt(self, delivery: Delivery, index: int, decision: Decision, at: float) -> Attempt:
        step = delivery.flow[index]
        data = delivery.data[step.channel]
        return Attempt(index=index, channel=step.channel, sender=step.sender, data=data,
                       validity=codec.validity_seconds(step.channel, data), decision=decision, started_at=at)

    def _start(self, delivery: Delivery, index: int, at: float, decision: Decision | None = None) -> None:
        """Begin scenario step `index` at mock time `at`: decide its outcome and schedule its status changes."""
        core = self.core
        message = delivery.message
        channel = delivery.flow[index].channel
        if decision is None:
            decision = step_decision(core.decide(NAME, _neutral(channel), message.phone), channel)
        attempt = self._attempt(delivery, index, decision, at)
        delivery.attempts += (attempt,)
        message.channel = _neutral(channel)
        content = codec.neutral_content(channel, attempt.data)
        if content != message.content:  # the first step keeps the dict its request's destinations share
            message.content = content
        token = delivery.token
        if decision.outcome in SUBMIT_OUTCOMES:
            # A rejection decided for a step by a rule naming its channel: that step is REJECTED, the flow moves on.
            delivery.rejection = codec.REJECTION_STATUS[decision.outcome]
            steps = [Step(0.0, Status.REJECTED, decision.source)]
        else:
            timing = core.settings.timing
            steps = step_plan(decision.outcome, accept_to_sent=timing.accept_to_sent,
                              sent_to_final=timing.sent_to_final, validity=attempt.validity)
        due = at
        for step in steps:
            due += step.delay
            core.scheduler.at(due, "infobip.step", message.id, token, step.status.value, step.detail)
        self._save(delivery)

    def _run(self, at: float, message_id: str, token: int, status: str, step_detail: str | None) -> None:
        delivery = self.deliveries.get(message_id)
        # A cleared message, a later step already begun, or a final report already given cancel what was planned
        # (a SEEN after DELIVERED still happens).
        if delivery is None or delivery.token != token or self.core.store.get(message_id) is not delivery.message:
            return
        message = delivery.message
        if delivery.final and not (status == Status.SEEN.value and message.status == Status.DELIVERED):
            return
        channel = delivery.current.channel
        self.core.transition(message, Status(status), at=at, channel=_neutral(channel),
                             detail=_step_detail(channel, step_detail or delivery.current.decision.source))

    # --- status changes: failover, reports, push ----------------------------------------------------------------------

    def on_status(self, message: Message, change: StatusChange) -> None:
        delivery = self.deliveries.get(message.id)
        if delivery is None or delivery.final or not delivery.attempts:
            return
        self._save(delivery)
        attempt = delivery.current
        if change.status == Status.SENT:
            attempt.sent_at = change.at
            return
        if not change.status.final:
            return
        attempt.done_at = change.at
        attempt.status = change.status
        if change.status.success:
            self._finish(delivery)
            return
        following = None if delivery.locked else next_step(delivery.flow, delivery.data, attempt.index)
        if following is None:
            self._finish(delivery)
            return
        # Failover: "If a user can't receive the message with a specific scenario channel, the failover mechanism
        # will be triggered and the message will be sent over the next step." (dev-old.infobip.com/omni-channel)
        if delivery.intermediate and delivery.notify_url:
            self._push(delivery, self._report(delivery, attempt))
        delivery.token += 1
        delivery.rejection = None
        self._start(delivery, following, change.at)

    def _codes(self, delivery: Delivery, attempt: Attempt) -> tuple[OmniStatus, OmniErrorCode]:
        status, error = codec.FINAL_CODES[attempt.status or Status.REJECTED]
        if attempt.status == Status.REJECTED and delivery.rejection is not None:
            status = delivery.rejection
        return status, error

    def _report(self, delivery: Delivery, attempt: Attempt) -> dict[str, Any]:
        status, error = self._codes(delivery, attempt)
        done_at = attempt.done_at if attempt.done_at is not None else self.core.clock.now()
        return codec.report(
            bulk_id=delivery.bulk_id, message_id=delivery.message_id, to=delivery.to,
            sent_at=attempt.sent_or_started, done_at=done_at,
            message_count=self._count(attempt, self._data(delivery, attempt)), mcc_mnc=delivery.mcc_mnc,
            price_obj=codec.price(0.0 if status.group_name == "REJECTED" else self.prices.get(attempt.channel, 0.0),
                                  self.currency),
            status=status, error=error, channel=attempt.channel, callback_data=delivery.callback_data,
        )

    @staticmethod
    def _data(delivery: Delivery, attempt: Attempt) -> Mapping[str, Any]:
        """The step's channel data: kept on the attempt, or re-read from the request body once a walk has let go."""
        if attempt.data is not None or delivery.endpoint is None:
            return attempt.data or {}
        return codec.CHANNEL_DATA[delivery.endpoint](plain(delivery.message.raw_request)).get(attempt.channel) or {}

    @staticmethod
    def _count(attempt: Attempt, data: Mapping[str, Any]) -> int:
        """messageCount: SMS parts of the step's text (`data`: _data()), 1 on Viber."""
        return codec.sms_count(str(data.get("text") or "")) if attempt.channel == "SMS" else 1

    def _finish(self, delivery: Delivery) -> None:
        """The destination's final state: one report, pulled once at /omni/1/reports and pushed to notifyUrl."""
        delivery.final = True
        # No step starts after this: the request's channel data is read only to start one (each attempt keeps its
        # own channel's), so a finished walk lets go of it. The parsed data of the channels it never reached was
        # ~430 bytes of every Infobip message sent one a request (bench/run.py --scenarios memory).
        delivery.data = NO_DATA
        # Only while the body is the bytes received: one read back from the durable store is kept as shown (a URL's
        # password masked), so a walk restored under way keeps its data rather than read a text it never sent.
        if delivery.endpoint is not None and isinstance(delivery.message.raw_request, bytes):
            # A destination sent alone has nobody to share its data with: its attempts and content let go of it too,
            # and read it back from the body's bytes when shown (_data; core/models.py Derived): ~250 bytes of every
            # Infobip message sent one a request (bench/run.py --scenarios memory).
            for attempt in delivery.attempts:
                attempt.data = None
            delivery.message.content = codec.derived_content(delivery.endpoint, delivery.current.channel)
        # Kept 48 h from when the walk finished, which is the clock's time only if no clock jump ran the step late.
        done_at = delivery.current.done_at
        delivery.report_at = self.core.clock.now() if done_at is None else done_at
        self.reports.add(delivery)
        if self.core.persist.enabled:
            order = next(self._finished)
            self.core.persist.put(f"{NAME}/report/{delivery.id}",
                                  lambda: [delivery.account, delivery.at, self._rendered(delivery), delivery.id, order])
        if delivery.notify_url:
            self._push(delivery, self._report(delivery, delivery.current))

    def _rendered(self, entry: "Delivery | UnreadReport") -> dict[str, Any]:
        return self._report(entry, entry.current) if isinstance(entry, Delivery) else entry.report

    def _push(self, delivery: Delivery, report: dict[str, Any]) -> None:
        url = delivery.notify_url or ""
        if url_scheme(url) not in ("http", "https"):
            message = delivery.message
            skipped = f"notifyUrl {url!r} is not an http(s) URL"
            message.meta = self.shared_meta({**message.meta, "notify_skipped": skipped})  # a new dict: see submit()
            return
        # POST {"results":[report]} (infobip.md §8); JSON even when notifyContentType asks for XML (decision 11).
        self.core.callbacks.enqueue(CallbackRequest(provider=NAME, kind="report", method="POST", url=url,
                                                    json_body={"results": [report]},
                                                    message_id=delivery.message.id))

    # --- reports and logs -------------------------------------------------------------------------------------------

    def _prune(self) -> None:
        """Forget reports and walks that ended more than 48 h ago. Both are in time order (walks by creation; none ends
        before it began), so this stops at the first one inside the window; a walk still under way (a VIBER then SMS
        flow can take 72 h) is kept whatever its age."""
        horizon = self.core.clock.now() - RETENTION
        for entry in self.reports.expire(horizon):
            self._unsave_report(entry)
        gone = []
        for key, delivery in self.deliveries.items():
            if delivery.message.created_at >= horizon:
                break
            # Aged from when it ended, as the reports are: "All logs are available for the last 48 hours!" (infobip.md
            # §7) holds for a send scheduled days ahead (sendAt) or a 72 h walk too, not only from the request's time.
            done_at = delivery.current.done_at if delivery.attempts else None
            if delivery.final and (delivery.message.created_at if done_at is None else done_at) < horizon:
                gone.append(key)
        for key in gone:
            del self.deliveries[key]
            if self.core.persist.enabled:
                self.core.persist.delete(f"{NAME}/delivery/{key}")

    def take_reports(self, account: Account, *, bulk_id: str | None, message_id: str | None, channel: str | None,
                     limit: int) -> list[dict[str, Any]]:
        """Matching final reports, oldest first, at most `limit`; each is returned once, then forgotten."""
        self._prune()
        taken = self.reports.take(account.username, bulk_id=bulk_id, message_id=message_id, channel=channel,
                                  limit=limit)
        for entry in taken:
            self._unsave_report(entry)
        return [self._rendered(entry) for entry in taken]

    def logs(self, account: Account, query: "LogQuery") -> list[dict[str, Any]]:
        """Log entries, newest first; repeatable (infobip.md §7)."""
        self._prune()
        out: list[dict[str, Any]] = []
        for delivery in self._log_candidates(query):
            if delivery.account != account.username or self.core.store.get(delivery.message.id) is None:
                continue
            if not self._may_match(delivery, query):
                continue
            entry = self._log(delivery)
            if query.matches(entry):
                out.append(entry)
                if len(out) >= query.limit:
                    break
        return out

    def _may_match(self, delivery: Delivery, query: "LogQuery") -> bool:
        """False when `delivery`'s log entry cannot match the channel, generalStatus or sent-time filters, told from the
        walk without rendering it (what may match is rendered and matched as before). These filters have no index: a
        query matching few or none walks every delivery, and rendering each first was ~7 µs of it (7 s a call at
        1 000 000 stored; bench/queries.py, `logs generalStatus=REJECTED`)."""
        attempt = delivery.current
        if query.channel is not None and attempt.channel != query.channel:
            return False
        if query.general_status is not None and self._log_status(delivery).group_name != query.general_status:
            return False
        if query.sent_since is not None or query.sent_until is not None:
            # sentAt is written to the millisecond, rounded: within 0.5 ms of this, so a 1 ms margin stays exact.
            sent = attempt.sent_or_started
            if ((query.sent_since is not None and sent < query.sent_since - 0.001)
                    or (query.sent_until is not None and sent > query.sent_until + 0.001)):
                return False
        return True

    def _log_candidates(self, query: "LogQuery") -> Iterable[Delivery]:
        """The deliveries a logs query can match, newest first. A messageId, bulkId or `to` filter narrows them through
        the store's indexes, so such a query costs the same at 1 000 and at 1 000 000 messages stored (issue 8);
        without one, every delivery is walked until `limit` entries match."""
        store = self.core.store
        if query.message_ids and not self.ids_reused:
            messages: Iterable[Message | None] = (store.by_provider_id(NAME, mid) for mid in query.message_ids)
        elif query.bulk_ids:
            messages = (m for bulk_id in query.bulk_ids for m in store.batch(NAME, bulk_id))
        elif query.to:
            messages = (m for to in query.to for m in store.query(provider=NAME, phone=to)[0])
        else:
            return reversed(self.deliveries.values())
        found = {d.message.id: d for m in messages if m is not None and (d := self.deliveries.get(m.id)) is not None}
        return sorted(found.values(), key=_walk_order, reverse=True)

    def _log_status(self, delivery: Delivery) -> OmniStatus:
        """The status a log entry shows: the final one once known, else the send's status until sent, then pending."""
        attempt = delivery.current
        if delivery.final:
            return self._codes(delivery, attempt)[0]
        return self.send_status if attempt.sent_at is None else OmniStatus.PENDING_ENROUTE

    def _log(self, delivery: Delivery) -> dict[str, Any]:
        attempt = delivery.current
        status = self._log_status(delivery)
        sent_at = attempt.sent_or_started
        last_change = delivery.message.history[-1].at if delivery.message.history else sent_at
        data = self._data(delivery, attempt)  # read back from the body once a walk let go of it: once per entry
        return codec.log_entry(
            bulk_id=delivery.bulk_id, message_id=delivery.message_id, to=delivery.to, sender=attempt.sender or "",
            text=str(data.get("text") or ""), sent_at=sent_at,
            done_at=attempt.done_at if attempt.done_at is not None else max(last_change, sent_at),
            message_count=self._count(attempt, data), mcc_mnc=delivery.mcc_mnc,
            price_obj=codec.price(0.0 if status.group_name == "REJECTED" else self.prices.get(attempt.channel, 0.0),
                                  self.currency),
            status=status, channel=attempt.channel,
        )


@dataclass(slots=True)
class UnreadReport:
    """A final report restored from the durable store, kept as written (its walk may have been pruned). A walk that
    finishes here is its own unread report instead (Delivery.id/user/at/channel): the report is built from it when
    read, the same bytes every time, since nothing in a finished walk changes (bench/run.py memory)."""

    account: str  # username
    at: float  # when the final state was reached: pruned 48 h later
    id: str  # core message id
    report: dict[str, Any]

    @property
    def bulk_id(self) -> str:
        return self.report["bulkId"]

    @property
    def message_id(self) -> str:
        return self.report["messageId"]

    @property
    def channel(self) -> str:
        return self.report["channel"]


Entry = Delivery | UnreadReport  # what UnreadReports holds: account, at, id, bulk_id, message_id, channel


class UnreadReports:
    """Unread final reports, per account in time order, indexed by bulkId and messageId, so that a fetch costs what it
    returns rather than what is stored (100 000 unread reports answer as fast as 100); buckets: core/buckets.py.

    One dict per account is both the time order and the account's index: a store-wide dict beside it was another
    entry for every message (memory per message, bench/run.py --scenarios memory)."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[str, Entry]] = {}  # username -> core message id -> entry, oldest first
        # username -> key -> bucket: no (username, key) tuple per report
        self._by_bulk: dict[str, dict[str, Any]] = {}
        self._by_message: dict[str, dict[str, Any]] = {}

    def get(self, user: str, key: str) -> Entry | None:
        return self._by_account.get(user, {}).get(key)

    def add(self, entry: Entry) -> None:
        user = entry.account
        entries = self._by_account.get(user)
        if entries is None:
            entries = self._by_account[user] = {}
        entries[entry.id] = entry
        buckets.add(self._by_bulk.setdefault(user, {}), entry.bulk_id, entry)
        buckets.add(self._by_message.setdefault(user, {}), entry.message_id, entry)

    def remove(self, entry: Entry) -> None:
        user = entry.account
        entries = self._by_account.get(user)
        if entries is None or entries.get(entry.id) is not entry:
            return
        del entries[entry.id]
        buckets.remove(self._by_bulk[user], entry.bulk_id, entry)
        buckets.remove(self._by_message[user], entry.message_id, entry)

    def expire(self, horizon: float) -> list[Entry]:
        gone = []
        for entries in self._by_account.values():
            while entries:
                entry = next(iter(entries.values()))
                if entry.at >= horizon:
                    break
                self.remove(entry)
                gone.append(entry)
        return gone

    def take(self, user: str, *, bulk_id: str | None, message_id: str | None, channel: str | None,
             limit: int) -> list[Entry]:
        if message_id is not None:
            candidates = buckets.items(self._by_message.get(user, {}).get(message_id))
        elif bulk_id is not None:
            candidates = buckets.items(self._by_bulk.get(user, {}).get(bulk_id))
        else:
            candidates = self._by_account.get(user, {}).values()
        taken = []
        for entry in candidates:
            if (bulk_id is None or entry.bulk_id == bulk_id) and (channel is None or entry.channel == channel):
                taken.append(entry)
                if len(taken) >= limit:
                    break
        for entry in taken:
            self.remove(entry)
        return taken


@dataclass
class LogQuery:
    """GET /omni/1/logs filters (infobip.md §7); list-valued ones match any of their values."""

    limit: int = 50
    senders: list[str] = field(default_factory=list)  # `from`
    to: list[str] = field(default_factory=list)
    bulk_ids: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    general_status: str | None = None  # one of GENERAL_STATUSES
    channel: str | None = None
    sent_since: float | None = None
    sent_until: float | None = None
    mcc: str | None = None
    mnc: str | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        sent = codec.parse_date(entry["sentAt"])
        return ((not self.senders or entry["from"] in self.senders)
                and (not self.to or entry["to"] in self.to or entry["to"].lstrip("+") in self.to)
                and (not self.bulk_ids or entry["bulkId"] in self.bulk_ids)
                and (not self.message_ids or entry["messageId"] in self.message_ids)
                and (self.general_status is None or entry["status"]["groupName"] == self.general_status)
                and (self.channel is None or entry["channel"] == self.channel)
                and (self.sent_since is None or sent >= self.sent_since)
                and (self.sent_until is None or sent <= self.sent_until)
                and (self.mcc is None or entry["mccMnc"][:3] == self.mcc)
                and (self.mnc is None or entry["mccMnc"][3:] == self.mnc))


_NEUTRAL_CHANNELS = {"VIBER": "viber", "SMS": "sms"}


def _walk_order(delivery: Delivery) -> tuple[float, int]:
    """The order deliveries are kept in: by creation time, ties (one send's destinations, one clock step) in the order
    their messages were stored. Restored ones are sorted by it, and logs narrowed by an index are listed in it."""
    return delivery.message.created_at, delivery.message.seq


def _neutral(channel: str) -> str:
    # The core's channel names; one shared string each rather than a new .lower() copy per message and status change.
    return _NEUTRAL_CHANNELS.get(channel) or channel.lower()


@functools.lru_cache(maxsize=1024)
def _step_detail(channel: str, detail: str) -> str:
    # "VIBER: magic number 55500" is the same few strings for every message: shared, not one copy per status change.
    return f"{channel}: {detail}"


def _valid_phone(phone: str) -> bool:
    digits = phone[1:] if phone.startswith("+") else phone
    return digits.isascii() and digits.isdigit() and 5 <= len(digits) <= 20


def _attempt_record(a: Attempt, data: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"index": a.index, "channel": a.channel, "sender": a.sender, "data": data, "validity": a.validity,
            "decision": [a.decision.outcome, a.decision.source], "started_at": a.started_at, "sent_at": a.sent_at,
            "done_at": a.done_at, "status": a.status.value if a.status else None}


def _delivery_record(d: Delivery) -> dict[str, Any]:
    return {"message": d.message.id, "flow": [s.to_json() for s in d.flow], "data": d.data, "notify_url": d.notify_url,
            "intermediate": d.intermediate, "callback_data": d.callback_data, "mcc_mnc": d.mcc_mnc,
            # An attempt that let go of its data (_finish) is written with it, read back from the body as received:
            # the body is written as shown (a URL's password masked), so after a restart the data read from it was
            # not the text sent (its log's text, its SMS part count).
            "attempts": [_attempt_record(a, InfobipBackend._data(d, a)) for a in d.attempts], "token": d.token,
            "locked": d.locked, "final": d.final, "rejection": d.rejection.name if d.rejection else None,
            "endpoint": d.endpoint}


def _delivery_from(rec: dict[str, Any], message: Message) -> Delivery:
    attempts = tuple(Attempt(index=a["index"], channel=a["channel"], sender=a["sender"], data=a["data"],
                             validity=a["validity"], decision=Decision(*a["decision"]), started_at=a["started_at"],
                             sent_at=a["sent_at"], done_at=a["done_at"],
                             status=Status(a["status"]) if a["status"] else None)
                     for a in rec["attempts"])
    return Delivery(message=message, flow=flow_from(rec["flow"]), data=rec["data"], notify_url=rec["notify_url"],
                    intermediate=rec["intermediate"], callback_data=rec["callback_data"], mcc_mnc=rec["mcc_mnc"],
                    attempts=attempts, token=rec["token"], locked=rec["locked"],
                    final=bool(rec["final"]),  # a report dict in rows written before it became a flag
                    rejection=OmniStatus[rec["rejection"]] if rec["rejection"] else None,
                    endpoint=rec.get("endpoint"))  # absent from rows written before it was kept
