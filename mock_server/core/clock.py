"""The mock clock: real time (with an offset tests may push forward) or a manual clock that moves only when told."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """What the core needs of time: the current mock time as epoch seconds, and a way to move it forward."""

    manual: bool

    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


class SystemClock:
    """Wall-clock time; `advance` adds an offset, so a tester can skip ahead on a running server too."""

    manual = False

    def __init__(self) -> None:
        self._offset = 0.0  # seconds added by advance(); time never runs backwards

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        self._offset += seconds
        return self.now()


class ManualClock:
    """Frozen time (product.md §2 `--clock manual`): it moves only through `advance`."""

    manual = True

    def __init__(self, start: float | None = None) -> None:
        # Start on a whole second, so the dates a test sees are readable and reproducible within a run.
        self._now = float(int(time.time() if start is None else start))

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now


def make_clock(kind: str) -> Clock:
    """The clock for `--clock real|manual`."""
    if kind == "manual":
        return ManualClock()
    if kind == "real":
        return SystemClock()
    raise ValueError(f"clock must be 'real' or 'manual', not {kind!r}")


# The whole second last formatted and its "YYYY-MM-DDTHH:MM:SS." text, replaced as one tuple (thread-safe reads).
# The mock clock stays before this (the year 9000): every time it shows must still format, and a clock past the year
# 9999 could not be shown nor moved back (time never runs backwards, not even at a reset).
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()

_last_second: tuple[int, str] = (-1, "")


def iso_utc(ts: float) -> str:
    """The control API's time format: ISO 8601, UTC, milliseconds, `Z` (product.md §5.1)."""
    global _last_second
    millis = int(ts * 1000)
    second = millis // 1000
    cached = _last_second
    if cached[0] != second:  # strftime is slow; most timestamps in a burst share their second
        cached = _last_second = (second, datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{cached[1]}{millis % 1000:03d}Z"
