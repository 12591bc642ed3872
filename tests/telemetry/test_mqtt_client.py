"""The ingest worker's lean MQTT 5 connection: packet parsing (no broker) and a real Mosquitto."""

from __future__ import annotations

import asyncio
import struct
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from commonworks.telemetry.mqtt_client import WorkerConnection, open_connection
from tests.services import free_port


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def _publish(topic: str, payload: bytes, *, packet_id: int | None = 1, props: bytes = b"") -> bytes:
    qos = 0 if packet_id is None else 1
    body = _s(topic) + (b"" if packet_id is None else struct.pack("!H", packet_id)) + _varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + _varint(len(body)) + body


def _user(key: str, value: str) -> bytes:
    return b"\x26" + _s(key) + _s(value)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def _connection() -> tuple[WorkerConnection, FakeTransport, list[tuple[bytes, str | None, bool, bytes]]]:
    got: list[tuple[bytes, str | None, bool, bytes]] = []
    conn = WorkerConnection(lambda *args: got.append(args))
    transport = FakeTransport()
    conn.connection_made(transport)
    return conn, transport, got


def test_publishes_split_anywhere_across_reads_are_delivered_whole_and_acknowledged_per_read() -> None:
    async def scenario() -> None:
        conn, transport, got = _connection()
        big = b"x" * 300  # a two-byte remaining length
        stream = (_publish("commonworks/ingest/gw-1", b'{"a":1}', packet_id=7,
                           props=_user("token", "cwg_abc") + _user("acks", "batched"))
                  + _publish("commonworks/ingest/gw-2", big, packet_id=8, props=b"\x01\x01" + _user("token", "cwg_x"))
                  + _publish("commonworks/ingest/gw-3", b"q0", packet_id=None)
                  + b"\xd0\x00")  # PINGRESP
        for cut in range(1, len(stream)):
            got.clear()
            transport.written.clear()
            conn.data_received(stream[:cut])
            conn.data_received(stream[cut:])
            assert got == [(b"commonworks/ingest/gw-1", "cwg_abc", True, b'{"a":1}'),
                           (b"commonworks/ingest/gw-2", "cwg_x", False, big),
                           (b"commonworks/ingest/gw-3", None, False, b"q0")], cut
            assert b"".join(transport.written) == b"\x40\x02\x00\x07\x40\x02\x00\x08"
            assert not transport.aborted

    asyncio.run(scenario())


def test_malformed_or_unexpected_packets_close_the_connection() -> None:
    async def scenario() -> None:
        for bad in (b"\x34\x05\x00\x01t\x00\x01",  # QoS 2
                    b"\xa0\x00",  # UNSUBSCRIBE towards a client
                    b"\x32\x06\x00\x01t\x00\x01\x09",  # properties longer than the packet
                    b"\xe0\x02\x8b\x00"):  # DISCONNECT from the broker (server shutting down)
            conn, transport, got = _connection()
            conn.data_received(bad)
            assert transport.aborted and not got, bad

    asyncio.run(scenario())


def test_answers_wait_for_the_brokers_receive_maximum() -> None:
    async def scenario() -> None:
        conn, transport, _ = _connection()
        conn.receive_maximum = 2
        for i in range(5):
            conn.publish("commonworks/ack/gw-1", f"answer {i}".encode())
        sent = b"".join(transport.written)
        assert sent.count(b"answer") == 2 and conn.pending_answers == 5
        conn.data_received(b"\x40\x02\x00\x01")  # PUBACK for the first
        assert b"".join(transport.written).count(b"answer") == 3
        conn.data_received(b"\x40\x02\x00\x02\x40\x03\x00\x03\x87")  # success, then "not authorized"
        assert b"".join(transport.written).count(b"answer") == 5 and conn.answers_refused == 1

    asyncio.run(scenario())


def test_against_mosquitto_receives_publishes_and_delivers_answers(mqtt_broker) -> None:  # type: ignore[no-untyped-def]
    host, port = mqtt_broker
    answers: list[bytes] = []
    listening = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="answers-listener", protocol=mqtt.MQTTv5)
    listener.on_message = lambda _c, _u, msg: answers.append(msg.payload)
    listener.on_subscribe = lambda *_: listening.set()
    listener.connect(host, port)
    listener.loop_start()
    listener.subscribe("test-mqtt-client/ack/#", qos=1)
    assert listening.wait(10)

    async def scenario() -> list[tuple[bytes, str | None, bool, bytes]]:
        got: list[tuple[bytes, str | None, bool, bytes]] = []
        conn = await open_connection(host, port, "lean-worker", lambda *args: got.append(args), keepalive=5)
        assert await conn.subscribe("$share/lean/test-mqtt-client/in/+", qos=1) == 1
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lean-publisher", protocol=mqtt.MQTTv5)
        publisher.connect(host, port)
        publisher.loop_start()
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = [("token", "cwg_t"), ("acks", "batched")]
        infos = [publisher.publish(f"test-mqtt-client/in/gw-{i % 3}", b"%d" % i, qos=1, properties=props)
                 for i in range(500)]
        await asyncio.to_thread(lambda: [info.wait_for_publish(10) for info in infos])
        for _ in range(200):
            if len(got) == 500:
                break
            await asyncio.sleep(0.05)
        for i in range(60):  # more than Mosquitto's default Receive Maximum of 20
            conn.publish(f"test-mqtt-client/ack/gw-{i % 3}", b"answer %d" % i)
        for _ in range(200):
            if len(answers) == 60 and not conn.pending_answers:
                break
            await asyncio.sleep(0.05)
        publisher.loop_stop()
        publisher.disconnect()
        await conn.disconnect()
        assert conn.closed.done()
        return got

    try:
        got = asyncio.run(scenario())
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert sorted(int(payload) for *_, payload in got) == list(range(500))
    assert {(topic, token, batched) for topic, token, batched, _ in got} == {
        (f"test-mqtt-client/in/gw-{i}".encode(), "cwg_t", True) for i in range(3)}
    assert sorted(answers) == sorted(b"answer %d" % i for i in range(60))


def test_connecting_to_nothing_fails_fast() -> None:
    async def scenario() -> None:
        with pytest.raises(OSError):
            await open_connection("127.0.0.1", free_port(), "nobody", lambda *args: None, timeout=5)

    asyncio.run(scenario())
