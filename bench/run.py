"""The benchmark: the mock against a bare aiohttp baseline on the same Python, same load, same run (issue 8).

    python bench/run.py                      # every scenario, 3 rounds of 5 s; about 4 minutes
    python bench/run.py --scenarios esms_1,nxcloud --rounds 5
    python bench/run.py --smoke              # 0.5 s, one round, one scenario: checks the harness, not the numbers

It starts the mock (`python -m mock_server --port 0 --seed 1 --config bench/bench.toml`), the baseline
(bench/baseline.py) and a callback receiver (bench/receiver.py) as subprocesses on 127.0.0.1, drives mock and
baseline in alternation with the same load from a separate process (`wrk` with a generated Lua script when installed,
else bench/loadgen.py), and prints requests/s, p50/p99 latency, errors and the mock/baseline ratio per scenario (median
of the rounds; a warm-up run before them is not counted). Results go to bench/results/<timestamp>.json. Every loop is
bounded in count and time; only loopback is ever targeted; everything it starts it stops.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from mock_server.providers.nxcloud.signing import sign_headers  # noqa: E402

HOST = "127.0.0.1"
SERVER_ROOT = ROOT  # where `python -m mock_server` runs from (--root: e.g. a clean export of another commit)
ESMS_PATH = "/MainService.svc/json/Send_Multiple_Sms_OTT/"
INFOBIP_AUTH = {"Authorization": "App INFOBIP_SANDBOX_API_KEY"}
NX_KEY, NX_SECRET, NX_APP = "fme2na3kdi3ki", "abciiiko2k3", "TexxxP6"
SEND_SCENARIOS = ("esms_1", "esms_100", "infobip", "nxcloud")
ALL_SCENARIOS = SEND_SCENARIOS + ("reports", "callbacks", "memory", "startup")
TARGETS = {"send_ratio": 0.5, "p99_ms": 10.0, "esms_100_rps": 1000, "callbacks_per_s": 2000,
           "bytes_per_message": 2048, "startup_s": 0.5}

Request = dict[str, Any]  # {"method", "path", "headers", "body"}


# --- processes and plain HTTP ----------------------------------------------------------------------------------------


class Server:
    """A subprocess that prints `listening on http://127.0.0.1:PORT` once it accepts connections."""

    def __init__(self, name: str, argv: list[str], timeout: float = 20.0, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=SERVER_ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env={**os.environ, **env} if env else None)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.startswith("listening on http://") or not line:
                break
        if not line.startswith("listening on http://"):
            self.stop()
            self.log.seek(0)
            raise RuntimeError(f"{name} did not start: {line!r} {self.log.read()[-2000:]!r}")
        self.listening = time.perf_counter()
        self.url = line.split()[-1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        assert self.url.startswith(f"http://{HOST}:")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


UVLOOP = False  # --uvloop: both the mock and the baseline run on uvloop, so the ratio stays fair


def mock_server(max_messages: int | None = None) -> Server:
    return Server("mock", [sys.executable, "-m", "mock_server", "--port", "0", "--seed", "1",
                           "--config", str(BENCH / "bench.toml"), "--log-level", "WARNING"]
                  + (["--loop", "uvloop"] if UVLOOP else []),
                  env={"MOCK_SERVER_MAX_MESSAGES": str(max_messages)} if max_messages else None)


def baseline_server() -> Server:
    return Server("baseline", [sys.executable, str(BENCH / "baseline.py"), "--port", "0"]
                  + (["--uvloop"] if UVLOOP else []))


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=60)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


def call_json(port: int, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    status, raw = call(port, method, path, body, **kw)
    if status >= 300:
        raise RuntimeError(f"{method} {path} -> {status} {raw[:300]!r}")
    return json.loads(raw)


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (utime + stime from /proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # in clock ticks


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory_figure(messages: int, rss_before_kb: int, rss_after_kb: int) -> dict[str, Any]:
    """The RSS a process grew by, per message it stored."""
    return {"messages": messages, "rss_before_kb": rss_before_kb, "rss_after_kb": rss_after_kb,
            "bytes_per_message": round((rss_after_kb - rss_before_kb) * 1024 / max(1, messages))}


def wait_settled(port: int, expect: int, timeout: float) -> dict[str, Any]:
    """Poll /_mock/health until `expect` messages are stored, none is still accepted/sent and no callback is owed."""
    deadline = time.monotonic() + timeout
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = call_json(port, "GET", "/_mock/health")["counts"]
        by_status = health["by_status"]
        if (health["messages"] >= expect and not by_status.get("accepted") and not by_status.get("sent")
                and health["callbacks_pending"] == 0):
            return health
        time.sleep(0.2)
    return health


# --- the scenarios' requests -----------------------------------------------------------------------------------------


def esms_requests(phones_per_request: int, callback: str | None, count: int = 64, offset: int = 0) -> list[Request]:
    reqs = []
    for k in range(count):
        # 0 + 9 digits ending in 55500 (magic number: delivered), all distinct within a request.
        phones = [f"09{(offset + k * phones_per_request + j) % 1000:03d}55500" for j in range(phones_per_request)]
        body: dict[str, Any] = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET",
                                "Brandname": "MOCKBRAND", "SmsType": "23", "Content": f"Bench message {k}",
                                "Phones": phones}
        if callback:
            body["CallbackUrl"] = callback
        reqs.append({"method": "POST", "path": ESMS_PATH, "headers": {"Content-Type": "application/json"},
                     "body": json.dumps(body)})
    return reqs


def infobip_requests(notify: str | None, destinations: int = 1, count: int = 64, ending: str = "55501"
                     ) -> list[Request]:
    # 55501: undeliverable on Viber, so each destination fails over to the scenario's SMS step (Viber -> SMS).
    reqs = []
    for k in range(count):
        dests = [{"to": {"phoneNumber": f"417{(k * destinations + j) % 10000:04d}{ending}"}}
                 for j in range(destinations)]
        body: dict[str, Any] = {"scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "destinations": dests,
                                "viber": {"text": f"Bench on Viber {k}"}, "sms": {"text": f"Bench by SMS {k}"}}
        if notify:
            body["notifyUrl"] = notify
        reqs.append({"method": "POST", "path": "/omni/1/advanced",
                     "headers": {"Content-Type": "application/json", **INFOBIP_AUTH}, "body": json.dumps(body)})
    return reqs


def nxcloud_requests(count: int = 64) -> list[Request]:
    """Signed now: `ts` must be within 60 s of the server's wall clock, so call this just before each round."""
    reqs = []
    for k in range(count):
        body = json.dumps({"appkey": NX_APP, "phone": f"791{k:03d}55500", "functionType": "text",
                           "messageData": {"rateType": "Transactional", "text": f"Bench message {k}"}},
                          separators=(",", ":"))
        reqs.append({"method": "POST", "path": "/api/viber/mt",
                     "headers": sign_headers(NX_KEY, NX_SECRET, body.encode()), "body": body})
    return reqs


REPORTS_REQUEST = [{"method": "GET", "path": "/omni/1/reports?bulkId=bench-no-such-bulk&limit=50",
                    "headers": INFOBIP_AUTH, "body": ""}]
# A message query that finds something: the log entry of the first message stored (the oldest, at every size).
KNOWN_MESSAGE_ID = "bench-known-message"
LOGS_REQUEST = [{"method": "GET", "path": f"/omni/1/logs?messageId={KNOWN_MESSAGE_ID}&limit=1",
                 "headers": INFOBIP_AUTH, "body": ""}]
MARKERS = {"esms_1": '"CodeResult":"100"', "esms_100": '"CodeResult":"100"', "infobip": '"messageId"',
           "nxcloud": '"code":0', "reports": '"results"', "logs": f'"messageId":"{KNOWN_MESSAGE_ID}"',
           "callbacks": '"CodeResult":"100"'}


# --- load generation -------------------------------------------------------------------------------------------------


def lua_str(value: str) -> str:
    eq = "="
    while f"]{eq}]" in value:
        eq += "="
    return f"[{eq}[{value}]{eq}]"


def wrk_script(requests: list[Request], marker: str) -> str:
    lines = ["local threads = {}", "function setup(thread) table.insert(threads, thread) end",
             "function init(args)", "  bad = 0", "  i = 0", "  reqs = {}"]
    for r in requests:
        headers = ", ".join(f"[ {lua_str(k)} ] = {lua_str(v)}" for k, v in r["headers"].items())
        body = lua_str(r["body"]) if r["body"] else "nil"
        lines.append(f"  table.insert(reqs, wrk.format({lua_str(r['method'])}, {lua_str(r['path'])}, "
                     f"{{{headers}}}, {body}))")
    lines += [
        "end",
        "function request() i = i % #reqs + 1; return reqs[i] end",
        "function response(status, headers, body)",
        f"  if status < 200 or status >= 300 or not string.find(body, {lua_str(marker)}, 1, true) then bad = bad + 1 end",
        "end",
        "function done(summary, latency, requests)",
        "  local b = 0",
        "  for _, t in ipairs(threads) do b = b + t:get('bad') end",
        "  local e = summary.errors",
        "  io.write(string.format('WRKJSON {\"requests\":%d,\"duration_us\":%d,\"socket_errors\":%d,"
        "\"bad\":%d,\"p50_us\":%d,\"p99_us\":%d}\\n', summary.requests, summary.duration,"
        " e.connect + e.read + e.write + e.timeout, b, latency:percentile(50.0), latency:percentile(99.0)))",
        "end",
    ]
    return "\n".join(lines) + "\n"


class Load:
    def __init__(self, kind: str, connections: int, workdir: Path) -> None:
        self.kind = kind
        self.connections = connections
        self.workdir = workdir

    def start(self, url: str, requests: list[Request], duration: float, marker: str) -> subprocess.Popen[str]:
        assert url.startswith(f"http://{HOST}:"), url
        if self.kind == "wrk":
            script = self.workdir / "load.lua"
            script.write_text(wrk_script(requests, marker), encoding="utf-8")
            # wrk takes whole seconds only: a smoke run's 0.5 s becomes 1 s.
            argv = ["wrk", "-t1", f"-c{self.connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
                    "-s", str(script), url]
        else:
            spec = self.workdir / "load.json"
            spec.write_text(json.dumps({"url": url, "requests": requests, "connections": self.connections,
                                        "duration": duration, "marker": marker}), encoding="utf-8")
            argv = [sys.executable, str(BENCH / "loadgen.py"), str(spec)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen[str], duration: float) -> dict[str, Any]:
        out, err = proc.communicate(timeout=duration + 60)
        if self.kind == "python":
            return json.loads(out.strip().splitlines()[-1])
        line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out[-500:]} {err[-500:]}")
        raw = json.loads(line[len("WRKJSON "):])
        secs = raw["duration_us"] / 1e6
        return {"requests": raw["requests"], "duration_s": round(secs, 3),
                "errors": raw["socket_errors"] + raw["bad"], "rps": round(raw["requests"] / secs, 1),
                "p50_ms": round(raw["p50_us"] / 1000, 3), "p99_ms": round(raw["p99_us"] / 1000, 3)}

    def run(self, url: str, requests: list[Request], duration: float, marker: str,
            pid: int | None = None) -> dict[str, Any]:
        """One round of load; with `pid`, also the server's CPU per request answered (`cpu_us`, bench/cpu.py's
        measure: on a shared machine it moves much less than requests/s)."""
        before = cpu_seconds(pid) if pid is not None else 0.0
        result = self.finish(self.start(url, requests, duration, marker), duration)
        if pid is not None:
            result["cpu_us"] = round((cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6, 1)
        return result


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p99_ms") + (("cpu_us",) if all("cpu_us" in r for r in rounds) else ())
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in keys} | {
        "errors": sum(r["errors"] for r in rounds), "requests": sum(r["requests"] for r in rounds)}


# --- the benchmark ---------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.load = Load(args.loadgen, args.connections, workdir)
        self.results: dict[str, Any] = {}

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def reset(self, mock: Server, receiver: Server) -> None:
        call_json(mock.port, "POST", "/_mock/reset", {})
        call_json(mock.port, "POST", f"/_mock/nxcloud/apps/{NX_APP}/webhooks",
                  {"dr_webhook": f"{receiver.url}/nxcloud"})
        call_json(receiver.port, "POST", "/_clear", {})

    def compare(self, name: str, mock: Server, base: Server, receiver: Server,
                make: Callable[[], list[Request]], before_round: Callable[[], None] | None = None) -> None:
        """Warm-up on both, then rounds alternating mock and baseline with the same requests."""
        a = self.args
        marker = MARKERS[name]
        rounds: dict[str, list[dict[str, Any]]] = {"mock": [], "baseline": []}
        for rnd in range(-1 if a.warmup > 0 else 0, a.rounds):
            duration = a.warmup if rnd < 0 else a.duration
            for who, server in (("mock", mock), ("baseline", base)):
                if who == "mock":
                    (before_round or (lambda: self.reset(mock, receiver)))()
                result = self.load.run(server.url, make(), duration, marker, pid=server.pid)
                if rnd >= 0:
                    rounds[who].append(result)
        m, b = median_of(rounds["mock"]), median_of(rounds["baseline"])
        ratio = round(m["rps"] / b["rps"], 3) if b["rps"] else None
        # The same comparison by server CPU per request (baseline / mock, so that higher is better, as `ratio`): what
        # the requests/s ratio comes down to when the server is the bottleneck, without the neighbours' noise.
        cpu_ratio = round(b["cpu_us"] / m["cpu_us"], 3) if m.get("cpu_us") and b.get("cpu_us") else None
        self.results.setdefault("scenarios", {})[name] = {"mock": m, "baseline": b, "ratio": ratio,
                                                          "cpu_ratio": cpu_ratio, "rounds": rounds}
        self.log(f"  {name:10s} mock {m['rps']:>9.1f} req/s  baseline {b['rps']:>9.1f} req/s  ratio {ratio}  "
                 f"server CPU {m.get('cpu_us')} / {b.get('cpu_us')} us a request (ratio {cpu_ratio})")

    def fill_infobip(self, port: int, total: int, per_request: int = 100, start: int = 0) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            for k in range(start // per_request, start // per_request + max(1, total // per_request)):
                req = infobip_requests(None, destinations=per_request, count=1, ending="55500")[0]
                body = json.loads(req["body"])
                for j, d in enumerate(body["destinations"]):
                    d["to"]["phoneNumber"] = f"41{(k * per_request + j) % 10_000_000:07d}55500"
                status, raw = call(port, "POST", req["path"], body, headers=req["headers"], conn=conn)
                if status != 200:
                    raise RuntimeError(f"fill: {status} {raw[:200]!r}")
        finally:
            conn.close()

    def fill_esms(self, port: int, total: int, per_request: int = 100) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:
            for k in range(max(1, total // per_request)):
                body = {"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
                        "SmsType": "23", "Content": f"Bench fill {k}",
                        "Phones": [f"0{(k * per_request + j) % 1_000_000_000:09d}" for j in range(per_request)]}
                # Plain numbers (no magic suffix): phones ending in 5550x are avoided by the modulo's range.
                body["Phones"] = [p if not p[-5:].startswith("5550") else p[:-1] + "9" for p in body["Phones"]]
                status, raw = call(port, "POST", ESMS_PATH, body, conn=conn)
                if status != 200 or b'"100"' not in raw:
                    raise RuntimeError(f"fill: {status} {raw[:200]!r}")
        finally:
            conn.close()

    # --- scenarios ---

    def sends(self, mock: Server, base: Server, receiver: Server) -> None:
        chosen = [s for s in SEND_SCENARIOS if s in self.args.scenarios]
        for name in chosen:
            if name == "esms_1":
                self.compare(name, mock, base, receiver, lambda: esms_requests(1, f"{receiver.url}/esms"))
            elif name == "esms_100":
                # 100 000 messages/s accepted at the target: their callbacks (100 000/s) would measure the receiver,
                # not the send path, so this scenario sends no CallbackUrl; callback delivery has its own scenario.
                self.compare(name, mock, base, receiver, lambda: esms_requests(100, None, count=16))
            elif name == "infobip":
                self.compare(name, mock, base, receiver, lambda: infobip_requests(f"{receiver.url}/infobip"))
            elif name == "nxcloud":
                self.compare(name, mock, base, receiver, nxcloud_requests)

    def reports(self, base: Server, receiver: Server) -> None:
        """Report and message queries at 1 000, `--fill` and `--fill-queries` stored messages, on one fresh mock whose
        cap admits them all: `GET /omni/1/reports` (a filter matching nothing, so nothing is taken) and `GET
        /omni/1/logs` by the messageId of the oldest message (a hit). Its RSS growth at `--fill` is the Infobip memory
        figure."""
        fill, most = self.args.fill, self.args.fill_queries
        sizes = sorted({min(1000, fill), fill} | ({most} if most > fill else set()))
        mock = mock_server(max_messages=sizes[-1] + 1000)
        try:
            rss0 = rss_kb(mock.pid)
            status, raw = call(mock.port, "POST", "/omni/1/advanced", {
                "scenarioKey": "CC9F01A5DC7BEE2C2B829D203482A654", "viber": {"text": "Bench known"},
                "destinations": [{"messageId": KNOWN_MESSAGE_ID, "to": {"phoneNumber": "41790000055500"}}]},
                headers=INFOBIP_AUTH)
            if status != 200:
                raise RuntimeError(f"known message: {status} {raw[:200]!r}")
            noop = lambda: None  # noqa: E731  (the store must survive between rounds)
            filled = 0  # besides the known message
            for size in sizes:
                self.fill_infobip(mock.port, size - filled, start=filled)
                filled = size
                health = wait_settled(mock.port, size, 60 + size / 5000)
                if size == fill:
                    self.results["memory_infobip"] = memory_figure(health["messages"], rss0, rss_kb(mock.pid))
                for name, make in (("reports", lambda: REPORTS_REQUEST), ("logs", lambda: LOGS_REQUEST)):
                    self.compare(name, mock, base, receiver, make, before_round=noop)
                    self.results["scenarios"][f"{name}_{size}"] = self.results["scenarios"].pop(name)
            rates = ", ".join(f"{self.results['scenarios'][f'{n}_{size}']['mock']['rps']}"
                              for n in ("reports", "logs") for size in sizes)
            self.log(f"  queries at {sizes} stored (reports, then logs): {rates} req/s; infobip "
                     f"{self.results.get('memory_infobip', {}).get('bytes_per_message')} B/message")
        finally:
            mock.stop()

    def callbacks(self, mock: Server, receiver: Server) -> None:
        """eSMS sends with a CallbackUrl for `--duration` s: callbacks/s counted at the receiver while sends continue,
        then (sends stopped) every callback owed must arrive: none lost."""
        rounds = []
        for _ in range(self.args.rounds):
            self.reset(mock, receiver)
            duration = max(self.args.duration, 2.0)
            proc = self.load.start(mock.url, esms_requests(1, f"{receiver.url}/esms"), duration, MARKERS["callbacks"])
            time.sleep(1.0)  # the first callbacks fall due 0.7 s after the first sends
            c1 = call_json(receiver.port, "GET", "/_count")
            load = self.load.finish(proc, duration)
            c2 = call_json(receiver.port, "GET", "/_count")
            rate = (c2["total"] - c1["total"]) / max(c2["now"] - c1["now"], 1e-6)
            health = wait_settled(mock.port, 0, 120)
            c3 = call_json(receiver.port, "GET", "/_count")
            attempts = call_json(mock.port, "GET", "/_mock/callbacks?limit=10000")["items"]
            failed = sum(1 for a in attempts if not a["delivered"])
            rounds.append({"callbacks_per_s": round(rate, 1), "sends_per_s": load["rps"],
                           "messages": health["messages"], "received": c3["total"],
                           "lost": health["messages"] - c3["total"], "failed_attempts": failed,
                           "pending_after_drain": health["callbacks_pending"]})
        med = round(statistics.median(r["callbacks_per_s"] for r in rounds), 1)
        self.results["callbacks"] = {"callbacks_per_s": med, "lost": sum(r["lost"] for r in rounds),
                                     "rounds": rounds}
        self.log(f"  callbacks  {med} /s delivered while sending; lost {self.results['callbacks']['lost']}")

    def memory(self) -> None:
        """RSS per stored message, each in a fresh process: eSMS sent 100 phones a request (the messages of a request
        share its body, meta and content), and eSMS and Infobip sent one message a request, the usual send, whose
        every message carries its own (the Infobip 100-destination figure comes with the reports scenario)."""
        cases = (("memory_esms", "eSMS, 100 a request", lambda port, n: self.fill_esms(port, n)),
                 ("memory_esms_single", "eSMS, 1 a request", lambda port, n: self.fill_esms(port, n, per_request=1)),
                 ("memory_infobip_single", "Infobip, 1 a request",
                  lambda port, n: self.fill_infobip(port, n, per_request=1)))
        for key, label, fill in cases:
            mock = mock_server()
            try:
                rss0 = rss_kb(mock.pid)
                fill(mock.port, self.args.fill)
                health = wait_settled(mock.port, self.args.fill, 120)
                figure = self.results[key] = memory_figure(health["messages"], rss0, rss_kb(mock.pid))
                self.log(f"  memory     {label}: {figure['bytes_per_message']} B/message "
                         f"({health['messages']} messages)")
            finally:
                mock.stop()

    def startup(self) -> None:
        def first_answer(make: Callable[[], Server]) -> float:
            t0 = time.perf_counter()
            server = make()
            try:
                for _ in range(2000):
                    try:
                        if call(server.port, "GET", "/_mock/health")[0] == 200:
                            return time.perf_counter() - t0
                    except OSError:
                        time.sleep(0.002)
                raise RuntimeError("no answer")
            finally:
                server.stop()

        runs = max(1, min(self.args.rounds, 5))
        m = statistics.median(first_answer(mock_server) for _ in range(runs))
        b = statistics.median(first_answer(baseline_server) for _ in range(runs))
        self.results["startup"] = {"mock_s": round(m, 3), "baseline_s": round(b, 3), "ratio": round(m / b, 2)}
        self.log(f"  startup    mock {m:.3f} s, baseline {b:.3f} s")


def machine() -> dict[str, Any]:
    import aiohttp

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    from importlib import metadata

    libs = {}
    for lib in ("orjson", "uvloop", "jsonschema"):
        try:
            libs[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            libs[lib] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            **libs, "platform": platform.platform(), "load_average": os.getloadavg()}


def table(results: dict[str, Any]) -> str:
    rows = [f"{'scenario':14s} {'mock req/s':>11s} {'base req/s':>11s} {'ratio':>6s} {'p50 ms':>7s} {'p99 ms':>7s} "
            f"{'base p99':>8s} {'errors':>6s} {'CPU us mock/base':>17s} {'CPU ratio':>9s}"]
    for name, s in results.get("scenarios", {}).items():
        m, b = s["mock"], s["baseline"]
        cpu = f"{m['cpu_us']:.0f} / {b['cpu_us']:.0f}" if "cpu_us" in m and "cpu_us" in b else "-"
        cpu_ratio = f"{s['cpu_ratio']:.2f}" if s.get("cpu_ratio") is not None else "-"
        rows.append(f"{name:14s} {m['rps']:>11.1f} {b['rps']:>11.1f} {s['ratio']:>6.2f} {m['p50_ms']:>7.2f} "
                    f"{m['p99_ms']:>7.2f} {b['p99_ms']:>8.2f} {m['errors']:>6d} {cpu:>17s} {cpu_ratio:>9s}")
    if "callbacks" in results:
        c = results["callbacks"]
        rows.append(f"callbacks: {c['callbacks_per_s']} delivered/s while sends continue; lost {c['lost']}")
    for key in ("memory_esms", "memory_infobip", "memory_esms_single", "memory_infobip_single"):
        if key in results:
            rows.append(f"{key}: {results[key]['bytes_per_message']} bytes/message ({results[key]['messages']} stored)")
    if "startup" in results:
        s = results["startup"]
        rows.append(f"startup: mock {s['mock_s']} s, baseline {s['baseline_s']} s to the first answer")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the mock against a bare aiohttp baseline (issue 8).")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help=f"comma-separated: {', '.join(ALL_SCENARIOS)}")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per scenario; the median is reported (default 3)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before the rounds (default 1)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    p.add_argument("--fill", type=int, default=100_000, help="messages stored for reports and memory (default 100000)")
    p.add_argument("--fill-queries", type=int, default=1_000_000,
                   help="the largest store the report and message queries are measured at (default 1000000)")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--out", default=str(BENCH / "results"), help="directory for <timestamp>.json")
    p.add_argument("--label", default="", help="a note stored with the results (e.g. the change measured)")
    p.add_argument("--root", default=str(ROOT), help="run the mock from this checkout (default: this one)")
    p.add_argument("--uvloop", action="store_true", help="run the mock (--loop uvloop) and the baseline on uvloop")
    p.add_argument("--smoke", action="store_true", help="0.5 s, one round, scenario esms_1 only: checks the harness")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.warmup, args.scenarios = 0.5, 1, 0.0, "esms_1"
        args.connections = min(args.connections, 4)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(ALL_SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.loadgen == "auto":
        args.loadgen = "wrk" if shutil.which("wrk") else "python"
    return args


def main(argv: list[str] | None = None) -> int:
    global SERVER_ROOT
    args = parse_args(argv)
    global UVLOOP
    UVLOOP = args.uvloop
    SERVER_ROOT = Path(args.root).resolve()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="mock-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.results["meta"] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                                 "label": args.label,
                                 "settings": {k: getattr(args, k) for k in ("scenarios", "duration", "rounds",
                                                                             "warmup", "connections", "fill",
                                                                             "fill_queries", "loadgen", "smoke",
                                                                             "root")},
                                 "targets": TARGETS}
        receiver = Server("receiver", [sys.executable, str(BENCH / "receiver.py")])
        base = baseline_server()
        mock = mock_server()
        try:
            bench.log(f"mock {mock.url} (pid {mock.pid}), baseline {base.url}, receiver {receiver.url}, "
                      f"load: {args.loadgen} -c{args.connections}, {args.rounds} x {args.duration:g} s")
            if args.loadgen == "python":
                # bench/loadgen.py takes a whole core to drive ~9 000 requests/s: the baseline then waits on it, and
                # ratios come out about twice what wrk measures on the same machine (issue 8 review).
                bench.log("  WARNING: no wrk; the Python load generator caps the baseline, so the ratios are too high "
                          "(apt-get install wrk)")
            bench.sends(mock, base, receiver)
            if "callbacks" in args.scenarios:
                bench.callbacks(mock, receiver)
            mock.stop()
            if "reports" in args.scenarios:
                bench.reports(base, receiver)
            if "memory" in args.scenarios:
                bench.memory()
            if "startup" in args.scenarios:
                bench.startup()
        finally:
            for server in (mock, base, receiver):
                server.stop()
    bench.results["meta"]["elapsed_s"] = round(time.time() - started, 1)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / (time.strftime("%Y%m%dT%H%M%S") + ("-smoke" if args.smoke else "") + ".json")
    out.write_text(json.dumps(bench.results, indent=1) + "\n", encoding="utf-8")
    print(table(bench.results))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
