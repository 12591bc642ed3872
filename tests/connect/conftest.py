"""Fixtures for connector tests: a real Mosquitto broker of the tests' own on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import Mosquitto


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Mosquitto broker started for this test session; anonymous, loopback only."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield "127.0.0.1", broker.port
    finally:
        broker.stop()
