"""Writing samples and keeping the 1-minute and 1-hour rollups current, per backend.

Both backends store only samples whose (tag, ts) is not stored yet, and fold exactly
those into the rollups — so a resent batch changes nothing, not even a count.

The flow is the same on both: one index range probe finds the batch's samples that are
already stored (usually none), the rest is written in one go — ``executemany`` on SQLite,
binary ``COPY`` on PostgreSQL — and the rollups of exactly those samples are aggregated
in numpy, across all tags at once, and upserted. On PostgreSQL ``samples`` is
partitioned by day; partitions are created on demand and dropped by retention.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import adapters
from psycopg.adapt import Dumper, PyFormat
from psycopg.pq import Format
from sqlalchemy import text
from sqlalchemy.orm import Session

from commonworks.telemetry.ingest import Column

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int
    stored_before: frozenset[tuple[int, int]] = frozenset()  # (tag, ts) of the input already stored
    overlapped: bool = False  # some (tag, ts) came more than once in the input
    first_ts: dict[int, int] | None = None  # per tag, the earliest sample stored now
    numeric: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (tag ids, ts, values) stored now, sorted


_ROLLUP_COLUMNS = "(tag_id, bucket, count, sum, min, max, last_ts, last_value)"


def _merge_clause(table: str) -> str:
    """Fold a new partial aggregate into a stored bucket.

    CASE instead of min()/max()/LEAST()/GREATEST(): the same text runs on SQLite and PostgreSQL.
    """
    return (
        "ON CONFLICT (tag_id, bucket) DO UPDATE SET "
        f"count = {table}.count + excluded.count, sum = {table}.sum + excluded.sum, "
        f"min = CASE WHEN excluded.min < {table}.min THEN excluded.min ELSE {table}.min END, "
        f"max = CASE WHEN excluded.max > {table}.max THEN excluded.max ELSE {table}.max END, "
        f"last_value = CASE WHEN excluded.last_ts > {table}.last_ts THEN excluded.last_value "
        f"ELSE {table}.last_value END, "
        f"last_ts = CASE WHEN excluded.last_ts > {table}.last_ts THEN excluded.last_ts ELSE {table}.last_ts END"
    )


_UPSERT_SQLITE = "INSERT INTO {table} " + _ROLLUP_COLUMNS + " VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
# PostgreSQL: the whole set in one statement from eight arrays (one round trip instead of one per bucket).
_UPSERT_POSTGRES = ("INSERT INTO {table} " + _ROLLUP_COLUMNS + " SELECT * FROM unnest(%b::int4[], %b::int8[], "
                    "%b::int4[], %b::float8[], %b::float8[], %b::float8[], %b::int8[], %b::float8[]) ")


def _upsert_sql(table: str, *, postgres: bool) -> str:
    return (_UPSERT_POSTGRES if postgres else _UPSERT_SQLITE).format(table=table) + _merge_clause(table)


RollupColumns = tuple[list[int], list[int], list[int], list[float], list[float], list[float], list[int], list[float]]
RollupArrays = tuple[np.ndarray, ...]


def aggregate_arrays(tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray, width: int) -> RollupArrays:
    """:func:`aggregate` as numpy arrays (int32 tag, int64 bucket, int32 count, float64 sum/min/max,
    int64 last_ts, float64 last_value)."""
    buckets = ts - ts % width
    change = np.empty(len(ts), dtype=bool)
    change[0] = True
    np.not_equal(buckets[1:], buckets[:-1], out=change[1:])
    change[1:] |= tag_ids[1:] != tag_ids[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(ts)) - 1
    return (tag_ids[starts].astype(np.int32), buckets[starts].astype(np.int64), (ends - starts + 1).astype(np.int32),
            np.add.reduceat(values, starts), np.minimum.reduceat(values, starts),
            np.maximum.reduceat(values, starts), ts[ends].astype(np.int64), values[ends])


def aggregate(tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray, width: int) -> RollupColumns:
    """Rollup columns (tag_id, bucket, count, sum, min, max, last_ts, last_value) for samples
    sorted by (tag, ts): one row per tag and bucket of ``width`` ms — vectorised over all tags at once.

    >>> cols = aggregate(np.array([7, 7, 7]), np.array([0, 30_000, 60_000]), np.array([1.0, 3.0, 5.0]), MINUTE_MS)
    >>> list(zip(*cols))
    [(7, 0, 2, 4.0, 1.0, 3.0, 30000, 3.0), (7, 60000, 1, 5.0, 5.0, 5.0, 60000, 5.0)]
    """
    return tuple(a.tolist() for a in aggregate_arrays(tag_ids, ts, values, width))  # type: ignore[return-value]


class PgArray:
    """A one-dimensional PostgreSQL array already in binary wire format, passed as a ``%b`` parameter.

    psycopg dumps a Python list element by element in Python (~2 µs per element, most of a rollup
    upsert's time); numpy lays the whole array out at once, as :func:`copy_buffer` does for COPY.
    """

    __slots__ = ("data", "oid")

    # element dtype → (element oid, array oid)
    _TYPES = {np.dtype(np.int32): (23, 1007), np.dtype(np.int64): (20, 1016), np.dtype(np.float64): (701, 1022)}

    def __init__(self, values: np.ndarray) -> None:
        element_oid, self.oid = self._TYPES[values.dtype]
        cells = np.empty(len(values), dtype=[("length", ">i4"), ("value", values.dtype.newbyteorder(">"))])
        cells["length"] = values.dtype.itemsize
        cells["value"] = values
        # dimensions, has-nulls flag, element type; then per dimension its length and lower bound
        header = struct.pack("!iiIii", 1, 0, element_oid, len(values), 1)
        self.data = header + cells.tobytes()


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> bytes:
        return obj.data

    def get_key(self, obj: PgArray, format: PyFormat) -> Any:
        return (PgArray, obj.oid)

    def upgrade(self, obj: PgArray, format: PyFormat) -> Dumper:
        dumper = _PgArrayDumper(PgArray)
        dumper.oid = obj.oid
        return dumper


adapters.register_dumper(PgArray, _PgArrayDumper)


def _concat(columns: Sequence[Column]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (tag_ids, ts, values) triple for the numeric columns, sorted by (tag, ts), each pair once.

    Columns of the same tag (several batches ingested together) are merged; the first
    value of a repeated (tag, ts) wins, as it does within one batch.
    """
    numeric = [c for c in columns if c.values is not None]
    if not numeric:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float64)
    ids = [c.tag_id for c in numeric]
    tag_ids = np.repeat(np.array(ids, dtype=np.int64), [len(c.ts) for c in numeric])
    ts = np.concatenate([c.ts for c in numeric])
    values = np.concatenate([c.values for c in numeric])  # type: ignore[misc]
    if len(set(ids)) == len(ids) and ids == sorted(ids):
        return tag_ids, ts, values
    order = np.lexsort((ts, tag_ids))
    tag_ids, ts, values = tag_ids[order], ts[order], values[order]
    first = np.ones(len(ts), dtype=bool)
    first[1:] = (ts[1:] != ts[:-1]) | (tag_ids[1:] != tag_ids[:-1])
    return tag_ids[first], ts[first], values[first]


def write(session: Session, columns: Sequence[Column]) -> WriteResult:
    """Store new samples and update rollups inside the session's transaction."""
    if not columns:
        return WriteResult(0, 0)
    postgres = session.get_bind().dialect.name == "postgresql"
    dbapi = session.connection().connection.driver_connection
    cur = dbapi.cursor()
    total = sum(len(c.ts) for c in columns)
    lo = min(int(c.ts[0]) for c in columns)
    hi = max(int(c.ts[-1]) for c in columns)
    if postgres:
        ensure_partitions(session, lo, hi)
    tag_ids, ts, values = _concat(columns)
    text_keys = [(c.tag_id, t) for c in columns if c.texts is not None for t in c.ts.tolist()]
    existing = _existing(cur, tag_ids, ts, text_keys, lo, hi, total, postgres=postgres)
    if existing and len(ts):
        keep = np.fromiter(((t, x) not in existing for t, x in zip(tag_ids.tolist(), ts.tolist(), strict=True)),
                           dtype=bool, count=len(ts))
        tag_ids, ts, values = tag_ids[keep], ts[keep], values[keep]
    seen = set(existing)
    text_rows = []
    for c in columns:
        for t, x in zip(c.ts.tolist(), c.texts or [], strict=False):
            if (c.tag_id, t) not in seen:
                seen.add((c.tag_id, t))
                text_rows.append((c.tag_id, t, None, x))
    inserted = len(ts) + len(text_rows)
    if postgres:
        # A concurrent writer of the same (tag, ts) makes COPY fail on the primary key; the
        # caller retries the whole transaction, which then sees those rows as existing.
        with cur.copy("COPY samples (tag_id, ts, value, text) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(copy_buffer(tag_ids, ts, values, text_rows))
    else:
        _sqlite_insert_numeric(cur, tag_ids, ts, values)
        cur.executemany("INSERT INTO samples (tag_id, ts, value, text) VALUES (?, ?, ?, ?)", text_rows)
    if len(ts):
        for table, width in (("rollups_1m", MINUTE_MS), ("rollups_1h", HOUR_MS)):
            if postgres:
                cur.execute(_upsert_sql(table, postgres=True),
                            [PgArray(a) for a in aggregate_arrays(tag_ids, ts, values, width)])
            else:
                cur.executemany(_upsert_sql(table, postgres=False), zip(*aggregate(tag_ids, ts, values, width),
                                                                        strict=True))
    first_ts: dict[int, int] = {}
    if len(ts):
        starts = np.flatnonzero(np.append(True, tag_ids[1:] != tag_ids[:-1]))
        first_ts = dict(zip(tag_ids[starts].tolist(), ts[starts].tolist(), strict=True))
    for tag_id, t, _, _ in text_rows:
        if t < first_ts.get(tag_id, t + 1):
            first_ts[tag_id] = t
    return WriteResult(inserted, total - inserted, frozenset(existing), overlapped=total - inserted > len(existing),
                       first_ts=first_ts, numeric=(tag_ids, ts, values))


_ROWS_PER_INSERT = 200  # 600 parameters: below SQLite's historic limit of 999
_INSERT_ONE = "INSERT INTO samples (tag_id, ts, value) VALUES (?, ?, ?)"
_INSERT_MANY = "INSERT INTO samples (tag_id, ts, value) VALUES " + ", ".join(["(?, ?, ?)"] * _ROWS_PER_INSERT)


def _sqlite_insert_numeric(cur, tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Insert numeric samples with statements of 200 rows each (the rest one by one).

    Per row, ``executemany`` spends about as long in Python (next tuple, bind, step, reset)
    as SQLite spends in the B-tree; binding 600 parameters per step measured 1.5–1.7× faster.
    The text column is left out (NULL by default): binding it per row cost a further third.
    """
    n = len(ts)
    flat: list[int | float | None] = [None] * (3 * n)
    flat[0::3] = tag_ids.tolist()
    flat[1::3] = ts.tolist()
    flat[2::3] = values.tolist()
    width = 3 * _ROWS_PER_INSERT
    whole = n - n % _ROWS_PER_INSERT
    if whole:
        cur.executemany(_INSERT_MANY, (flat[i:i + width] for i in range(0, 3 * whole, width)))
    if whole < n:
        cur.executemany(_INSERT_ONE, (flat[i:i + 3] for i in range(3 * whole, 3 * n, 3)))


# PostgreSQL's binary COPY stream: signature, then per row a field count and each field as
# (byte length, big-endian value) with length -1 for NULL, then the trailer.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_NUMERIC_ROW = np.dtype([("fields", ">i2"), ("tag_len", ">i4"), ("tag", ">i4"), ("ts_len", ">i4"), ("ts", ">i8"),
                         ("value_len", ">i4"), ("value", ">f8"), ("text_len", ">i4")])


def copy_buffer(tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray,
                text_rows: Sequence[tuple[int, int, None, str]]) -> bytes:
    """The whole ``COPY samples (tag_id, ts, value, text) FROM STDIN (FORMAT BINARY)`` stream.

    Numeric rows are laid out by numpy in one go (psycopg's ``write_row`` costs about a
    microsecond per row in Python, which was most of the ingest time); text rows, rare, by struct.

    >>> buf = copy_buffer(np.array([7]), np.array([1_000]), np.array([2.5]), [(7, 2_000, None, "é")])
    >>> len(buf) == len(_COPY_SIGNATURE) + 38 + (2 + 8 + 12 + 4 + 6) + 2
    True
    """
    rows = np.empty(len(ts), dtype=_NUMERIC_ROW)
    rows["fields"] = 4
    rows["tag_len"] = 4
    rows["tag"] = tag_ids
    rows["ts_len"] = 8
    rows["ts"] = ts
    rows["value_len"] = 8
    rows["value"] = values
    rows["text_len"] = -1
    parts = [_COPY_SIGNATURE, rows.tobytes()]
    for tag_id, t, _, x in text_rows:
        data = x.encode()
        parts.append(struct.pack(f"!hiiiqii{len(data)}s", 4, 4, tag_id, 8, t, -1, len(data), data))
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


def _sqlite_span(cur, columns: str, ids: list[int], lo: int, hi: int) -> list[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """``SELECT columns`` over the samples of ``ids`` in [lo, hi], 900 tags per statement (SQLite's parameter limit)."""
    rows: list[tuple[int, ...]] = []
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        rows += cur.execute(f"SELECT {columns} FROM samples WHERE tag_id IN ({','.join('?' * len(chunk))}) "
                            "AND ts BETWEEN ? AND ?", (*chunk, lo, hi)).fetchall()
    return rows


def _spans(tag_ids: np.ndarray, ts: np.ndarray, text_keys: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Each tag's own (first, last) timestamp in the input (numeric samples sorted by (tag, ts))."""
    spans: dict[int, tuple[int, int]] = {}
    if len(ts):
        starts = np.flatnonzero(np.append(True, tag_ids[1:] != tag_ids[:-1]))
        ends = np.append(starts[1:], len(ts)) - 1
        spans = {t: (a, b) for t, a, b in zip(tag_ids[starts].tolist(), ts[starts].tolist(), ts[ends].tolist(),
                                               strict=True)}
    for tag_id, t in text_keys:
        a, b = spans.get(tag_id, (t, t))
        spans[tag_id] = (min(a, t), max(b, t))
    return spans


def _stored_in_spans(cur, spans: dict[int, tuple[int, int]], lo: int, hi: int, *, postgres: bool) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """Per tag, how many samples are stored within that tag's own span of the input (tags with none left out)."""
    ids = list(spans)
    if postgres:
        # the constant bounds let PostgreSQL prune to the partitions of the batch's days
        cur.execute("SELECT k.tag_id, count(*) FROM unnest(%b::int4[], %b::int8[], %b::int8[]) AS k(tag_id, lo, hi) "
                    "JOIN samples s ON s.tag_id = k.tag_id AND s.ts BETWEEN k.lo AND k.hi "
                    "WHERE s.ts BETWEEN %s AND %s GROUP BY k.tag_id",
                    (PgArray(np.array(ids, dtype=np.int32)),
                     PgArray(np.array([spans[t][0] for t in ids], dtype=np.int64)),
                     PgArray(np.array([spans[t][1] for t in ids], dtype=np.int64)), lo, hi))
        return dict(cur.fetchall())
    counts: dict[int, int] = {}
    for i in range(0, len(ids), 300):  # 900 parameters per statement
        chunk = ids[i:i + 300]
        rows = ",".join(["(?, ?, ?)"] * len(chunk))
        counts.update(cur.execute(
            f"SELECT k.column1, count(*) FROM (VALUES {rows}) AS k JOIN samples s "
            "ON s.tag_id = k.column1 AND s.ts BETWEEN k.column2 AND k.column3 GROUP BY k.column1",
            [x for t in chunk for x in (t, *spans[t])]).fetchall())
    return counts


def _existing(cur, tag_ids: np.ndarray, ts: np.ndarray, text_keys: list[tuple[int, int]], lo: int, hi: int,  # type: ignore[no-untyped-def]
              total: int, *, postgres: bool) -> set[tuple[int, int]]:
    """(tag, ts) pairs of the input already stored — usually none.

    One count over the input's tags and time span answers the common case (new data: nothing
    there). When something is there, each tag is probed over its own span — batches of
    several devices interleave in time, so the batch's span holds the previous batch's samples
    of other tags while no tag overlaps itself — and only the tags that do overlap are looked
    at: a few rows → read their span; many (a backlog written together with live data spans
    hours of stored samples) → look up the input's own keys, so the cost follows the input,
    not what happens to be stored in between.
    """
    ids = sorted({*tag_ids.tolist(), *(k[0] for k in text_keys)})
    if not ids:
        return set()
    if postgres:
        cur.execute("SELECT count(*) FROM samples WHERE tag_id = ANY(%s) AND ts BETWEEN %s AND %s", (ids, lo, hi))
        stored = cur.fetchone()[0]
    else:
        stored = sum(row[0] for row in _sqlite_span(cur, "count(*)", ids, lo, hi))
    if stored == 0:
        return set()
    overlapping = _stored_in_spans(cur, _spans(tag_ids, ts, text_keys), lo, hi, postgres=postgres)
    if not overlapping:
        return set()
    hit = np.isin(tag_ids, np.array(list(overlapping), dtype=tag_ids.dtype))
    keys = (list(zip(tag_ids[hit].tolist(), ts[hit].tolist(), strict=True))
            + [k for k in text_keys if k[0] in overlapping])
    ids = sorted(overlapping)
    stored = sum(overlapping.values())
    if stored <= 4 * len(keys):
        if postgres:
            cur.execute("SELECT tag_id, ts FROM samples WHERE tag_id = ANY(%s) AND ts BETWEEN %s AND %s", (ids, lo, hi))
            found = set(cur.fetchall())
        else:
            found = set(_sqlite_span(cur, "tag_id, ts", ids, lo, hi))
        return found & set(keys)  # only the input's own keys: the counts of duplicates rely on it
    if postgres:
        cur.execute("SELECT s.tag_id, s.ts FROM samples s JOIN unnest(%s::int4[], %s::int8[]) AS k(tag_id, ts) "
                    "ON s.tag_id = k.tag_id AND s.ts = k.ts", ([k[0] for k in keys], [k[1] for k in keys]))
        return {(t, x) for t, x in cur.fetchall()}
    found: set[tuple[int, int]] = set()
    for i in range(0, len(keys), 400):
        chunk = keys[i:i + 400]
        values = ",".join(["(?, ?)"] * len(chunk))
        found.update(cur.execute(f"SELECT tag_id, ts FROM samples WHERE (tag_id, ts) IN (VALUES {values})",
                                 [x for key in chunk for x in key]))
    return found


_known_partitions: set[tuple[str, int]] = set()


def partition_name(day_start_ms: int) -> str:
    return f"samples_d{day_start_ms // DAY_MS}"


def ensure_partitions(session: Session, lo_ms: int, hi_ms: int) -> None:
    """Create the daily partitions of ``samples`` that cover [lo_ms, hi_ms] (PostgreSQL)."""
    dbname = str(session.get_bind().url)
    day = lo_ms - lo_ms % DAY_MS
    while day <= hi_ms:
        if (dbname, day) not in _known_partitions:
            session.execute(text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF samples "
                f"FOR VALUES FROM ({day}) TO ({day + DAY_MS})"))
            _known_partitions.add((dbname, day))
        day += DAY_MS


def forget_partitions(days: Iterable[int] | None = None) -> None:
    if days is None:
        _known_partitions.clear()
    else:
        drop = set(days)
        for item in [p for p in _known_partitions if p[1] in drop]:
            _known_partitions.discard(item)
