"""The ingest protocol between a gateway and the platform (the only thing they share).

A *batch* is JSON, gzip-compressed on the wire, columnar per tag so that thousands of
samples cost one parse::

    {"batch_id": "gw-hefei-1:000000000042",          # idempotency key
     "series": [{"tag": "cnc-01.spindle_speed",       # platform tag key
                 "ts": [1795770000000, ...],          # epoch ms UTC, device time
                 "v":  [1200.0, ...]}],               # numbers, booleans or strings
     "stale": [{"tag": "cnc-01.spindle_speed", "ts": 1795770009000}]}

HTTP: ``POST /api/v1/ingest`` with ``Authorization: Bearer cwg_…`` (the gateway's own
credential) and ``Content-Encoding: gzip``; the 200 answer (:class:`Ack`) comes only after
the batch is committed. MQTT: the gateway publishes the same bytes with QoS 1 to
``commonworks/ingest/<gateway key>`` with user property ``token`` … and the platform
answers on ``commonworks/ack/<gateway key>`` after commit. A gateway that also sends the user
property ``acks`` = ``batched`` (:data:`MQTT_BATCHED_ACKS`) gets one answer message per
worker micro-batch carrying the answers to all its batches in it::

    {"acks": [{"batch_id": "gw-hefei-1:000000000042", "accepted": 3, "duplicates": 0, ...},
              {"batch_id": "gw-hefei-1:000000000043", "error": {"code": …, "message": …, "field": …}}]}

(one element per batch, each exactly the single answer below); a gateway that does not
(older releases) gets one answer message per batch: the Ack JSON itself.
Resending a batch is harmless: samples are unique on (tag, ts). A batch the platform
cannot take is answered ``{"batch_id": …, "error": {"code", "message", "field"}}``; codes in
:data:`RETRY_LATER_CODES` mean "keep it and try again" (a credential or rate problem), any
other code means the batch itself is unreadable.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from commonworks.connect.samples import Sample

INGEST_PATH = "/api/v1/ingest"
MQTT_INGEST_TOPIC = "commonworks/ingest/{gateway}"
MQTT_ACK_TOPIC = "commonworks/ack/{gateway}"
MQTT_SHARED_GROUP = "commonworks-ingest"
MAX_BATCH_SAMPLES = 100_000
GATEWAY_TOKEN_PREFIX = "cwg_"
RETRY_LATER_CODES = frozenset({"unauthorized", "forbidden", "too_many_requests"})
MQTT_BATCHED_ACKS = ("acks", "batched")  # MQTT 5 user property: "answer my batches in lists"
MQTT_MAX_ANSWER_BYTES = 256 * 1024  # a list answer larger than this is split into several messages


@dataclass(slots=True)
class EncodedBatch:
    """A batch ready to send: the body, how many queued samples it stands for, and how many it leaves out."""

    body: bytes
    samples: int
    repeated: int  # samples whose (tag, ts) came earlier in the same batch: left out, the first one counts


def encode_columns(
    batch_id: str,
    keys: Sequence[str],
    tags: np.ndarray,
    ts: np.ndarray,
    values: np.ndarray | Sequence[Any],
    *,
    compress: bool = True,
) -> EncodedBatch:
    """Group samples given as columns per tag into the batch document (gzip unless ``compress=False``).

    ``keys[tags[i]]`` is the tag of sample i; ``values`` is a float64 array or any values (``None``
    is a stale marker). Within a tag the queue order is kept. A (tag, ts) that comes again later
    in the batch is left out and counted in :attr:`EncodedBatch.repeated`: the platform stores one
    sample per (tag, ts) and keeps the first, so sending the repeat would only hide it.
    """
    total = len(tags)
    tags = np.asarray(tags)
    ts = np.asarray(ts, dtype=np.int64)
    floats = values if isinstance(values, np.ndarray) and values.dtype == np.float64 else None
    generic: list[Any] | None = None if floats is not None else list(values)
    stale: list[dict[str, Any]] = []
    if generic is not None:
        is_stale = np.fromiter((v is None for v in generic), dtype=bool, count=total)
        if is_stale.any():
            where = np.flatnonzero(is_stale)
            stale = [{"tag": keys[t], "ts": s} for t, s in zip(tags[where].tolist(), ts[where].tolist(), strict=True)]
            keep = ~is_stale
            tags, ts = tags[keep], ts[keep]
            generic = [v for v in generic if v is not None]
    order = np.argsort(tags, kind="stable")
    sorted_tags, sorted_ts = tags[order], ts[order]
    repeated = 0
    if len(order) > 1 and bool(((sorted_tags[1:] == sorted_tags[:-1]) & (sorted_ts[1:] <= sorted_ts[:-1])).any()):
        # Not strictly increasing within some tag: look for repeated (tag, ts), keeping the first of each.
        by_key = np.lexsort((ts, tags))  # stable: repeats stay in queue order
        key_tags, key_ts = tags[by_key], ts[by_key]
        again = np.zeros(len(by_key), dtype=bool)
        again[1:] = (key_tags[1:] == key_tags[:-1]) & (key_ts[1:] == key_ts[:-1])
        repeated = int(again.sum())
        if repeated:
            keep = np.ones(len(tags), dtype=bool)
            keep[by_key[again]] = False
            tags, ts = tags[keep], ts[keep]
            if floats is not None:
                floats = floats[keep]
            else:
                assert generic is not None
                generic = [v for v, k in zip(generic, keep.tolist(), strict=True) if k]
            order = np.argsort(tags, kind="stable")
            sorted_tags, sorted_ts = tags[order], ts[order]
    starts = np.flatnonzero(np.diff(sorted_tags)) + 1 if len(order) else np.empty(0, dtype=np.int64)
    bounds = [0, *starts.tolist(), len(order)] if len(order) else []
    series_keys = [keys[t] for t in sorted_tags[bounds[:-1]].tolist()] if bounds else []
    if floats is not None:
        sorted_values: Any = floats[order]
    else:
        assert generic is not None
        sorted_values = [generic[i] for i in order.tolist()]
    series = [
        {"tag": key, "ts": sorted_ts[a:b], "v": sorted_values[a:b]}
        for key, a, b in zip(series_keys, bounds[:-1], bounds[1:], strict=True)
    ]
    doc: dict[str, Any] = {"batch_id": batch_id, "series": series}
    if stale:
        doc["stale"] = stale
    raw = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    return EncodedBatch(gzip.compress(raw, compresslevel=1) if compress else raw, total, repeated)


def encode_batch(batch_id: str, samples: Sequence[Sample], *, compress: bool = True) -> bytes:
    """Group samples per tag into the columnar batch document (see :func:`encode_columns`)."""
    index: dict[str, int] = {}
    tags = np.fromiter((index.setdefault(s.tag, len(index)) for s in samples), dtype=np.int32, count=len(samples))
    ts = np.fromiter((s.ts for s in samples), dtype=np.int64, count=len(samples))
    return encode_columns(batch_id, list(index), tags, ts, [s.value for s in samples], compress=compress).body


@dataclass
class Rejected:
    tag: str
    ts: int | None
    reason: str


@dataclass
class Ack:
    """The platform's answer to a committed batch."""

    batch_id: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    created_tags: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Ack:
        return cls.from_doc(orjson.loads(data))

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Ack:
        return cls(
            batch_id=doc["batch_id"],
            accepted=doc.get("accepted", 0),
            duplicates=doc.get("duplicates", 0),
            rejected=[Rejected(**r) for r in doc.get("rejected", [])],
            created_tags=list(doc.get("created_tags", [])),
        )


def encode_answers(answers: Sequence[bytes]) -> list[bytes]:
    """MQTT list answers ``{"acks": [...]}`` for single answers (JSON each), split to stay below
    :data:`MQTT_MAX_ANSWER_BYTES` per message (a single larger answer travels alone)."""
    messages: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for answer in answers:
        if chunk and size + len(answer) + 1 > MQTT_MAX_ANSWER_BYTES:
            messages.append(b'{"acks":[' + b",".join(chunk) + b"]}")
            chunk, size = [], 0
        chunk.append(answer)
        size += len(answer) + 1
    if chunk:
        messages.append(b'{"acks":[' + b",".join(chunk) + b"]}")
    return messages


def decode_answers(payload: bytes | str) -> list[dict[str, Any]]:
    """The single answers in an MQTT answer message: a list answer or one single answer.

    Raises ValueError (orjson.JSONDecodeError is one) when it is neither.
    """
    doc = orjson.loads(payload)
    if not isinstance(doc, dict):
        raise ValueError("an answer is a JSON object")
    if "acks" in doc:
        acks = doc["acks"]
        if not isinstance(acks, list) or not all(isinstance(a, dict) for a in acks):
            raise ValueError("acks must be a list of answer objects")
        return acks
    return [doc]
