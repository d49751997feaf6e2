"""Index buckets that cost nothing extra until a key is shared (issue 8: memory per stored message).

An index maps a key (a phone, a batch, a bulkId, a messageId) to the items under it. Most keys name one item, and a
dict per key was ~250 bytes of every stored message; so a bucket is the item itself until a second item shares the
key, and then a dict of item id -> item in insertion order (oldest first). Items are anything with an `id`.
"""

from __future__ import annotations

from typing import Any, Iterable


def add(index: dict[Any, Any], key: Any, item: Any) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = item
    elif isinstance(bucket, dict):
        bucket[item.id] = item
    elif bucket is not item:
        index[key] = {bucket.id: bucket, item.id: item}  # oldest first, as in a bucket that was always a dict


def remove(index: dict[Any, Any], key: Any, item: Any) -> None:
    bucket = index.get(key)
    if bucket is item:
        del index[key]
    elif isinstance(bucket, dict) and bucket.get(item.id) is item:
        del bucket[item.id]
        if not bucket:
            del index[key]


def items(bucket: Any) -> Iterable[Any]:
    """The items of a bucket (None: no bucket), oldest first."""
    if bucket is None:
        return ()
    return bucket.values() if isinstance(bucket, dict) else (bucket,)
