"""Turning a gateway's batch document into validated, per-tag columns (pure; no database).

The batch format is defined in :mod:`commonworks.connect.protocol`. Validation is
vectorised with numpy for the common case (a series of numbers with integer
timestamps) — checked in plain Python when a series is short (an MQTT message of a few
samples per tag, where numpy's per-array set-up costs more than the check) — and falls
back to a per-sample path that names the reason for every sample
it refuses: unknown tag, wrong type, NaN/infinity, a timestamp before 2000 or too far in
the future, or a batch larger than the limit. Refused samples become dead letters; the
rest of the batch is stored.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from commonworks.connect.protocol import MAX_BATCH_SAMPLES
from commonworks.telemetry.models import DataType

MIN_TS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_FUTURE_MS = 5 * 60 * 1000
MAX_DECOMPRESSED = 256 * 1024 * 1024
KEEP_DEAD_LETTERS = 1000  # stored one by one per batch; beyond that one summary row carries the count


class BatchError(ValueError):
    """The document as a whole is unreadable; nothing of it is stored."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def decode_body(body: bytes, content_encoding: str | None) -> dict[str, Any]:
    """Decompress (gzip) and parse the JSON document, bounded against decompression bombs."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip") or (not encoding and body[:2] == b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(body, MAX_DECOMPRESSED)
        except zlib.error as exc:
            raise BatchError(f"body is not valid gzip: {exc}") from exc
        if inflater.unconsumed_tail:
            raise BatchError(f"batch is larger than {MAX_DECOMPRESSED // 2**20} MiB uncompressed")
    elif encoding in ("", "identity"):
        raw = body
    else:
        raise BatchError(f"unsupported Content-Encoding {content_encoding!r}; use gzip or none")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # Python's json writes NaN/Infinity by default; read them so that those samples become
        # dead letters with a reason instead of the whole batch being refused.
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise BatchError(f"body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BatchError("a batch is a JSON object with batch_id and series")
    return doc


@dataclass
class Column:
    """Validated samples of one tag, sorted by ts, unique ts."""

    key: str
    tag_id: int
    data_type: DataType
    ts: np.ndarray  # int64
    values: np.ndarray | None  # float64, for numeric tags
    texts: list[str] | None  # for string tags


@dataclass
class Refusal:
    tag: str
    ts: int | None
    value: Any
    reason: str


@dataclass
class Prepared:
    batch_id: str
    columns: list[Column] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    refused_count: int = 0
    stale: list[tuple[int, int]] = field(default_factory=list)  # (tag_id, ts)
    total: int = 0
    repeated: int = 0  # samples whose (tag, ts) came earlier in the batch: left out, the first one counts

    def refuse(self, tag: str, ts: Any, value: Any, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < KEEP_DEAD_LETTERS:
            self.refused.append(Refusal(tag=tag, ts=ts if isinstance(ts, int) and not isinstance(ts, bool) else None,
                                        value=value, reason=reason))


TagInfo = tuple[int, DataType]


def infer_type(values: list[Any]) -> DataType | None:
    """The data type of an auto-created tag, from its first value."""
    for v in values:
        if isinstance(v, bool):
            return DataType.bool
        if isinstance(v, int):
            return DataType.int
        if isinstance(v, float):
            return DataType.float
        if isinstance(v, str):
            return DataType.string
    return None


def _structure(doc: dict[str, Any]) -> tuple[str, list[dict[str, Any]], list[Any]]:
    batch_id = doc.get("batch_id")
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 200:
        raise BatchError("batch_id must be a string of 1 to 200 characters", "batch_id")
    series = doc.get("series", [])
    if not isinstance(series, list):
        raise BatchError("series must be a list", "series")
    for i, s in enumerate(series):
        if not isinstance(s, dict) or not isinstance(s.get("tag"), str):
            raise BatchError(f"series[{i}] must be an object with a tag key", f"series.{i}.tag")
        if not isinstance(s.get("ts"), list) or not isinstance(s.get("v"), list):
            raise BatchError(f"series[{i}] needs lists ts and v", f"series.{i}")
        if len(s["ts"]) != len(s["v"]):
            raise BatchError(f"series[{i}]: ts and v have different lengths", f"series.{i}")
    stale = doc.get("stale", [])
    if not isinstance(stale, list):
        raise BatchError("stale must be a list", "stale")
    return batch_id, series, stale


def _slow_reason(ts: Any, value: Any, data_type: DataType, lo: int, hi: int) -> str | None:
    if isinstance(ts, bool) or not isinstance(ts, int):
        return "timestamp is not an integer (epoch milliseconds)"
    if ts < lo:
        return "timestamp before 2000-01-01"
    if ts > hi:
        return "timestamp too far in the future"
    if data_type is DataType.string:
        if not isinstance(value, str):
            return f"{data_type.value} tag got {type(value).__name__}"
        return "text contains the NUL character" if "\x00" in value else None
    if isinstance(value, str) or value is None or not isinstance(value, int | float):
        return f"{data_type.value} tag got {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return "value is NaN or infinite"
    if data_type is DataType.bool and value not in (0, 1):
        return "bool tag got a number other than 0 or 1"
    if data_type is DataType.int and not float(value).is_integer():
        return "int tag got a fraction"
    return None


def _fast_numeric(ts_list: list[Any], v_list: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Arrays for a clean numeric series, or None when any element needs the slow path."""
    ts = np.array(ts_list)
    values = np.array(v_list)
    if ts.dtype != np.int64 or values.dtype.kind not in "fiu" or values.dtype == np.bool_:
        return None
    return ts, values.astype(np.float64, copy=False)


SHORT_SERIES = 16  # up to this many samples a plain-Python check beats numpy's per-array overhead
_EXACT = 1 << 53  # integers that float64 holds exactly


def _short_numeric(ts_list: list[Any], v_list: list[Any], data_type: DataType, lo: int, hi: int) -> bool:
    """True when a short numeric series is clean and strictly increasing in ts (the common case).

    The common MQTT shape (a few samples per tag per message) costs more in numpy's
    per-array set-up than in the check itself: such series are checked here and their
    arrays made once per batch. Anything unusual returns False and takes the general path,
    which names the reason for every refused sample.
    """
    prev = lo - 1
    for t in ts_list:
        if type(t) is not int or t <= prev or t > hi:
            return False
        prev = t
    for v in v_list:
        kind = type(v)
        if kind is float:
            if v - v != 0.0:  # NaN or infinity
                return False
        elif kind is not int or not -_EXACT < v < _EXACT:
            return False
    if data_type is _BOOL:
        return all(v == 0 or v == 1 for v in v_list)
    if data_type is _INT:
        return not any(type(v) is float and not v.is_integer() for v in v_list)
    return True


_BOOL, _INT, _STRING = DataType.bool, DataType.int, DataType.string  # enum member lookups cost ~150 ns each
_NO_TS = np.empty(0, dtype=np.int64)


def prepare(doc: dict[str, Any], tags: dict[str, TagInfo], *, now_ms: int,
            max_samples: int = MAX_BATCH_SAMPLES, max_future_ms: int = MAX_FUTURE_MS) -> Prepared:
    """Validate a batch against the gateway's tenant tags (``key → (id, type)``).

    Unknown tags are refused here; create them first (see :func:`unknown_tags`) when the
    gateway may create tags.
    """
    batch_id, series, stale = _structure(doc)
    out = Prepared(batch_id=batch_id)
    lo, hi = MIN_TS, now_ms + max_future_ms
    budget = max_samples
    short_columns: list[tuple[Column, int]] = []  # their arrays are views into two arrays made at the end
    short_ts: list[int] = []
    short_values: list[Any] = []
    for s in series:
        key, ts_list, v_list = s["tag"], s["ts"], s["v"]
        out.total += len(ts_list)
        if len(ts_list) > budget:
            for t, v in zip(ts_list[budget:], v_list[budget:], strict=True):
                out.refuse(key, t, v, f"batch exceeds {max_samples} samples")
            ts_list, v_list = ts_list[:budget], v_list[:budget]
        budget -= len(ts_list)
        if not ts_list:
            continue
        info = tags.get(key)
        if info is None:
            for t, v in zip(ts_list, v_list, strict=True):
                out.refuse(key, t, v, "unknown tag")
            continue
        tag_id, data_type = info
        if (data_type is not _STRING and len(ts_list) <= SHORT_SERIES
                and _short_numeric(ts_list, v_list, data_type, lo, hi)):
            column = Column(key=key, tag_id=tag_id, data_type=data_type, ts=_NO_TS, values=None, texts=None)
            out.columns.append(column)
            short_columns.append((column, len(ts_list)))
            short_ts += ts_list
            short_values += v_list
            continue
        texts: list[str] | None = None
        values: np.ndarray | None = None
        fast = _fast_numeric(ts_list, v_list) if data_type.numeric else None
        if fast is not None:
            ts, values = fast
            ok = (ts >= lo) & (ts <= hi) & np.isfinite(values)
            if data_type is DataType.bool:
                ok &= (values == 0) | (values == 1)
            elif data_type is DataType.int:
                ok &= np.isfinite(values) & (np.floor(values) == values)
            if not ok.all():
                for i in np.flatnonzero(~ok):
                    t, v = ts_list[i], v_list[i]
                    out.refuse(key, t, v, _slow_reason(t, v, data_type, lo, hi) or "invalid")
                ts, values = ts[ok], values[ok]
        else:
            keep_ts: list[int] = []
            keep_v: list[Any] = []
            for t, v in zip(ts_list, v_list, strict=True):
                reason = _slow_reason(t, v, data_type, lo, hi)
                if reason:
                    out.refuse(key, t, v, reason)
                else:
                    keep_ts.append(t)
                    keep_v.append(v)
            ts = np.array(keep_ts, dtype=np.int64)
            if data_type.numeric:
                values = np.array(keep_v, dtype=np.float64)
            else:
                texts = keep_v
        if len(ts) == 0:
            continue
        if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            first = np.ones(len(ts), dtype=bool)
            first[1:] = ts[1:] != ts[:-1]
            out.repeated += len(ts) - int(first.sum())
            ts = ts[first]
            if values is not None:
                values = values[order][first]
            if texts is not None:
                texts = [texts[i] for i in order[first]]
        out.columns.append(Column(key=key, tag_id=tag_id, data_type=data_type, ts=ts, values=values, texts=texts))
    if short_columns:
        all_ts = np.array(short_ts, dtype=np.int64)
        all_values = np.array(short_values, dtype=np.float64)
        start = 0
        for column, count in short_columns:
            column.ts, column.values = all_ts[start:start + count], all_values[start:start + count]
            start += count
    for i, entry in enumerate(stale):
        if not isinstance(entry, dict) or not isinstance(entry.get("tag"), str):
            raise BatchError(f"stale[{i}] must be an object with tag and ts", f"stale.{i}")
        info = tags.get(entry["tag"])
        ts_val = entry.get("ts")
        if info is None:
            out.refuse(entry["tag"], ts_val, None, "unknown tag (stale marker)")
        elif isinstance(ts_val, bool) or not isinstance(ts_val, int) or not lo <= ts_val <= hi:
            out.refuse(entry["tag"], ts_val, None, "stale marker needs a timestamp between 2000 and now")
        else:
            out.stale.append((info[0], ts_val))
    return out


def unknown_tags(doc: dict[str, Any], known: set[str]) -> dict[str, DataType | None]:
    """Tag keys of the batch that are not known yet, with the type their values suggest."""
    found: dict[str, DataType | None] = {}
    for s in doc.get("series", []) if isinstance(doc.get("series"), list) else []:
        if isinstance(s, dict) and isinstance(s.get("tag"), str) and s["tag"] not in known:
            values = s.get("v") if isinstance(s.get("v"), list) else []
            found.setdefault(s["tag"], infer_type(values))
    return found


def gzip_json(doc: Any) -> bytes:
    return gzip.compress(orjson.dumps(doc), compresslevel=1)
