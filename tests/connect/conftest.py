"""Fixtures for connector tests: a real Mosquitto broker of the tests' own on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import require


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout} s")


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Mosquitto broker started for this test session; anonymous, loopback only."""
    binary = require(shutil.which("mosquitto") or (shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")),
                     "mosquitto")
    directory = tmp_path_factory.mktemp("mosquitto")
    port = _free_port()
    conf = directory / "mosquitto.conf"
    log = directory / "mosquitto.log"
    # Log to stderr, captured by us: run as root, mosquitto drops to its own user and could
    # not open a log file in pytest's private temporary directory.
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
    with log.open("wb") as log_file:
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
