"""The message store (in memory, bounded): messages with their history, indexed by id, provider id, batch and phone.

When more than `max_messages` are stored, the oldest final ones are evicted first (then the oldest of all, so the
bound holds even when nothing is final), so a long load test cannot exhaust memory; evictions are counted.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Callable, Iterator

from . import buckets
from .models import Message, Status
from .phones import digits, international


class MemoryStore:
    """Insertion-ordered messages; every lookup a test or a provider query needs is a dict access.

    Memory per message is a target (issue 8: under 2 KB): phone and batch buckets cost nothing until a key is shared
    (core/buckets.py), provider ids are looked up in one dict per provider rather than under (provider, id) tuples,
    and the insertion number lives on the message.
    """

    def __init__(self, *, max_messages: int = 0, on_evict: Callable[[Message], None] = lambda _m: None) -> None:
        self.max_messages = max_messages  # 0 = unbounded
        self._on_evict = on_evict
        self.evicted = 0  # messages dropped to keep the bound, since start
        self.reset()

    def reset(self) -> None:
        self._by_id: dict[str, Message] = {}  # our id -> message, in insertion order (oldest first)
        self._by_provider_id: dict[str, dict[str, Message]] = {}  # provider -> provider_id -> first such message
        self._by_batch: dict[tuple[str, str], Any] = {}  # (provider, batch) -> the message(s)
        self._by_phone: dict[str, Any] = {}  # the international form of the phone -> the message(s)
        self._next = 0
        self._order: deque[Message] = deque()  # insertion order, for eviction (kept only when bounded)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, message: Message) -> None:
        self._by_id[message.id] = message
        if self.max_messages:
            self._order.append(message)
            if len(self._order) > 2 * len(self._by_id) + 1024:
                # Messages removed other than by eviction leave stale entries; never let them outgrow the store.
                self._order = deque(m for m in self._order if self._by_id.get(m.id) is m)
        message.seq = self._next
        self._next += 1
        ids = self._by_provider_id.get(message.provider)
        if ids is None:
            ids = self._by_provider_id[message.provider] = {}
        ids.setdefault(message.provider_id, message)
        if message.batch_id:
            buckets.add(self._by_batch, (message.provider, message.batch_id), message)
        buckets.add(self._by_phone, message.phone_intl or message.phone, message)
        if self.max_messages and len(self._by_id) > self.max_messages:
            self._evict()

    def _evict(self) -> None:
        # The oldest final message: scanning from the oldest stops early, as old messages are almost always final.
        # The scan walks a deque, not the id dict: a dict used as a FIFO keeps its removed entries as holes at the
        # front until it is rebuilt, and skipping them was 16 % of a 100-phone eSMS send once the cap was reached
        # (bench/profile.py esms_100).
        order, by_id = self._order, self._by_id
        while order:
            head = order[0]
            if by_id.get(head.id) is not head:
                order.popleft()  # removed since by other means (MemoryStore.remove)
            elif head.status.final:
                victim = order.popleft()  # the usual case: the oldest message is final
                break
            else:
                victim = self._oldest_final() or order.popleft()  # an older message is still under way: rare
                break
        else:
            return
        self.remove(victim)
        self.evicted += 1
        self._on_evict(victim)

    def _oldest_final(self) -> Message | None:
        """Take the oldest final message out of the eviction order (O(n), as the dict scan was; rare)."""
        by_id = self._by_id
        for i, message in enumerate(self._order):
            if message.status.final and by_id.get(message.id) is message:
                del self._order[i]
                return message
        return None

    def remove(self, message: Message) -> None:
        if self._by_id.get(message.id) is message:
            del self._by_id[message.id]
        ids = self._by_provider_id.get(message.provider)
        if ids is not None and ids.get(message.provider_id) is message:
            del ids[message.provider_id]
        if message.batch_id:
            buckets.remove(self._by_batch, (message.provider, message.batch_id), message)
        buckets.remove(self._by_phone, message.phone_intl or message.phone, message)

    def get(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    def by_provider_id(self, provider: str, provider_id: str) -> Message | None:
        ids = self._by_provider_id.get(provider)
        return None if ids is None else ids.get(provider_id)

    def batch(self, provider: str, batch_id: str) -> list[Message]:
        return list(buckets.items(self._by_batch.get((provider, batch_id))))

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
            # A phone is indexed once, by its international form (one key, not one per form: issue 8); a search
            # looks under the international form and the bare digits of what it was given, which finds every
            # message phone_keys() would match (international() is a function of the digits).
            seen: dict[str, Message] = {}
            for key in {international(phone) or phone, digits(phone)} - {""}:
                seen.update((m.id, m) for m in buckets.items(self._by_phone.get(key)))
            source = sorted(seen.values(), key=lambda m: m.seq, reverse=True)
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
