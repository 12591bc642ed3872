"""The batch document a gateway sends: grouped per tag in queue order, stale markers apart, repeats counted."""

from __future__ import annotations

import gzip

import numpy as np
import orjson

from commonworks.connect.protocol import encode_batch, encode_columns
from commonworks.connect.samples import Sample

T0 = 1_795_770_000_000


def test_float_columns_become_one_series_per_tag_in_queue_order() -> None:
    keys = ["", "press.force", "press.stroke"]
    tags = np.array([1, 2, 1, 2, 1], dtype=np.int32)
    ts = np.array([T0, T0, T0 + 1000, T0 + 1000, T0 + 500], dtype=np.int64)
    values = np.array([10.5, 1.0, 11.0, 2.0, 10.75])
    encoded = encode_columns("gw:1", keys, tags, ts, values)
    assert (encoded.samples, encoded.repeated) == (5, 0)
    assert orjson.loads(gzip.decompress(encoded.body)) == {
        "batch_id": "gw:1",
        "series": [
            {"tag": "press.force", "ts": [T0, T0 + 1000, T0 + 500], "v": [10.5, 11.0, 10.75]},
            {"tag": "press.stroke", "ts": [T0, T0 + 1000], "v": [1.0, 2.0]},
        ],
    }


def test_values_keep_their_types_stale_markers_go_apart_and_a_repeated_tag_and_time_is_sent_once() -> None:
    samples = [
        Sample("cnc.state", T0, "RUNNING"),
        Sample("cnc.parts", T0, 41),
        Sample("cnc.alarm", T0, False),
        Sample("cnc.parts", T0, 42),  # same (tag, ts) again: the first one stays, as the platform keeps it
        Sample("cnc.parts", T0 + 1000, 43),
        Sample("cnc.state", T0 + 1000, None),  # stale from here on
        Sample("cnc.state", T0, "IDLE"),
    ]  # again
    doc = orjson.loads(encode_batch("gw:2", samples, compress=False))
    assert doc == {
        "batch_id": "gw:2",
        "series": [
            {"tag": "cnc.state", "ts": [T0], "v": ["RUNNING"]},
            {"tag": "cnc.parts", "ts": [T0, T0 + 1000], "v": [41, 43]},
            {"tag": "cnc.alarm", "ts": [T0], "v": [False]},
        ],
        "stale": [{"tag": "cnc.state", "ts": T0 + 1000}],
    }
    keys = ["cnc.state", "cnc.parts", "cnc.alarm"]
    index = {k: i for i, k in enumerate(keys)}
    encoded = encode_columns(
        "gw:2",
        keys,
        np.array([index[s.tag] for s in samples]),
        np.array([s.ts for s in samples]),
        [s.value for s in samples],
        compress=False,
    )
    assert (encoded.samples, encoded.repeated) == (7, 2)
    assert orjson.loads(encoded.body) == doc
