"""The callback receiver: answers every request 200 "OK" and counts them by path; GET /_count reads the counts.

    python bench/receiver.py               # prints `listening on http://127.0.0.1:PORT`
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from aiohttp import web

from loopback import serve_until_stopped  # bench/ is the script's own directory

counts: Counter[str] = Counter()
first_last: dict[str, float] = {}


async def handle(request: web.Request) -> web.Response:
    if request.path == "/_count":
        body = {"total": sum(counts.values()), "by_path": dict(counts), "now": time.monotonic(), **first_last}
        return web.Response(text=json.dumps(body), content_type="application/json")
    if request.path == "/_clear":
        counts.clear()
        first_last.clear()
        return web.Response(text="{}", content_type="application/json")
    await request.read()
    counts[request.path] += 1
    now = time.monotonic()
    first_last.setdefault("first", now)
    first_last["last"] = now
    return web.Response(text="OK")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


if __name__ == "__main__":
    asyncio.run(serve_until_stopped(create_app()))
