"""Telemetry: plants, machines and tags; ingest, storage, rollups, retention, queries, export."""
