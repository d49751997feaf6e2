"""Timed progression on the mock clock: one scheduler for every delayed step (status changes, callback retries).

A message's plan is a list of (delay, status) steps decided at submit (rules.py). The scheduler runs each step when
the mock clock reaches it: with the real clock one event-loop timer is armed for the earliest due job; with the manual
clock `Core.advance()` runs every step that became due, synchronously, before it answers, so a test that advances the
clock sees the new states at once (moto's `ManagedState` "manual" progression, made deterministic).

A timer, not a task that sleeps: waking a task (`asyncio.wait_for` on an event, a TimeoutError each time) cost several
µs per wake-up, and under load there were two wake-ups per send (its `sent` and its final step). The timer is armed
again only when a job due before it arrives, and after it fires the next one waits at least `GAP`: under load the jobs
of a few milliseconds run together, each at most `GAP` late; a lone job runs on time (issue 8, `python bench/cpu.py`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from .clock import Clock
from .models import Status

log = logging.getLogger(__name__)

GAP = 0.002  # seconds: the real-clock timer fires at most this often, so jobs due in a burst share a wake-up


@dataclass(slots=True)
class Job:
    due: float
    seq: int  # unique, increasing: ties at the same due time run in scheduling order
    kind: str = field(compare=False)  # names the handler (Scheduler.register); data, so jobs survive a restart
    args: tuple[Any, ...] = field(compare=False)  # JSON-able arguments for the handler


class Scheduler:
    """A heap of jobs on the mock clock. A job is data — a handler name and its arguments — so the durable store can
    keep the jobs still owed and a restarted server can run them; handlers are plain functions (state changes,
    enqueueing a callback) called with the job's due time, the logical "now", then its arguments."""

    def __init__(self, clock: Clock, persist: Any = None) -> None:
        self.clock = clock
        self.persist = persist  # told of every job added and done (persist.NullPersist for the memory store)
        self.handlers: dict[str, Callable[..., None]] = {}
        self._heap: list[tuple[float, int, Job]] = []  # (due, seq, job): tuples compare natively, fast
        self._seq = itertools.count(1)
        self._running = False  # guards against re-entrant run_due() from inside a job
        self._loop: asyncio.AbstractEventLoop | None = None  # set while run() is attached (real clock only)
        self._timer: asyncio.TimerHandle | None = None  # fires run_due() at...
        self._timer_due = 0.0  # ...this mock-clock time, the earliest due job's when it was armed
        self._soon: asyncio.Handle | None = None  # manual clock: a run_due() for jobs already due (at())

    def __len__(self) -> int:
        return len(self._heap)  # O(1): GET /_mock/health reports it (jobs are not cancelled; a stale one skips itself)

    def register(self, kind: str, handler: Callable[..., None]) -> None:
        self.handlers[kind] = handler

    def at(self, due: float, kind: str, *args: Any) -> Job:
        if kind not in self.handlers:
            raise KeyError(f"no handler registered for job kind {kind!r}")
        job = Job(due, next(self._seq), kind, args)
        heapq.heappush(self._heap, (due, job.seq, job))
        if self.persist is not None:
            self.persist.job_added(job)
        if self._loop is not None and not self._running:
            if self.clock.manual:
                # The manual clock fires nothing by itself; a job already due (a zero delay: accept_to_sent = 0, a
                # step rejected by a rule) runs as soon as the current handler returns, as it would on the real
                # clock, rather than wait for the next advance.
                if due <= self.clock.now() and self._soon is None:
                    self._soon = self._loop.call_soon(self._run_soon)
            elif self._heap[0][2] is job:
                self._arm()  # due before every other job: the timer may be set for later
        return job

    def _run_soon(self) -> None:
        self._soon = None
        self.run_due()

    def after(self, delay: float, kind: str, *args: Any, base: float | None = None) -> Job:
        return self.at((self.clock.now() if base is None else base) + max(delay, 0.0), kind, *args)

    def jobs(self) -> list[Job]:
        return [j for _, _, j in sorted(self._heap)]

    def load(self, jobs: list[tuple[int, float, str, tuple[Any, ...]]]) -> None:
        """Jobs read back from the durable store (not written again)."""
        top = 0
        for seq, due, kind, args in jobs:
            heapq.heappush(self._heap, (due, seq, Job(due, seq, kind, tuple(args))))
            top = max(top, seq)
        self._seq = itertools.count(max(top + 1, next(self._seq)))

    def clear(self) -> None:
        if self.persist is not None:
            for _, _, job in self._heap:
                self.persist.job_removed(job)
        self._heap.clear()

    def run_due(self) -> int:
        """Run every job due by now, including those that earlier jobs schedule within the window."""
        if self._running:
            return 0
        self._running = True
        ran = 0
        try:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                job = heapq.heappop(self._heap)[2]
                if self.persist is not None:
                    self.persist.job_removed(job)
                ran += 1
                try:
                    self.handlers[job.kind](job.due, *job.args)
                except Exception:  # one broken job must not stop the clock for every other message
                    log.exception("scheduled job %s%r failed", job.kind, job.args)
        finally:
            self._running = False
        if ran and self.persist is not None:
            self.persist.flush_soon()
        return ran

    async def run(self) -> None:
        """Attach to the running loop and keep a timer armed for the earliest due job (real clock) until cancelled."""
        self._loop = asyncio.get_running_loop()
        try:
            self._fire()  # what fell due before the loop was ours, then the first timer
            await self._loop.create_future()  # the timer does the work; this only holds the attachment
        finally:
            self._disarm()
            if self._soon is not None:
                self._soon.cancel()
                self._soon = None
            self._loop = None

    def wake(self) -> None:
        """The clock jumped (Core.advance on the real clock): the timer was armed for the old time; arm it anew."""
        if self._loop is not None:
            self._disarm()
            self._arm()

    def _arm(self, gap: float = 0.0) -> None:
        """Make sure the timer fires by the earliest due job's time, and not sooner than `gap` from now."""
        if not self._heap or self.clock.manual or self._loop is None:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer_due <= due:
                return  # fires in time for it; run_due() then arms the next
            self._timer.cancel()
        self._timer = self._loop.call_later(max(due - self.clock.now(), gap), self._fire)
        self._timer_due = due

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        try:
            self.run_due()
        finally:
            self._arm(GAP)  # even if something outside the jobs failed: the clock must not stop


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
