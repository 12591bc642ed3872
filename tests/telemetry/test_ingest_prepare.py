"""ingest.prepare: the plain-Python path for short series decides exactly as the general (numpy) path."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonworks.telemetry import ingest
from commonworks.telemetry.models import DataType

NOW = 1_767_571_200_000
TAGS = {"f": (1, DataType.float), "i": (2, DataType.int), "b": (3, DataType.bool), "s": (4, DataType.string)}

timestamps = st.one_of(
    st.integers(NOW - 10_000, NOW + 10_000),  # around now: some too far in the future
    st.sampled_from([ingest.MIN_TS - 1, ingest.MIN_TS, NOW, NOW + ingest.MAX_FUTURE_MS,
                     NOW + ingest.MAX_FUTURE_MS + 1, 2**63, -1]),
    st.booleans(), st.floats(allow_nan=True), st.none(), st.text(max_size=3))
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 0.0, 1.0, 2.5, -0.0, 2**53, 2**53 + 1, -(2**53), 1e308]),
    st.booleans(), st.none(), st.text(max_size=3))


@st.composite
def series(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(0, 6))
    if draw(st.booleans()):  # a clean increasing series, the common case
        start = draw(st.integers(NOW - 100_000, NOW))
        ts: list[Any] = [start + i * draw(st.integers(1, 1000)) for i in range(n)]
    else:
        ts = draw(st.lists(timestamps, min_size=n, max_size=n))
    return {"tag": draw(st.sampled_from(["f", "i", "b", "s", "unknown"])), "ts": ts,
            "v": draw(st.lists(values, min_size=n, max_size=n))}


def _summary(prepared: ingest.Prepared) -> Any:
    columns = [(c.key, c.tag_id, c.data_type, c.ts.dtype.str, c.ts.tolist(),
                None if c.values is None else (c.values.dtype.str, [repr(v) for v in c.values.tolist()]), c.texts)
               for c in prepared.columns]
    refused = [(r.tag, r.ts, repr(r.value), r.reason) for r in prepared.refused]
    return columns, refused, prepared.refused_count, prepared.stale, prepared.total, prepared.repeated


@settings(max_examples=400, deadline=None)
@given(st.lists(series(), max_size=4), st.integers(1, 20))
def test_short_series_path_agrees_with_the_general_path(batch_series: list[dict[str, Any]],
                                                        max_samples: int) -> None:
    doc = {"batch_id": "b", "series": batch_series}

    def run(short: int) -> Any:
        saved = ingest.SHORT_SERIES
        ingest.SHORT_SERIES = short
        try:
            return _summary(ingest.prepare(doc, TAGS, now_ms=NOW, max_samples=max_samples))
        except (OverflowError, ValueError) as exc:  # the general path's own limits, e.g. a float beyond 1e308
            return type(exc)
        finally:
            ingest.SHORT_SERIES = saved

    assert run(ingest.SHORT_SERIES) == run(0)


@settings(max_examples=300, deadline=None)
@given(st.lists(series(), max_size=4), st.integers(1, 20))
def test_every_sample_is_stored_refused_or_counted_as_a_repeat(batch_series: list[dict[str, Any]],
                                                               max_samples: int) -> None:
    doc = {"batch_id": "b", "series": batch_series}
    try:
        prepared = ingest.prepare(doc, TAGS, now_ms=NOW, max_samples=max_samples)
    except (OverflowError, ValueError):
        return
    kept = sum(len(c.ts) for c in prepared.columns)
    sent = sum(len(s["ts"]) for s in batch_series)
    assert kept + prepared.refused_count + prepared.repeated == prepared.total == sent


def test_the_common_mqtt_shape_takes_the_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = ingest._short_numeric
    monkeypatch.setattr(ingest, "_short_numeric", lambda *a: calls.append(a) or real(*a))
    doc = {"batch_id": "gw-1", "series": [{"tag": "f", "ts": [NOW], "v": [20.5]}, {"tag": "i", "ts": [NOW], "v": [3]},
                                          {"tag": "b", "ts": [NOW - 1, NOW], "v": [0, 1]}]}
    prepared = ingest.prepare(doc, TAGS, now_ms=NOW)
    assert len(calls) == 3 and not prepared.refused
    assert [(c.tag_id, c.ts.dtype, c.values.dtype) for c in prepared.columns] == [  # type: ignore[union-attr]
        (1, np.int64, np.float64), (2, np.int64, np.float64), (3, np.int64, np.float64)]
    assert math.isclose(prepared.columns[0].values[0], 20.5)  # type: ignore[index]
