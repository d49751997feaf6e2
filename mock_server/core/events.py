"""The event bus: message.created, message.updated, messages.cleared, callback.attempted, reset, for the UI, SSE and waiting tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
CALLBACK_ATTEMPTED = "callback.attempted"
MESSAGES_CLEARED = "messages.cleared"
RESET = "reset"
CLOSED = "bus.closed"  # the server is stopping: a subscriber's stream ends (never sent to clients)
EVENTS_DROPPED = "events.dropped"  # told to a stream that lost events (GET /_mock/events), never published
QUEUE_SIZE = 10_000  # events a subscriber may be behind before it loses the next ones


@dataclass(slots=True)
class Event:
    type: str  # one of the constants above
    data: dict[str, Any]  # the same summary shape the control API serves
    seq: int = 0  # increasing per bus, so a subscriber can tell it missed nothing


@dataclass
class Subscription:
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE))
    dropped: int = 0  # events lost because the subscriber did not keep up


class EventBus:
    """Fan-out to subscribers; publishing never blocks, a slow subscriber loses events (and is told how many)."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._seq = 0

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def active(self) -> bool:
        """Someone listens: publishers skip building payloads nobody reads (a hot path under load)."""
        return bool(self._subs)

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        self._seq += 1
        event = Event(type_, data, self._seq)
        for sub in self._subs:
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1

    def close(self) -> None:
        """The server is stopping: every subscriber is told, so an open event stream ends at once (it held a SIGTERM
        for aiohttp's shutdown timeout, twice: ~10 s, past Docker's grace period)."""
        for sub in self._subs:
            if sub.queue.full():
                sub.queue.get_nowait()  # the oldest goes: the end must get through
            sub.queue.put_nowait(Event(CLOSED, {}, self._seq))

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        """Wait for the next event matching `predicate` (subscribe before triggering what you wait for)."""
        sub = self.subscribe()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await sub.queue.get()
                    if predicate(event):
                        return event
        finally:
            self.unsubscribe(sub)
