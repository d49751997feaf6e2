"""Callback robustness (issue 7): a receiver that is down, slow, failing, resetting or silent never slows the provider
endpoints nor loses a callback; retries follow the back-off on the mock clock up to max_attempts and the attempt log
tells the whole story; outbound concurrency is bounded; 2 000 concurrent sends against a receiver failing a third of
the time end with every callback delivered exactly once per final state.

No sleeps: the mock clock is advanced, and the tests wait on the receiver or on the event stream.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections import Counter
from dataclasses import replace
from typing import Any, Callable

import pytest
from aiohttp import web

from mock_server.providers.nxcloud.signing import sign_headers
from mock_server.testing import test_settings as default_settings

ES = "/MainService.svc/json/Send_Multiple_Sms_OTT/"
IB_AUTH = {"Authorization": "App INFOBIP_SANDBOX_API_KEY"}
NX_KEY, NX_SECRET = "fme2na3kdi3ki", "abciiiko2k3"
TIMEOUT = 0.5  # [callbacks] timeout for these tests: real seconds a receiver may take


@pytest.fixture
def mock_settings(request):
    """Short callback timeout; `@pytest.mark.callbacks(max_attempts=N)` changes the attempts."""
    marker = request.node.get_closest_marker("callbacks")
    settings = default_settings()
    changes = {"timeout": TIMEOUT, "max_attempts": 4, **(marker.kwargs if marker else {})}
    return replace(settings, callbacks=replace(settings.callbacks, **changes))


class Receiver:
    """A callback receiver whose every answer is decided by `behaviour(n)` for the n-th request (1-based): an HTTP
    status, "hang" (never answers), or "reset" (drops the connection with a TCP RST). Counts what is in flight."""

    def __init__(self, behaviour: Callable[[int], int | str] = lambda n: 200) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict[str, str], bytes, int | str]] = []  # (path, query, body, answer)
        self.in_flight = 0
        self.max_in_flight = 0
        self._cond = asyncio.Condition()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with self._cond:
            answer = self.behaviour(len(self.requests) + 1)
            self.requests.append((request.path, dict(request.query), body, answer))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
        try:
            if answer == "hang":
                await asyncio.Event().wait()  # ended by the mock's timeout (the client goes away)
            if answer == "reset":
                sock = request.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                request.transport.close()
                raise ConnectionResetError
            return web.Response(status=int(answer), text="OK" if answer == 200 else "no")
        finally:
            async with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    async def wait_until(self, predicate: Callable[["Receiver"], bool], what: str, timeout: float = 20.0) -> None:
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: predicate(self)), timeout)
            except TimeoutError:
                raise AssertionError(f"receiver: {what} not reached in {timeout} s; got {len(self.requests)} "
                                     f"requests, {self.in_flight} in flight") from None

    def acknowledged(self) -> list[tuple[str, dict[str, str], bytes]]:
        return [(p, q, b) for p, q, b, a in self.requests if isinstance(a, int) and 200 <= a < 300]

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def receiver():
    r = await Receiver().start()
    yield r
    await r.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    return f"http://127.0.0.1:{port}/cb"


class Attempts:
    """The `callback.attempted` events of GET /_mock/events, read as they come."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.items: list[dict[str, Any]] = []

    async def __aenter__(self) -> "Attempts":
        self._resp = await self.client.get("/_mock/events", params={"types": "callback.attempted"})
        assert (await self._resp.content.readline()).startswith(b": connected")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._resp.close()

    async def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async def read() -> None:
            while len(self.items) < count:
                line = await self._resp.content.readline()
                if line.startswith(b"data: "):
                    self.items.append(json.loads(line[6:]))

        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"expected {count} callback attempts in {timeout} s, saw {len(self.items)}") from None
        return self.items[:count]


async def esms_send(client: Any, callback_url: str, phones: list[str]) -> str:
    resp = await client.post(ES, json={"ApiKey": "ESMS_SANDBOX_KEY", "SecretKey": "ESMS_SANDBOX_SECRET",
                                       "Brandname": "MOCKBRAND", "SmsType": "23", "Content": "Hi", "Phones": phones,
                                       "CallbackUrl": callback_url})
    assert resp.status == 200
    body = await resp.json()
    assert body["CodeResult"] == "100", body
    return body["SMSID"]


async def advance(client: Any, seconds: float) -> None:
    resp = await client.post("/_mock/clock/advance", json={"seconds": seconds})
    assert resp.status == 200


async def attempt_log(client: Any) -> list[dict[str, Any]]:
    """GET /_mock/callbacks, oldest first."""
    return list(reversed((await (await client.get("/_mock/callbacks")).json())["items"]))


# --- one receiver failure at a time ----------------------------------------------------------------------------------


async def test_receiver_down_is_retried_with_back_off_then_given_up(mock_client):
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, closed_port_url(), ["0901255500"])
        await advance(mock_client, 1)  # delivered: try 1
        await attempts.wait(1)
        for n, backoff in enumerate((0.5, 1, 2), start=2):  # fast schedule: 0.5 s, 1 s, 2 s
            await advance(mock_client, backoff - 0.01)
            assert len(await attempt_log(mock_client)) == n - 1  # not yet due
            await advance(mock_client, 0.01)
            await attempts.wait(n)
    log = await attempt_log(mock_client)
    assert [a["attempt"] for a in log] == [1, 2, 3, 4]
    assert [a["status"] for a in log] == [None] * 4 and not any(a["delivered"] for a in log)
    assert all("Connect" in a["error"] for a in log), [a["error"] for a in log]
    assert [a["final"] for a in log] == [False, False, False, True]
    assert log[-1]["error"].endswith("; gave up after 4 attempt(s)")
    health = await (await mock_client.get("/_mock/health")).json()
    assert health["counts"]["callbacks_pending"] == 0


async def test_slow_receiver_times_out_and_is_retried(mock_client, receiver):
    receiver.behaviour = lambda n: "hang" if n <= 2 else 200
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)
        await attempts.wait(1)
        await advance(mock_client, 0.5)
        await attempts.wait(2)
        await advance(mock_client, 1)
        await attempts.wait(3)
    log = await attempt_log(mock_client)
    assert [(a["status"], a["error"], a["delivered"], a["final"]) for a in log] == [
        (None, f"timeout after {TIMEOUT:g} s", False, False),
        (None, f"timeout after {TIMEOUT:g} s", False, False),
        (200, None, True, True),
    ]
    assert all(a["latency_ms"] >= TIMEOUT * 1000 * 0.9 for a in log[:2])


async def test_500_and_429_are_retried_until_a_2xx(mock_client, receiver):
    receiver.behaviour = lambda n, plan={1: 500, 2: 429, 3: 503}: plan.get(n, 204)
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)
        for n, backoff in enumerate((0.5, 1, 2), start=2):
            await attempts.wait(n - 1)
            await advance(mock_client, backoff)
        await attempts.wait(4)
    log = await attempt_log(mock_client)
    assert [(a["attempt"], a["status"], a["delivered"], a["final"]) for a in log] == [
        (1, 500, False, False), (2, 429, False, False), (3, 503, False, False), (4, 204, True, True)]
    assert len(receiver.acknowledged()) == 1


async def test_other_4xx_is_not_retried(mock_client, receiver):
    receiver.behaviour = lambda n: 404
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)
        await attempts.wait(1)
        await advance(mock_client, 60)
    (only,) = await attempt_log(mock_client)
    assert (only["status"], only["final"], only["error"]) == (404, True, "HTTP 404; gave up after 1 attempt(s)")
    assert len(receiver.requests) == 1


async def test_connection_reset_is_retried(mock_client, receiver):
    receiver.behaviour = lambda n: "reset" if n == 1 else 200
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)
        await attempts.wait(1)
        await advance(mock_client, 0.5)
        await attempts.wait(2)
    log = await attempt_log(mock_client)
    assert len(log) == 2, log
    first, second = log
    assert first["status"] is None and not first["final"]
    assert any(word in first["error"] for word in ("Disconnected", "Reset", "reset", "ClientOSError")), first["error"]
    assert (second["status"], second["delivered"], second["final"]) == (200, True, True)


@pytest.mark.parametrize("url, error", [
    ("http://127.0.0.1:99999/cb", "ValueError: Port out of range 0-65535"),
    ("http:///cb", "ValueError: no host in 'http:///cb?SMSID="),  # the URL as sent, eSMS's query included
    ("http://127.0.0.1:0/cb", "ValueError: Port 0 is not a port to connect to"),  # was sent to port 80
])
async def test_a_callback_url_that_can_never_be_sent_is_not_retried(mock_client, url, error):
    # Not a connection error, a timeout, a 5xx or a 429 (product.md §4): the same URL fails the same way every time.
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, url, ["0901255500"])
        await advance(mock_client, 1)
        await attempts.wait(1)
        await advance(mock_client, 60)  # past every back-off of max_attempts = 4
    (only,) = await attempt_log(mock_client)
    assert (only["attempt"], only["status"], only["final"]) == (1, None, True)
    assert only["error"].startswith(error) and only["error"].endswith("; gave up after 1 attempt(s)")
    health = await (await mock_client.get("/_mock/health")).json()
    assert (health["counts"]["callbacks_pending"], health["counts"]["scheduled"]) == (0, 0)


@pytest.mark.callbacks(allow_hosts=("[::1]", "LocalHost."))
async def test_allow_hosts_match_a_host_however_it_is_written(mock_client, receiver):
    # "[::1]" is the host of http://[::1]:port/ as a URL writes it (RFC 3986 3.2.2), "localhost." the same DNS name
    # as "localhost": each refused every callback ("host not allowed") while it named the very host called.
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver._handle)  # the same receiver, listening on ::1 too
    v6 = web.AppRunner(app, access_log=None)
    await v6.setup()
    try:
        site = web.TCPSite(v6, "::1", 0)
        try:
            await site.start()
        except OSError:
            pytest.skip("no IPv6 loopback here")
        port6 = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with Attempts(mock_client) as attempts:
            await esms_send(mock_client, f"http://[0:0:0:0:0:0:0:1]:{port6}/v6", ["0901255500"])
            await esms_send(mock_client, receiver.url.replace("127.0.0.1", "localhost") + "/name", ["0911255500"])
            await advance(mock_client, 1)
            await attempts.wait(2)
    finally:
        await v6.cleanup()
    log = await attempt_log(mock_client)
    assert sorted((a["url"].split("?")[0].rsplit("/", 1)[1], a["status"], a["error"]) for a in log) == [
        ("name", 200, None), ("v6", 200, None)]
    assert sorted(path for path, _, _, _ in receiver.requests) == ["/name", "/v6"]


BACKOFFS = [0.5, 1, 2, 4, 8, 16, 30, 30, 30]  # the fast schedule, capped at 30 s (product.md §9)


@pytest.mark.callbacks(max_attempts=10)
async def test_gave_up_is_logged_and_a_later_replay_delivers(mock_client, receiver):
    receiver.behaviour = lambda n: 503 if n <= 10 else 200
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)
        for n, backoff in enumerate(BACKOFFS, start=1):
            await attempts.wait(n)
            await advance(mock_client, backoff)
        await attempts.wait(10)
        log = await attempt_log(mock_client)
        assert [a["status"] for a in log] == [503] * 10
        assert log[-1]["final"] and log[-1]["error"] == "HTTP 503; gave up after 10 attempt(s)"
        at = [_seconds(a["at"]) for a in log]
        assert [round(b - a, 3) for a, b in zip(at, at[1:])] == BACKOFFS
        resp = await mock_client.post(f"/_mock/callbacks/{log[-1]['id']}/replay")
        assert resp.status == 202
        (replayed,) = (await attempts.wait(11))[10:]
    assert (replayed["status"], replayed["delivered"], replayed["attempt"]) == (200, True, 1)


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- the receiver never slows the providers; concurrency is bounded ------------------------------------------------


@pytest.mark.callbacks(timeout=10.0)  # the 50 must still hang when checked, however loaded the machine
async def test_sends_answer_while_50_callbacks_hang(mock_client, receiver):
    receiver.behaviour = lambda n: "hang"
    await esms_send(mock_client, receiver.url + "/cb", [f"09012{i:05d}" for i in range(50)])
    await advance(mock_client, 1)
    await receiver.wait_until(lambda r: r.in_flight == 50, "50 callbacks hanging")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
    resp = await mock_client.post("/omni/1/advanced", headers=IB_AUTH, json={
        "destinations": [{"to": {"phoneNumber": "41793055500"}}], "viber": {"text": "x"}, "notifyUrl": receiver.url})
    assert resp.status == 200
    raw = json.dumps({"appkey": "TexxxP6", "phone": "79100055500", "functionType": "text",
                      "messageData": {"rateType": "Transactional", "text": "x"}}).encode()
    resp = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers(NX_KEY, NX_SECRET, raw))
    assert (await resp.json())["code"] == 0
    health = await mock_client.get("/_mock/health")
    assert health.status == 200
    elapsed = loop.time() - started
    # All of it answered while the 50 still hung: none of it waited for them (they would time out after 10 s).
    assert receiver.in_flight == 50 and elapsed < 5.0, elapsed


async def test_outbound_concurrency_is_bounded_at_64(mock_client, receiver):
    receiver.behaviour = lambda n: "hang" if n <= 100 else 200
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", [f"09013{i:05d}" for i in range(100)])
        await advance(mock_client, 1)
        await receiver.wait_until(lambda r: r.in_flight == 64, "64 callbacks in flight")
        await attempts.wait(100, timeout=10)  # 64 time out, then the other 36 get their turn and time out too
    assert receiver.max_in_flight == 64
    assert len(receiver.requests) == 100


# --- the load test of the issue ---------------------------------------------------------------------------------------

ESMS_REQUESTS, ESMS_PHONES = 15, 100  # 1 500 eSMS messages, 100 phones per request
INFOBIP_REQUESTS, INFOBIP_DESTINATIONS = 2, 200  # 400 Infobip messages
NXCLOUD_SENDS = 100  # 100 NXCLOUD messages, each with a "success" and a "delivered" receipt
MESSAGES = ESMS_REQUESTS * ESMS_PHONES + INFOBIP_REQUESTS * INFOBIP_DESTINATIONS + NXCLOUD_SENDS
CALLBACKS = MESSAGES + NXCLOUD_SENDS  # one per final state, plus NXCLOUD's receipt on sending


@pytest.mark.callbacks(max_attempts=30, timeout=30.0)  # a loaded machine must not time callbacks out
async def test_2000_concurrent_sends_every_callback_delivered_exactly_once(mock_client, receiver):
    receiver.behaviour = lambda n: 503 if n % 3 == 0 else 200  # every third request fails, deterministically
    resp = await mock_client.post("/_mock/nxcloud/apps/TexxxP6/webhooks", json={"dr_webhook": receiver.url + "/nx"})
    assert resp.status == 200

    async def nxcloud(i: int) -> None:
        raw = json.dumps({"appkey": "TexxxP6", "phone": f"7910{i:07d}", "functionType": "text",
                          "messageData": {"rateType": "Transactional", "text": f"n{i}"}}).encode()
        resp = await mock_client.post("/api/viber/mt", data=raw, headers=sign_headers(NX_KEY, NX_SECRET, raw))
        assert resp.status == 200 and (await resp.json())["code"] == 0

    async def infobip(i: int) -> None:
        destinations = [{"to": {"phoneNumber": f"417930{i}{j:05d}"}} for j in range(INFOBIP_DESTINATIONS)]
        resp = await mock_client.post("/omni/1/advanced", headers=IB_AUTH, json={
            "destinations": destinations, "viber": {"text": "x"}, "notifyUrl": receiver.url + "/ib"})
        assert resp.status == 200

    sends = [esms_send(mock_client, receiver.url + "/es", [f"09{i:02d}{j:06d}" for j in range(ESMS_PHONES)])
             for i in range(ESMS_REQUESTS)]
    await asyncio.gather(*sends, *(infobip(i) for i in range(INFOBIP_REQUESTS)),
                         *(nxcloud(i) for i in range(NXCLOUD_SENDS)))
    listed = await (await mock_client.get("/_mock/messages", params={"limit": 1})).json()
    assert listed["total"] == MESSAGES

    # Each round: advance the clock (the first time to deliver everything, then 30 s: every retry owed is due), and
    # wait until the receiver has seen every request that round owes: the new callbacks, plus one retry per 503.
    await advance(mock_client, 1)
    expected = CALLBACKS
    for _ in range(30):
        await receiver.wait_until(lambda r: len(r.requests) >= expected and r.in_flight == 0,
                                  f"{expected} requests", timeout=30)
        failed = sum(1 for *_, answer in receiver.requests if answer == 503)
        if len(receiver.requests) - failed >= CALLBACKS:
            break
        expected = CALLBACKS + failed  # each 503 owes exactly one retry
        await advance(mock_client, 30)
    else:
        pytest.fail(f"callbacks still owed after 30 rounds: {len(receiver.requests) - failed} of {CALLBACKS}")
    assert len(receiver.requests) == CALLBACKS + failed

    acknowledged = Counter()
    for path, query, body, answer in receiver.requests:
        if answer != 200:
            continue
        if path == "/es":
            acknowledged[("esms", query["SMSID"], query["phonenumber"])] += 1
        elif path == "/ib":
            (report,) = json.loads(body)["results"]
            acknowledged[("infobip", report["messageId"], report["status"]["name"])] += 1
        else:
            receipt = json.loads(body)
            acknowledged[("nxcloud", receipt["requestId"], receipt["status"])] += 1
    assert len(acknowledged) == CALLBACKS and set(acknowledged.values()) == {1}  # once each, none lost
    assert Counter(k[0] for k in acknowledged) == {"esms": 1500, "infobip": 400, "nxcloud": 200}
    assert {k[2] for k in acknowledged if k[0] == "infobip"} == {"DELIVERED_TO_HANDSET"}
    assert Counter(k[2] for k in acknowledged if k[0] == "nxcloud") == {"success": 100, "delivered": 100}

    statuses = Counter(m["status"] for m in (await (await mock_client.get(
        "/_mock/messages", params={"limit": 10_000})).json())["items"])
    assert statuses == {"delivered": MESSAGES}
    log = (await (await mock_client.get("/_mock/callbacks", params={"limit": 10_000})).json())["items"]
    assert len(log) == len(receiver.requests)
    assert not [a for a in log if a["final"] and not a["delivered"]]  # nobody gave up
    assert sum(a["delivered"] for a in log) == CALLBACKS
    health = await (await mock_client.get("/_mock/health")).json()
    assert health["counts"]["callbacks_pending"] == 0
    journal = await (await mock_client.get("/_mock/requests", params={"status": "500"})).json()
    assert journal["total"] == 0


async def test_a_try_out_when_its_message_is_cleared_is_not_retried(mock_client, receiver):
    receiver.behaviour = lambda n: "hang"
    async with Attempts(mock_client) as attempts:
        await esms_send(mock_client, receiver.url + "/cb", ["0901255500"])
        await advance(mock_client, 1)  # delivered: the first try goes out and hangs
        await receiver.wait_until(lambda r: len(r.requests) == 1, "the first try")
        resp = await mock_client.delete("/_mock/messages")
        assert resp.status == 200 and await resp.json() == {"deleted": 1}
        [attempt] = await attempts.wait(1)  # it times out after its message is gone
    assert (attempt["status"], attempt["delivered"], attempt["final"]) == (None, False, True)
    assert attempt["error"] == f"timeout after {TIMEOUT:g} s; not retried: its message is gone"
    health = await (await mock_client.get("/_mock/health")).json()
    assert (health["counts"]["callbacks_pending"], health["counts"]["scheduled"]) == (0, 0)  # no retry owed or due
