"""NXCLOUD (牛信云) Viber emulation, served at its real path root /api/viber (spec/providers/nxcloud.md)."""

from __future__ import annotations

from aiohttp import web

from ...core import Core
from ...core.errors import error_middleware
from .backend import NAME, NxcloudBackend  # noqa: F401  (NAME is part of the provider surface)
from .errors import NxcloudCode, NxcloudError, render_error, render_fault  # noqa: F401  (render_fault: /_mock/faults)
from .routes import add_routes, backend_key
from .signing import sign_headers, verify_sign  # noqa: F401  (public helpers for users' tests)

ROOT = "/api/viber"


def create_app(core: Core) -> web.Application:
    app = web.Application(
        middlewares=[
            # A wrong verb is among the causes of 1003 (spec §4); an over-limit body answers HTTP 200 with 9000
            # (product.md §9).
            error_middleware(render_error, NxcloudError, title="NXCLOUD", not_found=NxcloudCode.FAILURE,
                             method_not_allowed=NxcloudCode.INVALID_SIGNATURE,
                             too_large=NxcloudCode.REQUEST_PARAMETER_ERROR, internal=NxcloudCode.UNKNOWN_ERROR)
        ]
    )
    app[backend_key] = NxcloudBackend(core, core.settings.provider(NAME))
    add_routes(app)
    return app
