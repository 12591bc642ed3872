"""Writing samples and keeping the 1-minute and 1-hour rollups current, per backend.

Both backends store only samples whose (tag, ts) is not stored yet, and fold exactly
those into the rollups — so a resent batch changes nothing, not even a count.

- SQLite: per tag one index probe for already-stored timestamps, ``executemany`` into
  ``samples``, rollups aggregated in numpy and upserted.
- PostgreSQL: binary ``COPY`` into a temporary staging table, then one statement that
  inserts ``ON CONFLICT DO NOTHING`` and feeds the inserted rows (``RETURNING``) into
  both rollup upserts. ``samples`` is partitioned by day; partitions are created on
  demand and dropped by retention.
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


def _upsert_sql(table: str) -> str:
    return (f"INSERT INTO {table} {_ROLLUP_COLUMNS} "
            "VALUES (:tag_id, :bucket, :count, :sum, :min, :max, :last_ts, :last_value) " + _merge_clause(table))


def aggregate(tag_id: int, ts: np.ndarray, values: np.ndarray, width: int) -> list[dict[str, float | int]]:
    """Rollup rows for sorted ``ts``: per bucket of ``width`` ms count, sum, min, max, last.

    >>> rows = aggregate(7, np.array([0, 30_000, 60_000]), np.array([1.0, 3.0, 5.0]), MINUTE_MS)
    >>> [(r['bucket'], r['count'], r['sum'], r['min'], r['max'], r['last_value']) for r in rows]
    [(0, 2, 4.0, 1.0, 3.0, 3.0), (60000, 1, 5.0, 5.0, 5.0, 5.0)]
    """
    buckets = ts - ts % width
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    counts = np.diff(np.r_[starts, len(ts)])
    sums = np.add.reduceat(values, starts)
    mins = np.minimum.reduceat(values, starts)
    maxs = np.maximum.reduceat(values, starts)
    return [
        {"tag_id": tag_id, "bucket": int(b), "count": int(c), "sum": float(s), "min": float(lo), "max": float(hi),
         "last_ts": int(lt), "last_value": float(lv)}
        for b, c, s, lo, hi, lt, lv in zip(buckets[starts].tolist(), counts.tolist(), sums.tolist(), mins.tolist(),
                                           maxs.tolist(), ts[ends].tolist(), values[ends].tolist(), strict=True)
    ]


def write(session: Session, columns: Sequence[Column]) -> WriteResult:
    """Store new samples and update rollups inside the session's transaction."""
    if not columns:
        return WriteResult(0, 0)
    if session.get_bind().dialect.name == "postgresql":
        return _write_postgresql(session, columns)
    return _write_sqlite(session, columns)


def _write_sqlite(session: Session, columns: Sequence[Column]) -> WriteResult:
    conn = session.connection().connection.driver_connection
    cur = conn.cursor()
    inserted = duplicates = 0
    rollups_1m: list[dict[str, float | int]] = []
    rollups_1h: list[dict[str, float | int]] = []
    for col in columns:
        ts, values, texts = col.ts, col.values, col.texts
        existing = [r[0] for r in cur.execute(
            "SELECT ts FROM samples WHERE tag_id = ? AND ts BETWEEN ? AND ?",
            (col.tag_id, int(ts[0]), int(ts[-1])))]
        if existing:
            new = ~np.isin(ts, np.array(existing, dtype=np.int64))
            duplicates += int(len(ts) - new.sum())
            ts = ts[new]
            if values is not None:
                values = values[new]
            if texts is not None:
                texts = [t for t, keep in zip(texts, new.tolist(), strict=True) if keep]
            if len(ts) == 0:
                continue
        inserted += len(ts)
        if values is not None:
            cur.executemany("INSERT INTO samples (tag_id, ts, value) VALUES (?, ?, ?)",
                            zip(repeat(col.tag_id), ts.tolist(), values.tolist()))
            rollups_1m.extend(aggregate(col.tag_id, ts, values, MINUTE_MS))
            rollups_1h.extend(aggregate(col.tag_id, ts, values, HOUR_MS))
        else:
            cur.executemany("INSERT INTO samples (tag_id, ts, text) VALUES (?, ?, ?)",
                            zip(repeat(col.tag_id), ts.tolist(), texts or []))
    for table, rows in (("rollups_1m", rollups_1m), ("rollups_1h", rollups_1h)):
        if rows:
            cur.executemany(_upsert_sql(table), rows)
    return WriteResult(inserted, duplicates)


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


_PG_STATEMENT = """
WITH ins AS (
    INSERT INTO samples (tag_id, ts, value, text)
    SELECT tag_id, ts, value, text FROM stage_samples
    ON CONFLICT DO NOTHING
    RETURNING tag_id, ts, value
), r1 AS (
    {r1}
), r2 AS (
    {r2}
)
SELECT count(*) FROM ins
"""


def _pg_rollup(table: str, width: int) -> str:
    return (
        f"INSERT INTO {table} {_ROLLUP_COLUMNS} "
        f"SELECT tag_id, ts - ts % {width}, count(*), sum(value), min(value), max(value), max(ts), "
        "(array_agg(value ORDER BY ts DESC))[1] FROM ins WHERE value IS NOT NULL "
        f"GROUP BY tag_id, ts - ts % {width} ORDER BY 1, 2 " + _merge_clause(table)
    )


_PG_SQL = _PG_STATEMENT.format(r1=_pg_rollup("rollups_1m", MINUTE_MS), r2=_pg_rollup("rollups_1h", HOUR_MS))


def _write_postgresql(session: Session, columns: Sequence[Column]) -> WriteResult:
    lo = min(int(c.ts[0]) for c in columns)
    hi = max(int(c.ts[-1]) for c in columns)
    ensure_partitions(session, lo, hi)
    conn = session.connection().connection.driver_connection
    total = sum(len(c.ts) for c in columns)
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_samples "
                    "(tag_id int4, ts int8, value float8, text text) ON COMMIT DELETE ROWS")
        with cur.copy("COPY stage_samples (tag_id, ts, value, text) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "int8", "float8", "text"])
            for col in columns:
                if col.values is not None:
                    for row in zip(repeat(col.tag_id), col.ts.tolist(), col.values.tolist(), repeat(None)):
                        copy.write_row(row)
                else:
                    for row in zip(repeat(col.tag_id), col.ts.tolist(), repeat(None), col.texts or []):
                        copy.write_row(row)
        cur.execute(_PG_SQL)
        inserted = cur.fetchone()[0]
        cur.execute("TRUNCATE stage_samples")
    return WriteResult(inserted, total - inserted)
