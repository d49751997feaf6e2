"""Profile the mock under one scenario's load: py-spy samples the server process while the load runs, then the
top functions by own and by total share of samples are printed (and the collapsed stacks kept for flame graphs).

    pip install py-spy && python bench/profile.py esms_1 --duration 8     # as root, or with ptrace allowed
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=("esms_1", "esms_100", "infobip", "nxcloud", "reports"))
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--root", default=str(run.ROOT))
    p.add_argument("--fill", type=int, default=100_000, help="messages stored first (reports only)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--nonblocking", action="store_true",
                   help="do not pause the server per sample (faster, but about 40 %% of stacks come out cut short)")
    p.add_argument("--out", default="/tmp/mock-profile.txt", help="collapsed stacks")
    args = p.parse_args()
    run.SERVER_ROOT = Path(args.root).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        load = run.Load("wrk" if run.shutil.which("wrk") else "python", args.connections, Path(tmp))
        receiver = run.Server("receiver", [sys.executable, str(run.BENCH / "receiver.py")])
        mock = run.mock_server()
        try:
            bench = run.Bench(run.parse_args(["--fill", str(args.fill)]), Path(tmp))
            bench.reset(mock, receiver)
            make = {"esms_1": lambda: run.esms_requests(1, f"{receiver.url}/esms"),
                    "esms_100": lambda: run.esms_requests(100, None, count=16),
                    "infobip": lambda: run.infobip_requests(f"{receiver.url}/infobip"),
                    "nxcloud": run.nxcloud_requests, "reports": lambda: run.REPORTS_REQUEST}[args.scenario]
            if args.scenario == "reports":
                bench.fill_infobip(mock.port, args.fill)
                run.wait_settled(mock.port, args.fill, 120)
            spy = subprocess.Popen(["py-spy", "record", "-p", str(mock.pid), "-d", str(int(args.duration)),
                                    "-r", "200", "-f", "raw", "-o", args.out]
                                   + (["--nonblocking"] if args.nonblocking else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            result = load.run(mock.url, make(), args.duration, run.MARKERS[args.scenario])
            spy.wait(timeout=args.duration + 30)
        finally:
            mock.stop()
            receiver.stop()
    print(f"load: {result}")
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in Path(args.out).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")") if " (" in f else f
                  for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    print(f"{samples} samples\n--- own time ---")
    for name, n in own.most_common(args.top):
        print(f"{100 * n / samples:5.1f}%  {name}")
    print("--- total (inclusive) ---")
    for name, n in total.most_common(args.top * 2):
        print(f"{100 * n / samples:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
