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

    async def __aenter__(self) -> "RawPeer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

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


def test_the_target_of_a_url() -> None:
    t = Target.parse("https://user:p%40ss@[::1]:8443/p?x=1")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == ("https", "::1", 8443, "/p?x=1", "[::1]:8443")
    assert t.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert Target.parse("http://Example.COM").host_header == "example.com"
    assert Target.parse("http://bücher.example/").host_header == "xn--bcher-kva.example"
