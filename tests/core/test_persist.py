"""The durable store's write-behind on its own: nothing put during a running flush is left behind, and a failed
write is kept for the next one."""

from __future__ import annotations

import asyncio
import json
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


def big_batch(body: bytes, count: int, start: int = 0) -> list:
    from mock_server.core.models import Message

    return [Message(id=f"m_{start + i}", provider="esms", provider_id="S1", account="k", phone="0900000000",
                    phone_intl="84900000000", channel="viber", content={"text": "x"}, created_at=0.0,
                    batch_id="S1", raw_request=body) for i in range(count)]


BIG = json.dumps({"SecretKey": "***", "Phones": [f"09{i:08d}" for i in range(600)]}).encode()  # over 4 KB


async def test_a_shared_body_row_of_a_failed_write_is_written_with_its_retry(tmp_path: Path):
    persist = SqlitePersist(tmp_path / "db")
    write = persist._write
    calls = []

    def failing_once(*batch):
        calls.append(batch)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return write(*batch)

    persist._write = failing_once
    for message in big_batch(BIG, 3):
        persist.put_message(message)
    await persist.flush()  # fails: neither the rows nor the body row are on disk
    await persist.flush()
    assert len(calls) == 2 and [k for k in rows(tmp_path / "db") if k.startswith("body/")] != []
    persist.close()
    again = SqlitePersist(tmp_path / "db")
    loaded = again.load()["messages"]
    assert len(loaded) == 3 and all(json.loads(m["raw_request"]) == json.loads(BIG) for m in loaded)
    assert len({id(m["raw_request"]) for m in loaded}) == 1  # one bytes object, shared, as when sent
    again.close()


async def test_an_orphaned_body_row_is_dropped_at_start_unless_a_new_row_names_it(tmp_path: Path):
    persist = SqlitePersist(tmp_path / "db")
    for message in big_batch(BIG, 2):
        persist.put_message(message)
    await persist.flush()
    persist.close()
    conn = sqlite3.connect(tmp_path / "db")
    conn.execute("DELETE FROM messages")  # rows gone behind the store's back: the body row names no message
    conn.commit()
    conn.close()
    again = SqlitePersist(tmp_path / "db")
    assert again.load()["messages"] == []
    for message in big_batch(BIG, 1, start=10):  # the same body again, in the first write after the start
        again.put_message(message)
    await again.flush()
    again.close()
    third = SqlitePersist(tmp_path / "db")
    (loaded,) = third.load()["messages"]
    assert json.loads(loaded["raw_request"]) == json.loads(BIG)
    third.close()


async def test_a_failed_write_of_the_last_delete_naming_a_body_row_deletes_it_with_its_retry(tmp_path: Path):
    persist = SqlitePersist(tmp_path / "db")
    messages = big_batch(BIG, 2)
    for message in messages:
        persist.put_message(message)
    await persist.flush()
    write = persist._write
    calls = []

    def failing_once(*batch):
        calls.append(batch)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return write(*batch)

    persist._write = failing_once
    for message in messages:
        persist.delete_message(message.id)
    await persist.flush()  # fails: the rows and the body row are still on disk
    await persist.flush()
    assert len(calls) == 2 and rows(tmp_path / "db") == {}
    persist.close()


async def test_a_body_row_is_keyed_by_the_digest_of_what_it_stores_not_of_the_password_bearing_body(tmp_path: Path):
    # The row stores the body as shown (a callback URL's password masked); keyed by a digest of the body as received,
    # the file would let a guess at the password be checked offline against the key.
    import hashlib

    body = json.dumps({"CallbackUrl": "http://user:s3cret@127.0.0.1:9/cb",
                       "Phones": [f"09{i:08d}" for i in range(600)]}).encode()
    persist = SqlitePersist(tmp_path / "db")
    for message in big_batch(body, 2):
        persist.put_message(message)
    await persist.flush()
    persist.close()
    ((key, value),) = [(k, v) for k, v in rows(tmp_path / "db").items() if k.startswith("body/")]
    assert "s3cret" not in value and "user:***@127.0.0.1:9" in value
    assert key == "body/" + hashlib.sha256(value.encode("ascii")).hexdigest()
    assert key != "body/" + hashlib.sha256(body).hexdigest()


async def test_big_bodies_written_inside_message_rows_come_back_shared_and_move_to_a_body_row(tmp_path: Path):
    # Files written before body rows keep each message's body inline: read back as one parsed copy per message, the
    # summaries carried them and every later write repeated them. They come back as one bytes object per body.
    from mock_server.core.models import Message

    persist = SqlitePersist(tmp_path / "db")
    persist.close()
    body = json.loads(BIG)
    conn = sqlite3.connect(tmp_path / "db")
    for message in big_batch(BIG, 2):
        record = message.to_record()
        record["raw_request"] = body  # the old row: the body inline, parsed
        conn.execute("INSERT INTO messages(id, record) VALUES (?, ?)", (message.id, json.dumps(record)))
    conn.commit()
    conn.close()
    again = SqlitePersist(tmp_path / "db")
    loaded = again.load()["messages"]
    assert len({id(m["raw_request"]) for m in loaded}) == 1 and json.loads(loaded[0]["raw_request"]) == body
    messages = [Message.from_record(m) for m in loaded]
    assert "raw_request" not in messages[0].to_json(summary=True)
    for message in messages:
        again.put_message(message)  # their next change
    await again.flush()
    again.close()
    assert len([k for k in rows(tmp_path / "db") if k.startswith("body/")]) == 1
    conn = sqlite3.connect(tmp_path / "db")
    assert all("raw_request_ref" in json.loads(r[0]) for r in conn.execute("SELECT record FROM messages"))
    conn.close()
