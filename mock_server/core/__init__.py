"""The core: store, clock, scheduler, outcome rules, callbacks, events and schemas. It knows nothing of HTTP serving."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from ..settings import Settings
from .callbacks import CallbackDispatcher
from .clock import Clock, make_clock
from .events import MESSAGE_CREATED, MESSAGE_UPDATED, RESET, EventBus
from .lifecycle import Scheduler, Step, plan_for
from .models import Message, Status, StatusChange
from .phones import international
from .rules import Decision, Outcomes
from .schemas import SchemaRegistry
from .store import MemoryStore


class StateConflict(Exception):
    """A requested change the message's current state does not allow (the control API answers 409)."""


@dataclass
class ProviderHooks:
    """What a provider plugs into the core: it hears every status change of its messages, and resets its own state."""

    on_status: Callable[[Message, StatusChange], None]
    reset: Callable[[], None]
    accounts: Callable[[], list[dict]] | None = None  # the accounts as GET /_mock/accounts shows them (no secrets)
    backend: object = None  # the provider's state object, for its control routes


class Core:
    """Everything stateful, shared by the providers, the control API and the UI."""

    def __init__(self, settings: Settings, *, clock: Clock, schemas: SchemaRegistry) -> None:
        self.settings = settings
        self.clock = clock
        self.started_at = time.time()  # wall clock, for uptime
        self.schemas = schemas
        self.events = EventBus()
        self.scheduler = Scheduler(clock)
        self.store = MemoryStore()
        self.outcomes = Outcomes(seed=settings.seed, mix=dict(settings.outcome_mix))
        self.callbacks = CallbackDispatcher(
            clock=clock,
            scheduler=self.scheduler,
            events=self.events,
            timeout=settings.callbacks.timeout,
            max_attempts=settings.callbacks.max_attempts,
            schedule=settings.callbacks.schedule,
            allow_hosts=list(settings.callbacks.allow_hosts),
            lookup=self.store.get,
        )
        self.providers: dict[str, ProviderHooks] = {}
        self.on_reset: list[Callable[[], None]] = []  # more state to restore on reset (journal, faults)
        self.rng = random.Random(settings.seed)  # every generated id and price comes from here (--seed)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None, schemas: SchemaRegistry | None = None) -> "Core":
        from ..resources import schemas_dir

        return cls(settings, clock=clock or make_clock(settings.clock), schemas=schemas or SchemaRegistry(schemas_dir()))

    # --- ids -------------------------------------------------------------------------------------------------------

    def uuid(self) -> uuid.UUID:
        """A random (version 4) UUID from the seeded generator."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def hex_id(self, nbytes: int = 16) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    # --- messages --------------------------------------------------------------------------------------------------

    def register_provider(self, name: str, hooks: ProviderHooks) -> None:
        self.providers[name] = hooks

    def decide(self, provider: str, channel: str, phone: str) -> Decision:
        return self.outcomes.decide(provider, channel, phone)

    def new_message(self, *, provider: str, provider_id: str, account: str, phone: str, channel: str,
                    content: dict, batch_id: str | None = None, meta: dict | None = None,
                    raw_request: object = None) -> Message:
        return Message(
            id="m_" + self.hex_id(8),
            provider=provider,
            provider_id=provider_id,
            account=account,
            phone=phone,
            phone_intl=international(phone),
            channel=channel,
            content=content,
            created_at=self.clock.now(),
            batch_id=batch_id,
            meta=meta or {},
            raw_request=raw_request,
        )

    def accept(self, message: Message, decision: Decision, *, validity: float | None = None,
               start: bool = True, base: float | None = None) -> None:
        """Store an accepted message and schedule its lifecycle for the decided outcome (from `base`, default now)."""
        message.history.append(StatusChange(Status.ACCEPTED, message.created_at, detail=decision.source))
        message.meta.setdefault("outcome", decision.outcome)
        self.store.add(message)
        self.events.publish(MESSAGE_CREATED, message.to_json())
        if start:
            timing = self.settings.timing
            steps = plan_for(
                decision.outcome,
                accept_to_sent=timing.accept_to_sent,
                sent_to_final=timing.sent_to_final,
                validity=timing.default_validity if validity is None else validity,
            )
            self.run_plan(message, steps, base=base)

    def run_plan(self, message: Message, steps: list[Step], *, base: float | None = None) -> None:
        """Schedule `steps` one after the other from `base` (default: now); each skips if the message moved on."""
        due = self.clock.now() if base is None else base
        for step in steps:
            due += step.delay
            self.scheduler.at(due, lambda at, s=step: self._step(message, s, at))

    def _step(self, message: Message, step: Step, at: float) -> None:
        # A cleared message, a status forced through the control API, or a final state reached another way cancels
        # what was planned.
        if self.store.get(message.id) is not message:
            return
        if message.status.final and not (message.status == Status.DELIVERED and step.status == Status.SEEN):
            return
        self.transition(message, step.status, at=at, detail=step.detail)

    def transition(self, message: Message, status: Status, *, at: float | None = None, channel: str | None = None,
                   detail: str | None = None) -> StatusChange:
        """Record a status change, publish it, and let the message's provider report it (callbacks, reports)."""
        change = StatusChange(status, self.clock.now() if at is None else at, channel=channel, detail=detail)
        if channel:
            message.channel = channel
        message.status = status
        message.history.append(change)
        self.events.publish(MESSAGE_UPDATED, message.to_json())
        hooks = self.providers.get(message.provider)
        if hooks is not None:
            hooks.on_status(message, change)
        return change

    FORCEABLE = (Status.DELIVERED, Status.SEEN, Status.UNDELIVERABLE, Status.EXPIRED)

    def force_status(self, message: Message, status: Status) -> None:
        """Move a message to `status` now, through the states it implies (sent before a final state, delivered
        before seen), so its provider fires every callback and report a real walk there would have fired."""
        if status not in self.FORCEABLE:
            raise ValueError(f"status must be one of {', '.join(s.value for s in self.FORCEABLE)}")
        if message.status.final and not (message.status == Status.DELIVERED and status == Status.SEEN):
            raise StateConflict(f"message {message.id} is already {message.status.value}")
        detail = "forced through the control API"
        if message.status == Status.ACCEPTED:
            self.transition(message, Status.SENT, detail=detail)
        if status == Status.SEEN and message.status != Status.DELIVERED:
            self.transition(message, Status.DELIVERED, detail=detail)
        self.transition(message, status, detail=detail)

    # --- time and state --------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> float:
        """Move the mock clock forward and run everything that became due, before returning the new time."""
        now = self.clock.advance(seconds)
        self.scheduler.run_due()
        self.scheduler.wake()
        return now

    def clear_messages(self) -> int:
        """Forget every message (and with it what was scheduled for them); rules, accounts and the clock stay."""
        count = len(self.store)
        self.store.reset()
        return count

    def reset(self) -> None:
        """Back to the configured start state (product.md §9); the clock is not moved back."""
        self.scheduler.clear()
        self.callbacks.reset()
        self.store.reset()
        self.outcomes.reset()
        for hooks in self.providers.values():
            hooks.reset()
        for reset in self.on_reset:
            reset()
        self.events.publish(RESET, {})

    async def start(self) -> None:
        await self.callbacks.start()

    async def stop(self) -> None:
        await self.callbacks.close()
