"""The message store (in memory, bounded): messages with their history, indexed by id, provider id, batch and phone.

When more than `max_messages` are stored, the oldest final ones are evicted first (then the oldest of all, so the
bound holds even when nothing is final), so a long load test cannot exhaust memory; evictions are counted.

Finding the oldest final message takes O(1) amortised whatever is in flight: messages are kept in the order they
became final, which is their age order as long as they finish in the order they were sent; one that finishes after a
younger one goes to a small heap by age instead. A message that stops being final (an Infobip failover: undeliverable
on VIBER, then under way on SMS) leaves its entry behind, skipped as stale, and is put back when it ends again.
(Scanning the age order for the first final message was O(n) per eviction once the oldest messages were still under
way: a cap of 2 000 made a 100-phone send 15 times slower.)
"""

from __future__ import annotations

import heapq
from collections import deque
from itertools import islice
from typing import Any, Callable, Iterator

from . import buckets
from .models import Message, Status
from .phones import digits, international

# Message.seq of a message no longer stored: the eviction structures drop such entries when they meet them, without a
# lookup in the id dict (at 200 000 messages each lookup is a cache miss or two: bench/cpu.py esms_100).
REMOVED = -1


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
        self._by_id: dict[str, Message] = {}
        # Bumped by every add, remove and status change of a stored message, and by a clear (never reset): a reader
        # that saw N and now sees N + 1 knows that exactly one thing happened since (eSMS's batch totals, kept up to
        # date per change: EsmsBackend._batch_totals).
        self.changes = 0
        self.reset()

    def reset(self) -> None:
        for message in self._by_id.values():
            message.seq = REMOVED  # no longer stored: what still holds it (a job, a provider) sees that
        self._by_id: dict[str, Message] = {}  # our id -> message, in insertion order (oldest first)
        self._by_provider_id: dict[str, dict[str, Message]] = {}  # provider -> provider_id -> first such message
        # provider -> batch -> the message(s): one dict per provider, not a (provider, batch) tuple per key, which was
        # 56 bytes of every message sent one a request (bench/run.py --scenarios memory).
        self._by_batch: dict[str, dict[str, Any]] = {}
        self._by_phone: dict[str, Any] = {}  # the international form of the phone -> the message(s)
        self._next = 0
        # A clear is a change too: no count kept across it holds (see __init__).
        self.changes += 1
        # For eviction, kept only when bounded: every message in insertion order, and the final ones by age (below).
        self._order: deque[Message] = deque()
        self._finals: deque[Message] = deque()  # final messages in the order they became final, ages increasing
        self._late: list[tuple[int, Message]] = []  # heap by age: final messages that finished after a younger one
        self._finals_top = -1  # the age of the youngest message ever put in _finals (entries may be gone since)
        # Counts kept as messages come, change and go: GET /_mock/health answers in O(1) (it counted the whole store,
        # ~0.3 s with the event loop held at 1 000 000 messages).
        self._counts: dict[str, dict[Status, int]] = {}  # provider -> status -> stored messages

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, message: Message) -> None:
        self.changes += 1
        self._by_id[message.id] = message
        message.seq = self._next  # before a compaction below, which drops entries whose seq is REMOVED (-1)
        self._next += 1
        if self.max_messages:
            self._order.append(message)
            if len(self._order) + len(self._finals) + len(self._late) > 4 * len(self._by_id) + 1024:
                self._compact()
        ids = self._by_provider_id.get(message.provider)
        if ids is None:
            ids = self._by_provider_id[message.provider] = {}
        ids.setdefault(message.provider_id, message)
        if message.batch_id:
            batches = self._by_batch.get(message.provider)
            if batches is None:
                batches = self._by_batch[message.provider] = {}
            buckets.add(batches, message.batch_id, message)
        buckets.add(self._by_phone, message.phone_intl or message.phone, message)
        counts = self._counts.get(message.provider)
        if counts is None:
            counts = self._counts[message.provider] = {}
        counts[message.status] = counts.get(message.status, 0) + 1
        if self.max_messages:
            if message.status.final:  # stored final (a restart reads messages back)
                self._finalized(message)
            if len(self._by_id) > self.max_messages:
                self._evict()

    def changing(self, message: Message, status: Status) -> None:
        """`message` is about to move to `status` (Core tells, before the change; a message not stored is ignored)."""
        if message.seq == REMOVED:
            return
        self.changes += 1
        counts = self._counts[message.provider]
        counts[message.status] -= 1
        counts[status] = counts.get(status, 0) + 1
        if self.max_messages and status.final and not message.status.final:
            self._finalized(message)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Stored messages by provider (in the order first seen) and by status (in Status order), none with 0."""
        by_provider = {p: n for p, counts in self._counts.items() if (n := sum(counts.values()))}
        return by_provider, {s.value: n for s in Status if (n := self.count(status=s))}

    def count(self, *, provider: str | None = None, status: Status | None = None) -> int:
        """Stored messages of `provider` and in `status` (None: any), in O(1)."""
        groups = self._counts.values() if provider is None else [self._counts.get(provider, {})]
        return sum(sum(c.values()) if status is None else c.get(status, 0) for c in groups)

    def _finalized(self, message: Message) -> None:
        """A stored message has just reached a final state: it joins the eviction order of final messages."""
        if message.seq < self._finals_top:
            heapq.heappush(self._late, (message.seq, message))  # finished after a younger message
        else:
            self._finals.append(message)
            self._finals_top = message.seq

    def _evict(self) -> None:
        victim = self._oldest_final()
        order = self._order
        if victim is None:  # nothing final: the oldest of all goes, so the bound holds
            while order[0].seq == REMOVED:
                order.popleft()  # evicted or removed already
            victim = order.popleft()
        self.remove(victim)
        while order and order[0].seq == REMOVED:
            order.popleft()  # keep the age order's front live (the victim is usually there)
        self.evicted += 1
        self._on_evict(victim)

    def _compact(self) -> None:
        """Drop the stale entries (messages evicted from behind ones still under way, or removed) from the eviction
        structures: rare, and never more than a few times the store's size apart, so O(1) per message in all."""
        self._order = deque(m for m in self._order if m.seq != REMOVED)
        self._finals = deque(m for m in self._finals if m.seq != REMOVED)
        self._late = [(seq, m) for seq, m in self._late if m.seq != REMOVED]
        heapq.heapify(self._late)

    def _oldest_final(self) -> Message | None:
        """Take the oldest final message still stored out of the final-order structures (None: nothing final)."""
        finals, late = self._finals, self._late
        # An entry is stale once its message is gone, or no longer final (an Infobip failover moved it on; it is put
        # back by _finalized() when it ends again).
        while finals and (finals[0].seq == REMOVED or not finals[0].status.final):
            finals.popleft()
        while late and (late[0][1].seq == REMOVED or not late[0][1].status.final):
            heapq.heappop(late)
        if late and (not finals or late[0][0] < finals[0].seq):
            return heapq.heappop(late)[1]
        return finals.popleft() if finals else None

    def remove(self, message: Message) -> None:
        if self._by_id.get(message.id) is message:
            self.changes += 1
            del self._by_id[message.id]
            message.seq = REMOVED
            self._counts[message.provider][message.status] -= 1
        ids = self._by_provider_id.get(message.provider)
        if ids is not None and ids.get(message.provider_id) is message:
            del ids[message.provider_id]
        if message.batch_id and message.provider in self._by_batch:
            buckets.remove(self._by_batch[message.provider], message.batch_id, message)
        buckets.remove(self._by_phone, message.phone_intl or message.phone, message)

    def get(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    def by_provider_id(self, provider: str, provider_id: str) -> Message | None:
        ids = self._by_provider_id.get(provider)
        return None if ids is None else ids.get(provider_id)

    def batch(self, provider: str, batch_id: str) -> list[Message]:
        return list(buckets.items(self._by_batch.get(provider, {}).get(batch_id)))

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
        if phone is None:
            # The total comes from the counts, so the walk stops at `limit` (it went on to count every message: O(n)
            # for every control-API list filtered by provider or status). A rare status is still a long walk.
            total = self.count(provider=provider, status=status)
            want = total if limit is None else min(limit, total)
            found: list[Message] = []
            candidates = reversed(self._by_id.values())
            if provider is not None:
                # A provider's messages are its provider-id dict, in store order, unless an id was reused (the dict
                # then holds the first message of each id only, and the sizes differ). Walked from the whole store, a
                # provider whose messages are few and old cost the whole store: ~20 ms a call at 1 000 000 stored
                # (bench/queries.py, `messages provider=nxcloud`).
                ids = self._by_provider_id.get(provider, {})
                if len(ids) == self.count(provider=provider):
                    candidates = reversed(ids.values())
            if want:
                for m in candidates:
                    if (provider is None or m.provider == provider) and (status is None or m.status == status):
                        found.append(m)
                        if len(found) >= want:
                            break
            return found, total
        # A phone is indexed once, by its international form (one key, not one per form: issue 8); a search looks
        # under the international form and the bare digits of what it was given, which finds every message
        # phone_keys() would match (international() is a function of the digits).
        seen: dict[str, Message] = {}
        for key in {international(phone) or phone, digits(phone)} - {""}:
            seen.update((m.id, m) for m in buckets.items(self._by_phone.get(key)))
        total = 0
        out: list[Message] = []
        for m in sorted(seen.values(), key=lambda m: m.seq, reverse=True):
            if (provider is None or m.provider == provider) and (status is None or m.status == status):
                total += 1
                if limit is None or len(out) < limit:
                    out.append(m)
        return out, total
