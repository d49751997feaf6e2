"""eSMS (esms.vn) Viber emulation, served at its real path root /MainService.svc (spec/providers/esms.md)."""

from __future__ import annotations

from aiohttp import web

from ...core import Core
from ...core.errors import error_middleware
from .backend import NAME, EsmsBackend  # noqa: F401  (NAME is part of the provider surface)
from .errors import EsmsCode, EsmsError, render_error, render_fault  # noqa: F401  (render_fault: /_mock/faults)
from .routes import add_routes, backend_key

ROOT = "/MainService.svc"


def create_app(core: Core) -> web.Application:
    app = web.Application(
        middlewares=[
            error_middleware(
                render_error,
                not_found=lambda r: EsmsError(EsmsCode.ENDPOINT_NOT_FOUND, f"no eSMS endpoint at {r.path}"),
                method_not_allowed=lambda r: EsmsError(EsmsCode.METHOD_NOT_ALLOWED, f"{r.method} not allowed"),
                too_large=lambda r: EsmsError(EsmsCode.TOO_LARGE, "body larger than [server] max_body_bytes"),
                internal=lambda r: EsmsError(EsmsCode.INTERNAL, "internal error in the mock (see its log)"),
            )
        ]
    )
    app[backend_key] = EsmsBackend(core, core.settings.provider(NAME))
    add_routes(app)
    return app
