"""Timed progression on the mock clock: one scheduler for every delayed step (status changes, callback retries).

A message's plan is a list of (delay, status) steps decided at submit (rules.py). The scheduler runs each step when
the mock clock reaches it: with the real clock a background task sleeps until the next due time; with the manual
clock `Core.advance()` runs every step that became due, synchronously, before it answers, so a test that advances the
clock sees the new states at once (moto's `ManagedState` "manual" progression, made deterministic).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from typing import Callable

from .clock import Clock
from .models import Status

log = logging.getLogger(__name__)


@dataclass(order=True, slots=True)
class _Job:
    due: float
    seq: int
    action: Callable[[float], None] = field(compare=False)  # called with its due time, the logical "now"
    cancelled: bool = field(default=False, compare=False)


class Scheduler:
    """A heap of jobs on the mock clock; actions are plain functions (state changes, enqueueing a callback)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._running = False  # guards against re-entrant run_due() from inside an action

    def __len__(self) -> int:
        return sum(1 for j in self._heap if not j.cancelled)

    def at(self, due: float, action: Callable[[float], None]) -> _Job:
        job = _Job(due, next(self._seq), action)
        heapq.heappush(self._heap, job)
        if self._heap[0] is job:
            self._wake.set()
        return job

    def after(self, delay: float, action: Callable[[float], None], *, base: float | None = None) -> _Job:
        return self.at((self.clock.now() if base is None else base) + max(delay, 0.0), action)

    def clear(self) -> None:
        self._heap.clear()

    def run_due(self) -> int:
        """Run every job due by now, including those that earlier jobs schedule within the window."""
        if self._running:
            return 0
        self._running = True
        ran = 0
        try:
            now = self.clock.now()
            while self._heap and self._heap[0].due <= now:
                job = heapq.heappop(self._heap)
                if job.cancelled:
                    continue
                ran += 1
                try:
                    job.action(job.due)
                except Exception:  # one broken job must not stop the clock for every other message
                    log.exception("scheduled job failed")
        finally:
            self._running = False
        return ran

    async def run(self) -> None:
        """The background task: wake at the next due time (real clock) or when a job is added / time advanced."""
        while True:
            self._wake.clear()
            self.run_due()
            timeout = None
            if self._heap and not self.clock.manual:
                timeout = max(self._heap[0].due - self.clock.now(), 0.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def wake(self) -> None:
        self._wake.set()


@dataclass(frozen=True, slots=True)
class Step:
    delay: float  # seconds after the previous step
    status: Status
    detail: str | None = None


def plan_for(outcome: str, *, accept_to_sent: float, sent_to_final: float, validity: float) -> list[Step]:
    """The status steps after `accepted` for an outcome that is not a rejection at submit (rules.OUTCOMES)."""
    sent = Step(accept_to_sent, Status.SENT)
    if outcome == "delivered":
        return [sent, Step(sent_to_final, Status.DELIVERED)]
    if outcome == "seen":
        return [sent, Step(sent_to_final, Status.DELIVERED), Step(sent_to_final, Status.SEEN)]
    if outcome == "undeliverable":
        return [sent, Step(sent_to_final, Status.UNDELIVERABLE)]
    if outcome == "expired":
        # Never delivered: it expires when its validity period, counted from submission, runs out.
        return [sent, Step(max(validity - accept_to_sent, 0.0), Status.EXPIRED)]
    if outcome == "slow":
        # product.md §4, 55505: "final state only after 10 minutes of mock time".
        return [sent, Step(max(600.0 - accept_to_sent, 0.0), Status.DELIVERED)]
    raise ValueError(f"outcome {outcome!r} has no delivery plan")
