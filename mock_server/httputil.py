"""Reading request bodies safely: size limit, strict UTF-8, JSON that cannot crash the parser (product.md §8)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .core.jsontext import dumps


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
    except web.RequestPayloadError as exc:
        # A body that does not decode as its Content-Encoding (gzip, deflate): bad input, never a 500 (product.md §8).
        why = getattr(exc.__cause__, "message", None) or str(exc)
        raise BodyError("encoding", f"body could not be read: {why}") from None


def parse_json(raw: bytes) -> Any:
    """Decode JSON strictly: UTF-8 (a BOM tolerated), no NaN, no nesting deep enough to exhaust the stack."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError("encoding", f"body is not valid UTF-8 (byte {exc.start})") from None
    return parse_json_text(text)


def parse_json_text(text: str) -> Any:
    """parse_json for JSON that arrived as text: inside a string member (NXCLOUD's templateParams), held to the same
    rules, so nothing it stores can make an answer fail to encode (NaN, Infinity, a lone surrogate)."""
    if not text.strip():
        raise BodyError("json", "body is empty; a JSON object is expected")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError("json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyError("json", "JSON nested too deeply") from None
    except ValueError as exc:
        raise BodyError("json", f"malformed JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            # JSON allows a lone UTF-16 surrogate escape ("\ud800"); it is no character, and once stored it would
            # make every answer, report or page that shows it fail to encode. Refused like invalid UTF-8.
            raise BodyError("encoding", "body contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), "
                                        "which is not a character") from None
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    # 1e999 is valid JSON but becomes inf, which would be echoed back as the non-JSON `Infinity`.
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {literal[:40]} is too large")
    return value


# One decoder for every request: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def is_json_content_type(request: web.Request) -> bool:
    # `application/json; charset=utf-8` and vendor types like `application/problem+json` are JSON too.
    ctype = request.content_type.lower()
    return ctype == "application/json" or ctype.endswith("+json")


def url_scheme(url: str) -> str:
    """The scheme of a client-given URL (callbacks, notifyUrl), "" when it cannot be parsed at all: urlsplit raises
    ValueError on "http://[::1" and the like, which must not surface in a scheduled step or a request."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def json_text(obj: Any) -> str:
    """Compact JSON that always has a UTF-8 form (for answers and for the event stream)."""
    text = dumps(obj)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate that got in anyway (a header byte aiohttp decoded with surrogateescape, kept in the
            # journal) has no UTF-8 form: answer it \u-escaped, still valid JSON, rather than fail with a 500.
            text = json.dumps(obj, separators=(",", ":"))
    return text


def json_response(obj: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json", text: str | None = None) -> web.Response:
    if text is None:
        text = json_text(obj)
    return web.Response(text=text, status=status, headers=headers, content_type=content_type, charset="utf-8")
