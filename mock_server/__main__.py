"""The command line: `mock-server` / `python -m mock_server` (product.md §2)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys

from aiohttp import web

from . import __version__
from .core.persist import StoreError
from .gcpolicy import GcPolicy
from .settings import Settings, SettingsError


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mock-server", description="Mock of the eSMS, Infobip OMNI and NXCLOUD Viber APIs.")
    p.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--config", help="TOML config file (default: the shipped fixtures/default.toml)")
    p.add_argument("--seed", type=int, help="seed for every generated id, price and random outcome")
    p.add_argument("--clock", choices=("real", "manual"), help="manual: time moves only via POST /_mock/clock/advance")
    p.add_argument("--store", help="memory (default) or sqlite:PATH")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), help="event loop (uvloop: pip install '.[fast]')")
    # Checked here (any case): an unknown level reached logging.basicConfig and ended in a traceback.
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                   help="DEBUG, INFO, WARNING, ERROR, CRITICAL (default INFO)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p.parse_args(argv)


async def serve(settings: Settings) -> None:
    from .app import create_app

    # The handlers go in before anything starts: installed after the `listening on` line, a SIGTERM sent as soon as
    # the line was read killed the process (exit -15, nothing flushed) and a SIGINT ended in a traceback. A signal
    # during start-up now lets the start finish, then stops cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        app = create_app(settings)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot use {settings.store}: {exc}") from None
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()  # reads the durable store back; a row it cannot read is a StoreError (app._core_background)
    gc_policy = GcPolicy()
    gc_policy.install()  # after start-up built what lives for the whole run (gcpolicy.py)
    sweeper = asyncio.create_task(gc_policy.run())
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    print(f"listening on http://{host}:{port}", flush=True)
    await stop.wait()
    # Stops accepting, lets in-flight requests finish, cancels callbacks in flight (still owed: with a durable store
    # they are sent after the next start), writes what is pending to the store and closes it.
    sweeper.cancel()
    await runner.cleanup()
    gc_policy.uninstall()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.load(  # --config outranks MOCK_SERVER_CONFIG: flag > environment > file (product.md §9)
            overrides={"config": args.config, "host": args.host, "port": args.port, "seed": args.seed,
                       "clock": args.clock, "store": args.store, "loop": args.loop},
        )
    except SettingsError as exc:
        print(f"mock-server: {exc}", file=sys.stderr)
        return 2
    loop_factory = None
    if settings.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("mock-server: --loop uvloop needs uvloop: pip install 'viber-mock-server[fast]'", file=sys.stderr)
            return 2
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(settings))
    except StoreError as exc:
        print(f"mock-server: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mock-server: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
