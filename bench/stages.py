"""Where a send's server CPU goes: a 1-phone eSMS send cut short at each stage of its handler (issue 8).

    python bench/stages.py              # every stage, 3 rounds of 3 s each, median µs of server CPU per request
    python bench/stages.py full canned  # some of them

Each stage is the mock started with its eSMS send handler replaced by one that stops after that stage and answers
the canned success (the replacement is made in the server process at start-up, below; nothing of it is in the
mock). The differences between consecutive stages are what each stage costs; `baseline` is bench/baseline.py, the
bare aiohttp app. CPU per request as in bench/cpu.py (from /proc), so the figures hold on a noisy machine better than
requests/s do; differences of a few µs are still noise.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: servers, load, requests)
from cpu import cpu_seconds  # noqa: E402

PRELUDE = """
import dataclasses
from aiohttp import web
import mock_server.providers.esms.routes as R
from mock_server.providers.esms import codec
ANSWER = '{"CodeResult":"100","CountRegenerate":0,"SMSID":"d8e0f1f0702544b2acb456ca9ccfd111250"}'
SEND = R.OPERATIONS["send_multiple_sms_ott"]
def replace(handler):
    R.OPERATIONS["send_multiple_sms_ott"] = dataclasses.replace(SEND, handler=handler)
"""

# name -> (what the stage adds over the one before, code run in the server before it starts)
STAGES = {
    "canned": ("the mock's stack: middlewares, sub-app routing, journal, dispatch; body read, canned answer", """
async def handler(request, args):
    await request.read()
    return web.Response(text=ANSWER, content_type="application/json")
replace(handler)"""),
    "parsed": ("the body checked and parsed (content type, size, UTF-8, JSON)", """
async def handler(request, args):
    await R.json_body(request)
    return web.Response(text=ANSWER, content_type="application/json")
replace(handler)"""),
    "validated": ("JSON Schema validation", """
async def handler(request, args):
    R.validate(request, "send_multiple_sms_ott.request", await R.json_body(request))
    return web.Response(text=ANSWER, content_type="application/json")
replace(handler)"""),
    "answered": ("the eSMS answer rendered (sorted members, Decimal-aware JSON)", """
async def handler(request, args):
    R.validate(request, "send_multiple_sms_ott.request", await R.json_body(request))
    return R.esms_response(codec.send_success("d8e0f1f0702544b2acb456ca9ccfd111250"))
replace(handler)"""),
    "checked": ("a send's checks: account, SmsType, brandname, phones, layout, RequestId, rules, SMSID (a sandbox send)",
                """
async def handler(request, args):
    body = await R.json_body(request)
    R.validate(request, "send_multiple_sms_ott.request", body)
    phones = [codec.text(p) for p in body.get("Phones") or []]
    return await R.submit(request, R.scalar_fields(body), phones, sandbox=True, raw=body)
replace(handler)"""),
    "not_stored": ("charged, messages built, not stored", """
import mock_server.core as C
C.Core.accept_many = lambda self, accepted, **kw: None"""),
    "full": ("stored, scheduled, two status changes, eviction: the real send", ""),
}


def main() -> None:
    wanted = [name for name in STAGES if name in sys.argv[1:]] or list(STAGES)
    rounds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        load = run.Load("wrk" if run.shutil.which("wrk") else "python", 32, Path(tmp))
        receiver = run.Server("receiver", [sys.executable, str(run.BENCH / "receiver.py")])
        bench = run.Bench(run.parse_args([]), Path(tmp))
        try:
            for _ in range(3):
                for name in ["baseline", *wanted]:
                    if name == "baseline":
                        server = run.baseline_server()
                    else:
                        code = (PRELUDE + STAGES[name][1] + "\nimport runpy, sys\nsys.argv = ['mock_server', '--port', "
                                "'0', '--seed', '1', '--config', 'bench/bench.toml', '--log-level', 'WARNING']\n"
                                "runpy.run_module('mock_server', run_name='__main__')")
                        server = run.Server("mock", [sys.executable, "-c", code])
                    try:
                        if name != "baseline":
                            bench.reset(server, receiver)
                        load.run(server.url, run.esms_requests(1, None), 1, '"')
                        before = cpu_seconds(server.pid)
                        result = load.run(server.url, run.esms_requests(1, None), 3, '"')
                        if result["errors"]:
                            raise RuntimeError(f"{name}: {result['errors']} errors")
                        rounds.setdefault(name, []).append(
                            (cpu_seconds(server.pid) - before) / max(result["requests"], 1) * 1e6)
                    finally:
                        server.stop()
        finally:
            receiver.stop()
    previous = None
    for name in ["baseline", *wanted]:
        us = statistics.median(rounds[name])
        step = "" if previous is None else f"{us - previous:+7.1f}"
        what = "bench/baseline.py: bare aiohttp, same body parsed, same answer" if name == "baseline" else STAGES[name][0]
        print(f"{name:11s} {us:7.1f} us/request {step:>8s}  {what}", flush=True)
        previous = us


if __name__ == "__main__":
    main()
