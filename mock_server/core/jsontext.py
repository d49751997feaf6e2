"""Compact JSON text as the providers write it: no spaces, non-ASCII kept as is.

One encoder, built once: json.dumps() with options builds a new encoder on every call (~1 µs of every answer and
callback body; issue 8). The HTTP layer re-exports it as httputil.dumps.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is (what the providers send)."""
    return _ENCODER.encode(obj)
