"""Telemetry logic: gateway credentials, ingest, latest values, series, CSV export, retention."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import delete, event, func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from commonworks.connect.protocol import GATEWAY_TOKEN_PREFIX
from commonworks.core.auth.deps import Principal, get_in_tenant, require_manager, tenant_scoped
from commonworks.core.auth.models import MANAGERS
from commonworks.core.auth.security import hash_api_token
from commonworks.core.crud import Resource
from commonworks.core.database import Database, utcnow
from commonworks.core.errors import Conflict, Invalid, NotFound, Unauthorized
from commonworks.core.orgs.models import Organization
from commonworks.core.settings import Settings
from commonworks.telemetry import hooks, storage
from commonworks.telemetry import ingest as ingest_mod
from commonworks.telemetry.models import (
    DataType,
    DeadLetter,
    Gateway,
    Line,
    Machine,
    RetentionPolicy,
    Rollup1h,
    Rollup1m,
    Sample,
    Site,
    Tag,
)
from commonworks.telemetry.schemas import (
    GatewayCreate,
    GatewayCreated,
    GatewayOut,
    IngestAck,
    LatestValue,
    LineCreate,
    LineOut,
    LineUpdate,
    MachineCreate,
    MachineOut,
    MachineUpdate,
    RejectedOut,
    Series,
    SeriesPoint,
    SiteCreate,
    SiteOut,
    SiteUpdate,
    TagCreate,
    TagOut,
    TagUpdate,
)

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


# ---------------------------------------------------------------- plant


def _no_lines(session: Session, site: Site) -> None:
    if session.scalar(select(Line.id).where(Line.site_id == site.id).limit(1)) is not None:
        raise Conflict("the site still has lines; move or delete them first")


def _no_machines(session: Session, line: Line) -> None:
    if session.scalar(select(Machine.id).where(Machine.line_id == line.id).limit(1)) is not None:
        raise Conflict("the line still has machines; move or delete them first")


def check_part_tag(session: Session, machine: Machine) -> None:
    """A machine's part tag must be one of its own tags (422 naming ``part_tag_key`` otherwise)."""
    key = machine.part_tag_key
    if key is None:
        return
    with session.no_autoflush:
        stored = session.scalar(select(Tag.id).where(Tag.org_id == machine.org_id, Tag.key == key,
                                                     Tag.machine_id == machine.id)) if machine.id else None
    pending = any(isinstance(t, Tag) and t.key == key and t.machine_id == machine.id and machine.id
                  for t in session.new)
    if stored is None and not pending:
        if machine.id is None:
            raise Invalid(f"part_tag_key: a new machine has no tags yet; create {key!r} on it, then set its part tag",
                          field="part_tag_key")
        raise Invalid(f"part_tag_key: {key!r} is not a tag of machine {machine.key}", field="part_tag_key")


@event.listens_for(Session, "before_flush")
def _part_tags_are_the_machines_own(session: Session, _context: Any, _instances: Any) -> None:
    """Hold every machine stored with a new part tag to :func:`check_part_tag`, whichever way it is stored (the
    API's and the pages' generic CRUD, whose whole-row check has no database, the demo, scripts)."""
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Machine) and (obj.id is None or inspect(obj).attrs.part_tag_key.history.has_changes()):
            check_part_tag(session, obj)


PLANT_RESOURCES = [
    Resource(model=Site, name="site", path="/sites", create=SiteCreate, update=SiteUpdate, out=SiteOut,
             unique=[("name",)], tags=["plant"], writers=MANAGERS, before_delete=_no_lines),
    Resource(model=Line, name="line", path="/lines", create=LineCreate, update=LineUpdate, out=LineOut,
             references={"site_id": Site}, unique=[("site_id", "name")], tags=["plant"], writers=MANAGERS,
             before_delete=_no_machines),
    Resource(model=Machine, name="machine", path="/machines", create=MachineCreate, update=MachineUpdate,
             out=MachineOut, references={"line_id": Line}, unique=[("key",)], tags=["plant"]),
    Resource(model=Tag, name="tag", path="/tags", create=TagCreate, update=TagUpdate, out=TagOut,
             references={"machine_id": Machine}, unique=[("key",)], tags=["tags"]),
]


# ---------------------------------------------------------------- gateways


def new_gateway_token() -> tuple[str, str, str]:
    """(secret shown once, display prefix, sha256 stored)."""
    import secrets

    secret = GATEWAY_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:11], hash_api_token(secret)


def create_gateway(session: Session, caller: Principal, data: GatewayCreate) -> GatewayCreated:
    """Register a gateway of the caller's organization; its credential is in the answer and nowhere else."""
    require_manager(caller)
    if session.scalar(select(Gateway.id).where(Gateway.key == data.key)) is not None:
        raise Conflict(f"gateway key {data.key!r} is taken", field="key")
    secret, prefix, digest = new_gateway_token()
    gateway = Gateway(org_id=caller.org_id, key=data.key, name=data.name, allow_create_tags=data.allow_create_tags,
                      token_hash=digest, token_prefix=prefix)
    session.add(gateway)
    session.flush()
    return GatewayCreated(**GatewayOut.model_validate(gateway).model_dump(), token=secret)


def revoke_gateway(session: Session, caller: Principal, gateway_id: int) -> Gateway:
    """Revoke a gateway's credential; its data stays."""
    require_manager(caller)
    gateway = get_in_tenant(session, Gateway, gateway_id, caller, what="gateway")
    gateway.revoked_at = gateway.revoked_at or utcnow()
    return gateway


def dead_letters_query(session: Session, caller: Principal, gateway_id: int) -> Any:
    """Refused samples of one of the caller's gateways, newest first."""
    gateway = get_in_tenant(session, Gateway, gateway_id, caller, what="gateway")
    return select(DeadLetter).where(DeadLetter.gateway_id == gateway.id).order_by(DeadLetter.id.desc())


@dataclass(frozen=True)
class _Sender:
    """The authenticated gateway, as plain values (valid across the two transactions of an ingest)."""

    id: int
    org_id: int
    key: str
    allow_create_tags: bool


def gateway_for_token(session: Session, token: str | None) -> _Sender:
    """The active gateway a credential belongs to, as plain values, or 401 (one statement: every batch asks)."""
    if not token or not token.startswith(GATEWAY_TOKEN_PREFIX):
        raise Unauthorized("a gateway credential (cwg_…) is required")
    row = session.execute(
        select(Gateway.id, Gateway.org_id, Gateway.key, Gateway.allow_create_tags, Gateway.revoked_at,
               Organization.is_active)
        .join(Organization, Organization.id == Gateway.org_id)
        .where(Gateway.token_hash == hash_api_token(token))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("gateway credential is unknown or revoked")
    if not row.is_active:
        raise Unauthorized("the gateway's organization is deactivated")
    return _Sender(row.id, row.org_id, row.key, row.allow_create_tags)


# ---------------------------------------------------------------- ingest


def _tag_map(session: Session, org_id: int, keys: set[str]) -> tuple[dict[str, ingest_mod.TagInfo], dict[int, int]]:
    """The tenant's tags among ``keys`` (key → (id, type)), and tag id → machine id for those on a machine."""
    found: dict[str, ingest_mod.TagInfo] = {}
    machines: dict[int, int] = {}
    ordered = sorted(keys)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i:i + 500]
        for tag_id, key, data_type, machine_id in session.execute(
                select(Tag.id, Tag.key, Tag.data_type, Tag.machine_id).where(Tag.org_id == org_id,
                                                                            Tag.key.in_(chunk))):
            found[key] = (tag_id, DataType(data_type))
            if machine_id is not None:
                machines[tag_id] = machine_id
    return found, machines


def _keys_of(doc: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for part in ("series", "stale"):
        entries = doc.get(part)
        if isinstance(entries, list):
            # a key with NUL cannot exist (and cannot be a query parameter on PostgreSQL)
            keys.update(e["tag"] for e in entries
                        if isinstance(e, dict) and isinstance(e.get("tag"), str) and "\x00" not in e["tag"])
    return keys


@dataclass
class _Plan:
    sender: _Sender
    prepared: list[ingest_mod.Prepared | ingest_mod.BatchError]
    created: list[str]
    machines: dict[int, int]  # tag id → machine id, for the tags that belong to a machine


def _authenticate(session: Session, token: str | None, gateway_key: str | None) -> _Sender:
    sender = gateway_for_token(session, token)
    if gateway_key is not None and sender.key != gateway_key:
        raise Unauthorized(f"this credential belongs to gateway {sender.key}, not {gateway_key}")
    return sender


def _plan(session: Session, sender: _Sender, docs: list[dict[str, Any]], *, now_ms: int,
          may_create: bool) -> _Plan | None:
    """Validate batches of one gateway against its tenant's tags (pure reads unless tags are created).

    Returns None when the batches name tags the gateway may create but ``may_create`` is off:
    the caller plans again inside its write transaction.
    """
    keys: set[str] = set()
    for doc in docs:
        keys |= _keys_of(doc)
    tags, machines = _tag_map(session, sender.org_id, keys)
    created: list[str] = []
    if sender.allow_create_tags:
        wanted: dict[str, DataType] = {}
        for doc in docs:
            for key, data_type in ingest_mod.unknown_tags(doc, set(tags)).items():
                if data_type is not None and _KEY.match(key):
                    wanted.setdefault(key, data_type)
        if wanted and not may_create:
            return None
        for key, data_type in wanted.items():
            tag = Tag(org_id=sender.org_id, key=key, name=key, unit="1", data_type=data_type,
                      auto_created=True, source=f"gateway {sender.key}")
            session.add(tag)
            session.flush()
            tags[key] = (tag.id, data_type)
            created.append(key)
    prepared: list[ingest_mod.Prepared | ingest_mod.BatchError] = []
    for doc in docs:
        try:
            prepared.append(ingest_mod.prepare(doc, tags, now_ms=now_ms))
        except ingest_mod.BatchError as exc:
            prepared.append(exc)
    return _Plan(sender, prepared, created, machines)


def _store(session: Session, plan: _Plan) -> list[IngestAck | ingest_mod.BatchError]:
    """Write a planned ingest: samples and rollups, stale markers, dead letters, the gateway's counters."""
    sender = plan.sender
    good = [p for p in plan.prepared if isinstance(p, ingest_mod.Prepared)]
    result = storage.write(session, [c for p in good for c in p.columns])
    stale: dict[int, int] = {}
    letters: list[dict[str, Any]] = []
    for prep in good:
        for tag_id, ts in prep.stale:
            stale[tag_id] = max(ts, stale.get(tag_id, ts))
        if prep.refused_count:
            letters.extend(_dead_letters(sender, prep))
    for tag_id, ts in stale.items():
        session.execute(update(Tag).where(Tag.id == tag_id, (Tag.stale_since_ms.is_(None)) | (Tag.stale_since_ms < ts))
                        .values(stale_since_ms=ts))
    if letters:
        session.execute(DeadLetter.__table__.insert(), letters)
    _mark_machines(session, sender.org_id, plan.machines, result.first_ts or {})
    if result.numeric is not None and len(result.numeric[1]):
        hooks.run(session, sender.org_id, _per_tag(*result.numeric))
    session.execute(update(Gateway).where(Gateway.id == sender.id).values(
        samples_accepted=Gateway.samples_accepted + result.inserted,
        samples_rejected=Gateway.samples_rejected + sum(p.refused_count for p in good),
        last_seen_at=utcnow()))
    return _answers(plan.prepared, result, plan.created)


def _per_tag(tag_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> hooks.StoredSamples:
    """Samples sorted by (tag, ts) as tag id → (ts, values)."""
    starts = np.flatnonzero(np.append(True, tag_ids[1:] != tag_ids[:-1]))
    ends = np.append(starts[1:], len(ts))
    return {int(tag_ids[a]): (ts[a:b], values[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)}


_MARK_SQL = text(
    "INSERT INTO machine_data_marks (machine_id, org_id, from_ms, version) VALUES (:machine_id, :org_id, :from_ms, 1) "
    "ON CONFLICT (machine_id) DO UPDATE SET version = machine_data_marks.version + 1, "
    "from_ms = CASE WHEN excluded.from_ms < machine_data_marks.from_ms THEN excluded.from_ms "
    "ELSE machine_data_marks.from_ms END")


def _mark_machines(session: Session, org_id: int, machines: dict[int, int], first_ts: dict[int, int]) -> None:
    """Raise the new-data mark of every machine that got samples (what machine states catch up from)."""
    earliest: dict[int, int] = {}
    for tag_id, ts in first_ts.items():
        machine_id = machines.get(tag_id)
        if machine_id is not None and ts < earliest.get(machine_id, ts + 1):
            earliest[machine_id] = ts
    if earliest:
        session.execute(_MARK_SQL, [{"machine_id": m, "org_id": org_id, "from_ms": ts}
                                    for m, ts in sorted(earliest.items())])


def _dead_letters(gateway: _Sender, prep: ingest_mod.Prepared) -> list[dict[str, Any]]:
    def printable(text: str, limit: int) -> str:  # what a device sent, storable anywhere (no NUL)
        return text.replace("\x00", "\\x00")[:limit]

    rows = [{"org_id": gateway.org_id, "gateway_id": gateway.id, "batch_id": printable(prep.batch_id, 200),
             "tag": printable(r.tag, 200), "ts": r.ts,
             "value": None if r.value is None else printable(str(r.value), 1000), "reason": r.reason,
             "received_at": utcnow()} for r in prep.refused]
    extra = prep.refused_count - len(prep.refused)
    if extra:
        rows.append({**rows[-1], "tag": "*", "ts": None, "value": None,
                     "reason": f"and {extra} more refused samples (not listed one by one)"})
    return rows


def _answers(prepared: list[ingest_mod.Prepared | ingest_mod.BatchError], result: storage.WriteResult,
             created: list[str]) -> list[IngestAck | ingest_mod.BatchError]:
    """Each batch's own counts: stored now (accepted), stored before — by an earlier request or an
    earlier batch of this one — (duplicates), or repeated within the batch itself (repeated)."""
    exact = not result.stored_before and not result.overlapped
    seen: set[tuple[int, int]] = set(result.stored_before)
    answers: list[IngestAck | ingest_mod.BatchError] = []
    for prep in prepared:
        if isinstance(prep, ingest_mod.BatchError):
            answers.append(prep)
            continue
        accepted = duplicates = 0
        repeated = prep.repeated
        mine: set[tuple[int, int]] = set()
        for col in prep.columns:
            if exact:
                accepted += len(col.ts)
                continue
            for ts in col.ts.tolist():
                key = (col.tag_id, ts)
                if key in mine:  # the same tag twice in one batch
                    repeated += 1
                    continue
                mine.add(key)
                if key in seen:
                    duplicates += 1
                else:
                    seen.add(key)
                    accepted += 1
        # built from validated parts without validating again (thousands of small batches per MQTT micro-batch)
        answers.append(IngestAck.model_construct(
            batch_id=prep.batch_id, accepted=accepted, duplicates=duplicates, repeated=repeated,
            rejected=[RejectedOut.model_construct(tag=r.tag, ts=r.ts, reason=r.reason) for r in prep.refused],
            rejected_count=prep.refused_count, created_tags=created))
    return answers


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or ""
    # unique clash, serialization failure, deadlock, a partition created by another worker meanwhile
    return (isinstance(exc, IntegrityError) or code in ("40001", "40P01", "42P07")
            or "database is locked" in str(exc.orig))


def ingest_committed(db: Database, token: str | None, docs: list[dict[str, Any]], *, gateway_key: str | None = None,
                     attempts: int = 5) -> list[IngestAck | ingest_mod.BatchError]:
    """Authenticate, ingest and commit batches of one gateway; answers exist only after the commit.

    Concurrent workers may race on a new tag, a new partition or the same samples; such a
    transaction is retried whole. ``gateway_key`` (from an MQTT topic) must match the credential.
    """
    for attempt in range(attempts):
        try:
            now_ms = time.time_ns() // 1_000_000
            # Validation reads only, outside the writer lock: on SQLite the next batch is checked
            # while the previous one is being written.
            with db.transaction() as session:
                plan = _plan(session, _authenticate(session, token, gateway_key), docs, now_ms=now_ms,
                             may_create=False)
            with db.writer(), db.transaction() as session:
                if plan is None:  # it names tags to create: plan again, creating them, in this transaction
                    plan = _plan(session, _authenticate(session, token, gateway_key), docs, now_ms=now_ms,
                                 may_create=True)
                    assert plan is not None
                return _store(session, plan)
        except DBAPIError as exc:
            storage.forget_partitions()
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def ingest_http(db: Database, token: str | None, body: bytes, content_encoding: str | None) -> IngestAck:
    """One batch from ``POST /ingest``: a readable body or a 422 naming what is wrong."""
    try:
        doc = ingest_mod.decode_body(body, content_encoding)
    except ingest_mod.BatchError as exc:
        with db.transaction() as session:
            gateway_for_token(session, token)  # a stranger learns nothing from the body check
        raise Invalid(str(exc), field=exc.field) from exc
    (answer,) = ingest_committed(db, token, [doc])
    if isinstance(answer, ingest_mod.BatchError):
        raise Invalid(str(answer), field=answer.field)
    return answer


# ---------------------------------------------------------------- queries


def _last_sample(session: Session, tag_id: int) -> tuple[int, float | None, str | None] | None:
    row = session.execute(select(Sample.ts, Sample.value, Sample.text).where(Sample.tag_id == tag_id)
                          .order_by(Sample.ts.desc()).limit(1)).first()
    return (row[0], row[1], row[2]) if row else None


def latest_for_machine(session: Session, caller: Principal, machine_id: int) -> list[LatestValue]:
    """The newest value of every tag of a machine, flagged stale when the device went away after it."""
    machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
    tags = session.scalars(select(Tag).where(Tag.machine_id == machine.id).order_by(Tag.key)).all()
    out = []
    for tag in tags:
        last = _last_sample(session, tag.id)
        ts, value = (last[0], last[2] if last[2] is not None else last[1]) if last else (None, None)
        stale = tag.stale_since_ms is not None and (ts is None or tag.stale_since_ms >= ts)
        out.append(LatestValue(tag_id=tag.id, key=tag.key, name=tag.name, unit=tag.unit, data_type=tag.data_type,
                               ts=ts, value=value, stale=stale))
    return out


RAW_LIMIT_MS = 6 * 3_600_000
MINUTE_LIMIT_MS = 10 * 86_400_000
MAX_POINTS = 50_000
POINT_BUDGET = 3_600
"""Most points ``auto`` returns per series (while a coarser resolution can keep within it): an hour of a
1 Hz tag, so the machine page's shortest range still shows the raw signal; a day at 1-minute rollups
(1,440) fits too, a week (10,080) does not and is drawn hourly."""

_WIDTH = {"1m": storage.MINUTE_MS, "1h": storage.HOUR_MS, "1d": storage.DAY_MS}


def auto_candidates(start: int, end: int) -> list[str]:
    """The resolutions ``auto`` may use for [start, end), finest first: raw only up to 6 h, 1-minute
    rollups only up to 10 days, then hourly and daily rollups.

    >>> auto_candidates(0, 6 * 3_600_000), auto_candidates(0, 3 * 86_400_000), auto_candidates(0, 30 * 86_400_000)
    (['raw', '1m', '1h', '1d'], ['1m', '1h', '1d'], ['1h', '1d'])
    """
    span = end - start
    return [r for r, ok in (("raw", span <= RAW_LIMIT_MS), ("1m", span <= MINUTE_LIMIT_MS), ("1h", True),
                            ("1d", True)) if ok]


def most_buckets(start: int, end: int, resolution: str) -> int:
    """How many buckets of a rollup resolution [start, end) can touch at most (the first one may begin
    before ``start``).

    >>> most_buckets(30_000, 3_600_000, "1m"), most_buckets(0, 86_400_000, "1m"), most_buckets(1, 2, "1d")
    (60, 1440, 1)
    """
    width = _WIDTH[resolution]
    return -(-(end - (start - start % width)) // width)


def _stored_at_most(session: Session, resolution: str, tag_id: int, start: int, end: int, limit: int) -> int:
    """How many raw samples or rollup rows of the tag lie in [start, end), counted up to ``limit`` only
    (an index range scan that stops there)."""
    if resolution == "raw":
        inner = select(Sample.ts).where(Sample.tag_id == tag_id, Sample.ts >= start, Sample.ts < end)
    else:
        table = Rollup1m if resolution == "1m" else Rollup1h
        width = storage.MINUTE_MS if resolution == "1m" else storage.HOUR_MS
        inner = select(table.bucket).where(table.tag_id == tag_id, table.bucket >= start - start % width,
                                           table.bucket < end)
    return session.scalar(select(func.count()).select_from(inner.limit(limit).subquery())) or 0


def pick_resolution(session: Session, tag_id: int, start: int, end: int, requested: str, *,
                    budget: int = POINT_BUDGET) -> str:
    """The resolution to answer with: the caller's, unless ``auto``.

    ``auto`` takes the finest of :func:`auto_candidates` whose points in this range fit within
    ``budget``. A rollup fits outright when the range holds no more buckets than that
    (:func:`most_buckets`); otherwise, as raw samples always, what is stored is counted — up to the
    budget only — so sparse data keeps its detail. Daily points are the last resort: past about
    ten years of range they exceed the budget, bounded still by the hourly rollups' retention (one
    point per day with data).
    """
    if requested != "auto":
        return requested
    candidates = auto_candidates(start, end)
    for resolution in candidates[:-1]:  # daily points, the last resort, need no test
        if resolution != "raw" and most_buckets(start, end, resolution) <= budget:
            return resolution
        if _stored_at_most(session, resolution, tag_id, start, end, budget + 1) <= budget:
            return resolution
    return candidates[-1]


def _daily(rows: list[Any]) -> list[dict[str, Any]]:
    """Hourly rollup rows (bucket, sum, count, min, max, last_value; by bucket) merged into UTC days."""
    out: list[dict[str, Any]] = []
    day = None
    for bucket, total, count, lo, hi, last in rows:
        this = bucket - bucket % storage.DAY_MS
        if this != day:
            out.append({"ts": this, "value": 0.0, "min": lo, "max": hi, "last": last, "count": 0})
            day = this
        point = out[-1]
        point["value"] += total  # the sum, until divided below
        point["count"] += count
        point["min"], point["max"], point["last"] = min(point["min"], lo), max(point["max"], hi), last
    for point in out:
        point["value"] = point["value"] / point["count"] if point["count"] else None
    return out


def _series(session: Session, caller: Principal, tag_id: int, start: int, end: int,
            resolution: str) -> tuple[Tag, str, list[dict[str, Any]]]:
    """(tag, resolution chosen, points as dicts with every field of :class:`SeriesPoint`)."""
    if end <= start:
        raise Invalid("end must be after start", field="end")
    tag = get_in_tenant(session, Tag, tag_id, caller, what="tag")
    chosen = "raw" if not tag.data_type.numeric else pick_resolution(session, tag.id, start, end, resolution)
    if chosen == "raw":
        rows = session.execute(select(Sample.ts, Sample.value, Sample.text).where(
            Sample.tag_id == tag.id, Sample.ts >= start, Sample.ts < end).order_by(Sample.ts).limit(MAX_POINTS + 1))
        points = [{"ts": ts, "value": text_value if text_value is not None else value, "min": None, "max": None,
                   "last": None, "count": None} for ts, value, text_value in rows]
        if len(points) > MAX_POINTS:
            raise Invalid(f"more than {MAX_POINTS} raw samples in this range; ask for resolution 1m or 1h, "
                          "or a shorter range", field="resolution")
        return tag, chosen, points
    table = Rollup1m if chosen == "1m" else Rollup1h
    width = _WIDTH[chosen]
    rows = session.execute(select(table.bucket, table.sum, table.count, table.min, table.max, table.last_value)
                           .where(table.tag_id == tag.id, table.bucket >= start - start % width,
                                  table.bucket < end).order_by(table.bucket)).all()
    if chosen == "1d":
        return tag, chosen, _daily(rows)
    return tag, chosen, [{"ts": bucket, "value": total / count if count else None, "min": lo, "max": hi, "last": last,
                          "count": count} for bucket, total, count, lo, hi, last in rows]


def series(session: Session, caller: Principal, tag_id: int, *, start: int, end: int, resolution: str) -> Series:
    """Samples or rollup buckets of one tag in [start, end), at the resolution :func:`pick_resolution` gives.

    Rollup points carry the bucket's average as ``value`` with ``min``, ``max``, ``last`` and the
    sample ``count``; ``1d`` buckets are UTC days merged from the hourly rollups. A text tag has
    raw samples only. An explicit ``raw`` over more than 50,000 samples is refused (422).
    """
    tag, chosen, points = _series(session, caller, tag_id, start, end, resolution)
    # built without re-validation: the columns are typed already, and thousands of points are common
    return Series.model_construct(tag_id=tag.id, key=tag.key, unit=tag.unit, resolution=chosen, start=start, end=end,
                                  points=[SeriesPoint.model_construct(**p) for p in points])


def series_json(session: Session, caller: Principal, tag_id: int, *, start: int, end: int, resolution: str) -> bytes:
    """:func:`series` as the JSON the API answers with: the same fields, serialised by orjson straight from
    plain dicts — a Pydantic object per point cost more than the query for a day of minutes."""
    tag, chosen, points = _series(session, caller, tag_id, start, end, resolution)
    return orjson.dumps({"tag_id": tag.id, "key": tag.key, "unit": tag.unit, "resolution": chosen, "start": start,
                         "end": end, "points": points})


def export_rows(db: Database, org_id: int, tag_ids: list[int], start: int, end: int) -> Iterator[str]:
    """CSV text of raw samples (tag, ISO time, epoch ms, value, unit), streamed in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["tag", "time", "ts_ms", "value", "unit"])
    yield buffer.getvalue()
    with db.sessions() as session:
        tags = {t.id: t for t in session.scalars(select(Tag).where(Tag.org_id == org_id, Tag.id.in_(tag_ids)))}
        for tag_id in sorted(tags):
            tag = tags[tag_id]
            stmt = (select(Sample.ts, Sample.value, Sample.text)
                    .where(Sample.tag_id == tag_id, Sample.ts >= start, Sample.ts < end).order_by(Sample.ts))
            for chunk in session.execute(stmt.execution_options(yield_per=20_000)).partitions():
                buffer.seek(0)
                buffer.truncate()
                for ts, value, text_value in chunk:
                    iso = datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="milliseconds")
                    writer.writerow([tag.key, iso.replace("+00:00", "Z"), ts,
                                     text_value if text_value is not None else repr(value), tag.unit])
                yield buffer.getvalue()


def tags_for_export(session: Session, caller: Principal, tag_ids: list[int], machine_id: int | None) -> list[int]:
    if machine_id is not None:
        machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
        return list(session.scalars(select(Tag.id).where(Tag.machine_id == machine.id)))
    if not tag_ids:
        raise Invalid("name the tags (tag_id=…) or a machine (machine_id=…)", field="tag_id")
    found = set(session.scalars(tenant_scoped(select(Tag.id), Tag, caller).where(Tag.id.in_(tag_ids))))
    missing = [t for t in tag_ids if t not in found]
    if missing:
        raise NotFound(f"tag {missing[0]} not found", field="tag_id")
    return tag_ids


# ---------------------------------------------------------------- retention


def retention_for(session: Session, org_id: int, settings: Settings) -> tuple[RetentionPolicy, bool]:
    policy = session.get(RetentionPolicy, org_id)
    if policy is not None:
        return policy, False
    return RetentionPolicy(org_id=org_id, raw_days=settings.retention_raw_days,
                           rollup_1m_days=settings.retention_rollup_1m_days,
                           rollup_1h_days=settings.retention_rollup_1h_days), True


def apply_retention(session: Session, settings: Settings, *, now_ms: int) -> dict[str, int]:
    """Remove telemetry older than each tenant's policy.

    On PostgreSQL a daily partition of ``samples`` that is older than every tenant's raw
    retention is dropped whole; tenants with a shorter policy have their own older rows
    deleted. Rollups are deleted by tenant.
    """
    day = storage.DAY_MS
    counts = {"partitions_dropped": 0, "samples_deleted": 0, "rollups_deleted": 0}
    policies = {p.org_id: p for p in session.scalars(select(RetentionPolicy))}
    org_ids = list(session.scalars(select(Organization.id)))
    raw_days = {o: (policies[o].raw_days if o in policies else settings.retention_raw_days) for o in org_ids}
    longest = max(raw_days.values(), default=settings.retention_raw_days)
    if session.get_bind().dialect.name == "postgresql":
        cutoff = now_ms - longest * day
        rows = session.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'samples'")).scalars()
        dropped_days = []
        for name in rows:
            match = re.fullmatch(r"samples_d(\d+)", name)
            if match and (int(match.group(1)) + 1) * day <= cutoff:
                session.execute(text(f"DROP TABLE {name}"))
                dropped_days.append(int(match.group(1)) * day)
                counts["partitions_dropped"] += 1
        storage.forget_partitions(dropped_days)
    for org_id in org_ids:
        policy = policies.get(org_id)
        tag_ids = select(Tag.id).where(Tag.org_id == org_id).scalar_subquery()
        raw_cut = now_ms - raw_days[org_id] * day
        result = session.execute(delete(Sample).where(Sample.tag_id.in_(tag_ids), Sample.ts < raw_cut))
        counts["samples_deleted"] += result.rowcount or 0
        for table, days in ((Rollup1m, policy.rollup_1m_days if policy else settings.retention_rollup_1m_days),
                            (Rollup1h, policy.rollup_1h_days if policy else settings.retention_rollup_1h_days)):
            result = session.execute(delete(table).where(table.tag_id.in_(tag_ids), table.bucket < now_ms - days * day))
            counts["rollups_deleted"] += result.rowcount or 0
    return counts


def count_samples(session: Session, tag_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Sample).where(Sample.tag_id == tag_id)) or 0
