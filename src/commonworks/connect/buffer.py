"""The gateway's store-and-forward queue: every sample waits in a SQLite file until the platform acks it.

A network outage must lose nothing, and neither may a crash of the gateway process: a
sample handed to :meth:`SampleBuffer.append` is durable once the call returns (WAL with
``synchronous=NORMAL`` — the commit is in the WAL file, which survives a killed process;
only a power cut can lose the last few transactions, which we accept for the write speed).

Rows are compact so that a day-long outage fits on a factory PC's disk: the tag is an
integer from a small tag dictionary, the value is stored with SQLite's dynamic typing
(INTEGER, REAL, TEXT as they come; NULL for stale markers; booleans as a one-byte BLOB,
because SQLite would otherwise turn them into 0/1 indistinguishable from integers).

The queue is bounded by ``max_samples``: when it is full the *oldest* samples are dropped
(recent data is worth more to a live dashboard than a backlog nobody will see), counted
in a persisted counter and logged once per drop episode — never silently.

Batch ids name the row range they cover (``<gateway>:<buffer epoch>:<first id>-<last id>``)
so a resend of the same rows after a crash carries the same id, a batch with different
rows never reuses an id, and :meth:`SampleBuffer.ack` needs no in-memory bookkeeping.
Row ids come from AUTOINCREMENT so they are never reused after the queue runs empty, and
the random epoch (made when the file is created) keeps ids unique if the file is deleted.

Not thread-safe by design beyond a simple lock: the runner calls it from one worker thread.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from commonworks.connect.samples import Sample, Value

log = logging.getLogger("commonworks.connect.buffer")

_TRUE = b"\x01"
_FALSE = b"\x00"
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY AUTOINCREMENT, tag INTEGER NOT NULL,
                                    ts INTEGER NOT NULL, value);
"""


class Batch(NamedTuple):
    """The oldest queued samples, in the order they were appended, under a stable id."""

    batch_id: str
    samples: list[Sample]


class BufferFileError(Exception):
    """The buffer file cannot be used (wrong format, unreadable, or a batch id from elsewhere)."""


def batch_range(batch_id: str) -> tuple[int, int]:
    """The (first, last) row ids a batch id covers."""
    try:
        first, last = batch_id.rsplit(":", 1)[1].split("-")
        return int(first), int(last)
    except (IndexError, ValueError) as exc:
        raise BufferFileError(f"not a batch id of this buffer: {batch_id!r}") from exc


def _storable(value: Any) -> Any:
    """Slow path for values the fast path cannot bind (numpy scalars, integers beyond 64 bits…)."""
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        # SQLite integers are 64-bit; a larger counter keeps its magnitude as a float.
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalar → the Python value it stands for
        return _storable(item())
    log.warning("value of type %s is not a number, boolean or string; stored as its text", type(value).__name__)
    return str(value)


class SampleBuffer:
    """An on-disk FIFO of samples, bounded by ``max_samples`` (oldest dropped first, counted)."""

    def __init__(self, path: str | Path, *, gateway_key: str, max_samples: int = 5_000_000) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.path = Path(path)
        self.gateway_key = gateway_key
        self.max_samples = max_samples
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so one append is one transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._epoch = self._meta("epoch")
            if self._epoch is None:
                self._epoch = secrets.token_hex(4)
                self._set_meta("epoch", self._epoch)
            self._dropped = int(self._meta("dropped") or 0)
            self._tag_ids: dict[str, int] = {}
            self._tag_keys: dict[int, str] = {}
            for tag_id, key in self._db.execute("SELECT id, key FROM tags"):
                self._tag_ids[key] = tag_id
                self._tag_keys[tag_id] = key
            self._size: int = self._db.execute("SELECT count(*) FROM samples").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise BufferFileError(f"{self.path}: not a usable gateway buffer ({exc})") from exc
        self._prefix = f"{gateway_key}:{self._epoch}:"
        self._episode_dropped = 0  # > 0 while a drop episode is going on
        self._new_tags: list[str] = []  # tags given an id by the append in progress

    # -- the queue ---------------------------------------------------------------------------

    def append(self, samples: Sequence[Sample]) -> None:
        """Store samples at the end of the queue in one transaction (durable when this returns)."""
        if not samples:
            return
        with self._lock:
            try:
                rows = self._fast_rows(samples)
            except KeyError:
                self._register(samples)
                rows = self._fast_rows(samples)
            try:
                try:
                    dropped_now = self._write(rows)
                except (OverflowError, sqlite3.ProgrammingError):
                    # A value SQLite cannot bind as is (numpy scalar, huge integer): convert row by row.
                    dropped_now = self._write([(self._tag_ids[s.tag], s.ts, _storable(s.value)) for s in samples])
            except BaseException:
                for key in self._new_tags:  # their rows were rolled back with the transaction
                    self._tag_keys.pop(self._tag_ids.pop(key), None)
                self._new_tags = []
                raise
            self._log_drops(dropped_now)

    def peek_batch(self, max_samples: int, *, after: str | None = None) -> Batch | None:
        """The oldest queued samples (up to ``max_samples``), or those after batch ``after``; None if none."""
        start = batch_range(after)[1] if after else 0
        with self._lock:
            rows = self._db.execute("SELECT id, tag, ts, value FROM samples WHERE id > ? ORDER BY id LIMIT ?",
                                    (start, max_samples)).fetchall()
        if not rows:
            return None
        keys = self._tag_keys
        samples = [Sample(keys[tag], ts, (value == _TRUE) if value.__class__ is bytes else value)
                   for _, tag, ts, value in rows]
        return Batch(f"{self._prefix}{rows[0][0]:012d}-{rows[-1][0]:012d}", samples)

    def ack(self, batch_id: str) -> int:
        """Delete the rows of an acknowledged batch; returns how many were still queued."""
        if not batch_id.startswith(self._prefix):
            raise BufferFileError(f"batch {batch_id!r} is not from this buffer ({self._prefix}…)")
        first, last = batch_range(batch_id)
        with self._lock:
            deleted = int(self._db.execute("DELETE FROM samples WHERE id BETWEEN ? AND ?", (first, last)).rowcount)
            self._size -= deleted
        return deleted

    def size(self) -> int:
        """Samples waiting for an ack."""
        return self._size

    def dropped(self) -> int:
        """Samples dropped because the buffer was full, since the file was created."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            if self._episode_dropped:
                self._end_episode()
            try:
                # Fold the WAL back into the main file so a stopped gateway leaves one tidy file.
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()

    def __enter__(self) -> SampleBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _register(self, samples: Sequence[Sample]) -> None:
        """Give tags seen for the first time an id; they are written with the append's transaction."""
        ids = self._tag_ids
        for key in dict.fromkeys(s.tag for s in samples):
            if key not in ids:
                tag_id = len(ids) + 1  # tags are never deleted, so ids stay dense
                ids[key] = tag_id
                self._tag_keys[tag_id] = key
                self._new_tags.append(key)

    def _fast_rows(self, samples: Sequence[Sample]) -> list[tuple[int, int, Any]]:
        ids = self._tag_ids
        # The hot path: one comprehension, no function call per row.
        return [(ids[s.tag], s.ts, ((_TRUE if s.value else _FALSE) if s.value.__class__ is bool else s.value))
                for s in samples]

    def _write(self, rows: list[tuple[int, int, Any]]) -> int:
        """One transaction: new tags, room made by dropping the oldest rows, the rows. Returns rows dropped."""
        overflow = 0
        if len(rows) > self.max_samples:
            # One append larger than the whole buffer: its own oldest part is dropped too.
            overflow = len(rows) - self.max_samples
            rows = rows[overflow:]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._new_tags:
                self._db.executemany("INSERT INTO tags (id, key) VALUES (?, ?)",
                                     [(self._tag_ids[key], key) for key in self._new_tags])
            excess = self._size + len(rows) - self.max_samples
            removed = self._drop_oldest(excess) if excess > 0 else 0
            self._db.executemany("INSERT INTO samples (tag, ts, value) VALUES (?, ?, ?)", rows)
            if removed + overflow:
                self._set_meta("dropped", self._dropped + removed + overflow)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._new_tags = []
        self._size += len(rows) - removed
        self._dropped += removed + overflow
        return removed + overflow

    def _drop_oldest(self, count: int) -> int:
        cut = self._db.execute("SELECT id FROM samples ORDER BY id LIMIT 1 OFFSET ?", (count,)).fetchone()
        if cut is None:
            return self._db.execute("DELETE FROM samples").rowcount
        return self._db.execute("DELETE FROM samples WHERE id < ?", (cut[0],)).rowcount

    def _log_drops(self, dropped_now: int) -> None:
        if dropped_now:
            if not self._episode_dropped:
                log.warning("buffer %s is full (%d samples): dropping the oldest samples until the platform "
                            "catches up (%d dropped now)", self.path, self.max_samples, dropped_now)
            self._episode_dropped += dropped_now
        elif self._episode_dropped:
            self._end_episode()

    def _end_episode(self) -> None:
        log.warning("buffer %s: %d oldest samples were dropped while it was full (%d since it was created)",
                    self.path, self._episode_dropped, self._dropped)
        self._episode_dropped = 0

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: Value) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
