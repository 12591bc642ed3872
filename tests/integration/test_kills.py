"""Processes killed with SIGKILL end to end: the server mid-ingest, the gateway with data on disk."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from commonworks.connect.buffer import SampleBuffer
from tests.connect.counter import counter_device
from tests.integration.support import (
    RATE,
    START_TS,
    TAGS,
    GatewayProcess,
    assert_every_tick_stored_once,
    drained,
    gateway_config,
    wait_for,
)


def test_server_killed_mid_ingest_loses_no_acknowledged_sample(db_url: str, tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    server, token = platform
    ticks = 15 * RATE
    gateway = GatewayProcess(gateway_config(tmp_path, transport="http", url=server.url, token=token, ticks=ticks),
                             tmp_path)
    gateway.start()
    try:
        wait_for(lambda: (gateway.status() or {}).get("sent_samples", 0) >= 3 * RATE * TAGS, "3 s of data acked")
        server.stop(signal.SIGKILL)
        time.sleep(2)
        server.start()
        wait_for(drained(gateway, ticks), "the backlog to drain", 180)
    finally:
        gateway.stop()
    assert_every_tick_stored_once(db_url, ticks)


def test_gateway_killed_and_restarted_keeps_what_it_had_read(db_url: str, tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    server, token = platform
    server.stop()  # nothing leaves the gateway: all it reads piles up in its buffer
    config = gateway_config(tmp_path, transport="http", url=server.url, token=token, ticks=None)  # type: ignore[arg-type]
    gateway = GatewayProcess(config, tmp_path)
    gateway.start()
    wait_for(lambda: (gateway.status() or {}).get("queue_size", 0) >= 2 * RATE * TAGS, "2 s of data on disk")
    gateway.stop(signal.SIGKILL)
    with SampleBuffer(tmp_path / "buffer.db", gateway_key="gw-fault") as buffer:
        on_disk = buffer.size()
        batch = buffer.peek_batch(10_000_000)
    assert batch is not None and len(batch.samples) == on_disk
    persisted = {(s.tag, s.ts) for s in batch.samples}
    # restart with a device that reads nothing new: whatever arrives was read before the kill
    config["devices"] = [counter_device("dev", TAGS, rate=RATE, ticks=0, start_ts=START_TS)]
    restarted = GatewayProcess(config, tmp_path)
    server.start()
    restarted.start()
    try:
        wait_for(lambda: (restarted.status() or {}).get("queue_size") == 0, "the buffer to drain", 120)
    finally:
        restarted.stop()
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = set(conn.execute(text("SELECT t.key, s.ts FROM samples s JOIN tags t ON t.id = s.tag_id")).all())
    engine.dispose()
    assert rows == persisted
    ticks = len(persisted) // TAGS
    assert ticks * TAGS == len(persisted)
    assert_every_tick_stored_once(db_url, ticks)


