"""Every read a client or a test suite makes, timed in process at growing store sizes (issue 8: "the same cost at 1 000
and at 1 000 000 stored"): which of them still walk the store, the journal or the callback log.

    python bench/queries.py                      # 1 000, 100 000 and 1 000 000 stored; ~3 minutes, ~2 GB of RAM
    python bench/queries.py --sizes 1000,100000  # smaller; --only messages,logs keeps the queries whose name has one
    python bench/queries.py --root ../old        # the same measure against another checkout (e.g. a git archive)

One app built as the tests build it (`create_app(test_settings(...), clock=ManualClock())`, `max_messages` raised so
nothing is evicted), served by aiohttp's test server on 127.0.0.1 and asked through its test client: real HTTP over
loopback, nothing leaves the machine. The store is filled through the real send handlers, 100 messages a request
(eSMS and Infobip in turn), after a few known messages that are the oldest: an NXCLOUD one forced to `undeliverable` (the only
NXCLOUD message and the only undeliverable one, so `provider=nxcloud` and `status=undeliverable` match only the oldest), an eSMS
send with a CallbackUrl at an in-process receiver and an Infobip one with a known messageId and bulkId. Then the mock
clock moves on until every message is delivered, and each query is timed: the median of as many calls as fit in
`--budget` seconds (at least 3, at most 200). Reports (`GET /omni/1/reports`) are taken once, so the fill leaves
plenty unread and the queries asked here match nothing or take one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

ESMS_PATH = "/MainService.svc/json/Send_Multiple_Sms_OTT/"
ESMS_AUTH = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET"}
INFOBIP_AUTH = {"Authorization": "App INFOBIP_SANDBOX_API_KEY"}
SCENARIO = "CC9F01A5DC7BEE2C2B829D203482A654"
NX_KEY, NX_SECRET, NX_APP = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"
OLD_PHONE = "0912000001"  # the oldest eSMS message's phone (national form); 84912000001 international
NX_PHONE = "84913000002"
KNOWN_ID, KNOWN_BULK = "bench-known-message", "bench-known-bulk"
CALLBACK_FILL = 12_000  # eSMS messages sent with a CallbackUrl: more than the callback log keeps (10 000)


def queries(k: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, headers): every read, with the ids of the known messages in `k`."""
    esms_status = f"RefId={k['smsid']}&ApiKey=ESMS_SANDBOX_KEY&SecretKey=ESMS_SANDBOX_SECRET"
    ib = INFOBIP_AUTH
    return [
        ("health", "/_mock/health", {}),
        ("accounts", "/_mock/accounts", {}),
        ("messages", "/_mock/messages", {}),
        ("messages limit=1", "/_mock/messages?limit=1", {}),
        ("messages provider=esms", "/_mock/messages?provider=esms", {}),
        ("messages provider=nxcloud (oldest only)", "/_mock/messages?provider=nxcloud", {}),
        ("messages status=delivered", "/_mock/messages?status=delivered", {}),
        ("messages status=undeliverable (oldest only)", "/_mock/messages?status=undeliverable", {}),
        ("messages status=rejected (none)", "/_mock/messages?status=rejected", {}),
        ("messages phone=national (oldest)", f"/_mock/messages?phone={OLD_PHONE}", {}),
        ("messages phone=international (oldest)", f"/_mock/messages?phone=84{OLD_PHONE[1:]}", {}),
        ("messages phone=+international (oldest)", f"/_mock/messages?phone=%2B84{OLD_PHONE[1:]}", {}),
        ("messages phone (none)", "/_mock/messages?phone=0999999999", {}),
        ("messages provider=esms&status=delivered&limit=5", "/_mock/messages?provider=esms&status=delivered&limit=5",
         {}),
        ("messages provider=nxcloud&status=undeliverable",
         "/_mock/messages?provider=nxcloud&status=undeliverable", {}),
        ("messages provider=esms&phone=national", f"/_mock/messages?provider=esms&phone={OLD_PHONE}", {}),
        ("messages provider=infobip&status=undeliverable (none)",
         "/_mock/messages?provider=infobip&status=undeliverable", {}),
        ("message {id} (oldest)", f"/_mock/messages/{k['oldest']}", {}),
        ("message latest", "/_mock/messages/latest", {}),
        ("callbacks", "/_mock/callbacks", {}),
        ("callbacks limit=1", "/_mock/callbacks?limit=1", {}),
        ("callbacks message_id (newest cb)", f"/_mock/callbacks?message_id={k['cb_new']}", {}),
        ("callbacks message_id&limit=1 (newest cb)", f"/_mock/callbacks?message_id={k['cb_new']}&limit=1", {}),
        ("callbacks message_id (none)", "/_mock/callbacks?message_id=msg_none", {}),
        ("requests", "/_mock/requests", {}),
        ("requests limit=1", "/_mock/requests?limit=1", {}),
        ("requests provider=nxcloud", "/_mock/requests?provider=nxcloud", {}),
        ("requests path=GetSendStatus", "/_mock/requests?path=GetSendStatus", {}),
        ("requests status=500 (none)", "/_mock/requests?status=500", {}),
        ("requests since=req_<last>", "/_mock/requests?since=req_999999999", {}),
        ("esms GetSendStatus (100 phones)", f"/MainService.svc/json/GetSendStatus?{esms_status}", {}),
        ("esms GetSmsReceiverStatus_get", f"/MainService.svc/json/GetSmsReceiverStatus_get?{esms_status}", {}),
        ("esms GetSendStatus (none)", "/MainService.svc/json/GetSendStatus?RefId=nope&ApiKey=ESMS_SANDBOX_KEY"
                                      "&SecretKey=ESMS_SANDBOX_SECRET", {}),
        ("logs limit=1", "/omni/1/logs?limit=1", ib),
        ("logs (50)", "/omni/1/logs", ib),
        ("logs messageId (oldest)", f"/omni/1/logs?messageId={KNOWN_ID}", ib),
        ("logs bulkId (oldest)", f"/omni/1/logs?bulkId={KNOWN_BULK}", ib),
        ("logs to (oldest)", "/omni/1/logs?to=41790000055500", ib),
        ("logs channel=VIBER&limit=1", "/omni/1/logs?channel=VIBER&limit=1", ib),
        ("logs channel=SMS (none)", "/omni/1/logs?channel=SMS", ib),
        ("logs generalStatus=DELIVERED&limit=1", "/omni/1/logs?generalStatus=DELIVERED&limit=1", ib),
        ("logs generalStatus=REJECTED (none)", "/omni/1/logs?generalStatus=REJECTED", ib),
        ("logs sentSince=now-1h&limit=1", f"/omni/1/logs?sentSince={k['recent']}&limit=1", ib),
        ("logs sentUntil=oldest (oldest only)", f"/omni/1/logs?sentUntil={k['first_sent']}", ib),
        ("reports bulkId (none)", "/omni/1/reports?bulkId=bench-no-such-bulk", ib),
        ("reports messageId (none)", "/omni/1/reports?messageId=bench-no-such-message", ib),
        ("reports limit=1 (takes one)", "/omni/1/reports?limit=1", ib),
    ]


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000,100000,1000000", help="stored messages to measure at (comma-separated)")
    p.add_argument("--budget", type=float, default=0.4, help="seconds of calls per query and size (default 0.4)")
    p.add_argument("--only", default="", help="comma-separated substrings: time only the queries whose name has one")
    p.add_argument("--root", default=str(ROOT), help="the checkout whose mock_server is measured")
    p.add_argument("--json", default="", help="also write the figures to this file")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(args.root).resolve()))
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from mock_server.app import create_app
    from mock_server.core.clock import ManualClock, iso_utc
    from mock_server.providers.nxcloud.signing import sign_headers
    from mock_server.testing import test_settings

    import mock_server

    print(f"# measuring {Path(mock_server.__file__).parent}", flush=True)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    only = [s for s in args.only.split(",") if s]
    clock = ManualClock()
    app = create_app(test_settings(max_messages=sizes[-1] + 10_000), clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    received = 0

    async def receive(_request: web.Request) -> web.Response:
        nonlocal received
        received += 1
        return web.Response(text="ok")

    receiver_app = web.Application()
    receiver_app.router.add_route("*", "/{tail:.*}", receive)
    receiver = TestServer(receiver_app, host="127.0.0.1")
    await receiver.start_server()
    callback_url = str(receiver.make_url("/esms"))

    async def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> Any:
        async with client.request(method, path, json=body, data=data, headers=headers or {}) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
            return json.loads(raw)

    known: dict[str, str] = {}
    # The shipped sandbox balance pays for ~50 000 eSMS messages: one no fill can drain.
    await call("POST", "/_mock/accounts/esms/ESMS_SANDBOX_KEY/balance", {"balance": 10**13})
    # The oldest messages, one of each kind the queries look for.
    nx_body = json.dumps({"appkey": NX_APP, "phone": NX_PHONE, "functionType": "text",
                          "messageData": {"rateType": "Transactional", "text": "Bench oldest"}}, separators=(",", ":"))
    await call("POST", "/api/viber/mt", data=nx_body.encode(), headers=sign_headers(NX_KEY, NX_SECRET, nx_body.encode()))
    known["oldest"] = (await call("GET", "/_mock/messages?provider=nxcloud"))["items"][0]["id"]
    await call("POST", f"/_mock/messages/{known['oldest']}/status", {"status": "undeliverable"})
    sent = await call("POST", ESMS_PATH, {**ESMS_AUTH, "Brandname": "MOCKBRAND", "SmsType": "23", "Content": "Oldest",
                                          "Phones": [OLD_PHONE], "CallbackUrl": callback_url})
    known["smsid"] = sent["SMSID"]
    await call("POST", "/omni/1/advanced", {
        "bulkId": KNOWN_BULK, "scenarioKey": SCENARIO, "viber": {"text": "Bench known"},
        "destinations": [{"messageId": KNOWN_ID, "to": {"phoneNumber": "41790000055500"}}]}, headers=INFOBIP_AUTH)
    known["first_sent"] = iso_utc(clock.now())  # Infobip's date format is ISO with milliseconds: +00:00 works too
    known_count = 3

    results: dict[str, dict[int, float]] = {}
    stored = known_count
    batch = 0
    started = time.perf_counter()
    for size in sizes:
        t0 = time.perf_counter()
        while stored < size:
            batch += 1
            if batch % 2:
                phones = [f"09{(batch * 100 + j) % 100_000_000:08d}" for j in range(100)]
                phones = [ph if not ph[-5:].startswith("5550") else ph[:-1] + "9" for ph in phones]
                body: dict[str, Any] = {**ESMS_AUTH, "Brandname": "MOCKBRAND", "SmsType": "23",
                                        "Content": f"Bench fill {batch}", "Phones": phones}
                if batch * 50 < CALLBACK_FILL:
                    body["CallbackUrl"] = callback_url
                answer = await call("POST", ESMS_PATH, body)
                if answer.get("CodeResult") != "100":  # eSMS answers its errors with HTTP 200
                    raise RuntimeError(f"eSMS fill: {answer}")
            else:
                await call("POST", "/omni/1/advanced", {
                    "scenarioKey": SCENARIO, "viber": {"text": f"Bench fill {batch}"},
                    "destinations": [{"to": {"phoneNumber": f"41{(batch * 100 + j) % 10_000_000:07d}55500"}}
                                     for j in range(100)]}, headers=INFOBIP_AUTH)
            stored += 100
            if batch % 200 == 0:
                # The status changes run as they would over time, not in one burst at the end.
                await call("POST", "/_mock/clock/advance", {"seconds": 1})
        await call("POST", "/_mock/clock/advance", {"seconds": 3600})
        # Callbacks are sent by tasks: wait until the owed ones are done.
        for _ in range(600):
            health = await call("GET", "/_mock/health")
            if health["counts"]["callbacks_pending"] == 0:
                break
            await asyncio.sleep(0.05)
        health = await call("GET", "/_mock/health")
        known["cb_new"] = (await call("GET", "/_mock/callbacks?limit=1"))["items"][0]["message_id"]
        known["recent"] = iso_utc(clock.now() - 3600)
        gc.collect()
        fill_s = time.perf_counter() - t0
        print(f"# {health['counts']['messages']} stored ({health['counts']['by_status']}), filled in {fill_s:.1f} s, "
              f"callbacks logged {health['counts']['callbacks_attempted']}, journal {health['counts']['journal']}",
              flush=True)
        for name, path, headers in queries(known):
            if only and not any(o in name for o in only):
                continue
            times: list[float] = []
            spent = 0.0
            while len(times) < 200 and (len(times) < 3 or spent < args.budget):
                t = time.perf_counter()
                async with client.get(path, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{path}: {resp.status}")
                dt = time.perf_counter() - t
                times.append(dt)
                spent += dt
            results.setdefault(name, {})[size] = statistics.median(times) * 1e6
            print(f"{size:>9}  {results[name][size]:>12.0f} us  {name}", flush=True)
    await client.close()
    await receiver.close()
    print("\n| query | " + " | ".join(f"µs at {s:,}".replace(",", " ") for s in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name, by_size in results.items():
        print(f"| `{name}` | " + " | ".join(f"{by_size.get(s, float('nan')):,.0f}".replace(",", " ") for s in sizes)
              + " |")
    print(f"\n# total {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": sizes, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
