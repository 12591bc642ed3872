"""Ingest throughput against the raw store, measured in one run.

Rows: batched HTTP ingest (gzip JSON, 100 tags × 100 samples per batch) into SQLite and
PostgreSQL, each against the raw store writing the very same rows (``executemany`` /
binary ``COPY`` into a plain table with the same key, one transaction per batch); and
MQTT through Mosquitto with 3 points per message (ThingsBoard's published test shape)
into two ingest workers. Validation and rollups are on in every ingest row.

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
        batches.append({"batch_id": f"bench-{b}", "series": [
            {"tag": f"m{i // 20:03d}.t{i % 20:02d}", "ts": ts, "v": np.round(rng.normal(100, 10, per_tag), 3).tolist()}
            for i in range(n_tags)]})
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
        conn.execute(text(f"CREATE TABLE raw_samples (tag_id INTEGER NOT NULL, ts BIGINT NOT NULL, "
                          f"value {value_type}, PRIMARY KEY (tag_id, ts)){suffix}"))
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
        send([gzip.compress(orjson.dumps({**batches[0], "batch_id": "warm", "series": [
            {**s, "ts": [t - 86_400_000 for t in s["ts"]]} for s in batches[0]["series"]]}))])
        chunks = [bodies[i::connections] for i in range(connections)]
        start = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            accepted = sum(pool.map(send, chunks))
        elapsed = time.perf_counter() - start
    assert accepted == points, (accepted, points)
    return points / elapsed, stored_samples(url)


# ---------------------------------------------------------------- MQTT, 3 points per message


def _publisher(host: str, port: int, token: str, gateway: str, first: int, count: int, ready, go, done) -> None:  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("token", token)
    payloads = []
    for i in range(first, first + count):
        ts = T0 + i * 1000
        payloads.append(orjson.dumps({"batch_id": f"{gateway}-{i}", "series": [
            {"tag": "dev.temperature", "ts": [ts], "v": [20.0 + i % 7]},
            {"tag": "dev.humidity", "ts": [ts], "v": [40.0 + i % 11]},
            {"tag": "dev.pressure", "ts": [ts], "v": [1000.0 + i % 13]}]}))
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{gateway}-{first}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    ready.set()
    go.wait()
    topic = f"commonworks/ingest/{gateway}"
    infos = [client.publish(topic, p, qos=1, properties=props) for p in payloads]
    for info in infos:
        info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()
    done.set()


def _ack_counter(host: str, port: int, gateway: str, expected: int, ready, result) -> None:  # type: ignore[no-untyped-def]
    import threading

    import paho.mqtt.client as mqtt

    got = {"n": 0, "accepted": 0}
    finished = threading.Event()

    def on_message(_c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        doc = orjson.loads(msg.payload)
        got["n"] += 1
        got["accepted"] += doc.get("accepted", 0)
        if got["n"] >= expected:
            finished.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"acks-{gateway}", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect(host, port)
    client.subscribe(f"commonworks/ack/{gateway}", qos=1)
    client.loop_start()
    time.sleep(0.5)
    ready.set()
    finished.wait(600)
    result.put((got["n"], got["accepted"], time.perf_counter()))
    client.loop_stop()


def mqtt_ingest(url: str, data_dir: Path, *, messages: int, workers: int, publishers: int) -> tuple[float, int] | None:
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if not mosquitto:
        return None
    port = free_port()
    conf = data_dir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 1000\nmax_queued_messages 1000000\n")
    broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        token = seed_tenant(url, tags=["dev.temperature", "dev.humidity", "dev.pressure"], gateway_key="gw-mqtt")
        env = server_env(url, data_dir, COMMONWORKS_MQTT_URL=f"mqtt://127.0.0.1:{port}")
        subprocess.run([sys.executable, "-m", "commonworks", "db", "upgrade"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "commonworks", "ingest-worker"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # workers connect and subscribe
        ctx = mp.get_context("spawn")
        result = ctx.Queue()
        acks_ready, go = ctx.Event(), ctx.Event()
        counter = ctx.Process(target=_ack_counter, args=("127.0.0.1", port, "gw-mqtt", messages, acks_ready, result))
        counter.start()
        acks_ready.wait(30)
        per = messages // publishers
        pubs = []
        for p in range(publishers):
            ready, done = ctx.Event(), ctx.Event()
            proc = ctx.Process(target=_publisher, args=("127.0.0.1", port, token, "gw-mqtt", p * per, per, ready, go,
                                                        done))
            proc.start()
            ready.wait(60)
            pubs.append(proc)
        start = time.perf_counter()
        go.set()
        _acks, accepted, end = result.get(timeout=900)
        for proc in pubs:
            proc.join(60)
        counter.join(10)
        stored = stored_samples(url)
        return accepted / (end - start), stored
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        broker.terminate()
        broker.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=60, help="HTTP batches of 100 tags × 100 samples")
    parser.add_argument("--messages", type=int, default=60_000, help="MQTT messages of 3 points")
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args()
    batches = make_batches(args.batches, 100, 100)
    points = args.batches * 100 * 100
    rows: list[list[str]] = []
    result: dict[str, str] = {}
    for kind in ("sqlite", "postgresql"):
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
        rows.append([f"HTTP batched → {kind}", f"{rate:,.0f}", f"{baseline:,.0f} ({name})", f"{rate / baseline:.2f}",
                     f"≥ {target:,}" + (" and ≥ 0.3× raw" if kind == "sqlite" else "")])
        result[f"http_{kind}_pps"] = f"{rate:.0f}"
        result[f"http_{kind}_vs_raw"] = f"{rate / baseline:.2f}"
    directory = workdir()
    url = fresh_database("sqlite", directory)
    assert url
    mqtt = mqtt_ingest(url, directory, messages=args.messages, workers=2, publishers=2)
    if mqtt is None:
        rows.append(["MQTT 3 points/msg → sqlite", "skipped: no mosquitto", "", "", ""])
    else:
        rate, stored = mqtt
        rows.append(["MQTT 3 points/msg → sqlite (2 workers)", f"{rate:,.0f}", "15,000 (ThingsBoard, 2 vCPU)",
                     f"{rate / 15_000:.2f}", f"≥ {TARGETS['mqtt']:,}"])
        result["mqtt_pps"] = f"{rate:.0f}"
        result["mqtt_stored"] = str(stored)
    table(f"Ingest throughput, points/s ({points:,} points per HTTP run, {args.messages:,} MQTT messages)",
          ["path", "points/s", "baseline points/s", "ratio", "target"], rows)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
