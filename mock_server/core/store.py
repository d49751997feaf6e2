"""The message store (in memory, bounded): messages with their history, indexed by id, provider id, batch and phone.

When more than `max_messages` are stored, the oldest final ones are evicted first (then the oldest of all, so the
bound holds even when nothing is final), so a long load test cannot exhaust memory; evictions are counted.
"""

from __future__ import annotations

from itertools import islice
from typing import Callable, Iterator

from .models import Message, Status
from .phones import phone_keys


class MemoryStore:
    """Insertion-ordered messages; every lookup a test or a provider query needs is a dict access."""

    def __init__(self, *, max_messages: int = 0, on_evict: Callable[[Message], None] = lambda _m: None) -> None:
        self.max_messages = max_messages  # 0 = unbounded
        self._on_evict = on_evict
        self.evicted = 0  # messages dropped to keep the bound, since start
        self.reset()

    def reset(self) -> None:
        self._by_id: dict[str, Message] = {}  # our id -> message, in insertion order (oldest first)
        self._by_provider_id: dict[tuple[str, str], Message] = {}  # (provider, provider_id) -> first such message
        self._by_batch: dict[tuple[str, str], dict[str, Message]] = {}  # (provider, batch) -> id -> message
        self._by_phone: dict[str, dict[str, Message]] = {}  # any form of the phone -> id -> message
        self._seq: dict[str, int] = {}  # our id -> insertion number, to merge index lists in order
        self._next = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, message: Message) -> None:
        self._by_id[message.id] = message
        self._seq[message.id] = self._next
        self._next += 1
        self._by_provider_id.setdefault((message.provider, message.provider_id), message)
        if message.batch_id:
            self._by_batch.setdefault((message.provider, message.batch_id), {})[message.id] = message
        for key in phone_keys(message.phone):
            self._by_phone.setdefault(key, {})[message.id] = message
        if self.max_messages and len(self._by_id) > self.max_messages:
            self._evict()

    def _evict(self) -> None:
        # The oldest final message: scanning from the oldest stops early, as old messages are almost always final.
        victim = next((m for m in self._by_id.values() if m.status.final), None)
        if victim is None:
            victim = next(iter(self._by_id.values()))
        self.remove(victim)
        self.evicted += 1
        self._on_evict(victim)

    def remove(self, message: Message) -> None:
        self._by_id.pop(message.id, None)
        self._seq.pop(message.id, None)
        if self._by_provider_id.get((message.provider, message.provider_id)) is message:
            del self._by_provider_id[(message.provider, message.provider_id)]
        if message.batch_id:
            batch = self._by_batch.get((message.provider, message.batch_id))
            if batch is not None:
                batch.pop(message.id, None)
                if not batch:
                    del self._by_batch[(message.provider, message.batch_id)]
        for key in phone_keys(message.phone):
            bucket = self._by_phone.get(key)
            if bucket is not None:
                bucket.pop(message.id, None)
                if not bucket:
                    del self._by_phone[key]

    def get(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    def by_provider_id(self, provider: str, provider_id: str) -> Message | None:
        return self._by_provider_id.get((provider, provider_id))

    def batch(self, provider: str, batch_id: str) -> list[Message]:
        return list(self._by_batch.get((provider, batch_id), {}).values())

    def latest(self) -> Message | None:
        return next(reversed(self._by_id.values()), None)

    def all(self) -> Iterator[Message]:
        return iter(self._by_id.values())

    def query(
        self,
        *,
        provider: str | None = None,
        phone: str | None = None,
        status: Status | None = None,
        limit: int | None = None,
    ) -> tuple[list[Message], int]:
        """Matching messages newest first (at most `limit`), and how many matched in all."""
        if phone is None and provider is None and status is None:
            newest = reversed(self._by_id.values())
            return list(newest if limit is None else islice(newest, limit)), len(self._by_id)
        if phone is not None:
            seen: dict[str, Message] = {}
            for key in phone_keys(phone):
                seen.update(self._by_phone.get(key, {}))
            source = sorted(seen.values(), key=lambda m: self._seq[m.id], reverse=True)
        else:
            source = reversed(self._by_id.values())  # type: ignore[assignment]
        total = 0
        out: list[Message] = []
        for m in source:
            if (provider is None or m.provider == provider) and (status is None or m.status == status):
                total += 1
                if limit is None or len(out) < limit:
                    out.append(m)
        return out, total
