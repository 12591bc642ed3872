"""The gateway's store-and-forward queue: every sample waits in a SQLite file until the platform acks it.

A network outage must lose nothing, and neither may a crash of the gateway process: samples
handed to :meth:`SampleBuffer.append` are durable once the call returns (WAL with
``synchronous=NORMAL`` — the commit is in the WAL file, which survives a killed process;
only a power cut can lose the last few transactions, which we accept for the write speed).

The queue holds *blocks*, one row per append: the samples of an append as three packed
columns (tag ids as int32, timestamps as int64, values as float64 when they are all floats,
else a JSON list, which keeps ints, booleans, strings and stale markers (``null``) apart).
One row per sample would cost a SQLite row and a Python tuple per value on the way in and
again on the way out; a block costs one row per few thousand samples, so the disk stage
keeps up with hundreds of thousands of samples a second. Tags are integers from a small tag
dictionary, so a day-long outage still fits on a factory PC's disk.

Every sample has a sequence number (never reused, also across restarts: the next one is
persisted). A block covers the numbers ``seq … seq + n - 1``, and a batch id names the range
it covers (``<gateway>:<buffer epoch>:<first>-<last>``), so a resend of the same samples after
a crash carries the same id, a batch with different samples never reuses an id, and
:meth:`SampleBuffer.ack` needs no in-memory bookkeeping. A batch is made of whole blocks
(only a block larger than a whole batch is split on disk first, and its head sent alone).
The random epoch (made when the file is created) keeps ids unique if the file is deleted.

The queue is bounded by ``max_samples``: when it is full the *oldest* samples are dropped
(recent data is worth more to a live dashboard than a backlog nobody will see), counted in
a persisted counter and logged once per drop episode — never silently.

Not thread-safe by design beyond a simple lock: the runner calls it from one worker thread.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from commonworks.connect.samples import Block, Sample, Value

log = logging.getLogger("commonworks.connect.buffer")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FLOATS = 0  # block values: packed float64
_JSON = 1  # block values: a JSON list (ints, booleans, strings, nulls as they came)
_OLD_TRUE = b"\x01"  # booleans in the per-sample format of earlier releases

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS blocks (seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, tags BLOB NOT NULL,
                                   ts BLOB NOT NULL, kind INTEGER NOT NULL, vals BLOB NOT NULL);
"""

_Row = tuple[int, int, bytes, bytes, int, bytes]  # seq, n, tags, ts, kind, vals


class Batch(NamedTuple):
    """The oldest queued samples, in the order they were appended, under a stable id."""

    batch_id: str
    samples: list[Sample]


class ColumnBatch(NamedTuple):
    """A batch as columns: ``keys[tags[i]]`` is the tag of sample i (what the transport encodes)."""

    batch_id: str
    keys: Sequence[str]
    tags: np.ndarray  # int32 tag ids
    ts: np.ndarray  # int64 epoch ms
    values: np.ndarray | list[Any]  # float64 when every value is a float, else the values (None = stale marker)

    def __len__(self) -> int:
        return len(self.tags)

    def samples(self) -> list[Sample]:
        keys = self.keys
        values = self.values.tolist() if isinstance(self.values, np.ndarray) else self.values
        return [Sample(keys[t], ts, v) for t, ts, v in zip(self.tags.tolist(), self.ts.tolist(), values, strict=True)]


class BufferFileError(Exception):
    """The buffer file cannot be used (wrong format, unreadable, or a batch id from elsewhere)."""


def batch_range(batch_id: str) -> tuple[int, int]:
    """The (first, last) sample numbers a batch id covers."""
    try:
        first, last = batch_id.rsplit(":", 1)[1].split("-")
        return int(first), int(last)
    except (IndexError, ValueError) as exc:
        raise BufferFileError(f"not a batch id of this buffer: {batch_id!r}") from exc


def _storable(value: Any) -> Any:
    """Slow path for values JSON cannot take as they are (numpy scalars, integers beyond 64 bits…)."""
    if value is None or isinstance(value, str | float | bool):
        return value
    if isinstance(value, int):
        # A counter beyond 64 bits keeps its magnitude as a float.
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalar → the Python value it stands for
        return _storable(item())
    log.warning("value of type %s is not a number, boolean or string; stored as its text", type(value).__name__)
    return str(value)


def _pack_values(values: Sequence[Any]) -> tuple[int, bytes]:
    if set(map(type, values)) == {float}:
        return _FLOATS, array("d", values).tobytes()
    try:
        return _JSON, orjson.dumps(
            values if isinstance(values, list) else list(values), option=orjson.OPT_SERIALIZE_NUMPY
        )
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, an object it does not know
        return _JSON, orjson.dumps([_storable(v) for v in values], option=orjson.OPT_SERIALIZE_NUMPY)


def _slice_row(row: _Row, start: int, stop: int) -> _Row:
    """Samples ``start:stop`` of a block, as a block row of their own."""
    seq, _, tags, ts, kind, vals = row
    part = vals[start * 8 : stop * 8] if kind == _FLOATS else orjson.dumps(orjson.loads(vals)[start:stop])
    return seq + start, stop - start, tags[start * 4 : stop * 4], ts[start * 8 : stop * 8], kind, part


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
            self._keys: list[str] = [""]  # tag id → key; ids start at 1
            for tag_id, key in self._db.execute("SELECT id, key FROM tags ORDER BY id"):
                if tag_id != len(self._keys):
                    raise sqlite3.DatabaseError(f"tag ids are not dense (id {tag_id} after {len(self._keys) - 1})")
                self._tag_ids[key] = tag_id
                self._keys.append(key)
            self._persisted_tags = len(self._keys)
            self._next_seq = int(self._meta("next_seq") or 1)
            self._migrate_sample_rows()
            self._size = int(self._db.execute("SELECT coalesce(sum(n), 0) FROM blocks").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise BufferFileError(f"{self.path}: not a usable gateway buffer ({exc})") from exc
        self._prefix = f"{gateway_key}:{self._epoch}:"
        self._episode_dropped = 0  # > 0 while a drop episode is going on

    # -- the queue ---------------------------------------------------------------------------

    def append(self, samples: Sequence[Sample] | Block) -> None:
        """Store samples at the end of the queue in one transaction (durable when this returns)."""
        if isinstance(samples, Block):
            self.append_columns(samples.tags, samples.ts, samples.values)
        elif samples:
            self.append_columns([s.tag for s in samples], [s.ts for s in samples], [s.value for s in samples])

    def append_columns(self, tags: Sequence[str], ts: Sequence[int], values: Sequence[Value | None]) -> None:
        """Store samples given as columns (``tags[i]`` at ``ts[i]`` is ``values[i]``) as one block."""
        n = len(tags)
        if not n:
            return
        if not n == len(ts) == len(values):
            raise ValueError("append_columns needs as many timestamps and values as tags")
        with self._lock:
            try:
                tag_ids = list(map(self._tag_ids.__getitem__, tags))
            except KeyError:
                tag_ids = [self._tag_id(key) for key in tags]
            try:
                ts_blob = array("q", ts).tobytes()
            except TypeError:  # a timestamp that is not an int (numpy scalar, float)
                ts_blob = array("q", [int(t) for t in ts]).tobytes()
            kind, vals = _pack_values(values)
            row: _Row = (0, n, array("i", tag_ids).tobytes(), ts_blob, kind, vals)
            dropped_now = self._write(row)
            self._log_drops(dropped_now)

    def peek_columns(self, max_samples: int, *, after: str | None = None) -> ColumnBatch | None:
        """The oldest queued samples (up to ``max_samples``), or those after batch ``after``, as columns."""
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        start = batch_range(after)[1] + 1 if after else 0
        with self._lock:
            rows: list[_Row] = []
            total = 0
            split: tuple[_Row, int] | None = None
            cursor = self._db.execute(
                "SELECT seq, n, tags, ts, kind, vals FROM blocks WHERE seq >= ? ORDER BY seq", (start,)
            )
            try:
                for row in cursor:
                    room = max_samples - total
                    if row[1] > room:
                        if not rows:  # a block larger than a whole batch: its head is the batch
                            split = (row, room)
                        break
                    rows.append(row)
                    total += row[1]
                    if total == max_samples:
                        break
            finally:
                cursor.close()
            if split is not None:
                head = self._split(*split)
                rows.append(head)
            if not rows:
                return None
            keys = self._keys
        first = rows[0][0]
        last = rows[-1][0] + rows[-1][1] - 1
        tags = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.int32)
        ts = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.int64)
        values: np.ndarray | list[Any]
        if all(r[4] == _FLOATS for r in rows):
            values = np.frombuffer(b"".join(r[5] for r in rows), dtype=np.float64)
        else:
            values = []
            for r in rows:
                values += np.frombuffer(r[5], dtype=np.float64).tolist() if r[4] == _FLOATS else orjson.loads(r[5])
        return ColumnBatch(f"{self._prefix}{first:012d}-{last:012d}", keys, tags, ts, values)

    def peek_batch(self, max_samples: int, *, after: str | None = None) -> Batch | None:
        """Like :meth:`peek_columns`, as :class:`Sample` objects (tests, tools; the runner uses columns)."""
        columns = self.peek_columns(max_samples, after=after)
        return None if columns is None else Batch(columns.batch_id, columns.samples())

    def ack(self, batch_id: str) -> int:
        """Delete the samples of an acknowledged batch; returns how many were still queued."""
        if not batch_id.startswith(self._prefix):
            raise BufferFileError(f"batch {batch_id!r} is not from this buffer ({self._prefix}…)")
        first, last = batch_range(batch_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                deleted = int(
                    self._db.execute(
                        "SELECT coalesce(sum(n), 0) FROM blocks WHERE seq BETWEEN ? AND ?", (first, last)
                    ).fetchone()[0]
                )
                self._db.execute("DELETE FROM blocks WHERE seq BETWEEN ? AND ?", (first, last))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
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

    def _tag_id(self, key: str) -> int:
        """The id of a tag, given one when seen for the first time (written with the next append)."""
        tag_id = self._tag_ids.get(key)
        if tag_id is None:
            if not isinstance(key, str):
                raise TypeError(f"a tag key is a string, not {type(key).__name__}")
            tag_id = self._tag_ids[key] = len(self._keys)  # tags are never deleted, so ids stay dense
            self._keys.append(key)
        return tag_id

    def _write(self, row: _Row) -> int:
        """One transaction: new tags, room made by dropping the oldest samples, the block. Returns samples dropped."""
        n = row[1]
        overflow = 0
        if n > self.max_samples:
            # One append larger than the whole buffer: its own oldest part is dropped too.
            overflow = n - self.max_samples
            row = _slice_row(row, overflow, n)
            n = row[1]
        seq = self._next_seq
        new_tags = len(self._keys)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if new_tags > self._persisted_tags:
                self._db.executemany(
                    "INSERT INTO tags (id, key) VALUES (?, ?)",
                    [(i, self._keys[i]) for i in range(self._persisted_tags, new_tags)],
                )
            excess = self._size + n - self.max_samples
            removed = self._drop_oldest(excess) if excess > 0 else 0
            self._db.execute(
                "INSERT INTO blocks (seq, n, tags, ts, kind, vals) VALUES (?, ?, ?, ?, ?, ?)", (seq, n, *row[2:])
            )
            self._set_meta("next_seq", seq + n)
            if removed + overflow:
                self._set_meta("dropped", self._dropped + removed + overflow)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._persisted_tags = new_tags
        self._next_seq = seq + n
        self._size += n - removed
        self._dropped += removed + overflow
        return removed + overflow

    def _drop_oldest(self, count: int) -> int:
        """Delete the oldest ``count`` samples (inside the caller's transaction); the last block may be cut."""
        removed = 0
        while removed < count:
            oldest = self._db.execute("SELECT seq, n FROM blocks ORDER BY seq LIMIT 1").fetchone()
            if oldest is None:
                break
            seq, n = oldest
            if removed + n <= count:
                self._db.execute("DELETE FROM blocks WHERE seq = ?", (seq,))
                removed += n
                continue
            # This block holds more than is left to drop: keep its newest part.
            cut = count - removed
            row = self._db.execute("SELECT seq, n, tags, ts, kind, vals FROM blocks WHERE seq = ?", (seq,)).fetchone()
            self._db.execute("DELETE FROM blocks WHERE seq = ?", (seq,))
            self._db.execute(
                "INSERT INTO blocks (seq, n, tags, ts, kind, vals) VALUES (?, ?, ?, ?, ?, ?)", _slice_row(row, cut, n)
            )
            removed += cut
        return removed

    def _split(self, row: _Row, head_size: int) -> _Row:
        """Cut a block in two on disk (the head ends a batch); returns the head."""
        head, tail = _slice_row(row, 0, head_size), _slice_row(row, head_size, row[1])
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM blocks WHERE seq = ?", (row[0],))
            self._db.executemany(
                "INSERT INTO blocks (seq, n, tags, ts, kind, vals) VALUES (?, ?, ?, ?, ?, ?)", [head, tail]
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return head

    def _migrate_sample_rows(self) -> None:
        """Move a queue written by an earlier release (one row per sample) into blocks, in one transaction."""
        old = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'samples'").fetchone()
        if old is None:
            return
        has_sequence = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
        last_id = has_sequence and self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'samples'").fetchone()
        seq = max(self._next_seq, (last_id[0] if last_id else 0) + 1)
        moved = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            after = 0
            while True:
                rows = self._db.execute(
                    "SELECT id, tag, ts, value FROM samples WHERE id > ? ORDER BY id LIMIT 100000", (after,)
                ).fetchall()
                if not rows:
                    break
                after = rows[-1][0]
                values = [(v == _OLD_TRUE) if v.__class__ is bytes else v for _, _, _, v in rows]
                kind, vals = _pack_values(values)
                self._db.execute(
                    "INSERT INTO blocks (seq, n, tags, ts, kind, vals) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        len(rows),
                        array("i", [r[1] for r in rows]).tobytes(),
                        array("q", [r[2] for r in rows]).tobytes(),
                        kind,
                        vals,
                    ),
                )
                seq += len(rows)
                moved += len(rows)
            self._db.execute("DROP TABLE samples")
            self._set_meta("next_seq", seq)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._next_seq = seq
        if moved:
            log.info("buffer %s: %d queued samples moved to the block format", self.path, moved)

    def _log_drops(self, dropped_now: int) -> None:
        if dropped_now:
            if not self._episode_dropped:
                log.warning(
                    "buffer %s is full (%d samples): dropping the oldest samples until the platform "
                    "catches up (%d dropped now)",
                    self.path,
                    self.max_samples,
                    dropped_now,
                )
            self._episode_dropped += dropped_now
        elif self._episode_dropped:
            self._end_episode()

    def _end_episode(self) -> None:
        log.warning(
            "buffer %s: %d oldest samples were dropped while it was full (%d since it was created)",
            self.path,
            self._episode_dropped,
            self._dropped,
        )
        self._episode_dropped = 0

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: Value) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
