"""Settings for the long-running processes that handle samples in bulk: the gateway and the MQTT ingest worker.

Neutral ground: imported by ``connect`` (which imports nothing from the server side) and by the server's CLI.
"""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Garbage-collector settings for a process that handles samples in bulk (call once, after start-up).

    A micro-batch of small MQTT messages, or a Sparkplug message of hundreds of metrics, allocates tens of
    thousands of short-lived objects in moments. With the default thresholds the collector ran so often,
    rescanning the long-lived start-up objects (SQLAlchemy, pydantic, protobuf) each time, that it took about
    a third of the ingest worker's storing time and 5–8 % of the gateway's CPU per point (bench/ingest.py).
    Start-up objects are frozen out of collections and the youngest generation is collected every 50,000
    allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
