"""Serving a bench helper (the baseline, the callback receiver, the floor) on 127.0.0.1 until SIGINT/SIGTERM.

bench/run.py reads the `listening on http://127.0.0.1:PORT` line each prints to learn its port.
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve_until_stopped(app: web.Application, port: int = 0) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    print(f"listening on http://127.0.0.1:{sockets[0].getsockname()[1]}", flush=True)
    await until_stopped()
    await runner.cleanup()


async def until_stopped() -> None:
    """Return once the process gets SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
