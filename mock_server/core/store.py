"""The message store (in memory): messages with their history, indexed by id, provider id, batch and phone."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Iterator

from .models import Message, Status
from .phones import phone_keys


class MemoryStore:
    """Insertion-ordered messages; every lookup a test or a provider query needs is a dict access."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._by_id: dict[str, Message] = {}  # our id -> message, in insertion order (oldest first)
        self._by_provider_id: dict[tuple[str, str], Message] = {}  # (provider, provider_id) -> message
        self._by_batch: dict[tuple[str, str], list[Message]] = defaultdict(list)  # (provider, batch) -> messages
        self._by_phone: dict[str, list[Message]] = defaultdict(list)  # any form of the phone -> messages
        self._seq: dict[str, int] = {}  # our id -> insertion number, to merge index lists in order

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, message: Message) -> None:
        self._by_id[message.id] = message
        self._seq[message.id] = len(self._seq)
        self._by_provider_id[(message.provider, message.provider_id)] = message
        if message.batch_id:
            self._by_batch[(message.provider, message.batch_id)].append(message)
        for key in phone_keys(message.phone):
            self._by_phone[key].append(message)

    def get(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    def by_provider_id(self, provider: str, provider_id: str) -> Message | None:
        return self._by_provider_id.get((provider, provider_id))

    def batch(self, provider: str, batch_id: str) -> list[Message]:
        return list(self._by_batch.get((provider, batch_id), ()))

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
        source: Iterable[Message]
        if phone is not None:
            seen: dict[str, Message] = {}
            for key in phone_keys(phone):
                for m in self._by_phone.get(key, ()):
                    seen[m.id] = m
            source = sorted(seen.values(), key=lambda m: self._seq[m.id])
        else:
            source = self._by_id.values()
        matched = [
            m
            for m in source
            if (provider is None or m.provider == provider) and (status is None or m.status == status)
        ]
        matched.reverse()
        total = len(matched)
        return (matched if limit is None else matched[:limit]), total
