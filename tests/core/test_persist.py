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
