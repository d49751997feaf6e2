"""The garbage-collector policy of the server process (issue 8: p99 latency under load).

The store keeps every message for the life of the server, so the heap grows with the run and CPython's generational
collector rescans all of it again and again: every full collection was a pause of 25-120 ms with 10 000-100 000
messages stored, and those pauses made the p99 latency of a 4-second load run 70-110 ms (gc.callbacks timings; with the
collector off the same run's p99 was 9.5 ms).

What the mock keeps is acyclic (a message, its history, its meta dicts; journal entries): refcounting frees it the
moment the store drops it, and the cycle collector has nothing to find there. So objects that have survived a
generation-1 collection are frozen (`gc.freeze()`: moved to the permanent generation, which collections skip), and the
young generations stay small: a pause is bounded by what a fraction of a second allocates, not by the store's size.

A cycle that was alive when frozen and dies later is not found by the young collections. A full sweep (unfreeze,
collect, freeze again) finds them. It is a pause as long as the heap is large (half a second at a million objects), so
it waits for a quiet moment: once the frozen set has doubled since the last sweep, the first check that finds the
process idle (almost no young collections since the previous check) sweeps; under load that never lets up, a sweep
happens anyway once the set has grown eightfold. Either way the spacing is geometric, so the sweeps' total cost stays
proportional to the objects created, and the garbage that can wait for one is bounded by a multiple of the live data.

Only the CLI installs this: an embedded server (the pytest plugin) leaves its host process's collector alone.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class GcPolicy:
    def __init__(self, *, check_every: float = 1.0, growth: float = 2.0, forced_growth: float = 8.0,
                 floor: int = 200_000, idle_collections: int = 5) -> None:
        self.check_every = check_every  # seconds between looks at the frozen set's size
        self.growth = growth  # sweep at the next idle check once the frozen set is this many times its last size
        self.forced_growth = forced_growth  # ... and at once, idle or not, at this many times
        self.floor = floor  # never for less than this many objects (start-up alone freezes ~100 000)
        self.idle_collections = idle_collections  # fewer young collections than this since the last check: idle
        self.swept_at = 0  # frozen objects right after the last sweep
        # Objects frozen, counted as they are frozen (an upper bound: frozen objects freed since are not subtracted).
        # gc.get_freeze_count() walks the whole permanent generation (~30 ms at 3 million objects, 3 % of a
        # 100-phone eSMS run when asked every second), so it is asked only once this bound says a sweep may be due.
        self.frozen = 0
        self.sweeps = 0
        self._young = 0  # generation-0 collections counted at the last check
        self._installed = False

    def install(self) -> None:
        """Freeze what start-up built, then freeze survivors after each collection of the older generations."""
        if self._installed:
            return
        gc.collect()
        gc.freeze()
        self.swept_at = self.frozen = gc.get_freeze_count()
        gc.callbacks.append(self._after_collection)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._after_collection)
            gc.unfreeze()
            self._installed = False

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Right after a generation-1 or -2 collection the young generations are empty: everything left is reachable,
        # and what generation 2 holds is what survived since the last freeze (a short list, not the frozen set).
        if phase == "stop" and info["generation"] >= 1:
            self.frozen += len(gc.get_objects(generation=2))
            gc.freeze()

    def due(self, idle: bool) -> bool:
        threshold = max(self.floor, self.swept_at * (self.growth if idle else self.forced_growth))
        if self.frozen < threshold:
            return False
        self.frozen = gc.get_freeze_count()  # the true size: what was freed since (a store reset) no longer counts
        return self.frozen >= threshold

    def idle(self) -> bool:
        """Almost nothing was allocated since the last call (each young collection is ~700 new container objects)."""
        young = gc.get_stats()[0]["collections"]
        quiet = young - self._young < self.idle_collections
        self._young = young
        return quiet

    def sweep(self) -> float:
        """A full collection over everything, frozen objects included; answers how long it held the process."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.swept_at = self.frozen = gc.get_freeze_count()
        self.sweeps += 1
        took = time.perf_counter() - started
        log.debug("gc sweep: %d unreachable objects, %d kept, %.1f ms", found, self.swept_at, took * 1000)
        return took

    async def run(self) -> None:
        """The background task: sweep when due."""
        while True:
            await asyncio.sleep(self.check_every)
            if self.due(self.idle()):
                self.sweep()
