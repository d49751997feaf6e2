"""eSMS (esms.vn) Viber emulation, served at its real path root /MainService.svc (spec/providers/esms.md)."""

from __future__ import annotations

from aiohttp import web

from ...core import Core
from ...core.errors import error_middleware
from .backend import NAME, EsmsBackend  # noqa: F401  (NAME is part of the provider surface)
from .errors import EsmsCode, EsmsError, render_error
from .routes import add_routes, backend_key, render_fault  # noqa: F401  (render_fault: /_mock/faults)

ROOT = "/MainService.svc"


def create_app(core: Core) -> web.Application:
    app = web.Application(
        middlewares=[
            error_middleware(render_error, EsmsError, title="eSMS", not_found=EsmsCode.ENDPOINT_NOT_FOUND,
                             method_not_allowed=EsmsCode.METHOD_NOT_ALLOWED, too_large=EsmsCode.TOO_LARGE,
                             internal=EsmsCode.INTERNAL)
        ]
    )
    app[backend_key] = EsmsBackend(core, core.settings.provider(NAME))
    add_routes(app)
    return app
