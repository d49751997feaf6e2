"""Equal dicts made one: the meta dicts of messages sent alike (issue 8: memory per stored message).

A message's provider meta (callback URL, brandname, scenario key, outcome, ...) is the same few values for most of the
messages an account sends, and a dict per message was ~250 bytes of every message sent one a request (bench/run.py
--scenarios memory). `SharedDicts` hands out one dict per distinct content. A shared dict is never changed: whoever
changes a message's meta gives the message another dict, shared in turn.
"""

from __future__ import annotations

from typing import Any


class SharedDicts:
    """A bounded cache of dicts by their items; it starts over when full (a send with a RequestId has a meta of its own,
    so the distinct dicts never stop coming)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._dicts: dict[tuple[Any, ...], dict[str, Any]] = {}

    def __call__(self, d: dict[str, Any]) -> dict[str, Any]:
        """The one dict equal to `d` (`d` itself the first time). Values are told apart by type too (True == 1 in
        Python, not in JSON). Lists and dicts among them are compared by identity (an Infobip scenario's flow JSON, one
        list per flow): the cached dict holds them, so an id cannot be reused while it is cached."""
        try:
            key = tuple((k, v.__class__, id(v) if isinstance(v, (list, dict)) else v) for k, v in d.items())
            shared = self._dicts.get(key)
        except TypeError:  # another unhashable value (a meta read back from an older durable store): not shared
            return d
        if shared is None:
            if len(self._dicts) >= self.limit:
                self._dicts.clear()
            shared = self._dicts[key] = d
        return shared
