"""The floor under the baseline: the same canned eSMS answer served by a bare asyncio protocol with httptools' parser,
no web framework (issue 8). Not a scenario of bench/run.py: `python bench/cpu.py` measures it beside the baseline, to
show how much of a request aiohttp's own machinery costs, and so what leaving it for the provider endpoints could gain
at most.

    python bench/floor.py --port 0      # prints `listening on http://127.0.0.1:PORT`; stops on SIGINT/SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import json
from email.utils import formatdate

import httptools

from baseline import ESMS  # bench/ is the script's own directory: the same answer, byte for byte
from loopback import until_stopped


class Floor(asyncio.Protocol):
    """HTTP/1.1 keep-alive: parse, read the body, parse its JSON (as the baseline does), answer."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        raw = b"".join(self.body)
        if raw:
            json.loads(raw)
        self.transport.write(  # type: ignore[attr-defined]
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n"
            b"Date: %s\r\nServer: floor\r\n\r\n%s" % (len(ESMS), formatdate(usegmt=True).encode(), ESMS))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", port)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await until_stopped()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    asyncio.run(serve(p.parse_args().port))


if __name__ == "__main__":
    main()
