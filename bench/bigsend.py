"""How long one large eSMS send holds the event loop when its phones finish (issue 8: the mock must never be the
bottleneck of a load test).

    python bench/bigsend.py            # 5 000 phones with a CallbackUrl
    python bench/bigsend.py 1000 5000  # several sizes

In process, on the manual clock, through aiohttp's test server on loopback: one `Send_Multiple_Sms_OTT` with N phones
and a CallbackUrl (to a closed port: the callbacks are queued, not awaited), then one `POST /_mock/clock/advance`
that makes every phone final and builds its callback. The time printed is that advance's, the event loop held
throughout. Each phone's callback carries its SMSID's totals: counted over the batch per phone, this was O(N²)
(5 000 phones: 4.9 s, README "Changes and their gains").
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from mock_server.app import create_app  # noqa: E402
from mock_server.core.clock import ManualClock  # noqa: E402
from mock_server.settings import Settings  # noqa: E402


async def advance_seconds(phones: int) -> float:
    app = create_app(Settings.load(str(ROOT / "bench" / "bench.toml"), env={}), clock=ManualClock(1_780_000_000.0))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
                "SmsType": "23", "Content": "Bench big send", "Phones": [f"09{j:08d}" for j in range(phones)],
                "CallbackUrl": "http://127.0.0.1:9/cb"}
        resp = await client.post("/MainService.svc/json/Send_Multiple_Sms_OTT/", json=body)
        answer = await resp.json(content_type=None)
        if answer.get("CodeResult") != "100":
            raise RuntimeError(f"send: {answer}")
        t0 = time.perf_counter()
        resp = await client.post("/_mock/clock/advance", json={"seconds": 1})
        await resp.read()
        return time.perf_counter() - t0
    finally:
        await client.close()


def main() -> None:
    for phones in [int(a) for a in sys.argv[1:]] or [5000]:
        print(f"{phones} phones: the advance that finishes them held the loop {asyncio.run(advance_seconds(phones)):.3f} s")


if __name__ == "__main__":
    main()
