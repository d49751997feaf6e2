"""The fallback load generator (when Debian's `wrk` is not installed): N keep-alive connections on asyncio, each
sending the scenario's requests in turn for a fixed time, recording latency and checking every answer.

    python bench/loadgen.py SPEC.json     # SPEC: {"url", "requests": [{method, path, headers, body}], "connections",
                                          #        "duration", "marker"}; prints one JSON line of results
Only loopback targets are accepted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp


async def worker(session: aiohttp.ClientSession, base: str, requests: list[dict[str, Any]], start: int,
                 deadline: float, marker: bytes, out: dict[str, Any]) -> None:
    i = start
    while time.perf_counter() < deadline:
        req = requests[i % len(requests)]
        i += 1
        t0 = time.perf_counter()
        try:
            async with session.request(req["method"], base + req["path"], headers=req.get("headers") or {},
                                       data=(req.get("body") or "").encode() or None) as resp:
                body = await resp.read()
                ok = 200 <= resp.status < 300 and marker in body
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            ok = False
        out["latencies"].append(time.perf_counter() - t0)
        if not ok:
            out["errors"] += 1


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base = spec["url"].rstrip("/")
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadgen only targets loopback")
    out: dict[str, Any] = {"latencies": [], "errors": 0}
    connector = aiohttp.TCPConnector(limit=spec["connections"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)) as s:
        started = time.perf_counter()
        deadline = started + float(spec["duration"])
        await asyncio.gather(*(worker(s, base, spec["requests"], k, deadline, spec["marker"].encode(), out)
                               for k in range(spec["connections"])))
        elapsed = time.perf_counter() - started
    lat = sorted(out["latencies"])

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else 0.0

    return {"requests": len(lat), "duration_s": round(elapsed, 3), "errors": out["errors"],
            "rps": round(len(lat) / elapsed, 1) if elapsed else 0.0, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    print(json.dumps(asyncio.run(run(spec))), flush=True)


if __name__ == "__main__":
    main()
