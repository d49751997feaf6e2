"""Infobip OMNI Viber emulation, served at its real path root /omni (spec/providers/infobip.md)."""

from __future__ import annotations

from aiohttp import web

from ...core import Core
from ...core.errors import error_middleware
from .backend import NAME, InfobipBackend  # noqa: F401  (NAME is part of the provider surface)
from .errors import InfobipError, ServiceException, render_error, render_fault  # noqa: F401  (render_fault: /_mock/faults)
from .routes import add_routes, backend_key

ROOT = "/omni"


def create_app(core: Core) -> web.Application:
    app = web.Application(
        middlewares=[
            error_middleware(render_error, InfobipError, title="Infobip OMNI", not_found=ServiceException.NOT_FOUND,
                             method_not_allowed=ServiceException.METHOD_NOT_ALLOWED,
                             too_large=ServiceException.TOO_LARGE, internal=ServiceException.GENERAL_ERROR)
        ]
    )
    app[backend_key] = InfobipBackend(core, core.settings.provider(NAME))
    add_routes(app)
    return app
