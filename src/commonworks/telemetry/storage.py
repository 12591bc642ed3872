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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
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


def _upsert_sql(table: str, *, postgres: bool) -> str:
    names = ("tag_id", "bucket", "count", "sum", "min", "max", "last_ts", "last_value")
    marks = ", ".join(f"%({n})s" if postgres else f":{n}" for n in names)
    return f"INSERT INTO {table} {_ROLLUP_COLUMNS} VALUES ({marks}) " + _merge_clause(table)


def aggregate(tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray, width: int) -> list[dict[str, float | int]]:
    """Rollup rows for samples sorted by (tag, ts): per tag and bucket of ``width`` ms
    the count, sum, min, max and the last value — vectorised over all tags at once.

    >>> rows = aggregate(np.array([7, 7, 7]), np.array([0, 30_000, 60_000]), np.array([1.0, 3.0, 5.0]), MINUTE_MS)
    >>> [(r['bucket'], r['count'], r['sum'], r['min'], r['max'], r['last_value']) for r in rows]
    [(0, 2, 4.0, 1.0, 3.0, 3.0), (60000, 1, 5.0, 5.0, 5.0, 5.0)]
    """
    buckets = ts - ts % width
    change = np.empty(len(ts), dtype=bool)
    change[0] = True
    np.not_equal(buckets[1:], buckets[:-1], out=change[1:])
    change[1:] |= tag_ids[1:] != tag_ids[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(ts)) - 1
    counts = ends - starts + 1
    sums = np.add.reduceat(values, starts)
    mins = np.minimum.reduceat(values, starts)
    maxs = np.maximum.reduceat(values, starts)
    keys = ("tag_id", "bucket", "count", "sum", "min", "max", "last_ts", "last_value")
    return [dict(zip(keys, row, strict=True)) for row in zip(
        tag_ids[starts].tolist(), buckets[starts].tolist(), counts.tolist(), sums.tolist(), mins.tolist(),
        maxs.tolist(), ts[ends].tolist(), values[ends].tolist(), strict=True)]


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
    existing = _existing(cur, [c.tag_id for c in columns], lo, hi, postgres=postgres)
    tag_ids, ts, values = _concat(columns)
    if existing and len(ts):
        keep = np.fromiter(((t, x) not in existing for t, x in zip(tag_ids.tolist(), ts.tolist(), strict=True)),
                           dtype=bool, count=len(ts))
        tag_ids, ts, values = tag_ids[keep], ts[keep], values[keep]
    numeric_rows = zip(tag_ids.tolist(), ts.tolist(), values.tolist(), repeat(None))
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
            copy.set_types(["int4", "int8", "float8", "text"])
            for row in numeric_rows:
                copy.write_row(row)
            for row in text_rows:
                copy.write_row(row)
    else:
        cur.executemany("INSERT INTO samples (tag_id, ts, value, text) VALUES (?, ?, ?, ?)", numeric_rows)
        cur.executemany("INSERT INTO samples (tag_id, ts, value, text) VALUES (?, ?, ?, ?)", text_rows)
    if len(ts):
        for table, width in (("rollups_1m", MINUTE_MS), ("rollups_1h", HOUR_MS)):
            rows = aggregate(tag_ids, ts, values, width)
            cur.executemany(_upsert_sql(table, postgres=postgres), rows)
    return WriteResult(inserted, total - inserted, frozenset(existing), overlapped=total - inserted > len(existing))


def _existing(cur, tag_ids: Sequence[int], lo: int, hi: int, *, postgres: bool) -> set[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(tag, ts) pairs already stored among the given tags in [lo, hi] — usually none."""
    ids = sorted(set(tag_ids))
    if postgres:
        cur.execute("SELECT tag_id, ts FROM samples WHERE tag_id = ANY(%s) AND ts BETWEEN %s AND %s", (ids, lo, hi))
        return {(t, x) for t, x in cur.fetchall()}
    found: set[tuple[int, int]] = set()
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        marks = ",".join("?" * len(chunk))
        found.update(cur.execute(f"SELECT tag_id, ts FROM samples WHERE tag_id IN ({marks}) AND ts BETWEEN ? AND ?",
                                 (*chunk, lo, hi)))
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
