"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import TAGS, Platform, seed
from tests.services import Mosquitto


@pytest.fixture
def keys() -> list[str]:
    return [f"dev.t{i}" for i in range(TAGS)]


@pytest.fixture
def platform(db_url: str, tmp_path: Path, keys: list[str]) -> Iterator[tuple[Platform, str]]:
    token = seed(db_url, keys=keys, gateway_key="gw-fault")
    server = Platform(db_url, tmp_path)
    server.start()
    yield server, token
    if server.process and server.process.poll() is None:
        server.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


