"""The control API at /_mock (product.md §5): inspect and steer the mock; JSON in and out, `{"error": ...}` on bad input."""

from __future__ import annotations

from aiohttp import web

from ..ui import add_ui_routes
from .routes import add_routes, control_errors

ROOT = "/_mock"


def create_app() -> web.Application:
    app = web.Application(middlewares=[control_errors])
    add_routes(app)
    add_ui_routes(app.router)
    return app
