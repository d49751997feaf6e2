"""The application factory: the shared core, each provider at its real path root, the /_mock control API."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from . import __version__, control
from .control.routes import error_response, framework_error
from .core import Core
from .core.clock import Clock
from .core.persist import StoreError
from .faults import Faults, fault_middleware
from .journal import Journal, journal_middleware
from .keys import core_key, faults_key, journal_key, settings_key
from .providers import PROVIDERS
from .settings import Settings
from .ui import to_index

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _ParserErrorsInOneLine(logging.Filter):
    """aiohttp logs every request its HTTP parser refuses (a raw space or non-ASCII byte in the URL, a URL or header
    line over 8 190 bytes, a bare CR, a duplicate Content-Type) at ERROR with a full traceback: any client could fill
    the mock's log with stack traces. Such a request is the client's fault, answered 400 by aiohttp: one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            first_line = (exc.message or "").strip().splitlines()[:1]
            record.msg, record.args = "refused a malformed request (%s: %s)", (type(exc).__name__,
                                                                                  "".join(first_line)[:200])
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_PARSER_ERRORS_FILTER = _ParserErrorsInOneLine()


def root_middleware(core: Core) -> Any:
    """The outermost layer, one middleware for three jobs (each layer costs every request):

    - every answer names the mock and its version (stripe-mock's Stripe-Mock-Version);
    - paths no sub-app claims (and wrong methods on /_mock) get a JSON error, never aiohttp's text page;
    - with --store sqlite:PATH, a request is answered only once what it changed is written (a no-op in memory).
    """
    flush = core.persist.flush if core.persist.enabled else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except (web.HTTPMethodNotAllowed, web.HTTPNotFound, web.HTTPRequestEntityTooLarge) as exc:
            response = framework_error(request, exc)
        except ConnectionResetError:
            if request.transport is not None and not request.transport.is_closing():
                raise
            # The client hung up before its body was complete (the journal notes "no answer"). Raised on, aiohttp
            # logged it at ERROR with a traceback; an answer to nobody is dropped quietly (aiohttp: DEBUG only).
            response = error_response(400, "the client closed the connection before its body arrived")
        finally:
            # Provider GETs change state too (eSMS's V4_get sends, Infobip's reports are taken once); control reads
            # do not.
            if flush is not None and not (request.method == "GET" and request.path.startswith("/_mock")):
                await flush()
        response.headers["X-Mock-Server"] = __version__
        return response

    return middleware


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    """Build the whole mock: shared core, providers at their real paths, the /_mock control API and UI."""
    settings = settings or Settings.load()
    server_log = logging.getLogger("aiohttp.server")
    if _PARSER_ERRORS_FILTER not in server_log.filters:
        server_log.addFilter(_PARSER_ERRORS_FILTER)
    core = Core.build(settings, clock=clock)
    journal = Journal(settings.journal_max_entries, persist=core.persist if core.persist.enabled else None)
    faults = Faults(settings.seed)
    core.on_reset += [journal.reset, faults.reset]
    core.persist.snapshot("faults/state", faults.dump)
    renderers = {p.NAME: p.render_fault for p in PROVIDERS if hasattr(p, "render_fault")}
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[root_middleware(core), journal_middleware(journal, core.clock.now, core.events, framework_error),
                     fault_middleware(faults, renderers)],
    )
    app[settings_key] = settings
    app[core_key] = core
    app[journal_key] = journal
    app[faults_key] = faults
    app.cleanup_ctx.append(_core_background)
    app.on_shutdown.append(_end_event_streams)
    for provider in PROVIDERS:
        app.add_subapp(provider.ROOT, provider.create_app(core))
    app.add_subapp(control.ROOT, control.create_app())
    app.router.add_get("/", to_index)  # the inbox's own redirect
    return app


async def _end_event_streams(app: web.Application) -> None:
    """Before aiohttp waits for the handlers still running: end every open GET /_mock/events stream."""
    app[core_key].events.close()


async def _core_background(app: web.Application) -> AsyncIterator[None]:
    core = app[core_key]
    if core.persist.enabled:
        try:
            restored = core.restore()
            app[journal_key].restore(core.persist_rows("journal/"))
            state = core.persist_rows("faults/")
            if "state" in state:
                app[faults_key].load(state["state"])
        except (OSError, sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            # A row that cannot be read back: one line and exit 2 (the CLI), as for a file that is no database.
            raise StoreError(f"cannot read {core.settings.store} back: {type(exc).__name__}: {exc}") from None
        log.info("restored %d messages from %s", restored, core.settings.store)
    await core.start()
    task = asyncio.get_running_loop().create_task(core.scheduler.run(), name="mock-scheduler")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await core.stop()
