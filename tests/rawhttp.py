"""Raw HTTP/1.1 over a socket, for requests no HTTP client would send as written (absolute-form targets, injected
header bytes): the tests that need exact bytes on the wire share this one reader."""

from __future__ import annotations

import asyncio
from typing import Any


async def raw_request(client: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (no client normalising paths or refusing headers); the status, headers (names in
    lower case), body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body
