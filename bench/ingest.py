"""Ingest throughput against the raw store, measured in one run.

Rows: batched HTTP ingest (gzip JSON, 100 tags × 100 samples per batch) into SQLite and
PostgreSQL, each against the raw store writing the very same rows (``executemany`` /
binary ``COPY`` into a plain table with the same key, one transaction per batch); and
MQTT through Mosquitto with 3 points per message (ThingsBoard's published test shape),
QoS 1, from two gateways into two ingest workers, counting only points whose answer (sent
after the commit) has arrived; and Sparkplug B end to end — an edge node publishing DDATA of
100 metrics by alias (10 devices × 100 metrics, QoS 0 as Sparkplug 3.0 asks, and QoS 1),
our gateway as host application (decode, store-and-forward on disk, batches of 100,000 =
100 samples per tag as in the HTTP row), HTTP to the platform, SQLite — from the first DDATA
until the platform acknowledged (= committed) the last metric, against executemany of the
same rows and the HTTP row. Sparkplug sends 3,000,000 points (30 batches) per row, so that filling
the first batch and draining the last (about 0.4 s, one batch each way) weigh a tenth of the run
rather than a third. Validation, rollups and alarm evaluation are on in every row.
The Sparkplug rows also print each process's CPU time per point (gateway, platform, broker,
edge node): on a shared two-core machine the wall-clock rate depends on what else runs, the
CPU per point much less.

Run: ``.venv/bin/python bench/ingest.py`` (PostgreSQL rows need COMMONWORKS_TEST_DATABASE_URL
or COMMONWORKS_BENCH_DATABASE_URL pointing at a server whose user may create databases;
the MQTT row needs the ``mosquitto`` binary).
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing as mp
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil
from sqlalchemy import text

from commonworks.core.database import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    drop_database,
    free_port,
    fresh_database,
    platform,
    seed_tenant,
    server_env,
    stored_samples,
    table,
    workdir,
)

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
TARGETS = {"http_sqlite": 300_000, "http_postgresql": 300_000, "mqtt": 30_000}


def make_batches(n_batches: int, n_tags: int, per_tag: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(n_batches):
        start = T0 + b * per_tag * 1000
        ts = list(range(start, start + per_tag * 1000, 1000))
        batches.append(
            {
                "batch_id": f"bench-{b}",
                "series": [
                    {
                        "tag": f"m{i // 20:03d}.t{i % 20:02d}",
                        "ts": ts,
                        "v": np.round(rng.normal(100, 10, per_tag), 3).tolist(),
                    }
                    for i in range(n_tags)
                ],
            }
        )
    return batches


def raw_baseline(url: str, batches: list[dict]) -> float:
    """Rows/s writing the same (tag_id, ts, value) rows into a plain keyed table, one transaction per batch."""
    rows_per_batch = []
    for batch in batches:
        rows = []
        for i, s in enumerate(batch["series"]):
            rows.extend(zip([i + 1] * len(s["ts"]), s["ts"], s["v"], strict=True))
        rows_per_batch.append(rows)
    engine = make_engine(url)  # the platform's own connection settings (SQLite: WAL, synchronous, checkpoints)
    postgres = engine.dialect.name == "postgresql"
    value_type, suffix = ("DOUBLE PRECISION", "") if postgres else ("REAL", " WITHOUT ROWID")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS raw_samples"))
        conn.execute(
            text(
                f"CREATE TABLE raw_samples (tag_id INTEGER NOT NULL, ts BIGINT NOT NULL, "
                f"value {value_type}, PRIMARY KEY (tag_id, ts)){suffix}"
            )
        )
    raw = engine.raw_connection()
    start = time.perf_counter()
    for rows in rows_per_batch:
        cur = raw.cursor()
        if postgres:
            with cur.copy("COPY raw_samples (tag_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "int8", "float8"])
                for row in rows:
                    copy.write_row(row)
        else:
            cur.executemany("INSERT INTO raw_samples VALUES (?, ?, ?)", rows)
        raw.commit()
    elapsed = time.perf_counter() - start
    raw.close()
    engine.dispose()
    return sum(len(r) for r in rows_per_batch) / elapsed


def http_ingest(url: str, data_dir: Path, batches: list[dict], *, connections: int) -> tuple[float, int]:
    """Points/s through POST /api/v1/ingest (acknowledged = committed), and the stored count."""
    tags = [s["tag"] for s in batches[0]["series"]]
    token = seed_tenant(url, tags=tags)
    bodies = [gzip.compress(orjson.dumps(b), compresslevel=1) for b in batches]
    points = sum(len(s["ts"]) for b in batches for s in b["series"])
    with platform(url, data_dir) as base:
        headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip", "Content-Type": "application/json"}

        def send(chunk: list[bytes]) -> int:
            accepted = 0
            with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                for body in chunk:
                    response = client.post("/api/v1/ingest", content=body)
                    response.raise_for_status()
                    accepted += response.json()["accepted"]
            return accepted

        # warm-up: one batch (imports, first partition, caches)
        send(
            [
                gzip.compress(
                    orjson.dumps(
                        {
                            **batches[0],
                            "batch_id": "warm",
                            "series": [{**s, "ts": [t - 86_400_000 for t in s["ts"]]} for s in batches[0]["series"]],
                        }
                    )
                )
            ]
        )
        chunks = [bodies[i::connections] for i in range(connections)]
        start = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            accepted = sum(pool.map(send, chunks))
        elapsed = time.perf_counter() - start
    assert accepted == points, (accepted, points)
    return points / elapsed, stored_samples(url)


# ---------------------------------------------------------------- MQTT, 3 points per message
#
# The load generator is a minimal MQTT 5 publisher on a raw socket: its packets are built
# before the clock starts, so it costs about 1 µs per message (paho-mqtt costs ~250 µs per
# QoS 1 publish here, which on two cores would measure the load generator, not the platform).
# It sends what a gateway's MqttTransport sends — QoS 1 to commonworks/ingest/<gateway> with
# the user properties token and acks=batched — within the broker's Receive Maximum.


def _mqtt_string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return len(raw).to_bytes(2, "big") + raw


def _mqtt_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _mqtt_varint(len(body)) + body


def _receive_maximum(props: bytes) -> int:
    """The Receive Maximum among CONNACK properties (65,535 when absent)."""
    sizes = {0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2A: 1, 0x13: 2, 0x21: 2, 0x22: 2, 0x11: 4, 0x27: 4}
    i = 0
    while i < len(props):
        ident = props[i]
        if ident == 0x21:
            return int.from_bytes(props[i + 1 : i + 3], "big")
        if ident in sizes:
            i += 1 + sizes[ident]
        elif ident == 0x26:  # user property: two strings
            i += 3 + int.from_bytes(props[i + 1 : i + 3], "big")
            i += 2 + int.from_bytes(props[i : i + 2], "big")
        else:  # a string or binary property
            i += 3 + int.from_bytes(props[i + 1 : i + 3], "big")
    return 65535


def _mqtt_messages(gateway: str, first: int, count: int) -> list[bytes]:
    """The payloads: one batch of 3 points (3 tags × 1 sample) per message, as a gateway encodes it."""
    prefix = gateway.removeprefix("gw-")
    payloads = []
    for i in range(first, first + count):
        ts = T0 + i * 1000
        payloads.append(
            orjson.dumps(
                {
                    "batch_id": f"{gateway}-{i}",
                    "series": [
                        {"tag": f"{prefix}.temperature", "ts": [ts], "v": [20.0 + i % 7]},
                        {"tag": f"{prefix}.humidity", "ts": [ts], "v": [40.0 + i % 11]},
                        {"tag": f"{prefix}.pressure", "ts": [ts], "v": [1000.0 + i % 13]},
                    ],
                }
            )
        )
    return payloads


def _publisher(host: str, port: int, token: str, gateway: str, count: int, ready, go, done) -> None:  # type: ignore[no-untyped-def]
    import socket
    import threading

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        _mqtt_packet(
            0x10,
            _mqtt_string("MQTT")
            + bytes([5, 0x02])
            + (60).to_bytes(2, "big")
            + b"\x00"
            + _mqtt_string(f"pub-{gateway}"),
        )
    )
    connack = b""
    while len(connack) < 2 or len(connack) < 2 + connack[1]:  # CONNACKs are shorter than 128 bytes
        connack += sock.recv(4096)
    assert connack[0] == 0x20 and connack[3] == 0, f"CONNACK refused: {connack!r}"
    window = _receive_maximum(connack[5 : 2 + connack[1]])
    user_props = (
        b"\x26" + _mqtt_string("token") + _mqtt_string(token) + b"\x26" + _mqtt_string("acks") + _mqtt_string("batched")
    )
    topic = _mqtt_string(f"commonworks/ingest/{gateway}")
    packets = [
        _mqtt_packet(
            0x32, topic + ((n % 65535) + 1).to_bytes(2, "big") + _mqtt_varint(len(user_props)) + user_props + payload
        )
        for n, payload in enumerate(_mqtt_messages(gateway, 0, count))
    ]
    acked = 0
    refused = 0
    lock = threading.Condition()

    def read_pubacks() -> None:
        nonlocal acked, refused
        buf = b""
        while acked < count:
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionError("broker closed the connection")
            buf += data
            pos, got, bad = 0, 0, 0
            while pos + 2 <= len(buf) and pos + 2 + buf[pos + 1] <= len(buf):
                if buf[pos] == 0x40:
                    got += 1
                    bad += buf[pos + 1] > 2 and buf[pos + 4] >= 0x80
                pos += 2 + buf[pos + 1]
            buf = buf[pos:]
            with lock:
                acked += got
                refused += bad
                lock.notify()

    reader = threading.Thread(target=read_pubacks, daemon=True)
    reader.start()
    ready.set()
    go.wait()
    sent = 0
    while sent < count:
        with lock:
            while sent - acked >= window:
                if not lock.wait(5) and not reader.is_alive():
                    raise ConnectionError("the broker closed the connection")
            room = window - (sent - acked)
        step = min(room, count - sent, 200)
        sock.sendall(b"".join(packets[sent : sent + step]))
        sent += step
    reader.join(600)
    assert refused == 0, f"the broker refused {refused} messages"
    sock.sendall(b"\xe0\x00")
    sock.close()
    done.set()


def _ack_counter(host: str, port: int, gateways: list[str], expected: int, ready, result) -> None:  # type: ignore[no-untyped-def]
    import threading

    import paho.mqtt.client as mqtt

    from commonworks.connect.protocol import decode_answers

    got = {"answers": 0, "accepted": 0, "errors": 0, "messages": 0}
    finished = threading.Event()

    def on_message(_c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        got["messages"] += 1
        for answer in decode_answers(msg.payload):
            got["answers"] += 1
            if "error" in answer:
                got["errors"] += 1
                print("error answer:", answer, flush=True)
            got["accepted"] += answer.get("accepted", 0)
        if got["answers"] >= expected:
            finished.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="acks-counter", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect(host, port)
    for gateway in gateways:
        client.subscribe(f"commonworks/ack/{gateway}", qos=1)
    client.loop_start()
    time.sleep(0.5)
    ready.set()
    finished.wait(600)
    result.put((dict(got), time.perf_counter()))
    client.loop_stop()


def _add_gateways(url: str, first_key: str, keys: list[str]) -> list[str]:
    """More gateways in the organization of ``first_key``; their credentials."""
    from sqlalchemy import select

    from commonworks.core.database import Database
    from commonworks.telemetry.models import Gateway
    from commonworks.telemetry.service import new_gateway_token

    db = Database(url)
    tokens = []
    with db.transaction() as session:
        org_id = session.scalar(select(Gateway.org_id).where(Gateway.key == first_key))
        for key in keys:
            secret, prefix, digest = new_gateway_token()
            session.add(Gateway(org_id=org_id, key=key, name="bench", token_hash=digest, token_prefix=prefix))
            tokens.append(secret)
    db.dispose()
    return tokens


def mqtt_ingest(
    url: str, data_dir: Path, *, messages: int, workers: int, publishers: int
) -> tuple[float, int, dict[str, int]] | None:
    """Points/s from the first publish to the last answer (answers come only after the commit).

    Each publisher is one gateway (its own credential and three tags) publishing its share of
    the messages as fast as the broker takes them. Returns (points/s, samples stored, answer counts).
    """
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if not mosquitto:
        return None
    port = free_port()
    conf = data_dir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
    )
    broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen[bytes]] = []
    gateways = [f"gw-mqtt-{p}" for p in range(publishers)]
    shares = [messages // publishers + (p < messages % publishers) for p in range(publishers)]
    try:
        tags = [f"mqtt-{p}.{name}" for p in range(publishers) for name in ("temperature", "humidity", "pressure")]
        tokens = [seed_tenant(url, tags=tags, gateway_key=gateways[0])]
        tokens += _add_gateways(url, gateways[0], gateways[1:])
        env = server_env(url, data_dir, COMMONWORKS_MQTT_URL=f"mqtt://127.0.0.1:{port}")
        subprocess.run(
            [sys.executable, "-m", "commonworks", "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        log = open(data_dir / "ingest-workers.log", "wb")  # noqa: SIM115
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "commonworks", "ingest-worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        while (data_dir / "ingest-workers.log").read_text().count("subscribed to") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError((data_dir / "ingest-workers.log").read_text())
            time.sleep(0.1)
        ctx = mp.get_context("spawn")
        result = ctx.Queue()
        acks_ready, go = ctx.Event(), ctx.Event()
        counter = ctx.Process(target=_ack_counter, args=("127.0.0.1", port, gateways, messages, acks_ready, result))
        counter.start()
        acks_ready.wait(30)
        pubs = []
        for gateway, token, share in zip(gateways, tokens, shares, strict=True):
            ready, done = ctx.Event(), ctx.Event()
            proc = ctx.Process(target=_publisher, args=("127.0.0.1", port, token, gateway, share, ready, go, done))
            proc.start()
            ready.wait(60)
            pubs.append(proc)
        start = time.perf_counter()
        go.set()
        got, end = result.get(timeout=900)
        for proc in pubs:
            proc.join(60)
        counter.join(10)
        stored = stored_samples(url)
        assert got["answers"] == messages and got["errors"] == 0, got
        assert got["accepted"] == stored == 3 * messages, (got, stored)
        return got["accepted"] / (end - start), stored, got
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        broker.terminate()
        broker.wait(10)


# ---------------------------------------------------------------- Sparkplug B, 100 metrics per message

SPB_DEVICES, SPB_METRICS = 10, 100


def _edge_node(port: int, messages: int, qos: int, ready, go, done) -> None:  # type: ignore[no-untyped-def]
    """A Sparkplug B edge node: NBIRTH, DBIRTH of 10 devices × 100 Double metrics, then DDATA by alias.

    Like the MQTT row's load generator it is a minimal MQTT 5 client on a raw socket whose
    packets are built before the clock starts (paho would cost ~250 µs per publish, which
    on two cores would measure the load generator). Births are QoS 1 and wait for their
    PUBACK; DDATA go out at ``qos`` (Sparkplug 3.0 asks for QoS 0; QoS 1 is the harder case
    for the host, which then acknowledges every message) within the broker's Receive Maximum.
    """
    import socket
    import threading

    from commonworks.connect.sparkplug.codec import DataType, Metric, encode_payload

    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        _mqtt_packet(
            0x10,
            _mqtt_string("MQTT")
            + bytes([5, 0x02])
            + (60).to_bytes(2, "big")
            + b"\x00"
            + _mqtt_string("bench-edge-node"),
        )
    )
    connack = b""
    while len(connack) < 2 or len(connack) < 2 + connack[1]:
        connack += sock.recv(4096)
    assert connack[0] == 0x20 and connack[3] == 0, f"CONNACK refused: {connack!r}"
    window = _receive_maximum(connack[5 : 2 + connack[1]])
    seq = iter(range(10**9))
    packet_id = iter(range(1, 10**9))

    def publish(topic: str, payload: bytes, qos_: int) -> bytes:
        head = _mqtt_string(topic) + (((next(packet_id) - 1) % 65535 + 1).to_bytes(2, "big") if qos_ else b"")
        return _mqtt_packet(0x30 | (qos_ << 1), head + b"\x00" + payload)

    births = [
        publish(
            "spBv1.0/bench/NBIRTH/node1",
            encode_payload(
                [Metric("bdSeq", DataType.UInt64, 0), Metric("Node Control/Rebirth", DataType.Boolean, False)],
                timestamp=T0,
                seq=next(seq) % 256,
            ),
            1,
        )
    ]
    for d in range(SPB_DEVICES):
        births.append(
            publish(
                f"spBv1.0/bench/DBIRTH/node1/dev{d}",
                encode_payload(
                    [Metric(f"m{k:03d}", DataType.Double, 0.0, alias=1000 * d + k) for k in range(SPB_METRICS)],
                    timestamp=T0,
                    seq=next(seq) % 256,
                ),
                1,
            )
        )
    packets = []
    for i in range(messages):
        d = i % SPB_DEVICES
        packets.append(
            publish(
                f"spBv1.0/bench/DDATA/node1/dev{d}",
                encode_payload(
                    [Metric(None, DataType.Double, float(i % 97 + k), alias=1000 * d + k) for k in range(SPB_METRICS)],
                    timestamp=T0 + 1000 * (i // SPB_DEVICES + 1),
                    seq=next(seq) % 256,
                    with_datatypes=False,
                ),
                qos,
            )
        )
    acked = 0
    lock = threading.Condition()

    def read_pubacks() -> None:
        nonlocal acked
        buf = b""
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return
            buf += data
            pos, got = 0, 0
            while pos + 2 <= len(buf) and pos + 2 + buf[pos + 1] <= len(buf):
                got += buf[pos] == 0x40
                pos += 2 + buf[pos + 1]
            buf = buf[pos:]
            with lock:
                acked += got
                lock.notify()

    threading.Thread(target=read_pubacks, daemon=True).start()
    sock.sendall(b"".join(births))
    with lock:
        while acked < len(births):
            lock.wait(5)
    ready.set()
    go.wait()
    sent = 0
    base = acked
    while sent < len(packets):
        with lock:
            while qos and sent - (acked - base) >= window:
                lock.wait(5)
            room = window - (sent - (acked - base)) if qos else len(packets)
        step = min(room, len(packets) - sent, 200)
        sock.sendall(b"".join(packets[sent : sent + step]))
        sent += step
    with lock:
        while qos and acked - base < len(packets):
            lock.wait(5)
    done.set()
    time.sleep(1)
    sock.sendall(b"\xe0\x00")
    sock.close()


def _cpu_processes(known: dict[str, int]) -> dict[str, psutil.Process]:
    """The run's processes by role: the known ones, the platform server (the uvicorn child), this one."""
    processes = {name: psutil.Process(pid) for name, pid in known.items()}
    for child in psutil.Process().children(recursive=True):
        if "uvicorn" in " ".join(child.cmdline()):
            processes["platform"] = child
    processes["bench"] = psutil.Process()
    return processes


def _cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    seconds = {}
    for name, process in processes.items():
        try:
            times = process.cpu_times()
            seconds[name] = times.user + times.system
        except psutil.Error:
            seconds[name] = 0.0
    return seconds


_STATUS_CLIENT = httpx.Client(timeout=5)  # one client: making one per look costs ~20 ms of CPU (SSL context)


def _gateway_status(port: int) -> dict | None:
    try:
        return _STATUS_CLIENT.get(f"http://127.0.0.1:{port}/status").json()
    except httpx.HTTPError:
        return None


def sparkplug_ingest(
    url: str, data_dir: Path, *, messages: int, qos: int, batch: int, in_flight: int
) -> tuple[float, int, dict] | None:
    """Points/s from an edge node's first DDATA until the platform acknowledged the last metric: edge node →
    Mosquitto → our gateway (Sparkplug host application, store-and-forward) → HTTP → platform → SQLite.

    The end is the gateway's own time of its last ack (an ack comes only after the commit), read
    from its status endpoint — polling the samples table would cost the run a table scan per look.
    Returns (points/s, samples stored, the gateway's status at the end).
    """
    import yaml

    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if not mosquitto:
        return None
    keys = [f"node1.dev{d}.m{k:03d}" for d in range(SPB_DEVICES) for k in range(SPB_METRICS)]
    token = seed_tenant(url, tags=keys)
    port = free_port()
    status_port = free_port()
    (data_dir / "spb.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n"
    )
    broker = subprocess.Popen(
        [mosquitto, "-c", str(data_dir / "spb.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    gateway = None
    try:
        with platform(url, data_dir) as base:
            config = {
                "gateway": {
                    "key": "gw-bench",
                    "platform": {"transport": "http", "url": base, "token": token, "max_in_flight": in_flight},
                    "buffer": {"path": str(data_dir / "buffer.db")},
                    "batch": {"max_samples": batch},
                    "status": {"host": "127.0.0.1", "port": status_port},
                },
                "devices": [
                    {
                        "protocol": "sparkplug",
                        "name": "spb",
                        "url": f"mqtt://127.0.0.1:{port}",
                        "host_id": "bench-host",
                        "group_ids": ["bench"],
                    }
                ],
            }
            (data_dir / "gateway.yaml").write_text(yaml.safe_dump(config))
            log = open(data_dir / "gateway.log", "wb")  # noqa: SIM115
            gateway = subprocess.Popen(
                [sys.executable, "-m", "commonworks", "gateway", "run", "--config", str(data_dir / "gateway.yaml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            births = SPB_DEVICES * SPB_METRICS
            deadline = time.monotonic() + 60
            while not (_gateway_status(status_port) or {}).get("devices", [{}])[0].get("available"):
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise RuntimeError((data_dir / "gateway.log").read_text())
                time.sleep(0.2)  # the host subscribes before the node is born
            ctx = mp.get_context("spawn")
            ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
            node = ctx.Process(target=_edge_node, args=(port, messages, qos, ready, go, done))
            node.start()
            ready.wait(120)  # births published, DDATA encoded
            while (_gateway_status(status_port) or {}).get("sent_samples", 0) < births:
                if time.monotonic() > deadline + 60:
                    raise RuntimeError("the births never reached the platform")
                time.sleep(0.1)
            expected = births + messages * SPB_METRICS
            processes = _cpu_processes({"gateway": gateway.pid, "mosquitto": broker.pid, "edge node": node.pid})
            cpu_before = _cpu_seconds(processes)
            start = time.time()
            go.set()
            status: dict = {}
            sent, last_change, last = 0, time.monotonic(), -1
            while sent < expected and time.monotonic() - last_change < 30:
                time.sleep(0.25)
                status = _gateway_status(status_port) or status
                sent = status.get("sent_samples", 0)
                if sent != last:
                    last, last_change = sent, time.monotonic()
            elapsed = status["last_ack_ms"] / 1000 - start
            cpu = {name: after - cpu_before[name] for name, after in _cpu_seconds(processes).items()}
            status["cpu_s"] = cpu
            node.join(60)
        stored = stored_samples(url)
        assert sent == expected and stored == expected, f"Sparkplug: acked {sent:,}, stored {stored:,} of {expected:,}"
        return messages * SPB_METRICS / elapsed, stored, status

    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        broker.terminate()
        broker.wait(10)


def sparkplug_raw_baseline(url: str, messages: int, batch: int) -> float:
    """Rows/s of executemany writing the Sparkplug row's (tag, ts, value) rows, ``batch`` rows per transaction."""
    per_tag = max(1, batch // (SPB_DEVICES * SPB_METRICS))
    steps = messages // SPB_DEVICES
    batches = []
    for first in range(0, steps, per_tag):
        ts = [T0 + 1000 * (i + 1) for i in range(first, min(steps, first + per_tag))]
        batches.append(
            {
                "series": [
                    {"ts": ts, "v": [float((i * SPB_DEVICES + d) % 97 + k) for i in range(first, first + len(ts))]}
                    for d in range(SPB_DEVICES)
                    for k in range(SPB_METRICS)
                ]
            }
        )
    return raw_baseline(url, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=60, help="HTTP batches of 100 tags × 100 samples")
    parser.add_argument("--messages", type=int, default=60_000, help="MQTT messages of 3 points")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--mqtt-workers", type=int, default=2, help="`commonworks ingest-worker` processes")
    parser.add_argument("--mqtt-publishers", type=int, default=2, help="MQTT publishers, one gateway each")
    parser.add_argument("--only", choices=["http", "mqtt", "sparkplug"], help="run only these rows")
    parser.add_argument("--sparkplug-messages", type=int, default=30_000, help="DDATA messages of 100 metrics")
    parser.add_argument(
        "--sparkplug-qos",
        type=int,
        choices=[0, 1],
        nargs="+",
        default=[0, 1],
        help="QoS of the DDATA messages, a row each (Sparkplug 3.0 publishes DDATA with QoS 0)",
    )
    parser.add_argument(
        "--sparkplug-batch",
        type=int,
        default=100_000,
        help="the gateway's batch.max_samples (100,000 = 100 samples per tag, as in the HTTP row)",
    )
    parser.add_argument("--sparkplug-in-flight", type=int, default=1, help="the gateway's platform.max_in_flight")
    args = parser.parse_args()
    batches = make_batches(args.batches, 100, 100)
    points = args.batches * 100 * 100
    rows: list[list[str]] = []
    notes: list[str] = []
    result: dict[str, str] = {}
    http_sqlite = None
    for kind in ("sqlite", "postgresql") if args.only in (None, "http") else ():
        directory = workdir()
        url = fresh_database(kind, directory)
        if url is None:
            rows.append([f"HTTP batched → {kind}", "skipped: no PostgreSQL configured", "", "", ""])
            continue
        try:
            rate, stored = http_ingest(url, directory, batches, connections=args.connections)
            assert stored == points + 100 * 100, (stored, points)  # + the warm-up batch
            baseline = raw_baseline(url, batches)
        finally:
            drop_database(url)
        target = TARGETS[f"http_{kind}"]
        name = "executemany" if kind == "sqlite" else "binary COPY"
        rows.append(
            [
                f"HTTP batched → {kind}",
                f"{rate:,.0f}",
                f"{baseline:,.0f} ({name})",
                f"{rate / baseline:.2f}",
                f"≥ {target:,}" + (" and ≥ 0.3× raw" if kind == "sqlite" else ""),
            ]
        )
        result[f"http_{kind}_pps"] = f"{rate:.0f}"
        http_sqlite = rate if kind == "sqlite" else http_sqlite
        result[f"http_{kind}_vs_raw"] = f"{rate / baseline:.2f}"
    for qos in args.sparkplug_qos if args.only in (None, "sparkplug") else ():
        directory = workdir()
        url = fresh_database("sqlite", directory)
        assert url
        spb = sparkplug_ingest(
            url,
            directory,
            messages=args.sparkplug_messages,
            qos=qos,
            batch=args.sparkplug_batch,
            in_flight=args.sparkplug_in_flight,
        )
        if spb is None:
            rows.append(["Sparkplug B 100 metrics/msg → sqlite", "skipped: no mosquitto", "", "", ""])
            break
        rate, _, status = spb
        raw = sparkplug_raw_baseline(url, args.sparkplug_messages, args.sparkplug_batch)
        rows.append(
            [
                f"Sparkplug B 100 metrics/msg, QoS {qos} → gateway → sqlite",
                f"{rate:,.0f}",
                f"{raw:,.0f} (executemany)",
                f"{rate / raw:.2f}",
                f"≥ {TARGETS['http_sqlite']:,} and ≥ 0.3× raw",
            ]
        )
        if http_sqlite:
            rows.append(
                [
                    "  … against HTTP batched → sqlite",
                    f"{rate:,.0f}",
                    f"{http_sqlite:,.0f}",
                    f"{rate / http_sqlite:.2f}",
                    "",
                ]
            )
        key = "sparkplug" if qos == 0 else f"sparkplug_qos{qos}"
        result[f"{key}_pps"] = f"{rate:.0f}"
        result[f"{key}_vs_raw"] = f"{rate / raw:.2f}"
        spb_points = args.sparkplug_messages * SPB_METRICS
        cpu = status["cpu_s"]
        notes.append(
            f"Sparkplug QoS {qos}: {status['sent_batches']} batches; devices held back {status['held_back']} "
            f"times; {status['repeated_samples']} repeated, {status['dropped']} dropped; CPU µs per point: "
            + ", ".join(f"{name} {seconds / spb_points * 1e6:.2f}" for name, seconds in cpu.items())
            + f" (sum {sum(cpu.values()) / spb_points * 1e6:.2f}; wall {spb_points / rate:.2f} s"
            f" for {spb_points:,} points)"
        )
    mqtt = None
    if args.only in (None, "mqtt"):
        directory = workdir()
        url = fresh_database("sqlite", directory)
        assert url
        mqtt = mqtt_ingest(
            url, directory, messages=args.messages, workers=args.mqtt_workers, publishers=args.mqtt_publishers
        )
        if mqtt is None:
            rows.append(["MQTT 3 points/msg → sqlite", "skipped: no mosquitto", "", "", ""])
    if mqtt is not None:
        rate, stored, answers = mqtt
        rows.append(
            [
                f"MQTT 3 points/msg → sqlite ({args.mqtt_workers} workers, {args.mqtt_publishers} gateways)",
                f"{rate:,.0f}",
                "15,000 (ThingsBoard, 2 vCPU)",
                f"{rate / 15_000:.2f}",
                f"≥ {TARGETS['mqtt']:,}",
            ]
        )
        result["mqtt_pps"] = f"{rate:.0f}"
        result["mqtt_stored"] = str(stored)
        result["mqtt_answer_messages"] = str(answers["messages"])
    table(
        f"Ingest throughput, points/s ({points:,} points per HTTP run, {args.messages:,} MQTT messages)",
        ["path", "points/s", "baseline points/s", "ratio", "target"],
        rows,
    )
    for note in notes:
        print(note)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
