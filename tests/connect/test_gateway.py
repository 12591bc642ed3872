"""The gateway: config errors that name the field, and the runner against a real local ingest server.

The runner tests use :class:`~tests.connect.ingest_standin.IngestStandIn`, a minimal local
implementation of the ingest protocol (not the platform), so outages can be staged: the
server down (connection refused), answering 503, or rejecting a batch with 422.

``counter`` is a test-only protocol defined here and registered with
:func:`~commonworks.connect.config.register_protocol`: each tick it emits one sample per tag,
value = tick number and ts = ``start_ts + tick``, so what must arrive is known exactly.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from commonworks.connect.buffer import SampleBuffer
from commonworks.connect.cli import gateway_app
from commonworks.connect.config import ConfigError, GatewayConfig, load_config
from commonworks.connect.gateway import Gateway, status_text
from tests.connect.counter import START_TS, SUBPROCESS_MODULE, counter_device
from tests.connect.ingest_standin import IngestStandIn, Mosquitto, MqttIngestStandIn, free_port
from tests.services import require

TOKEN = "cwg_test-token"
REPO = Path(__file__).resolve().parents[2]


# -- helpers -----------------------------------------------------------------------------------


def make_config(
    tmp_path: Path,
    url: str,
    *,
    devices: list[dict[str, Any]] | None = None,
    transport: str = "http",
    status_port: int = 0,
    max_delay_ms: int = 50,
    batch_max: int = 200,
    buffer_max: int = 5_000_000,
) -> dict[str, Any]:
    return {
        "gateway": {
            "key": "gw-test-1",
            "platform": {"transport": transport, "url": url, "token": TOKEN, "timeout_s": 10},
            "buffer": {"path": str(tmp_path / "buffer" / "gateway.db"), "max_samples": buffer_max},
            "batch": {"max_samples": batch_max, "max_delay_ms": max_delay_ms},
            "status": {"host": "127.0.0.1", "port": status_port},
        },
        "devices": devices if devices is not None else [counter_device("cnc-01", 3, ticks=400)],
    }


def expected(name: str, tags: int, ticks: int) -> set[tuple[str, int]]:
    return {(f"{name}.t{i}", START_TS + n) for i in range(tags) for n in range(ticks)}


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def assert_in_queue_order(committed: list[tuple[str, int, Any]]) -> None:
    """Per tag, ts strictly increasing in commit order: the backlog drained oldest first, no repeats."""
    last: dict[str, int] = {}
    for tag, ts, _ in committed:
        assert ts > last.get(tag, -1), f"{tag} at {ts} arrived after {last[tag]}"
        last[tag] = ts


@pytest.fixture
def standin() -> Iterator[IngestStandIn]:
    with IngestStandIn(token=TOKEN) as server:
        yield server


# -- configuration -----------------------------------------------------------------------------


def write_yaml(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def config_error(tmp_path: Path, doc: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write_yaml(tmp_path, doc))
    return str(caught.value)


def test_config_error_names_the_file_and_the_field_path(tmp_path: Path) -> None:
    doc = make_config(
        tmp_path, "http://127.0.0.1:1", devices=[counter_device("a", 2), counter_device("b", 2), counter_device("c", 7)]
    )
    doc["devices"][2]["tags"][5]["address"] = -4
    message = config_error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'gateway.yaml'}: devices.2.tags.5.address: ")
    assert "greater than or equal to 0" in message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["gateway"].__setitem__("key", "gw/1"), "gateway.key", "letters, digits"),
        (lambda d: d["gateway"]["platform"].__setitem__("token", "secret"), "gateway.platform.token", "cwg_"),
        (
            lambda d: d["gateway"]["platform"].__setitem__("url", "mqtt://broker:1883"),
            "gateway.platform.url",
            "http://host:port",
        ),
        (lambda d: d["gateway"]["batch"].__setitem__("max_sampels", 10), "gateway.batch.max_sampels", "unknown option"),
        (lambda d: d["devices"][0].__setitem__("protocol", "profinet"), "devices.0.protocol", "unknown protocol"),
        (lambda d: d["devices"][0].pop("protocol"), "devices.0.protocol", "required"),
        (lambda d: d["devices"].append(counter_device("cnc-01", 1)), "devices.1.name", "already used"),
        (
            lambda d: d["devices"].append(
                {**counter_device("cnc-02", 1), "tags": [{"key": "cnc-01.t2", "address": 9}]}
            ),
            "devices.1.tags.0.key",
            "'cnc-01.t2' is already used by device 'cnc-01'",
        ),
    ],
)
def test_config_errors_say_which_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], Any], field: str, words: str
) -> None:
    doc = make_config(tmp_path, "http://127.0.0.1:1")
    change(doc)
    message = config_error(tmp_path, doc)
    assert f"gateway.yaml: {field}: " in message
    assert words in message


def test_config_defaults_and_buffer_path_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site" / "gateway.yaml"
    path.parent.mkdir()
    path.write_text(
        textwrap_yaml("""
        gateway:
          key: gw-hefei-1
          platform: {url: "http://127.0.0.1:8000/", token: cwg_abc}
          buffer: {path: data/buffer.db}
        devices: []
    """),
        encoding="utf-8",
    )
    config = load_config(path)
    section = config.gateway
    assert section.platform.transport == "http" and section.platform.url == "http://127.0.0.1:8000"
    assert section.buffer.path == path.parent.resolve() / "data" / "buffer.db"
    assert (section.buffer.max_samples, section.batch.max_samples, section.batch.max_delay_ms) == (5_000_000, 5000, 500)
    assert section.status.port == 0 and section.platform.in_flight == 1


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("gateway:\n  key: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gateway.yaml: line \d+: not valid YAML"):
        load_config(path)


def test_cli_run_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    doc = make_config(tmp_path, "http://127.0.0.1:1")
    doc["devices"][0]["rate"] = "fast"
    result = CliRunner().invoke(gateway_app, ["run", "--config", str(write_yaml(tmp_path, doc))])
    assert result.exit_code == 2
    output = result.output.strip()
    assert len(output.splitlines()) == 1 and "devices.0.rate" in output and "Traceback" not in output


def textwrap_yaml(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip()


# -- the runner over HTTP --------------------------------------------------------------------------


def test_gateway_delivers_everything_in_order(tmp_path: Path, standin: IngestStandIn) -> None:
    config = GatewayConfig.from_dict(
        make_config(
            tmp_path,
            standin.url,
            devices=[counter_device("cnc-01", 3, ticks=400), counter_device("cnc-02", 2, ticks=300)],
        )
    )

    async def scenario() -> None:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: standin.count() == 1800, "all 1,800 samples committed")
        await eventually(lambda: gateway.buffer is not None and gateway.buffer.size() == 0, "queue empty")
        assert gateway.stats.samples == 1800
        stop.set()
        await task

    asyncio.run(scenario())
    committed = standin.snapshot()
    assert {(tag, ts) for tag, ts, _ in committed} == expected("cnc-01", 3, 400) | expected("cnc-02", 2, 300)
    assert standin.duplicates == 0
    assert_in_queue_order(committed)
    assert all(value == ts - START_TS for _, ts, value in committed)


def test_gateway_resends_after_outage(tmp_path: Path, standin: IngestStandIn) -> None:
    config = GatewayConfig.from_dict(
        make_config(tmp_path, standin.url, devices=[counter_device("cnc-01", 3, rate=100, ticks=600)])
    )

    async def scenario() -> None:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: standin.count() >= 150, "first samples delivered")
        standin.stop_server()  # the platform is gone: connection refused
        buffer = gateway.buffer
        assert buffer is not None
        await eventually(lambda: buffer.size() >= 300, "the queue grows during the outage")
        await eventually(lambda: gateway.status()["outage_since_ms"] is not None, "the outage is noticed")
        during = standin.count()
        standin.start_server()
        await eventually(lambda: standin.count() == 1800, "the backlog and live data delivered")
        await eventually(lambda: buffer.size() == 0, "queue empty")
        assert standin.count() > during
        stop.set()
        await task

    asyncio.run(scenario())
    committed = standin.snapshot()
    assert {(tag, ts) for tag, ts, _ in committed} == expected("cnc-01", 3, 600)
    assert len(committed) == 1800  # exactly once: every (tag, ts) committed, none twice
    assert_in_queue_order(committed)


def test_gateway_waits_out_503_and_a_wrong_token_without_losing_data(tmp_path: Path, standin: IngestStandIn) -> None:
    config = GatewayConfig.from_dict(
        make_config(tmp_path, standin.url, devices=[counter_device("cnc-01", 2, rate=200, ticks=300)])
    )

    async def scenario() -> None:
        standin.mode = "503"
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: standin.requests >= 2, "the gateway retries")
        await eventually(lambda: gateway.buffer is not None and gateway.buffer.size() >= 200, "queue grows")
        standin.token = "cwg_other"  # 401 is the gateway's problem, not the batch's: keep retrying
        standin.mode = "ok"
        requests = standin.requests
        await eventually(lambda: standin.requests > requests + 1, "retries with the refused token")
        assert gateway.status()["transport"]["state"] == "unauthorized"
        assert gateway.stats.rejected_batches == 0
        standin.token = TOKEN
        await eventually(lambda: standin.count() == 600, "everything delivered")
        stop.set()
        await task

    asyncio.run(scenario())
    assert {(tag, ts) for tag, ts, _ in standin.snapshot()} == expected("cnc-01", 2, 300)
    assert not (tmp_path / "buffer" / "rejected").exists()


def test_rejected_batch_is_kept_on_disk_and_the_queue_moves_on(tmp_path: Path, standin: IngestStandIn) -> None:
    config = GatewayConfig.from_dict(
        make_config(tmp_path, standin.url, batch_max=100, devices=[counter_device("cnc-01", 2, ticks=200)])
    )
    standin.reject_next = 1

    async def scenario() -> Gateway:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        # rejected_batches counts after the copy is written, so the files are complete when it is 1.
        await eventually(
            lambda: gateway.stats.rejected_batches == 1 and standin.count() + rejected_samples(tmp_path) == 400,
            "every sample delivered or kept",
        )
        stop.set()
        await task
        return gateway

    asyncio.run(scenario())
    rejected = sorted((tmp_path / "buffer" / "rejected").glob("*.json.gz"))
    assert len(rejected) == 1
    doc = orjson.loads(gzip.decompress(rejected[0].read_bytes()))
    reason = orjson.loads(rejected[0].with_name(rejected[0].name.replace(".json.gz", ".reason.json")).read_bytes())
    assert reason["status"] == 422 and "not a number" in reason["reason"] and reason["batch_id"] == doc["batch_id"]
    kept = {(s["tag"], ts) for s in doc["series"] for ts in s["ts"]}
    delivered = {(tag, ts) for tag, ts, _ in standin.snapshot()}
    assert kept and not kept & delivered
    assert kept | delivered == expected("cnc-01", 2, 200)  # nothing vanished


def test_a_burst_beyond_the_memory_limit_holds_the_device_back_and_loses_nothing(
    tmp_path: Path, standin: IngestStandIn
) -> None:
    # 600 ticks × 500 tags = 300,000 samples emitted as fast as the event loop allows: three times what the
    # gateway holds in memory (100,000). The device must wait for room; nothing may be dropped on the way to disk.
    config = GatewayConfig.from_dict(
        make_config(
            tmp_path, standin.url, batch_max=5000, devices=[counter_device("press-01", 500, rate=1e9, ticks=600)]
        )
    )

    async def scenario() -> dict[str, Any]:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: standin.count() == 300_000, "all 300,000 samples committed", timeout=120)
        await eventually(lambda: gateway.buffer is not None and gateway.buffer.size() == 0, "queue empty")
        status = gateway.status()
        stop.set()
        await task
        return status

    status = asyncio.run(scenario())
    assert status["dropped"] == 0 and status["queue_size"] == 0
    assert status["held_back"] >= 1  # the burst was slowed down, not cut
    assert "held back" in status_text(status)
    committed = standin.snapshot()
    assert {(tag, ts) for tag, ts, _ in committed} == expected("press-01", 500, 600)
    assert standin.duplicates == 0
    assert_in_queue_order(committed)


def test_a_tag_and_time_repeated_in_a_batch_is_counted_in_the_status(tmp_path: Path, standin: IngestStandIn) -> None:
    # At ticks 3, 17 and 40 the device sends each of its 2 tags twice with the same timestamp (the repeat with value
    # -tick). The platform keeps one sample per (tag, ts); the gateway must say that it saw the repeats.
    config = GatewayConfig.from_dict(
        make_config(tmp_path, standin.url, devices=[counter_device("cnc-01", 2, ticks=50, repeat_ticks=[3, 17, 40])])
    )

    async def scenario() -> dict[str, Any]:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(
            lambda: standin.count() == 100 and gateway.buffer is not None and gateway.buffer.size() == 0,
            "all 100 (tag, ts) committed",
        )
        status = gateway.status()
        stop.set()
        await task
        return status

    status = asyncio.run(scenario())
    assert status["repeated_samples"] == 6
    assert status["sent_samples"] == 106  # what the device sent: 100 + 6 repeats
    assert "repeated  6 samples" in status_text(status)
    committed = standin.snapshot()
    assert {(tag, ts) for tag, ts, _ in committed} == expected("cnc-01", 2, 50)
    assert all(value == ts - START_TS for _, ts, value in committed)  # the first value of each (tag, ts) is kept
    assert standin.duplicates == 0  # not sent twice and hidden among the platform's duplicates


def rejected_samples(tmp_path: Path) -> int:
    total = 0
    for path in (tmp_path / "buffer" / "rejected").glob("*.json.gz"):
        doc = orjson.loads(gzip.decompress(path.read_bytes()))
        total += sum(len(s["ts"]) for s in doc["series"])
    return total


def test_status_endpoint_answers_json(tmp_path: Path, standin: IngestStandIn) -> None:
    port = free_port()
    config = GatewayConfig.from_dict(
        make_config(tmp_path, standin.url, status_port=port, devices=[counter_device("cnc-01", 2, ticks=50)])
    )

    async def scenario() -> tuple[dict[str, Any], int]:
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: standin.count() == 100, "delivered")
        await eventually(lambda: gateway.status_port is not None, "status endpoint up")
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/status")
            missing = await client.get(f"http://127.0.0.1:{port}/nothing")
        stop.set()
        await task
        assert response.headers["content-type"] == "application/json"
        return response.json(), missing.status_code

    doc, missing_status = asyncio.run(scenario())
    assert missing_status == 404
    assert doc["gateway"] == "gw-test-1"
    assert doc["sent_samples"] == 100 and doc["queue_size"] == 0 and doc["dropped"] == 0
    assert doc["last_ack_ms"] is not None and doc["transport"]["state"] == "connected"
    assert doc["devices"][0]["name"] == "cnc-01" and doc["devices"][0]["available"] is True
    text = status_text(doc)
    assert "gw-test-1" in text and "cnc-01 (counter): available" in text


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def _status(port: int) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/status", timeout=2).json()
        return doc
    except httpx.HTTPError:
        return None


def test_sigterm_flushes_what_is_in_memory_to_disk(tmp_path: Path) -> None:
    port = free_port()
    # Nothing listens at the platform url and samples wait a minute in memory: only the shutdown writes them.
    doc = make_config(
        tmp_path,
        f"http://127.0.0.1:{free_port()}",
        status_port=port,
        max_delay_ms=60_000,
        batch_max=100_000,
        devices=[counter_device("cnc-01", 2, rate=100)],
    )
    config_path = write_yaml(tmp_path, doc)
    code = (
        f"from commonworks.connect.config import register_protocol; "
        f"register_protocol('counter', {SUBPROCESS_MODULE!r}); "
        f"from commonworks.connect.cli import gateway_app; "
        f"gateway_app(['run', '--config', {str(config_path)!r}])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            seen: dict[str, Any] = {}

            def enough_in_memory() -> bool:
                assert child.poll() is None, log_path.read_text()
                seen.update(_status(port) or {})
                return int(seen.get("in_memory", 0)) >= 100

            _wait_for(enough_in_memory, "samples held in memory")
            assert seen["queue_size"] == 0
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=60) == 0, log_path.read_text()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    with SampleBuffer(tmp_path / "buffer" / "gateway.db", gateway_key="gw-test-1") as buffer:
        assert buffer.size() >= seen["in_memory"]
        batch = buffer.peek_batch(1_000_000)
    assert batch is not None
    for key in ("cnc-01.t0", "cnc-01.t1"):
        values = [s.value for s in batch.samples if s.tag == key]
        assert values == list(range(len(values)))  # every tick from the first, none missing
    assert "queued for the next start" in log_path.read_text()


# -- the runner over MQTT ------------------------------------------------------------------------


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    require(broker.binary, "mosquitto (Debian package mosquitto)")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_gateway_over_mqtt_pipelines_and_survives_a_broker_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = GatewayConfig.from_dict(
        make_config(
            tmp_path,
            mosquitto.url,
            transport="mqtt",
            batch_max=50,
            devices=[counter_device("cnc-01", 3, rate=100, ticks=600)],
        )
    )
    assert config.gateway.platform.in_flight == 8

    async def scenario() -> MqttIngestStandIn:
        worker = MqttIngestStandIn(mosquitto.port, token=TOKEN)
        await worker.start()
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: worker.count() >= 150, "first samples delivered over MQTT")
        await asyncio.to_thread(mosquitto.stop)
        buffer = gateway.buffer
        assert buffer is not None
        await eventually(lambda: buffer.size() >= 300, "the queue grows while the broker is down")
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: worker.count() == 1800, "everything delivered after the broker restart")
        await eventually(lambda: buffer.size() == 0, "queue empty")
        assert gateway.status()["transport"]["connects"] >= 2
        stop.set()
        await task
        await worker.stop()
        return worker

    worker = asyncio.run(scenario())
    assert worker.bad_tokens == 0
    assert {(tag, ts) for tag, ts, _ in worker.snapshot()} == expected("cnc-01", 3, 600)


def test_mqtt_transport_resends_promptly_when_no_worker_listens_after_a_broker_restart(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    # After the broker restarts, the gateway reconnects and publishes before the ingest worker has subscribed
    # again: those publishes reach nobody. The ack timeout is 300 s here, so only a prompt resend delivers
    # everything within the minute this test waits.
    doc = make_config(
        tmp_path,
        mosquitto.url,
        transport="mqtt",
        batch_max=50,
        devices=[counter_device("cnc-01", 3, rate=100, ticks=600)],
    )
    doc["gateway"]["platform"]["timeout_s"] = 300
    config = GatewayConfig.from_dict(doc)

    async def scenario() -> dict[str, Any]:
        worker = MqttIngestStandIn(mosquitto.port, token=TOKEN)
        await worker.start()
        gateway = Gateway(config)
        stop = asyncio.Event()
        task = asyncio.create_task(gateway.run(stop))
        await eventually(lambda: worker.count() >= 150, "first samples delivered over MQTT")
        await worker.stop()
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.to_thread(mosquitto.start)
        transport = gateway.transport
        await eventually(
            lambda: transport.diagnostics()["connects"] >= 2 and transport.diagnostics()["awaiting_ack"] > 0,
            "batches published with no worker there",
        )
        await asyncio.sleep(0.5)
        await worker.start()  # the worker subscribes again, late
        await eventually(lambda: worker.count() == 1800, "everything delivered after the late worker came back")
        await eventually(lambda: gateway.buffer is not None and gateway.buffer.size() == 0, "queue empty")
        status = gateway.status()
        stop.set()
        await task
        await worker.stop()
        return status

    status = asyncio.run(scenario())
    assert status["transport"]["resends"] >= 1
    assert status["rejected_batches"] == 0
