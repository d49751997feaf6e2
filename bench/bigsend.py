"""How long one large eSMS send holds the event loop when its phones finish (issue 8: the mock must never be the
bottleneck of a load test).

    python bench/bigsend.py            # 5 000 phones with a CallbackUrl
    python bench/bigsend.py 1000 5000  # several sizes

In process, on the manual clock, through aiohttp's test server on loopback: one `Send_Multiple_Sms_OTT` with N phones
and a CallbackUrl (to a closed port: the callbacks are queued, not awaited), then one `POST /_mock/clock/advance`
that makes every phone final and builds its callback. The time printed is that advance's, the event loop held
throughout. Each phone's callback carries its SMSID's totals: counted over the batch per phone, this was O(N²)
(5 000 phones: 4.9 s, README "Changes and their gains").

    python bench/bigsend.py 5000 --listen    # with an event-stream subscriber open, as the inbox is
    python bench/bigsend.py 5000 --sqlite    # with the durable store (a temporary file)
    python bench/bigsend.py 5000 --list      # then the inbox's first load (GET /_mock/messages?limit=10000&view=summary)

Each prints the send's time too. A big batch's body is the same on each of its messages: the event stream, the
inbox's list and the durable store repeated it per message (README "Summaries"; ninth round).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from mock_server.app import create_app  # noqa: E402
from mock_server.core.clock import ManualClock  # noqa: E402
from mock_server.settings import Settings  # noqa: E402


async def run(phones: int, *, listen: bool = False, sqlite: bool = False, listing: bool = False) -> str:
    settings = Settings.load(str(ROOT / "bench" / "bench.toml"), env={})
    with tempfile.TemporaryDirectory() as tmp:
        if sqlite:
            settings = dataclasses.replace(settings, store=f"sqlite:{tmp}/bench.db")
        app = create_app(settings, clock=ManualClock(1_780_000_000.0))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        received = 0
        reader = None
        try:
            if listen:
                stream = await client.get("/_mock/events")
                await stream.content.readline()  # ": connected": subscribed

                async def read() -> None:
                    nonlocal received
                    async for chunk in stream.content.iter_chunked(1 << 16):
                        received += len(chunk)

                reader = asyncio.create_task(read())
            body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
                    "SmsType": "23", "Content": "Bench big send", "Phones": [f"09{j:08d}" for j in range(phones)],
                    "CallbackUrl": "http://127.0.0.1:9/cb"}
            t0 = time.perf_counter()
            resp = await client.post("/MainService.svc/json/Send_Multiple_Sms_OTT/", json=body)
            answer = await resp.json(content_type=None)
            sent = time.perf_counter() - t0
            if answer.get("CodeResult") != "100":
                raise RuntimeError(f"send: {answer}")
            t0 = time.perf_counter()
            resp = await client.post("/_mock/clock/advance", json={"seconds": 1})
            await resp.read()
            advanced = time.perf_counter() - t0
            out = f"send {sent * 1000:.0f} ms; the advance that finishes them held the loop {advanced:.3f} s"
            if listing:
                t0 = time.perf_counter()
                resp = await client.get("/_mock/messages", params={"limit": 10000, "view": "summary"})
                size = len(await resp.read())
                out += f"; the inbox's first load {(time.perf_counter() - t0) * 1000:.0f} ms, {size / 1e6:.1f} MB"
            if reader is not None:
                await asyncio.sleep(0)  # what is already written is counted; the rest is cut with the stream
                reader.cancel()
                out += f"; events pushed so far {received / 1e6:.1f} MB"
            return out
        finally:
            await client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phones", nargs="*", type=int, default=[5000])
    p.add_argument("--listen", action="store_true", help="an event-stream subscriber open (the inbox)")
    p.add_argument("--sqlite", action="store_true", help="the durable store, in a temporary file")
    p.add_argument("--list", action="store_true", dest="listing", help="then time the inbox's first load")
    args = p.parse_args()
    for phones in args.phones:
        print(f"{phones} phones: " + asyncio.run(run(phones, listen=args.listen, sqlite=args.sqlite,
                                                       listing=args.listing)))


if __name__ == "__main__":
    main()
