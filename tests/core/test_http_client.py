"""The callback client (mock_server/core/http_client.py) against raw local TCP peers: what it writes, byte for byte,
and how it reads every way an HTTP/1.x answer can end."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import pytest

from mock_server.core.http_client import HttpClient, ProtocolError, Target

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawPeer:
    """A TCP listener on 127.0.0.1 that records each connection's request heads and answers with `script`."""

    def __init__(self, script: Callable[[bytes, int], bytes | None]) -> None:
        self.script = script  # (request head, request number on this connection) -> answer; b"": hang up; None: hang
        self.heads: list[bytes] = []
        self.connections = 0
        self.ended = 0  # connections over (either side closed)
        self._ended = asyncio.Event()

    async def __aenter__(self) -> "RawPeer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def all_closed(self, count: int) -> None:
        """Until `count` connections are over."""
        while self.ended < count:
            self._ended.clear()
            await self._ended.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.heads.append(head + body)
                n += 1
                answer = self.script(head, n)
                if answer is None:
                    await asyncio.sleep(30)
                    return
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer or answer.startswith(b"HTTP/1.0"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()
            self.ended += 1
            self._ended.set()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def client():
    client = HttpClient(user_agent="viber-mock-server/test")
    yield client
    await client.close()


async def test_a_get_is_written_as_documented_and_the_connection_is_kept(client: HttpClient) -> None:
    async with RawPeer(lambda head, n: OK) as peer:
        url = f"http://127.0.0.1:{peer.port}/cb?SMSID=a1&TotalPrice=470.0000"
        first = await client.request("GET", url, headers={}, body=None, timeout=5)
        second = await client.request("GET", url, headers={}, body=None, timeout=5)
    assert (first.status, first.body, second.status) == (200, b"ok", 200)
    assert peer.connections == 1  # kept alive and reused
    assert peer.heads[0] == (f"GET /cb?SMSID=a1&TotalPrice=470.0000 HTTP/1.1\r\nHost: 127.0.0.1:{peer.port}\r\n"
                             "User-Agent: viber-mock-server/test\r\nAccept: */*\r\n\r\n").encode()


async def test_a_post_carries_its_headers_and_exact_body(client: HttpClient) -> None:
    async with RawPeer(lambda head, n: OK) as peer:
        body = '{"results":[{"text":"Xin chào"}]}'.encode()
        answer = await client.request("POST", f"http://127.0.0.1:{peer.port}/r", body=body, timeout=5,
                                      headers={"Content-Type": "application/json"})
    assert answer.status == 200
    assert peer.heads[0].endswith(b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                                  + b"\r\n\r\n" + body)


@pytest.mark.parametrize("answer, status, body", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, b"abcde"),
    (b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nlater", 503, b"later"),  # close-delimited
    (b"HTTP/1.0 204 No Content\r\n\r\n", 204, b""),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 201, b""),
    (b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n", 302, b""),  # not followed
    # No reason phrase (RFC 9112 4: it may be empty); the parser reports the status only with the headers then.
    (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", 200, b"ok"),
    (b"HTTP/1.1 503\r\nContent-Length: 2\r\n\r\nno", 503, b"no"),
    (b"HTTP/1.1 100\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 201, b""),
    # What aiohttp's client read too: bare LF line ends (RFC 9112 2.2: a recipient MAY accept them) and an obs-fold
    # (5.2: a user agent MUST replace it with a space).
    (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, b"ok"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", 200, b"ok"),
])
async def test_every_way_an_answer_ends(client: HttpClient, answer: bytes, status: int, body: bytes) -> None:
    async with RawPeer(lambda head, n: answer) as peer:
        got = await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    assert (got.status, got.body) == (status, body)


async def test_only_the_first_kilobyte_is_kept(client: HttpClient) -> None:
    big = b"x" * 5000
    async with RawPeer(lambda head, n: b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + big) as peer:
        got = await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
        again = await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    assert (got.status, len(got.body), again.status, peer.connections) == (200, 1024, 200, 1)


async def test_a_connection_idle_too_long_is_not_reused(client: HttpClient) -> None:
    client.max_idle_seconds = -1.0  # every idle connection counts as too old: the peer may be closing it right now
    async with RawPeer(lambda head, n: OK) as peer:
        for _ in range(2):
            await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    assert peer.connections == 2


async def test_connection_close_is_not_reused(client: HttpClient) -> None:
    async with RawPeer(lambda head, n: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n") as peer:
        for _ in range(2):
            await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    assert peer.connections == 2


async def test_a_url_cannot_inject_headers_into_the_request(client: HttpClient) -> None:
    async with RawPeer(lambda head, n: OK) as peer:
        await client.request("GET", f"http://127.0.0.1:{peer.port}/a b\r\nX-Evil: 1?q=é", headers={}, body=None,
                             timeout=5)
    # urlsplit drops CR, LF and TAB (as WHATWG URLs do); the space and the é are percent-encoded.
    assert peer.heads[0].startswith(b"GET /a%20bX-Evil:%201?q=%C3%A9 HTTP/1.1\r\n")
    with pytest.raises(ValueError):
        await client.request("GET", "http://127.0.0.1:1/", headers={"X": "a\r\nEvil: 1"}, body=None, timeout=5)


async def test_failures_raise_what_the_dispatcher_retries(client: HttpClient) -> None:
    async with RawPeer(lambda head, n: None) as peer:  # accepts, never answers
        with pytest.raises(TimeoutError):
            await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=0.2)
    async with RawPeer(lambda head, n: b"SMTP ready\r\n\r\n") as peer:
        with pytest.raises(ProtocolError):
            await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    async with RawPeer(lambda head, n: b"") as peer:  # closes without a byte
        with pytest.raises(ConnectionError):
            await client.request("GET", f"http://127.0.0.1:{peer.port}/", headers={}, body=None, timeout=5)
    port = peer.port  # closed now: nothing listens
    with pytest.raises(OSError):
        await client.request("GET", f"http://127.0.0.1:{port}/", headers={}, body=None, timeout=5)
    for bad in ("ftp://127.0.0.1/", "http:///nohost", "http://[::1/"):
        with pytest.raises(ValueError):
            await client.request("GET", bad, headers={}, body=None, timeout=5)


class LatePeer:
    """A keep-alive peer that answers each request with `answer`, and on `late.set()` writes `extra` on the same
    connection while it is idle (a stray body, an idle-timeout 408): `sent` is set once it is written."""

    def __init__(self, answer: bytes, extra: bytes) -> None:
        self.answer, self.extra = answer, extra
        self.late, self.sent = asyncio.Event(), asyncio.Event()
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request path)
        self.connections = 0

    async def __aenter__(self) -> "LatePeer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        me = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append((me, head.split(b" ")[1]))
                writer.write(self.answer)
                await writer.drain()
                if me == 1:
                    await self.late.wait()
                    writer.write(self.extra)
                    await writer.drain()
                    self.sent.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Yield to the event loop until `condition()` holds (bytes written on loopback arrive within a few turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{what}: not within 1 000 turns of the event loop")


@pytest.mark.parametrize("answer, extra", [
    # A 204 is complete without a body; a hand-written receiver sends one anyway, in a later packet.
    (b"HTTP/1.1 204 No Content\r\n\r\n", b"ok"),
    # A Content-Length counted in characters, the rest of the UTF-8 body following it.
    (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n\xc4\x90\xc3\xa3 nh", b"\xe1\xba\xadn"),
    # An idle-timeout answer before the peer closes the connection (the FIN comes later).
    (OK, b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
])
async def test_bytes_arriving_on_an_idle_connection_retire_it(client: HttpClient, answer: bytes,
                                                               extra: bytes) -> None:
    async with LatePeer(answer, extra) as peer:
        first = await client.request("GET", peer.url + "/1", headers={}, body=None, timeout=5)
        peer.late.set()
        await peer.sent.wait()
        await until(lambda: all(c.closed for conns in client._idle.values() for c, _ in conns), "retired")
        second = await client.request("GET", peer.url + "/2", headers={}, body=None, timeout=5)
    assert first.status == second.status == int(answer[9:12])
    assert peer.requests == [(1, b"/1"), (2, b"/2")]  # the second request went out on a fresh connection


async def test_a_second_unrequested_answer_in_the_same_packet_is_not_read_as_the_next_answer(
        client: HttpClient) -> None:
    extra = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\n"  # and its body never comes
    async with RawPeer(lambda head, n: OK + extra if n == 1 else OK) as peer:
        url = f"http://127.0.0.1:{peer.port}/"
        first = await client.request("GET", url, headers={}, body=None, timeout=5)
        second = await client.request("GET", url, headers={}, body=None, timeout=5)
    assert (first.status, second.status, second.body, peer.connections) == (200, 200, b"ok", 2)


async def test_idle_connections_are_closed_once_too_old_to_be_reused(client: HttpClient) -> None:
    client.max_idle_seconds = 0.05
    async with RawPeer(lambda head, n: OK) as peer:
        url = f"http://127.0.0.1:{peer.port}/"
        await asyncio.gather(*(client.request("GET", url, headers={}, body=None, timeout=5) for _ in range(5)))
        idle = [conn for conns in client._idle.values() for conn, _ in conns]
        assert len(idle) == 5 and not any(conn.closed for conn in idle)
        await asyncio.wait_for(peer.all_closed(5), 5)  # the client closes them; this peer never would
    assert not client._idle and all(conn.closed for conn in idle)


def test_the_target_of_a_url() -> None:
    t = Target.parse("https://user:p%40ss@[::1]:8443/p?x=1")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == ("https", "::1", 8443, "/p?x=1", "[::1]:8443")
    assert t.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert Target.parse("http://Example.COM").host_header == "example.com"
    assert Target.parse("http://bücher.example/").host_header == "xn--bcher-kva.example"
