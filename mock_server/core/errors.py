"""Provider errors as data: a code table entry plus why the mock refused, rendered by one function per provider."""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..journal import mask_path

log = logging.getLogger(__name__)

REASON_HEADER = "X-Mock-Reason"


class ProviderError(Exception):
    """Raised by a provider's handlers; its error middleware renders `code` in the provider's envelope."""

    def __init__(self, code: Any, reason: str, *, http_status: int | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.code = code  # a member of the provider's code Enum
        self.reason = reason  # goes into X-Mock-Reason: the field and the rule
        self.http_status = http_status  # overrides the table's HTTP status (framework-level failures)
        self.extra = extra  # values the provider's template needs (e.g. the phone for 108)


Render = Callable[[ProviderError], web.StreamResponse]


def reason_header(reason: str) -> dict[str, str]:
    """X-Mock-Reason, made safe for a header line (no CR/LF, ASCII only)."""
    safe = " ".join(reason.split()).encode("ascii", "backslashreplace").decode("ascii")
    # Control characters split() leaves (NUL, ESC, DEL ... from a path or a field) would make aiohttp refuse the whole
    # answer as a header injection and drop the connection: write them as \xNN too.
    safe = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", safe)
    return {REASON_HEADER: safe[:1000]}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def error_middleware(render: Render, error: Callable[[Any, str], ProviderError], *, title: str, not_found: Any,
                     method_not_allowed: Any, too_large: Any, internal: Any) -> Any:
    """A provider sub-app's middleware: every failure leaves in that provider's envelope, never as a traceback.

    `error` builds the provider's exception from a code and a reason; the four codes are the provider's answers to a
    path it does not serve, a wrong verb, an over-limit body and a bug in the mock."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            return await handler(request)
        except ProviderError as exc:
            return render(exc)
        except web.HTTPRequestEntityTooLarge:
            return render(error(too_large, "body larger than [server] max_body_bytes"))
        except web.HTTPMethodNotAllowed:
            return render(error(method_not_allowed, f"{request.method} not allowed on {request.path}"))
        except web.HTTPNotFound:
            return render(error(not_found, f"no {title} endpoint at {request.path}"))
        except (web.HTTPException, ConnectionResetError):
            raise  # a client that hung up gets no answer, and that is no error of the mock's
        except Exception:
            # Masked as the journal masks it: eSMS's GetBalance and GetListBrandname carry the SecretKey in the path.
            log.exception("unhandled error in %s %s", request.method, mask_path(request.path, ""))
            return render(error(internal, "internal error in the mock (see its log)"))

    return middleware
