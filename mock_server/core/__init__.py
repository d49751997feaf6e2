"""The core: store, clock, scheduler, outcome rules, callbacks, events and schemas. It knows nothing of HTTP serving."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from ..settings import Settings
from .callbacks import CallbackDispatcher
from .clock import Clock, make_clock
from .events import MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGES_CLEARED, RESET, EventBus
from .lifecycle import Scheduler, Step, plan_for
from .masking import mask_urls_in
from .persist import NullPersist, SqlitePersist, make_persist
from .models import STATUS_BY_VALUE, Message, Status, StatusChange
from .phones import international
from .rules import Decision, Outcomes, dump_rng, load_rng
from .schemas import SchemaRegistry
from .store import MemoryStore


class StateConflict(Exception):
    """A requested change the message's current state does not allow (the control API answers 409)."""


@dataclass
class ProviderHooks:
    """What a provider plugs into the core: it hears every status change of its messages, and resets its own state."""

    on_status: Callable[[Message, StatusChange], None]
    reset: Callable[[], None]
    statuses: frozenset[Status] | None = None  # the changes on_status acts on (None: all); others skip the call
    accounts: Callable[[], list[dict]] | None = None  # the accounts as GET /_mock/accounts shows them (no secrets)
    backend: object = None  # the provider's state object, for its control routes
    # The durable store (--store sqlite:PATH): the provider's small state as JSON (written when it changes), and
    # restoring it, with the rows it wrote itself under "<name>/..." (core.persist.put), after a restart.
    dump: Callable[[], object] | None = None
    restore: Callable[[dict], None] | None = None
    forget: Callable[[Message], None] | None = None  # a message was evicted or cleared: drop what refers to it
    # The message shows a final status but its provider has moved it on (an Infobip failover began its next step,
    # not yet sent): a status can still be forced, on that step.
    under_way: Callable[[Message], bool] | None = None


class Core:
    """Everything stateful, shared by the providers, the control API and the UI."""

    def __init__(self, settings: Settings, *, clock: Clock, schemas: SchemaRegistry,
                 persist: NullPersist | SqlitePersist | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.started_at = time.time()  # wall clock, for uptime
        self.schemas = schemas
        self.events = EventBus()
        self.persist = persist or NullPersist()
        self.scheduler = Scheduler(clock, self.persist)
        self.scheduler.register("core.step", self._step)
        self.scheduler.register("core.steps", self._steps)
        self.store = MemoryStore(max_messages=settings.max_messages, on_evict=self._evicted)
        self._deferred_evictions: list[Message] | None = None  # set while restore() reads messages back
        self.outcomes = Outcomes(seed=settings.seed, mix=dict(settings.outcome_mix))  # reset in place, never replaced
        # decide(provider, channel, phone, *, consume=True, pending=None) -> Decision: the outcome for one message
        # (rules.Outcomes.decide), bound here rather than forwarded by a method: asked once per phone (bench/cpu.py).
        self.decide = self.outcomes.decide
        self.callbacks = CallbackDispatcher(
            clock=clock,
            scheduler=self.scheduler,
            events=self.events,
            timeout=settings.callbacks.timeout,
            max_attempts=settings.callbacks.max_attempts,
            schedule=settings.callbacks.schedule,
            allow_hosts=list(settings.callbacks.allow_hosts),
            concurrency=settings.callbacks.concurrency,
            lookup=self.store.get,
            persist=self.persist,
            on_record=self.persist.put_message,
        )
        self.providers: dict[str, ProviderHooks] = {}
        self.on_reset: list[Callable[[], None]] = []  # more state to restore on reset (journal, faults)
        self.rng = random.Random(settings.seed)  # every generated id and price comes from here (--seed)
        self.persist.snapshot("core/state", self._dump)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None, schemas: SchemaRegistry | None = None) -> "Core":
        from ..resources import schemas_dir

        return cls(settings, clock=clock or make_clock(settings.clock), schemas=schemas or SchemaRegistry(schemas_dir()),
                   persist=make_persist(settings.store))

    # --- ids -------------------------------------------------------------------------------------------------------

    def uuid(self) -> uuid.UUID:
        """A random (version 4) UUID from the seeded generator."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def hex_id(self, nbytes: int = 16) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    # --- messages --------------------------------------------------------------------------------------------------

    def register_provider(self, name: str, hooks: ProviderHooks) -> None:
        self.providers[name] = hooks
        if hooks.dump is not None:
            self.persist.snapshot(f"{name}/state", hooks.dump)

    def use(self, *decisions: Decision) -> None:
        """The messages these decisions were for are really sent (or refused by their rule): use the rules up."""
        self.outcomes.use(*decisions)

    def new_message(self, *, provider: str, provider_id: str, account: str, phone: str, channel: str,
                    content: dict, batch_id: str | None = None, meta: dict | None = None,
                    raw_request: object = None, created_at: float | None = None) -> Message:
        return Message(
            id="m_" + self.hex_id(8),
            provider=provider,
            provider_id=provider_id,
            account=account,
            phone=phone,
            phone_intl=international(phone),
            channel=channel,
            content=content,
            created_at=self.clock.now() if created_at is None else created_at,
            batch_id=batch_id,
            meta=meta or {},
            raw_request=raw_request,
        )

    def accept(self, message: Message, decision: Decision, *, validity: float | None = None,
               start: bool = True, base: float | None = None) -> None:
        """Store an accepted message and schedule its lifecycle for the decided outcome (from `base`, default now)."""
        self._store_accepted(((message, decision),))
        if start:
            self._schedule(self._plan(decision.outcome, validity), base, "core.step", message.id)

    def accept_many(self, accepted: list[tuple[Message, Decision]], *, base: float | None = None) -> None:
        """Store the messages of one request and schedule their lifecycles together: messages with the same outcome
        share one job per step, so a 100-phone send schedules two jobs instead of two hundred (the scheduler's heap
        was a quarter of a 100-phone eSMS send's time: bench/profile.py esms_100)."""
        self._store_accepted(accepted)
        groups: dict[str, list[str]] = {}
        for message, decision in accepted:
            groups.setdefault(decision.outcome, []).append(message.id)
        for outcome, ids in groups.items():
            self._schedule(self._plan(outcome), base, "core.steps", ids)

    def _store_accepted(self, accepted: Iterable[tuple[Message, Decision]]) -> None:
        """Record `accepted` on each message, store it and tell listeners; the scheduling is the caller's."""
        add, events = self.store.add, self.events
        put = self.persist.put_message if self.persist.enabled else None
        listened = events.active  # asked once: nobody subscribes while this loop runs (a property, per message before)
        changes: dict[tuple[float, str], StatusChange] = {}  # one record per time and reason (never changed once made)
        for message, decision in accepted:
            change = changes.get((message.created_at, decision.source))
            if change is None:
                change = changes[message.created_at, decision.source] = StatusChange(
                    Status.ACCEPTED, message.created_at, detail=decision.source)
            message.history += (change,)
            message.meta.setdefault("outcome", decision.outcome)
            add(message)
            if put is not None:
                put(message)
            if listened:
                events.publish(MESSAGE_CREATED, message.to_json(summary=True))  # a big batch's body left out

    def _plan(self, outcome: str, validity: float | None = None) -> list[Step]:
        timing = self.settings.timing
        return plan_for(outcome, accept_to_sent=timing.accept_to_sent, sent_to_final=timing.sent_to_final,
                        validity=timing.default_validity if validity is None else validity)

    def _schedule(self, steps: list[Step], base: float | None, kind: str, target: str | list[str]) -> None:
        """Schedule `steps` one after the other from `base` (default: now) for one message id or a list of them; each
        skips a message that moved on."""
        due = self.clock.now() if base is None else base
        for step in steps:
            due += step.delay
            self.scheduler.at(due, kind, target, step.status.value, step.detail)

    def _steps(self, at: float, message_ids: list[str], status: str, detail: str | None) -> None:
        # One status-change record serves the whole group (records are never changed once made): a 100-phone send
        # makes two of them per step, not two hundred (bench/cpu.py esms_100).
        change = StatusChange(STATUS_BY_VALUE[status], at, detail=detail)
        get, seen = self.store.get, change.status is Status.SEEN
        # _due() inlined: it is asked for every message of every group step (bench/profile.py esms_100).
        self._record_all([m for m in map(get, message_ids) if m is not None and (
            not m.status.final or (seen and m.status is Status.DELIVERED))], change)

    def _step(self, at: float, message_id: str, status: str, detail: str | None) -> None:
        self._steps(at, [message_id], status, detail)

    @staticmethod
    def _due(message: Message, status: Status) -> bool:
        """Whether a planned step still applies: a cleared message, a status forced through the control API, or a
        final state reached another way cancels what was planned (SEEN may still follow DELIVERED)."""
        return not message.status.final or (message.status is Status.DELIVERED and status is Status.SEEN)

    def transition(self, message: Message, status: Status, *, at: float | None = None, channel: str | None = None,
                   detail: str | None = None) -> StatusChange:
        """Record a status change, publish it, and let the message's provider report it (callbacks, reports)."""
        change = StatusChange(status, self.clock.now() if at is None else at, channel=channel, detail=detail)
        if channel:
            message.channel = channel
        self._record_all((message,), change)
        return change

    def _record_all(self, messages: Iterable[Message], change: StatusChange) -> None:
        """Record `change` on each message in turn: store, durable store, listeners, then its provider (which may
        look at the others of its batch, so each message is done before the next moves). One loop for a group step
        rather than a call chain per message (bench/cpu.py esms_100)."""
        status, changing, events, providers = change.status, self.store.changing, self.events, self.providers
        put = self.persist.put_message if self.persist.enabled else None
        provider, hooks = None, None  # the provider hooks that act on this change, looked up once per provider
        listened = events.active  # asked once, as in _store_accepted
        for message in messages:
            changing(message, status)  # its counts, and its eviction order (final messages go first)
            message.status = status
            message.history += (change,)
            if put is not None:
                put(message)
            data = None
            if listened:
                data = message.to_json(summary=True)  # as at MESSAGE_CREATED: a big batch's body left out
                events.publish(MESSAGE_UPDATED, data)
            if message.provider is not provider:
                provider, hooks = message.provider, providers.get(message.provider)
                if hooks is not None and hooks.statuses is not None and status not in hooks.statuses:
                    hooks = None
            if hooks is not None:
                hooks.on_status(message, change)
                if data is not None:
                    # What the provider did on this change (eSMS callback_sent / callback_skipped, Infobip
                    # notify_skipped in a new meta dict; an Infobip failover moving the message to its SMS step's
                    # channel and content) goes into the event, not yet read by any stream (they run after this loop):
                    # the inbox showed the message as before it, unlike GET /_mock/messages/{id}. Published first all
                    # the same, so a change the hook makes itself comes after this one on the stream.
                    data["meta"], data["channel"] = mask_urls_in(message.meta), message.channel  # as to_json shows
                    # Worked out from the body as received, as to_json does (data["raw_request"] is as shown).
                    data["content"] = message.shown_content()

    FORCEABLE = (Status.DELIVERED, Status.SEEN, Status.UNDELIVERABLE, Status.EXPIRED)

    def force_status(self, message: Message, status: Status) -> None:
        """Move a message to `status` now, through the states it implies (sent before a final state, delivered
        before seen), so its provider fires every callback and report a real walk there would have fired."""
        if status not in self.FORCEABLE:
            raise ValueError(f"status must be one of {', '.join(s.value for s in self.FORCEABLE)}")
        hooks = self.providers.get(message.provider)
        # README: 409 only if the message is already final. An Infobip message whose Viber step failed shows that
        # final status until its SMS step is sent, 0.2 s on, and was refused meanwhile ("already undeliverable").
        moved_on = message.status.final and hooks is not None and hooks.under_way is not None and hooks.under_way(
            message)
        if not moved_on and not self._due(message, status):
            raise StateConflict(f"message {message.id} is already {message.status.value}")
        detail = "forced through the control API"
        # A provider that walks channels (Infobip) tags each step's changes with the channel it happened on, as its own
        # walk does: untagged forced changes showed in the inbox as no channel's, so a forced failover read
        # "Viber: delivered, SMS: accepted" for an SMS delivered after Viber failed. Read at each change: a failover
        # moves the message to its next channel in between.
        walks = hooks is not None and hooks.under_way is not None
        if message.status == Status.ACCEPTED or moved_on:
            self.transition(message, Status.SENT, channel=message.channel if walks else None, detail=detail)
        if status == Status.SEEN and message.status != Status.DELIVERED:
            self.transition(message, Status.DELIVERED, channel=message.channel if walks else None, detail=detail)
        self.transition(message, status, channel=message.channel if walks else None, detail=detail)

    # --- time and state --------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move the mock clock forward and run everything that became due, before returning the new time."""
        now = self.clock.advance(seconds)
        self.scheduler.run_due()
        self.scheduler.wake()
        return now

    def touch(self, message: Message) -> None:
        """A provider changed a message outside a status change: the durable store rewrites it."""
        self.persist.put_message(message)

    def _evicted(self, message: Message) -> None:
        if self._deferred_evictions is not None:  # restoring: what it owes and its provider's rows are not back yet
            self._deferred_evictions.append(message)
            return
        if self.persist.enabled:
            self.persist.delete_message(message.id)
        self.callbacks.forget_message(message.id)
        hooks = self.providers.get(message.provider)
        if hooks is not None and hooks.forget is not None:
            hooks.forget(message)

    def clear_messages(self) -> int:
        """Forget every message (and with it what was scheduled for them); rules, accounts and the clock stay."""
        messages = list(self.store.all())
        self.store.reset()
        for message in messages:
            self._evicted(message)
        self.events.publish(MESSAGES_CLEARED, {"deleted": len(messages)})
        return len(messages)

    def reset(self) -> None:
        """Back to the configured start state (product.md §9); the clock is not moved back."""
        self.persist.wipe()
        if self.settings.seed is not None:
            # Seeded ids start over too: with one server reset before each test, a test's SMSIDs and message ids do
            # not depend on the tests that ran before it (--seed: the same ids on every run).
            self.rng.seed(self.settings.seed)
        self.scheduler.clear()
        self.callbacks.reset()
        self.store.reset()
        self.outcomes.reset()
        for hooks in self.providers.values():
            hooks.reset()
        for reset in self.on_reset:
            reset()
        self.events.publish(RESET, {})

    # --- durability ------------------------------------------------------------------------------------------------

    def _dump(self) -> dict:
        """The core's small state: the clock, the seeded generators, rules, id counters."""
        clock = self.clock
        return {
            "clock": {"manual": clock.manual, "now": clock.now(), "offset": getattr(clock, "_offset", 0.0)},
            "rng": dump_rng(self.rng),
            "outcomes": self.outcomes.dump(),
            "callbacks": self.callbacks.dump_counters(),
        }

    def restore(self) -> int:
        """Read back what the durable store holds (at start-up, before serving); answers the messages restored."""
        data = self.persist.load()
        if not data:
            return 0
        kv = self._restored_kv = data["kv"]
        state = kv.get("core/state")
        if state:
            clock = state["clock"]
            if self.clock.manual and clock["manual"]:
                # A manual clock does not move while the server is down: the mock timeline goes on where it was.
                self.clock.advance(clock["now"] - self.clock.now())
            elif not self.clock.manual and not clock["manual"]:
                self.clock.advance(max(clock["offset"], 0.0))
            load_rng(self.rng, state["rng"])
            self.outcomes.load(state["outcomes"])
        # A cap lowered since the file was written evicts while messages are read back; those messages are forgotten
        # (their owed callbacks, their provider rows) once everything else is back, as any eviction forgets them.
        self._deferred_evictions = []
        for record in data["messages"]:
            self.store.add(Message.from_record(record))
        for name, hooks in self.providers.items():
            if hooks.restore is not None:
                prefix = name + "/"
                hooks.restore({k[len(prefix):]: v for k, v in kv.items() if k.startswith(prefix)})
        self.scheduler.load(data["jobs"])
        retrying = {job[3][0] for job in data["jobs"] if job[2] == "callback.retry"}
        owed = {k[len("callback/"):]: v for k, v in kv.items() if k.startswith("callback/")}
        self.callbacks.restore((state or {}).get("callbacks", {}), owed, retrying)
        self.callbacks.restore_log([a for m in self.store.all() for a in m.callbacks])
        evicted, self._deferred_evictions = self._deferred_evictions, None
        for message in evicted:
            self._evicted(message)
        self.restored = {"messages": len(data["messages"]), "jobs": len(data["jobs"]), "callbacks_owed": len(owed)}
        return len(data["messages"])

    def persist_rows(self, prefix: str) -> dict:
        """Rows restored under `prefix` (for state kept outside the core: the journal, faults)."""
        kv = getattr(self, "_restored_kv", {})
        return {k[len(prefix):]: v for k, v in kv.items() if k.startswith(prefix)}

    async def start(self) -> None:
        await self.callbacks.start()
        self.callbacks.resume()
        self.scheduler.run_due()  # what fell due while the server was down happens now

    async def stop(self) -> None:
        await self.callbacks.close()
        await self.persist.flush()
        self.persist.close()

