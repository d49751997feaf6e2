"""The durable store's write-behind on its own: nothing put during a running flush is left behind, and a failed
write is kept for the next one."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from mock_server.core.persist import SqlitePersist


def rows(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM kv"))
    finally:
        conn.close()


async def test_what_is_put_while_a_background_flush_writes_is_written_too(tmp_path: Path):
    persist = SqlitePersist(tmp_path / "db")
    started, release = asyncio.Event(), asyncio.Event()
    write = persist._write

    def slow_write(*batch):
        asyncio.run_coroutine_threadsafe(_set(started), loop).result()
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        return write(*batch)

    async def _set(event: asyncio.Event) -> None:
        event.set()

    loop = asyncio.get_running_loop()
    persist._write = slow_write
    persist.put("a", 1)
    persist.flush_soon()
    await started.wait()
    persist.put("b", 2)  # while the first batch is being written
    persist.flush_soon()
    release.set()
    await persist._soon
    assert rows(tmp_path / "db") == {"a": "1", "b": "2"}
    persist.close()


async def test_a_failed_write_is_kept_for_the_next_flush(tmp_path: Path):
    persist = SqlitePersist(tmp_path / "db")
    state = {"balance": 1}
    persist.snapshot("esms/state", lambda: state)
    write = persist._write
    calls = []

    def failing_once(*batch):
        calls.append(batch)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return write(*batch)

    persist._write = failing_once
    persist.put("callback/s_1", {"attempt": 1})
    await persist.flush()
    assert persist.errors == 1 and rows(tmp_path / "db") == {}
    persist.put("other", 3)
    await persist.flush()
    assert rows(tmp_path / "db") == {"callback/s_1": '{"attempt":1}', "esms/state": '{"balance":1}', "other": "3"}
    persist.close()


async def test_a_failed_write_does_not_bring_back_what_a_reset_wiped_meanwhile(tmp_path: Path):
    # A reset (POST /_mock/reset) while a write is out, and that write fails (a full disk): the batch was put back
    # over the wipe, so the next write deleted everything and wrote the old rows again (an owed callback of before
    # the reset came back at the next start, and was sent).
    persist = SqlitePersist(tmp_path / "db")
    loop = asyncio.get_running_loop()
    started, release = asyncio.Event(), asyncio.Event()
    write = persist._write
    calls = []

    async def _set(event: asyncio.Event) -> None:
        event.set()

    def failing_first(*batch):
        calls.append(batch)
        if len(calls) == 1:
            asyncio.run_coroutine_threadsafe(_set(started), loop).result()
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
            raise sqlite3.OperationalError("database or disk is full")
        return write(*batch)

    persist._write = failing_first
    persist.put("callback/s_1", {"attempt": 1})
    first = asyncio.get_running_loop().create_task(persist.flush())
    await started.wait()
    persist.wipe()  # the reset, while that write is out
    persist.put("journal/000000000001", {"id": "req_1"})
    release.set()
    await first
    assert persist.errors == 1
    await persist.flush()
    assert rows(tmp_path / "db") == {"journal/000000000001": '{"id":"req_1"}'}
    persist.close()
