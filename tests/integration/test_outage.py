"""Outages end to end: the platform, or the broker, is away for ``COMMONWORKS_FAULT_OUTAGE_S``
seconds (60 by default, as the issue asks) while the gateway reads 2,000 samples/s; after
recovery every sample is stored exactly once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.integration.support import (
    OUTAGE_S,
    RATE,
    TAGS,
    GatewayProcess,
    assert_every_tick_stored_once,
    child_env,
    drained,
    gateway_config,
    seed,
    wait_for,
)
from tests.services import Mosquitto


def test_platform_down_for_a_minute_loses_nothing(db_url: str, tmp_path: Path, platform) -> None:  # type: ignore[no-untyped-def]
    server, token = platform
    ticks = int((OUTAGE_S + 10) * RATE)
    gateway = GatewayProcess(gateway_config(tmp_path, transport="http", url=server.url, token=token, ticks=ticks),
                             tmp_path)
    gateway.start()
    try:
        wait_for(lambda: (gateway.status() or {}).get("sent_samples", 0) > 0, "the first acknowledged batch")
        server.stop()
        outage_end = time.monotonic() + OUTAGE_S
        wait_for(lambda: (gateway.status() or {}).get("queue_size", 0) > RATE * TAGS, "the queue to grow")
        time.sleep(max(0.0, outage_end - time.monotonic()))
        during = gateway.status() or {}
        assert during["queue_size"] > 0 and during["dropped"] == 0
        server.start()
        wait_for(drained(gateway, ticks), "the backlog to drain", 180)
        assert (gateway.status() or {})["dropped"] == 0
    finally:
        gateway.stop()
    assert_every_tick_stored_once(db_url, ticks)


def test_broker_down_for_a_minute_loses_nothing(tmp_path: Path, keys: list[str], broker: Mosquitto) -> None:
    db_url = f"sqlite:///{tmp_path / 'commonworks.db'}"  # the broker path, on the embedded database
    token = seed(db_url, keys=keys, gateway_key="gw-fault")
    env = child_env(COMMONWORKS_DATABASE_URL=db_url, COMMONWORKS_DATA_DIR=str(tmp_path))
    worker_log = (tmp_path / "worker.log").open("ab")
    workers = [subprocess.Popen([sys.executable, "-m", "commonworks", "ingest-worker", "--url", broker.url], env=env,
                                stdout=worker_log, stderr=worker_log) for _ in range(2)]
    log = tmp_path / "worker.log"
    wait_for(lambda: log.read_text().count("ingest worker subscribed") == 2, "both workers to subscribe", 60)
    ticks = int((OUTAGE_S + 10) * RATE)
    gateway = GatewayProcess(gateway_config(tmp_path, transport="mqtt", url=broker.url, token=token, ticks=ticks),
                             tmp_path)
    gateway.start()
    try:
        wait_for(lambda: (gateway.status() or {}).get("sent_samples", 0) > 0, "the first acknowledged batch")
        broker.stop()
        time.sleep(OUTAGE_S)
        during = gateway.status() or {}
        assert during["queue_size"] > 0, during
        broker.start()  # the workers reconnect and subscribe again by themselves
        wait_for(drained(gateway, ticks), "the backlog to drain", 180)
    finally:
        gateway.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        worker_log.close()
    assert_every_tick_stored_once(db_url, ticks)
