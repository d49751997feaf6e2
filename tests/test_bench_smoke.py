"""The benchmark harness runs end to end in its tiny mode and writes a well-formed result file (bench/run.py); the
floor server bench/cpu.py compares the baseline with answers like the baseline.

Only the shape is checked, never a number: benchmarks are not tests, and a slow machine must not fail the suite.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_writes_a_well_formed_result(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--loadgen", "python", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = list(tmp_path.glob("*-smoke.json"))
    assert len(files) == 1, proc.stdout
    result = json.loads(files[0].read_text(encoding="utf-8"))
    meta = result["meta"]
    assert {"cpu", "cores", "python", "aiohttp"} <= set(meta["machine"])
    assert meta["settings"]["smoke"] is True and meta["settings"]["scenarios"] == ["esms_1"]
    scenario = result["scenarios"]["esms_1"]
    for side in ("mock", "baseline"):
        assert {"rps", "p50_ms", "p99_ms", "errors", "requests", "cpu_us"} <= set(scenario[side])
        assert scenario[side]["requests"] > 0 and len(scenario["rounds"][side]) == 1
        assert scenario[side]["cpu_us"] >= 0  # server CPU per request, from /proc (0 if a short round got no tick)
    assert isinstance(scenario["ratio"], float)
    assert scenario["cpu_ratio"] is None or isinstance(scenario["cpu_ratio"], float)
    assert "ratio" in proc.stdout and "CPU ratio" in proc.stdout and "esms_1" in proc.stdout


def test_bench_floor_answers_the_baselines_esms_answer_on_a_kept_alive_connection() -> None:
    with subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor.py"), "--port", "0"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.startswith("listening on http://127.0.0.1:"), line
            conn = http.client.HTTPConnection("127.0.0.1", int(line.rsplit(":", 1)[1]), timeout=10)
            for body in (b'{"Phones":["0901255500"]}', b"{}"):
                conn.request("POST", "/MainService.svc/json/Send_Multiple_Sms_OTT/", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200 and resp.getheader("Content-Type") == "application/json; charset=utf-8"
                assert resp.read() == (b'{"CodeResult":"100","CountRegenerate":0,'
                                       b'"SMSID":"d8e0f1f0702544b2acb456ca9ccfd111250"}')
            conn.close()
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0
