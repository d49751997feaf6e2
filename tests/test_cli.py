"""The command line as users run it: a real process, the `listening on` line, a first request, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


async def start(*args: str, env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


async def test_cli_starts_on_a_free_port_serves_and_stops_cleanly_on_sigterm():
    proc, base = await start("--port", "0", "--clock", "manual", "--seed", "7")
    try:
        status, health = await asyncio.to_thread(fetch, base + "/_mock/health")
        assert status == 200 and health["clock"]["mode"] == "manual"
        body = json.dumps({"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET", "Brandname": "MOCKBRAND",
                           "SmsType": "23", "Content": "Hi", "Phones": ["0901255500"]}).encode()
        status, out = await asyncio.to_thread(fetch, base + "/MainService.svc/json/Send_Multiple_Sms_OTT/", body)
        assert out["CodeResult"] == "100"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_right_after_the_listening_line_stops_cleanly(sig):
    # product.md §2: the line is printed once it accepts connections, and SIGINT/SIGTERM stop it cleanly. The handlers
    # were installed only after the line, so a pipeline that stopped the server as soon as it was ready killed it
    # (exit -15, nothing flushed) or got a KeyboardInterrupt traceback.
    for _ in range(3):
        proc, _ = await start("--port", "0")
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert b"Traceback" not in await proc.stderr.read()


async def test_cli_runs_on_uvloop():
    pytest.importorskip("uvloop")
    proc, base = await start("--port", "0", "--loop", "uvloop")
    try:
        status, health = await asyncio.to_thread(fetch, base + "/_mock/health")
        assert status == 200 and health["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_same_seed_same_ids():
    ids = []
    for _ in range(2):
        proc, base = await start("--port", "0", "--seed", "99")
        try:
            body = json.dumps({"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET",
                               "Brandname": "MOCKBRAND", "SmsType": "23", "Content": "Hi",
                               "Phones": ["0901255500"]}).encode()
            ids.append((await asyncio.to_thread(fetch, base + "/MainService.svc/json/Send_Multiple_Sms_OTT/", body))[1]["SMSID"])
        finally:
            proc.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
    assert ids[0] == ids[1]


async def test_bad_config_exits_2_with_one_line():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "--config", "/nonexistent.toml",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    assert err.decode().startswith("mock-server: cannot read config file /nonexistent.toml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    return next(out.glob("*.whl"))


def test_wheel_ships_schemas_and_fixtures(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "mock_server/_data/schemas/esms/send_multiple_sms_ott.request.json" in names
    assert "mock_server/_data/fixtures/default.toml" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mock-server = mock_server.__main__:main" in text and "mock_server = mock_server.testing" in text


async def test_installed_wheel_finds_its_data(wheel: Path, tmp_path: Path):
    # Unpacked outside the checkout, the package must find schemas/ and fixtures/ inside itself.
    zipfile.ZipFile(wheel).extractall(tmp_path)
    import os

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import mock_server.resources as r; print(r.schemas_dir()); print(r.default_config_path())",
        stdout=asyncio.subprocess.PIPE, env=env, cwd=str(tmp_path),
    )
    out, _ = await proc.communicate()
    schemas, config = out.decode().split()
    assert schemas == str(tmp_path / "mock_server/_data/schemas")
    assert config == str(tmp_path / "mock_server/_data/fixtures/default.toml")
    proc, base = await start("--port", "0", env={**env, "PYTHONSAFEPATH": "1"})
    try:
        status, health = await asyncio.to_thread(fetch, base + "/_mock/health")
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_the_config_flag_outranks_the_config_environment_variable(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text((ROOT / "fixtures" / "default.toml").read_text().replace("MOCKBRAND", "FLAGBRAND"))
    env = {**os.environ, "MOCK_SERVER_CONFIG": str(tmp_path / "missing.toml"), "MOCK_SERVER_HOST": ""}
    proc, base = await start("--config", str(config), "--port", "0", env=env)  # and "" host is no host: loopback
    try:
        status, brands = await asyncio.to_thread(
            fetch, base + "/MainService.svc/json/GetListBrandname/ESMS_SANDBOX_KEY/ESMS_SANDBOX_SECRET")
        assert status == 200 and "FLAGBRAND" in [b["Brandname"] for b in brands["ListBrandName"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_sigterm_ends_open_event_streams_instead_of_waiting_for_them():
    # An open GET /_mock/events (the inbox, or a wait_for_* helper) held a SIGTERM for aiohttp's shutdown timeout
    # twice, ~10 s: past Docker's grace period, so the process was killed before its last flush.
    proc, base = await start("--port", "0")
    host, port = base.rsplit("/", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET /_mock/events HTTP/1.1\r\nHost: mock\r\n\r\n")
        await writer.drain()
        while b": connected" not in await asyncio.wait_for(reader.readline(), 10):
            pass
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 4.5) == 0  # well inside the 5 s shutdown timeout (0.1 s here)
        assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"0\r\n\r\n")  # ended (last chunk), not cut
    finally:
        writer.close()


async def refused(*args: str, env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """Run the CLI expecting it to refuse to start: its exit status and stderr (a server that starts anyway is
    stopped after 10 s and reported with status None)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
        return None, err.decode()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("old, new, key", [
    ("cny_per_usd = 7.25", "cny_per_usd = inf", "nxcloud.cny_per_usd: inf"),
    ("Transactional = 0.013,", "Transactional = nan,", "nxcloud.prices.Transactional: nan"),
    ("balance = 0.02 ", "balance = nan ", "nxcloud.accounts[1].balance: nan"),
    ("accept_to_sent = 0.2", "accept_to_sent = nan", "timing.accept_to_sent: nan"),
])
async def test_a_config_number_that_is_not_finite_exits_2_with_one_line(tmp_path, old, new, key):
    # TOML has nan and inf, and they passed every minimum/maximum of the config schema (comparisons with nan are
    # false): an NXCLOUD send then answered 9999, receipts failed in the scheduler and GET /_mock/accounts wrote NaN.
    text = (ROOT / "fixtures" / "default.toml").read_text()
    assert old in text
    config = tmp_path / "c.toml"
    config.write_text(text.replace(old, new, 1))
    status, err = await refused("--port", "0", "--config", str(config))
    assert status == 2, err
    assert err == f"mock-server: config file {config}: {key} is not a finite number\n"


@pytest.mark.parametrize("value", ["sqlite:", "sqlite:mock.db\n"])
@pytest.mark.parametrize("how", ["flag", "env"])
async def test_a_store_without_a_path_exits_2_with_one_line(value, how):
    # `[server] store = "sqlite:"` was refused by the config schema, but the flag and the variable let it through to
    # the store itself: a traceback and exit 1. A path ending in a newline made a file whose name ends in one.
    args, env = (("--store", value), {}) if how == "flag" else ((), {"MOCK_SERVER_STORE": value})
    status, err = await refused("--port", "0", *args, env={**os.environ, **env})
    assert (status, err) == (2, f"mock-server: store must be 'memory' or 'sqlite:PATH', not {value!r}\n")


async def test_an_unknown_log_level_exits_2_with_the_usage_line():
    # It went to logging.basicConfig unchecked: a ValueError traceback (exit 1) instead of argparse's usage error.
    status, err = await refused("--port", "0", "--log-level", "LOUD")
    assert status == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1] == ("mock-server: error: argument --log-level: invalid choice: 'LOUD' (choose from "
                                    "'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')")
    status, err = await refused("--port", "70000", "--log-level", "warning")  # any case, as before
    assert (status, err) == (2, "mock-server: port must be 0..65535, not 70000\n")


@pytest.mark.parametrize("name, value, message", [
    ("PORT", "8o80", "port must be an integer, not '8o80'"),
    ("SEED", "abc", "seed must be an integer, not 'abc'"),
    ("MAX_BODY_BYTES", "1MB", "max_body_bytes must be an integer, not '1MB'"),
])
async def test_an_environment_value_that_is_no_integer_is_named(name, value, message):
    # The line was Python's "invalid literal for int() with base 10: '8o80'": no word of which variable it was.
    status, err = await refused(env={**os.environ, f"MOCK_SERVER_{name}": value})
    assert (status, err) == (2, f"mock-server: {message}\n")


@pytest.mark.parametrize("store", ["memory\n", "sqlite:/tmp/m.db\n"])
async def test_a_config_store_ending_in_a_newline_exits_2_with_one_line(tmp_path, store):
    # The config schema's pattern ended in `$`, which in Python also matches before a final newline: "memory\n" passed
    # it and ended in a traceback at the store (exit 1); "sqlite:/tmp/m.db\n" made a file whose name ends in a newline.
    config = tmp_path / "c.toml"
    config.write_text(f"[server]\nstore = {json.dumps(store)}\n")
    status, err = await refused("--port", "0", "--config", str(config))
    assert status == 2, err
    assert err.startswith(f"mock-server: config file {config}: server.store") and err.count("\n") == 1, err


async def test_a_config_scenario_key_ending_in_a_newline_exits_2_with_one_line(tmp_path):
    # The same `$` trap: "CC9F…A654\n" passed the key pattern and was kept as the scenario's key, newline and all.
    config = tmp_path / "c.toml"
    config.write_text((ROOT / "fixtures" / "default.toml").read_text().replace(
        'key = "CC9F01A5DC7BEE2C2B829D203482A654"', 'key = "CC9F01A5DC7BEE2C2B829D203482A654\\n"', 1))
    assert "A654\\n" in config.read_text()
    status, err = await refused("--port", "0", "--config", str(config))
    assert status == 2, err
    assert err.startswith(f"mock-server: config file {config}: infobip.accounts[0].scenarios[0].key"), err


async def test_an_unknown_config_key_is_named_on_stderr_and_the_server_still_starts(tmp_path):
    # product.md §3: "names may grow", so an unknown key is not refused; but a typo (`max_attempt`) was ignored
    # without a word and its setting silently kept the default.
    config = tmp_path / "typo.toml"
    config.write_text((ROOT / "fixtures" / "default.toml").read_text()
                      .replace("[callbacks]", "[callbacks]\nmax_attempt = 6", 1)
                      .replace('api_key = "ESMS_SANDBOX_KEY"', 'api_key = "ESMS_SANDBOX_KEY"\nbalanse = 3', 1))
    proc, base = await start("--config", str(config), "--port", "0")
    try:
        status, health = await asyncio.to_thread(fetch, base + "/_mock/health")
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    err = (await proc.stderr.read()).decode()
    warned = [line.split("mock_server.settings: ", 1)[1] for line in err.splitlines() if "is not a known key" in line]
    assert warned == [f"config file {config}: callbacks.max_attempt is not a known key: ignored",
                      f"config file {config}: esms.accounts[0].balanse is not a known key: ignored"]


async def test_the_shipped_config_names_no_unknown_key():
    proc, base = await start("--port", "0")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    assert "is not a known key" not in (await proc.stderr.read()).decode()
