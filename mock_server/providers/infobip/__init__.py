"""Infobip OMNI Viber emulation, served at its real path root /omni (spec/providers/infobip.md)."""

from __future__ import annotations

from aiohttp import web

from ...core import Core
from ...core.errors import error_middleware
from .backend import NAME, InfobipBackend  # noqa: F401  (NAME is part of the provider surface)
from .errors import InfobipError, ServiceException, render_error
from .routes import add_routes, backend_key

ROOT = "/omni"


def create_app(core: Core) -> web.Application:
    app = web.Application(
        middlewares=[
            error_middleware(
                render_error,
                not_found=lambda r: InfobipError(ServiceException.NOT_FOUND, f"no Infobip OMNI endpoint at {r.path}"),
                method_not_allowed=lambda r: InfobipError(ServiceException.METHOD_NOT_ALLOWED,
                                                          f"{r.method} not allowed on {r.path}"),
                too_large=lambda r: InfobipError(ServiceException.TOO_LARGE, "body larger than [server] max_body_bytes"),
                internal=lambda r: InfobipError(ServiceException.GENERAL_ERROR, "internal error in the mock (see its log)"),
            )
        ]
    )
    app[backend_key] = InfobipBackend(core, core.settings.provider(NAME))
    add_routes(app)
    return app
