"""MqttTransport's side of the answer protocol: single answers and list answers ``{"acks": [...]}``."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from commonworks.connect.protocol import (
    MQTT_BATCHED_ACKS,
    MQTT_MAX_ANSWER_BYTES,
    Ack,
    decode_answers,
    encode_answers,
)
from commonworks.connect.transport import BatchRejected, MqttTransport, TransportError


def _ack(batch_id: str, accepted: int = 3) -> bytes:
    return orjson.dumps({"batch_id": batch_id, "accepted": accepted, "duplicates": 0, "rejected": [],
                         "rejected_count": 0, "created_tags": []})


def _error(batch_id: str | None, code: str, message: str) -> bytes:
    return orjson.dumps({"batch_id": batch_id, "error": {"code": code, "message": message, "field": None}})


def test_list_answers_round_trip_and_split_when_large() -> None:
    parts = [_ack(f"b-{i}") for i in range(3)] + [_error("b-3", "validation_error", "series must be a list")]
    (message,) = encode_answers(parts)
    assert [a["batch_id"] for a in decode_answers(message)] == ["b-0", "b-1", "b-2", "b-3"]
    assert decode_answers(parts[0]) == [orjson.loads(parts[0])]  # a single answer (older platforms)
    many = [_ack(f"batch-{i:06d}") for i in range(MQTT_MAX_ANSWER_BYTES // 50)]
    messages = encode_answers(many)
    assert len(messages) > 1 and all(len(m) <= MQTT_MAX_ANSWER_BYTES + 16 for m in messages)
    assert [a["batch_id"] for m in messages for a in decode_answers(m)] == [orjson.loads(p)["batch_id"] for p in many]
    for bad in (b"[1, 2]", b'{"acks": 5}', b'{"acks": [1]}', b"<html>"):
        with pytest.raises(ValueError):
            decode_answers(bad)


def test_transport_asks_for_list_answers_and_settles_every_batch_of_one() -> None:
    async def scenario() -> None:
        transport = MqttTransport("mqtt://127.0.0.1:1", "gw-1", "cwg_token")
        await transport.start()
        try:
            assert MQTT_BATCHED_ACKS in transport._properties.UserProperty
            loop = asyncio.get_running_loop()
            futures = {f"b-{i}": loop.create_future() for i in range(5)}
            transport._pending.update(futures)
            transport._on_ack(encode_answers([
                _ack("b-0", 3), _error("b-1", "validation_error", "series[0] needs lists ts and v"),
                _error("b-2", "unauthorized", "gateway credential is unknown or revoked"),
                _ack("b-unknown"), _error(None, "validation_error", "body is not JSON"), _ack("b-3", 1)])[0])
            assert futures["b-0"].result() == Ack(batch_id="b-0", accepted=3)
            with pytest.raises(BatchRejected, match="needs lists ts and v"):
                futures["b-1"].result()
            with pytest.raises(TransportError, match="unauthorized"):  # kept queued, like HTTP 401
                futures["b-2"].result()
            assert futures["b-3"].result().accepted == 1
            assert not futures["b-4"].done()
            transport._on_ack(_ack("b-4", 2))  # a single answer still settles its batch
            assert futures["b-4"].result().accepted == 2
            transport._on_ack(b"not json")  # ignored
        finally:
            await transport.close()

    asyncio.run(scenario())
