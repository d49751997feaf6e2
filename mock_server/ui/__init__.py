"""The inbox UI (product.md §6): static files served at /_mock/ui/, a client of the control API; no build step."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/_mock/ui/")


def add_ui_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ui", to_index)
    router.add_get("/ui/", index)
    router.add_static("/ui/static/", STATIC, append_version=False)
