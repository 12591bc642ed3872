"""Sparkplug B: the codec, and the host application against the edge-node simulator over a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiomqtt
import orjson
import pytest
from pydantic import ValidationError

from commonworks.connect.samples import Sample
from commonworks.connect.simulators.sparkplug_node import EdgeNodeSimulator, drop_connection, gateway_device
from commonworks.connect.sparkplug import sparkplug_b_pb2 as pb
from commonworks.connect.sparkplug.codec import (
    DataSet,
    DataType,
    Metric,
    decode_payload,
    encode_payload,
    metric_value,
    parse_payload,
    value_reader,
)
from commonworks.connect.sparkplug.host import DEVICE_CONFIG, SparkplugHostConfig, SparkplugHostConnector

_names = itertools.count()

PRESS_METRICS = ["alarm_code", "part_count", "program", "state", "stroke_count", "tonnage"]
LASER_METRICS = ["alarm_code", "assist_gas_pressure", "cutting_speed", "laser_power", "part_count", "sheet_count",
                 "state"]


def expected_tags(edge_node: str) -> set[str]:
    tags = {f"{edge_node}.uptime", f"{edge_node}.properties_hardware_make"}
    for device, metrics in (("press-brake-01", PRESS_METRICS), ("press-brake-02", PRESS_METRICS),
                            ("laser-01", LASER_METRICS)):
        tags.update(f"{edge_node}.{device}.{m}" for m in metrics)
    return tags


# ---------------------------------------------------------------------------- codec

ROUND_TRIP_VALUES: list[tuple[DataType, Any]] = [
    (DataType.Int8, -128), (DataType.Int8, 127), (DataType.Int16, -32768), (DataType.Int16, 1234),
    (DataType.Int32, -2_147_483_648), (DataType.Int32, 2_147_483_647), (DataType.Int64, -(2**63)),
    (DataType.Int64, 2**63 - 1), (DataType.UInt8, 255), (DataType.UInt16, 65535), (DataType.UInt32, 4_294_967_295),
    (DataType.UInt64, 2**64 - 1), (DataType.Float, 21.9), (DataType.Float, -1.5e-3),
    (DataType.Double, 3.141592653589793), (DataType.Boolean, True), (DataType.Boolean, False),
    (DataType.String, "Stroke 冲压"), (DataType.DateTime, 1795770000123),
    (DataType.Text, "a longer\nnote"), (DataType.UUID, "5f0c2c8e-3b1a-4d7e-9a55-1c2d3e4f5a6b"),
    (DataType.Bytes, b"\x00\x01\xff"), (DataType.File, b"%PDF-1.7"),
    (DataType.DataSet, DataSet(columns=["part", "count", "ok"],
                               types=[DataType.String, DataType.Int32, DataType.Boolean],
                               rows=[["bracket", -3, True], ["hinge", 7, False]])),
    (DataType.Int8Array, (-23, 123)), (DataType.Int16Array, (-30000, 30000)), (DataType.Int32Array, (-1, 0, 1)),
    (DataType.Int64Array, (-(2**63), 2**63 - 1)), (DataType.UInt8Array, (0, 255)), (DataType.UInt16Array, (65535,)),
    (DataType.UInt32Array, (4_294_967_295, 0)), (DataType.UInt64Array, (2**64 - 1,)),
    (DataType.FloatArray, (1.5, -2.25)), (DataType.DoubleArray, (1e-300, 2.5)),
    (DataType.BooleanArray, (False, False, True, True, False, True, False, False, True, True, False, True)),
    (DataType.StringArray, ("ABC", "hello", "")), (DataType.DateTimeArray, (1795770000000, 1795770000500)),
]


@pytest.mark.parametrize(("datatype", "value"), ROUND_TRIP_VALUES, ids=lambda v: getattr(v, "name", None))
def test_codec_round_trips_every_datatype(datatype: DataType, value: Any) -> None:
    data = encode_payload([Metric(name="m", datatype=datatype, value=value, alias=7, timestamp=1795770000000)],
                          timestamp=1795770000001, seq=42)
    payload = decode_payload(data)
    assert (payload.timestamp, payload.seq) == (1795770000001, 42)
    (metric,) = payload.metrics
    assert (metric.name, metric.datatype, metric.alias, metric.timestamp) == ("m", datatype, 7, 1795770000000)
    assert metric.value == value


def test_codec_round_trips_templates_properties_and_nulls() -> None:
    template = pb.Payload.Template(version="1.0", template_ref="Motor", is_definition=False)
    member = template.metrics.add()
    member.name, member.datatype, member.float_value = "Amps", int(DataType.Float), 3.5
    properties = {
        "engUnit": (DataType.String, "kN"),
        "engHigh": (DataType.Double, 1000.0),
        "quality": (DataType.Int32, 192),
        "limits": (DataType.PropertySet, {"low": (DataType.Int64, -5)}),
        "history": (DataType.PropertySetList, [{"a": (DataType.Boolean, True)}, {"b": (DataType.String, "x")}]),
        "comment": (DataType.String, None),
    }
    data = encode_payload([
        Metric(name="motor", datatype=DataType.Template, value=template),
        Metric(name="tonnage", datatype=DataType.Float, value=612.5, properties=properties),
        Metric(name="gone", datatype=DataType.Int32, value=None),
    ])
    motor, tonnage, gone = decode_payload(data).metrics
    assert motor.value == template
    assert tonnage.properties == properties
    assert gone.value is None and gone.datatype is DataType.Int32


def test_codec_dates_accept_aware_datetimes_and_reject_out_of_range_values() -> None:
    moment = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    (metric,) = decode_payload(encode_payload([Metric(name="t", datatype=DataType.DateTime, value=moment)])).metrics
    assert metric.value == int(moment.timestamp() * 1000)
    out_of_range = ((DataType.Int8, 128), (DataType.UInt16, -1), (DataType.UInt32, 2**32), (DataType.Int32, 1.5))
    for datatype, value in out_of_range:
        with pytest.raises(ValueError, match=datatype.name):
            encode_payload([Metric(name="x", datatype=datatype, value=value)])


def test_codec_reads_what_other_implementations_write() -> None:
    message = pb.Payload()
    int8 = message.metrics.add()
    int8.datatype, int8.int_value = int(DataType.Int8), 0xFF  # 8-bit two's complement, not 32-bit
    uint32 = message.metrics.add()
    uint32.datatype, uint32.long_value = int(DataType.UInt32), 4_000_000_000  # Tahu before 3.0 used long_value
    int64 = message.metrics.add()
    int64.datatype, int64.long_value = int(DataType.Int64), 2**64 - 2
    parsed = parse_payload(message.SerializeToString())
    assert [value_reader(DataType(m.datatype))(m) for m in parsed.metrics] == [-1, 4_000_000_000, -2]
    assert [metric_value(m, DataType(m.datatype)) for m in parsed.metrics] == [-1, 4_000_000_000, -2]


def test_codec_takes_datatypes_of_data_messages_from_the_birth() -> None:
    data = encode_payload([Metric(name=None, datatype=DataType.Int16, value=-7, alias=3)], with_datatypes=False)
    assert decode_payload(data).metrics[0].datatype is DataType.Unknown
    assert decode_payload(data, {3: DataType.Int16}).metrics[0].value == -7


def test_codec_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_payload(b"\xff\xff\xff\xff not protobuf")


# ---------------------------------------------------------------------------- host, without a broker

def host_config(**overrides: Any) -> SparkplugHostConfig:
    values: dict[str, Any] = {"protocol": "sparkplug", "name": "sparkplug-test", "url": "mqtt://127.0.0.1:1",
                              "host_id": "gw-test"}
    values.update(overrides)
    return SparkplugHostConfig(**values)


def test_host_falls_back_to_payload_time_and_honours_explicit_tags() -> None:
    samples: list[Sample] = []
    tags = {"g/n1/Press 1/Strokes": "pb1.strokes", "g/n1//Line Speed": "line.speed"}
    host = SparkplugHostConnector(host_config(tags=tags), samples.extend)
    host.handle_message("spBv1.0/g/NBIRTH/n1", encode_payload(
        [Metric(name="bdSeq", datatype=DataType.Int64, value=3),
         Metric(name="Line Speed", datatype=DataType.Double, value=1.5, alias=1),
         Metric(name="Shop/Air Pressure", datatype=DataType.Float, value=6.25, alias=2, timestamp=1000)],
        timestamp=900, seq=0))
    host.handle_message("spBv1.0/g/DBIRTH/n1/Press 1", encode_payload(
        [Metric(name="Strokes", datatype=DataType.UInt64, value=10, alias=10),
         Metric(name="Temp (C)", datatype=DataType.Int16, value=-4, alias=11)], timestamp=1100, seq=1))
    host.handle_message("spBv1.0/g/DDATA/n1/Press 1", encode_payload(
        [Metric(name=None, datatype=DataType.UInt64, value=11, alias=10),
         Metric(name=None, datatype=DataType.Int16, value=-3, alias=11, timestamp=1150)],
        timestamp=1200, seq=2, with_datatypes=False))
    assert samples == [
        Sample("line.speed", 900, 1.5), Sample("n1.shop_air_pressure", 1000, 6.25),
        Sample("pb1.strokes", 1100, 10), Sample("n1.press_1.temp_c", 1100, -4),
        Sample("pb1.strokes", 1200, 11), Sample("n1.press_1.temp_c", 1150, -3),
    ]
    assert host._outbox == []  # nothing was out of order


def test_host_resends_unchanged_values_while_the_node_lives_and_never_after_its_death() -> None:
    """Sparkplug reports by exception: a press standing still sends nothing, yet its values hold
    until the node or device dies — so they are re-sent (after ``republish_s``) until then."""
    samples: list[Sample] = []
    host = SparkplugHostConnector(host_config(republish_s=0.1), samples.extend)
    host.available = True  # as when its MQTT session is up
    host.handle_message("spBv1.0/g/NBIRTH/n1", encode_payload(
        [Metric(name="bdSeq", datatype=DataType.Int64, value=3),
         Metric(name="Line Speed", datatype=DataType.Double, value=1.5, alias=1)], timestamp=900, seq=0))
    host.handle_message("spBv1.0/g/DBIRTH/n1/Press 1", encode_payload(
        [Metric(name="Strokes", datatype=DataType.UInt64, value=10, alias=10)], timestamp=1100, seq=1))
    assert host.republish_due() == 0  # not yet: sent just now
    time.sleep(0.15)
    assert host.republish_due() == 2
    again = {s.tag: s for s in samples[2:]}
    assert {t: s.value for t, s in again.items()} == {"n1.line_speed": 1.5, "n1.press_1.strokes": 10}
    assert all(s.ts > 1100 for s in again.values())  # stamped now, after the values they repeat
    host.handle_message("spBv1.0/g/DDEATH/n1/Press 1", encode_payload([], timestamp=2000, seq=2))
    time.sleep(0.15)
    assert host.republish_due() == 1  # the node's own metric only: the press is dead
    assert samples[-1].tag == "n1.line_speed"
    host.handle_message("spBv1.0/g/NDEATH/n1", encode_payload(
        [Metric(name="bdSeq", datatype=DataType.Int64, value=3)], timestamp=900))
    time.sleep(0.15)
    assert host.republish_due() == 0 and samples[-1] == Sample("n1.line_speed", samples[-1].ts, None)


def test_host_requests_rebirth_for_data_before_birth_at_most_once_per_interval() -> None:
    host = SparkplugHostConnector(host_config(rebirth_interval_s=60), lambda samples: None)
    for seq in range(3):
        host.handle_message("spBv1.0/g/DDATA/n1/d1", encode_payload(
            [Metric(name=None, datatype=DataType.Int32, value=1, alias=5)], seq=seq, with_datatypes=False))
    assert len(host._outbox) == 1
    topic, payload = host._outbox[0]
    assert topic == "spBv1.0/g/NCMD/n1"
    (rebirth,) = decode_payload(payload).metrics
    assert (rebirth.name, rebirth.datatype, rebirth.value) == ("Node Control/Rebirth", DataType.Boolean, True)
    assert host.diagnostics()["edge_nodes"]["g/n1"]["rebirth_requests"] == 1


def test_host_ignores_a_late_will_of_an_older_connection() -> None:
    samples: list[Sample] = []
    host = SparkplugHostConnector(host_config(), samples.extend)
    birth = [Metric(name="bdSeq", datatype=DataType.Int64, value=5),
             Metric(name="Speed", datatype=DataType.Int32, value=1)]
    host.handle_message("spBv1.0/g/NBIRTH/n1", encode_payload(birth, timestamp=1, seq=0))
    host.handle_message("spBv1.0/g/NDEATH/n1", encode_payload([Metric(name="bdSeq", datatype=DataType.Int64, value=4)]))
    assert all(s.value is not None for s in samples)
    node = host.diagnostics()["edge_nodes"]["g/n1"]
    assert node["online"] and node["ignored_deaths"] == 1
    host.handle_message("spBv1.0/g/NDEATH/n1", encode_payload([Metric(name="bdSeq", datatype=DataType.Int64, value=5)]))
    assert samples[-1].tag == "n1.speed" and samples[-1].value is None
    assert not host.diagnostics()["edge_nodes"]["g/n1"]["online"]


def test_host_survives_garbage_on_every_message_type() -> None:
    samples: list[Sample] = []
    host = SparkplugHostConnector(host_config(), samples.extend)
    rng = random.Random(3)
    good = encode_payload([Metric(name="bdSeq", datatype=DataType.Int64, value=0),
                           Metric(name="Speed", datatype=DataType.Float, value=1.5, alias=1)], timestamp=1, seq=0)
    for kind in ("NBIRTH", "NDATA", "NDEATH", "DBIRTH/d", "DDATA/d", "DDEATH/d", "NCMD", "STATE"):
        for _ in range(200):
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            host.handle_message(f"spBv1.0/g/{kind}/n", rng.choice([garbage, good[: rng.randrange(len(good))]]))
    host.handle_message("spBv1.0/STATE/gw-test", b"not json")
    host.handle_message("other/topic", b"")
    assert host.diagnostics()["malformed_payloads"] > 0
    assert all(isinstance(s, Sample) for s in samples)


def test_host_config_is_validated() -> None:
    assert host_config(group_ids=["a", "b"]).group_ids == ["a", "b"]
    bad: list[dict[str, Any]] = [
        {"url": "http://broker"}, {"host_id": "a/b"}, {"group_ids": ["a+"]}, {"group_ids": []},
        {"tag_template": "{edge_node}.{unit}"}, {"tag_template": "{edge_node}"}, {"tags": {"g/n/metric": "x"}},
        {"tags": {"g/n/d/m": "Not A Key"}}, {"tag_template": None}, {"unexpected": 1},
    ]
    for overrides in bad:
        with pytest.raises(ValidationError):
            host_config(**overrides)


def test_gateway_device_is_a_valid_host_config() -> None:
    config = DEVICE_CONFIG.model_validate(gateway_device("shop-sparkplug", "mqtt://127.0.0.1:1883", "sheet-metal"))
    assert (config.protocol, config.group_ids, config.host_id) == ("sparkplug", ["sheet-metal"], "commonworks-gateway")


# ---------------------------------------------------------------------------- host and simulator over Mosquitto

async def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Sniffer:
    """A plain MQTT client that records what is published on some topics."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []

    def on(self, suffix: str) -> list[bytes]:
        return [payload for topic, payload, _ in self.messages if topic.endswith(suffix)]


@contextlib.asynccontextmanager
async def sniffing(broker: tuple[str, int], *topics: str) -> AsyncIterator[Sniffer]:
    sniffer = Sniffer()
    async with aiomqtt.Client(*broker) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)

        async def record() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                sniffer.messages.append((message.topic.value, message.payload, message.retain))

        task = asyncio.create_task(record())
        try:
            yield sniffer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def running(*runners: Any) -> AsyncIterator[None]:
    """Run host connectors and simulators (anything with ``run(stop)``) for the block."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


def new_host(broker: tuple[str, int], group: str, samples: list[Sample], **overrides: Any) -> SparkplugHostConnector:
    config = host_config(url=f"mqtt://{broker[0]}:{broker[1]}", host_id=f"gw-{next(_names)}", group_ids=[group],
                         **overrides)
    return SparkplugHostConnector(config, samples.extend)


def new_node(broker: tuple[str, int], group: str, edge_node: str = "cell-a", **options: Any) -> EdgeNodeSimulator:
    options.setdefault("interval_s", 0.05)
    options.setdefault("report_by_exception", False)
    return EdgeNodeSimulator(f"mqtt://{broker[0]}:{broker[1]}", group, edge_node, seed=7, **options)


def values_of(samples: Sequence[Sample], tag: str) -> list[Sample]:
    return [s for s in samples if s.tag == tag and s.value is not None]


def test_host_turns_births_and_data_into_samples_with_device_timestamps(mqtt_broker: tuple[str, int]) -> None:
    group = f"shop-{next(_names)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        host = new_host(mqtt_broker, group, samples)
        node = new_node(mqtt_broker, group)
        async with sniffing(mqtt_broker, f"spBv1.0/{group}/#") as sniffer, running(host):
            await wait_for(lambda: host.available, "the host to connect")
            async with running(node):
                await wait_for(lambda: len(values_of(samples, "cell-a.press-brake-01.stroke_count")) >= 5,
                               "press brake data")
            await wait_for(lambda: sniffer.on("NDEATH/cell-a"), "the node's clean NDEATH")
        assert {s.tag for s in samples} == expected_tags("cell-a")
        assert host.diagnostics()["edge_nodes"][f"{group}/cell-a"]["births"] == 1
        # every metric of every DDATA of the laser arrived with its name's tag, value and device time
        birth = decode_payload(sniffer.on("DBIRTH/cell-a/laser-01")[0])
        names = {m.alias: str(m.name) for m in birth.metrics if m.alias is not None}
        types: dict[int | str, DataType] = {m.alias: m.datatype for m in birth.metrics if m.alias is not None}
        got = set(samples)
        ddata = sniffer.on("DDATA/cell-a/laser-01")
        assert ddata
        for raw in ddata:
            for metric in decode_payload(raw, types).metrics:
                assert metric.alias is not None and metric.timestamp is not None
                tag = "cell-a.laser-01." + names[metric.alias].lower().replace(" ", "_")
                assert Sample(tag, metric.timestamp, metric.value) in got

    asyncio.run(scenario())


def test_host_state_is_retained_and_its_will_flips_to_offline(mqtt_broker: tuple[str, int]) -> None:
    async def scenario() -> None:
        host = new_host(mqtt_broker, "unused", [])
        state_topic = f"spBv1.0/STATE/{host.config.host_id}"
        async with running(host):
            await wait_for(lambda: host.available and host.client is not None, "the host to connect")
            async with sniffing(mqtt_broker, state_topic) as sniffer:
                await wait_for(lambda: sniffer.messages, "the retained STATE")
                _, payload, retained = sniffer.messages[0]
                online = orjson.loads(payload)
                assert retained and online["online"] is True and isinstance(online["timestamp"], int)
                assert host.client is not None
                drop_connection(host.client)  # as if the gateway's cable were pulled
                await wait_for(lambda: len(sniffer.messages) >= 2, "the STATE Will")
                assert orjson.loads(sniffer.messages[1][1]) == {"online": False, "timestamp": online["timestamp"]}
                # the base class reconnects, and the new session announces itself again
                await wait_for(lambda: len(sniffer.messages) >= 3, "STATE online after the reconnect")
                again = orjson.loads(sniffer.messages[2][1])
                assert again["online"] is True and again["timestamp"] > online["timestamp"]
        async with sniffing(mqtt_broker, state_topic) as sniffer:
            await wait_for(lambda: sniffer.messages, "the retained STATE after a clean stop")
            assert orjson.loads(sniffer.messages[0][1]) == {"online": False, "timestamp": again["timestamp"]}
        assert host.reconnects == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("fault", ["seq_gap", "unknown_alias"])
def test_host_requests_a_rebirth_and_data_flows_again(mqtt_broker: tuple[str, int], fault: str) -> None:
    group = f"shop-{next(_names)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        host = new_host(mqtt_broker, group, samples)
        node = new_node(mqtt_broker, group)
        tag = "cell-a.laser-01.laser_power"
        async with sniffing(mqtt_broker, f"spBv1.0/{group}/NCMD/#") as sniffer, running(host):
            await wait_for(lambda: host.available, "the host to connect")
            async with running(node):
                await wait_for(lambda: len(values_of(samples, tag)) >= 3, "laser data")
                if fault == "seq_gap":
                    node.skip_seq_once()
                else:
                    node.unknown_alias_once()
                await wait_for(lambda: sniffer.on("NCMD/cell-a"), "a rebirth request")
                await wait_for(lambda: node.rebirths_answered == 1 and node.births_published == 2, "the rebirth")
                seen = len(values_of(samples, tag))
                await wait_for(lambda: len(values_of(samples, tag)) >= seen + 3, "data after the rebirth")
                assert not any(s.value is None for s in samples)  # a rebirth is not an outage
        (request,) = [decode_payload(p) for p in sniffer.on("NCMD/cell-a")]
        assert [(m.name, m.value) for m in request.metrics] == [("Node Control/Rebirth", True)]
        diagnostics = host.diagnostics()["edge_nodes"][f"{group}/cell-a"]
        assert diagnostics["rebirth_requests"] == 1 and diagnostics["births"] == 2
        assert diagnostics["seq_gaps" if fault == "seq_gap" else "unknown_aliases"] == 1

    asyncio.run(scenario())


def test_host_started_after_the_node_asks_for_a_birth(mqtt_broker: tuple[str, int]) -> None:
    group = f"shop-{next(_names)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        node = new_node(mqtt_broker, group)
        host = new_host(mqtt_broker, group, samples)
        async with running(node):
            await node.born.wait()
            async with running(host):
                await wait_for(lambda: {s.tag for s in samples} == expected_tags("cell-a"), "every tag")
        assert node.rebirths_answered == 1

    asyncio.run(scenario())


def test_ndeath_makes_only_that_nodes_tags_stale(mqtt_broker: tuple[str, int]) -> None:
    group = f"shop-{next(_names)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        host = new_host(mqtt_broker, group, samples)
        doomed = new_node(mqtt_broker, group, "cell-a")
        survivor = new_node(mqtt_broker, group, "cell-b")
        async with running(host):
            await wait_for(lambda: host.available, "the host to connect")
            async with running(doomed, survivor):
                await wait_for(lambda: {s.tag for s in samples} >= expected_tags("cell-a") | expected_tags("cell-b"),
                               "both nodes' tags")
                doomed.abort()  # no DISCONNECT: the broker publishes the NDEATH Will
                await wait_for(lambda: {s.tag for s in samples if s.value is None} == expected_tags("cell-a"),
                               "stale markers for cell-a")
                count = len(values_of(samples, "cell-b.laser-01.laser_power"))
                await wait_for(lambda: len(values_of(samples, "cell-b.laser-01.laser_power")) > count, "cell-b data")
                diagnostics = host.diagnostics()
        assert diagnostics["available"] is True
        assert diagnostics["edge_nodes_online"] == 1
        doomed_state, survivor_state = (diagnostics["edge_nodes"][f"{group}/{n}"] for n in ("cell-a", "cell-b"))
        assert (doomed_state["online"], doomed_state["deaths"]) == (False, 1)
        assert (survivor_state["online"], survivor_state["deaths"]) == (True, 0)

    asyncio.run(scenario())


def test_ddeath_makes_that_devices_tags_stale(mqtt_broker: tuple[str, int]) -> None:
    group = f"shop-{next(_names)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        host = new_host(mqtt_broker, group, samples)
        node = new_node(mqtt_broker, group)
        laser = {f"cell-a.laser-01.{m}" for m in LASER_METRICS}
        async with running(host):
            await wait_for(lambda: host.available, "the host to connect")
            async with running(node):
                await wait_for(lambda: len(values_of(samples, "cell-a.laser-01.state")) >= 2, "laser data")
                await node.device_death("laser-01")
                await wait_for(lambda: {s.tag for s in samples if s.value is None} == laser, "laser stale markers")
                count = len(values_of(samples, "cell-a.press-brake-01.state"))
                await wait_for(lambda: len(values_of(samples, "cell-a.press-brake-01.state")) > count + 2,
                               "press brake data after the laser's death")
                stale_at = max(i for i, s in enumerate(samples) if s.value is None)
                await node.device_birth("laser-01")
                await wait_for(lambda: values_of(samples[stale_at:], "cell-a.laser-01.state"), "the laser back")
        device = host.diagnostics()["edge_nodes"][f"{group}/cell-a"]["devices"]["laser-01"]
        assert (device["births"], device["deaths"]) == (2, 1)
        assert host.diagnostics()["edge_nodes"][f"{group}/cell-a"]["rebirth_requests"] == 0

    asyncio.run(scenario())
