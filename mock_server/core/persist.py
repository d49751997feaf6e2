"""Durability: `--store sqlite:PATH` keeps messages, scheduled steps, owed callbacks and provider state across restarts.

What is written is incremental: a message row when the message changes (a request body over 4 KB, a big batch's, in
a row of its own that the rows of its messages name, written once and deleted with the last of them), a job row when
a step is scheduled or done,
a key/value row for each owed callback, unread report, journal entry, and each small state blob (balances, scenarios,
dedup, sessions, rules, the clock, the seeded generators) when it differs from what was last written. Rows are
collected on the event loop and written by one worker thread in one transaction per flush, so the loop never waits
on the disk; a provider request is answered only after the flush that holds its effects (the root middleware awaits
it), so a request that was answered survives a SIGKILL. The memory store uses `NullPersist`, which does nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .models import SUMMARY_BODY_LIMIT

if TYPE_CHECKING:
    from .lifecycle import Job
    from .models import Message

log = logging.getLogger(__name__)

_DELETE = object()

# A request body over SUMMARY_BODY_LIMIT bytes is written once, as a kv row under this prefix and its digest, and the
# rows of the messages that share it name that row: every message of a 5 000-phone eSMS send repeated its 65 KB body,
# 331 MB written for one send (4.5 s, and 3.7 s more for its delivery, each status change rewriting every row).
BODY_PREFIX = "body/"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, due REAL NOT NULL, kind TEXT NOT NULL, args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(Exception):
    """The --store cannot be opened or read back (the CLI exits 2, as for a bad config)."""


def _dumps(value: Any) -> str:
    # ASCII: a lone surrogate (a header byte that was not UTF-8) is written as an escape SQLite can store.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


class NullPersist:
    """The memory store: nothing is written, nothing is restored."""

    enabled = False
    errors = 0  # writes that failed: never, with nothing written

    def put_message(self, message: "Message") -> None:
        pass

    def delete_message(self, message_id: str) -> None:
        pass

    def put(self, key: str, value: Any) -> None:
        pass

    def delete(self, key: str) -> None:
        pass

    def job_added(self, job: "Job") -> None:
        pass

    def job_removed(self, job: "Job") -> None:
        pass

    def snapshot(self, key: str, fn: Callable[[], Any]) -> None:
        pass

    def wipe(self) -> None:
        pass

    def flush_soon(self) -> None:
        pass

    async def flush(self) -> None:
        pass

    def load(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        pass


class SqlitePersist:
    """Write-behind to one SQLite file (WAL), from a single worker thread."""

    enabled = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="mock-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._messages: dict[str, Message | None] = {}  # id -> message to write (None: delete)
        self._kv: dict[str, Any] = {}  # key -> value to write (_DELETE: delete)
        self._jobs_put: dict[int, Job] = {}
        self._jobs_del: set[int] = set()
        self._snapshots: dict[str, Callable[[], Any]] = {}  # key -> state function, written when it changes
        self._last: dict[str, str] = {}  # key -> the JSON last written for a snapshot
        self._wipe = False  # the next write starts by deleting everything (reset)
        self._bodies: dict[str, set[str]] = {}  # a shared body's row key -> the ids of the message rows naming it
        self._body_of: dict[str, str] = {}  # message id -> the body row its row names (big bodies only)
        # (body bytes, row key, row text) of the last big body written: a batch's messages come together
        self._last_body: tuple[Any, str, str] = (None, "", "")
        self._lock: asyncio.Lock | None = None
        self._soon: asyncio.Task[None] | None = None
        self.flushes = 0  # completed flushes, for health and tests
        self.errors = 0  # flushes that failed (logged)
        self.errors_in_a_row = 0  # the background flush stops retrying while writes fail
        self._executor.submit(self._open).result()

    # --- the worker thread ---------------------------------------------------------------------------------------

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # A damaged page anywhere, not only in the rows read back at start: writes to it would fail in the log while
        # requests were answered as if kept. Refused at start instead (exit 2, like a file that is no database).
        problem = conn.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            conn.close()
            raise sqlite3.DatabaseError(f"the file is damaged (PRAGMA quick_check: {problem})")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash (SIGKILL); WAL keeps it fast
        conn.executescript(SCHEMA)
        self._conn = conn

    def _write(self, messages: list[tuple[str, str | None]], kv: list[tuple[str, str | None]],
               jobs_put: list[tuple[int, float, str, str]], jobs_del: list[int], wipe: bool) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            if wipe:
                conn.execute("DELETE FROM messages")
                conn.execute("DELETE FROM jobs")
                conn.execute("DELETE FROM kv")
            conn.executemany("INSERT INTO messages(id, record) VALUES (?, ?) "
                             "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                             [m for m in messages if m[1] is not None])
            conn.executemany("DELETE FROM messages WHERE id = ?", [(m[0],) for m in messages if m[1] is None])
            conn.executemany("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", [e for e in kv if e[1] is not None])
            conn.executemany("DELETE FROM kv WHERE key = ?", [(e[0],) for e in kv if e[1] is None])
            conn.executemany("INSERT OR REPLACE INTO jobs(id, due, kind, args) VALUES (?, ?, ?, ?)", jobs_put)
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(j,) for j in jobs_del])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _read(self) -> dict[str, Any]:
        conn = self._conn
        assert conn is not None
        return {
            "messages": [json.loads(r[0]) for r in conn.execute("SELECT record FROM messages ORDER BY rowid")],
            "jobs": [(r[0], r[1], r[2], tuple(json.loads(r[3])))
                     for r in conn.execute("SELECT id, due, kind, args FROM jobs ORDER BY due, id")],
            "kv": {r[0]: json.loads(r[1]) for r in conn.execute("SELECT key, value FROM kv ORDER BY key")},
        }

    # --- the loop side -------------------------------------------------------------------------------------------

    def put_message(self, message: "Message") -> None:
        self._messages[message.id] = message

    def delete_message(self, message_id: str) -> None:
        self._messages[message_id] = None

    def put(self, key: str, value: Any) -> None:
        self._kv[key] = value

    def delete(self, key: str) -> None:
        self._kv[key] = _DELETE

    def job_added(self, job: "Job") -> None:
        self._jobs_put[job.seq] = job
        self._jobs_del.discard(job.seq)

    def job_removed(self, job: "Job") -> None:
        if self._jobs_put.pop(job.seq, None) is None:
            self._jobs_del.add(job.seq)

    def snapshot(self, key: str, fn: Callable[[], Any]) -> None:
        """Write `fn()` under `key` at each flush where it changed (small states: balances, scenarios, rules)."""
        self._snapshots[key] = fn

    def wipe(self) -> None:
        """Forget everything written and pending (reset); the snapshots are written again at the next flush."""
        self._messages, self._kv, self._jobs_put, self._jobs_del = {}, {}, {}, set()
        self._last.clear()
        self._bodies, self._body_of = {}, {}
        self._wipe = True

    def flush_soon(self) -> None:
        """Write what is pending, in the background; a running background flush goes on until nothing is."""
        if self._soon is None or self._soon.done():
            self._soon = asyncio.get_running_loop().create_task(self._flush_until_clean())

    def _pending(self) -> bool:
        return bool(self._messages or self._kv or self._jobs_put or self._jobs_del or self._wipe)

    async def _flush_until_clean(self) -> None:
        await self.flush()
        while self._pending() and self.errors_in_a_row == 0:
            await self.flush()

    async def flush(self) -> None:
        """Write everything changed so far; returns once it is committed."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            taken = self._take()
            if taken is None:
                return
            batch, undo = taken
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._write, *batch)
            except (sqlite3.Error, OSError) as exc:
                # A full disk or a locked file must not turn every answer into a 500: the mock goes on in memory and
                # keeps what it could not write, for the next flush.
                self.errors += 1
                self.errors_in_a_row += 1
                log.error("could not write to %s: %s", self.path, exc)
                undo()
                return
            self.errors_in_a_row = 0
            self.flushes += 1

    def _take(self) -> tuple[tuple[Any, ...], Callable[[], None]] | None:
        """What to write now, serialised, and how to put it back if the write fails."""
        kv: list[tuple[str, str | None]] = []
        written: dict[str, str | None] = {}  # snapshot key -> the text it had before, to undo
        for key, fn in self._snapshots.items():
            text = _dumps(fn())
            if self._last.get(key) != text:
                written[key] = self._last.get(key)
                self._last[key] = text
                kv.append((key, text))
        if not (self._pending() or kv):
            return None
        new_bodies: list[str] = []  # body rows first written by this batch (forgotten again if it fails)
        messages = [(mid, None if m is None else self._message_row(m, kv, new_bodies))
                    for mid, m in self._messages.items()]
        for mid, m in self._messages.items():
            if m is None:
                self._unshare(mid)
        # A callable value is evaluated now, at flush time (a journal entry completed after it was put).
        kv += [(k, None if v is _DELETE else _dumps(v() if callable(v) else v)) for k, v in self._kv.items()]
        jobs_put = [(j.seq, j.due, j.kind, _dumps(list(j.args))) for j in self._jobs_put.values()]
        jobs_del = list(self._jobs_del)
        old = (self._messages, self._kv, self._jobs_put, self._jobs_del, self._wipe)
        self._messages, self._kv, self._jobs_put, self._jobs_del = {}, {}, {}, set()
        self._wipe = False

        def undo() -> None:
            for key in new_bodies:  # not on disk: written again, with the rows naming it, when they are
                self._bodies.pop(key, None)
            if self._wipe:
                # A reset since this batch was taken: it deletes everything the batch held and writes its snapshots
                # anew (wipe() cleared _last). Put back, the batch was written again after the wipe's DELETEs, and
                # what the reset had wiped (owed callbacks, messages, jobs) came back at the next start.
                return
            # What changed since wins over what is put back.
            messages, kv_, jobs_put, jobs_del, wipe = old
            self._messages = {**messages, **self._messages}
            self._kv = {**kv_, **self._kv}
            for seq, job in jobs_put.items():
                if seq not in self._jobs_del:
                    self._jobs_put.setdefault(seq, job)
            self._jobs_del |= {seq for seq in jobs_del if seq not in self._jobs_put}
            self._wipe = self._wipe or wipe
            for key, before in written.items():
                if before is None:
                    self._last.pop(key, None)
                else:
                    self._last[key] = before

        return (messages, kv, jobs_put, jobs_del, old[4]), undo

    def _message_row(self, message: "Message", kv: list[tuple[str, str | None]], new_bodies: list[str]) -> str:
        """A message's row; a big body is written once in a row of its own that the message rows name."""
        raw = message.raw_request
        if not (isinstance(raw, bytes) and len(raw) > SUMMARY_BODY_LIMIT):
            return _dumps(message.to_record())
        # The row it names already, if any: a restored message's bytes are the body as stored, another digest.
        key = self._body_of.get(message.id)
        if self._last_body[0] is not raw:
            # The digest of the body as written (its callback URL's password masked), not as received: a digest of
            # the password-bearing bytes on disk would let a guess at the password be checked offline.
            text = _dumps(message.shown_body())
            self._last_body = (raw, BODY_PREFIX + hashlib.sha256(text.encode("ascii")).hexdigest(), text)
        _, digest_key, text = self._last_body
        key = key or digest_key
        sharing = self._bodies.get(key)
        if sharing is None:
            sharing = self._bodies[key] = set()
            kv.append((key, text if key == digest_key else _dumps(message.shown_body())))
            new_bodies.append(key)
            self._kv.pop(key, None)  # a delete of the same body's orphaned row (load) would come after this write
        sharing.add(message.id)
        self._body_of[message.id] = key
        record = message.to_record(with_body=False)
        record["raw_request_ref"] = key
        return _dumps(record)

    def _unshare(self, message_id: str) -> None:
        """A message row is deleted: the body row it named goes with the last row naming it."""
        key = self._body_of.pop(message_id, None)
        sharing = self._bodies.get(key) if key is not None else None
        if sharing is not None:
            sharing.discard(message_id)
            if not sharing:
                del self._bodies[key]
                self._kv[key] = _DELETE  # with the batch's kv: a failed write puts it back for the retry

    def load(self) -> dict[str, Any]:
        """Everything stored, read at start-up (before the server answers anything). A message row that names a
        shared body row gets that body back, as one bytes object for all of them (as when they were sent)."""
        data = self._executor.submit(self._read).result()
        bodies = {k: v for k, v in data["kv"].items() if k.startswith(BODY_PREFIX)}
        data["kv"] = {k: v for k, v in data["kv"].items() if not k.startswith(BODY_PREFIX)}
        shared = {key: _dumps(body).encode("ascii") for key, body in bodies.items()}
        inline: dict[str, bytes] = {}  # big bodies written inside message rows (files from before body rows)
        for record in data["messages"]:
            key = record.pop("raw_request_ref", None)
            body = record.get("raw_request")
            if key is None and isinstance(body, (dict, list)):
                # One bytes object per distinct big body, as when sent: summaries leave it out, and the next write
                # of these rows puts it in a body row of its own.
                text = _dumps(body)
                if len(text) > SUMMARY_BODY_LIMIT:
                    record["raw_request"] = inline.setdefault(text, text.encode("ascii"))
            if key is not None:
                record["raw_request"] = shared.get(key)
                self._bodies.setdefault(key, set()).add(record["id"])
                self._body_of[record["id"]] = key
        for key in bodies.keys() - self._bodies.keys():
            self._kv[key] = _DELETE  # named by no message row any more
        for key, value in data["kv"].items():
            if key in self._snapshots or "/state" in key:
                self._last[key] = _dumps(value)
        return data

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)


def make_persist(store: str) -> NullPersist | SqlitePersist:
    """`memory` or `sqlite:PATH` (product.md §2)."""
    if store == "memory":
        return NullPersist()
    if store.startswith("sqlite:") and store[7:]:
        return SqlitePersist(store[7:])
    raise ValueError(f"store must be 'memory' or 'sqlite:PATH', not {store!r}")
