"""Telemetry tests share the connector tests' real Mosquitto broker."""

from tests.connect.conftest import mqtt_broker  # noqa: F401  (a fixture, found by pytest by name)
