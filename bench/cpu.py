"""Server CPU per request: how many microseconds of the server process's CPU time one request costs (issue 8).

    python bench/cpu.py                 # every case: floor, baseline, esms_nocb, esms_cb, esms_100
    python bench/cpu.py esms_cb         # one of them

floor: the baseline's answer without aiohttp (bench/floor.py); baseline: bench/baseline.py; esms_nocb / esms_cb: a
1-phone eSMS send without / with a CallbackUrl at bench/receiver.py; esms_100: 100 phones, no CallbackUrl.

On a shared machine requests/s moves with the neighbours; CPU time per request (utime + stime from /proc/PID/stat,
divided by the requests answered) moves much less, and it is what a ratio against the baseline comes down to when the
server is the bottleneck. Same servers and load as bench/run.py (wrk when installed), loopback only, 1 s warm-up then
4 s measured per case.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: servers, load, requests)


cpu_seconds = run.cpu_seconds  # bench/stages.py imports it from here


def main() -> None:
    wanted = set(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        load = run.Load("wrk" if run.shutil.which("wrk") else "python", 32, Path(tmp))
        receiver = run.Server("receiver", [sys.executable, str(run.BENCH / "receiver.py")])
        mock, base = run.mock_server(), run.baseline_server()
        # The same answer without aiohttp (bench/floor.py): what its request machinery costs of the baseline's total.
        floor = run.Server("floor", [sys.executable, str(run.BENCH / "floor.py"), "--port", "0"])
        bench = run.Bench(run.parse_args([]), Path(tmp))
        try:
            cases = [("floor", floor, lambda: run.esms_requests(1, None)),
                     ("baseline", base, lambda: run.esms_requests(1, None)),
                     ("esms_nocb", mock, lambda: run.esms_requests(1, None)),
                     ("esms_cb", mock, lambda: run.esms_requests(1, f"{receiver.url}/esms")),
                     ("esms_100", mock, lambda: run.esms_requests(100, None, count=16))]
            for name, server, make in cases:
                if wanted and name not in wanted:
                    continue
                bench.reset(mock, receiver)
                load.run(server.url, make(), 1, '"')
                before = cpu_seconds(server.pid)
                result = load.run(server.url, make(), 4, '"')
                used = cpu_seconds(server.pid) - before
                print(f"{name:10s} {result['rps']:9.1f} req/s  p99 {result['p99_ms']:6.1f} ms  server CPU "
                      f"{used / result['duration_s'] * 100:5.1f} %  {used / max(result['requests'], 1) * 1e6:6.1f} "
                      f"us/request", flush=True)
        finally:
            mock.stop()
            base.stop()
            floor.stop()
            receiver.stop()


if __name__ == "__main__":
    main()
