"""Reading request bodies safely: size limit, strict UTF-8, JSON that cannot crash the parser (product.md §8)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class BodyError(Exception):
    """Why a body could not be read; each provider maps `kind` to its own envelope."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # too_large | content_type | encoding | json
        self.reason = reason


async def read_bytes(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = getattr(request, "_client_max_size", None)
        raise BodyError("too_large", f"body larger than the {limit} bytes allowed ([server] max_body_bytes)") from None


def parse_json(raw: bytes) -> Any:
    """Decode JSON strictly: UTF-8 (a BOM tolerated), no NaN, no nesting deep enough to exhaust the stack."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError("encoding", f"body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BodyError("json", "body is empty; a JSON object is expected")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BodyError("json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyError("json", "JSON nested too deeply") from None
    except ValueError as exc:
        raise BodyError("json", f"malformed JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def is_json_content_type(request: web.Request) -> bool:
    # `application/json; charset=utf-8` and vendor types like `application/problem+json` are JSON too.
    ctype = request.content_type.lower()
    return ctype == "application/json" or ctype.endswith("+json")


def dumps(obj: Any) -> str:
    """Compact JSON, non-ASCII kept as is (what the providers send)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def json_response(obj: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json", text: str | None = None) -> web.Response:
    return web.Response(text=dumps(obj) if text is None else text, status=status, headers=headers,
                        content_type=content_type, charset="utf-8")
