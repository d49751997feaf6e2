"""The inbox UI (product.md §6): static files served at /_mock/ui/, a client of the control API; no build step.

Every UI answer carries a strict Content-Security-Policy: the page shows strings chosen by whoever sent a message
(text, button links, image URLs), so even if a rendering bug let markup through, no inline or foreign script could
run. Images may come from anywhere over http(s) because Viber messages reference them by URL; everything else is
same-origin only, which is also what keeps the inbox working offline (no CDN, no external fonts). `default-src` does
not cover `base-uri` and `form-action`: they are set apart, so injected markup could neither re-root the page's
relative URLs nor post a form elsewhere."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={
        "Cache-Control": "no-cache", "Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS})


async def static_file(request: web.Request) -> web.FileResponse:
    """One file of static/, with the security headers (aiohttp's add_static cannot add headers)."""
    name = request.match_info["name"]
    try:
        path = (STATIC / name).resolve()
        # Refuse anything that escapes static/ (`..`, absolute paths, symlinks out) and directories.
        found = path.is_relative_to(STATIC) and path.is_file()
    except (OSError, ValueError):  # a NUL byte (%00), a name too long for the file system
        found = False
    if not found:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})


async def to_index(request: web.Request) -> web.StreamResponse:
    """302 to the inbox (from /_mock/ui and from /), answered, not raised: a raised HTTPFound skipped the root
    middleware's X-Mock-Server and had none of SECURITY_HEADERS (README: every response carries X-Mock-Server; every
    UI response these headers)."""
    return web.Response(status=302, text="302: Found", headers={"Location": "/_mock/ui/", **SECURITY_HEADERS})


def add_ui_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ui", to_index)
    router.add_get("/ui/", index)
    router.add_get("/ui/static/{name:.+}", static_file)
