"""Gateway memory with 5,000 tags at 1 Hz over a real protocol, against the 150 MB target.

A Modbus TCP server (pymodbus) holds 5,000 holding registers that change every second; the
gateway (``commonworks gateway run``, its own process) polls them in 40 blocks of 125
registers once a second and forwards everything over HTTP to the platform server (its own
process). The script samples the gateway's resident memory (RSS) for the run and checks that
the platform stored what was read. Baseline row: the same gateway with 200 tags.

Run: ``.venv/bin/python bench/gateway_memory.py [--seconds 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, fresh_database, platform, seed_tenant, stored_samples, table, workdir

TARGET_MB = 150


def modbus_server(port: int, registers: int, stop: threading.Event) -> threading.Thread:
    """A pymodbus server whose registers all change once a second."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    async def serve() -> None:
        device = SimDevice(id=1, simdata=[SimData(0, values=[0] * registers, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        tick = 0
        while not stop.is_set():
            tick += 1
            await server.async_setValues(1, 16, 0, [(tick + i) % 65536 for i in range(registers)])
            await asyncio.sleep(1)
        await server.shutdown()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    return thread


def measure(tags: int, seconds: float) -> tuple[float, float, int, int]:
    """(peak RSS MB, mean CPU %, samples read, samples stored) for a gateway reading ``tags`` registers at 1 Hz."""
    directory = workdir()
    url = fresh_database("sqlite", directory)
    assert url
    keys = [f"reg.r{i:05d}" for i in range(tags)]
    token = seed_tenant(url, tags=keys)
    stop = threading.Event()
    port = free_port()
    server = modbus_server(port, tags, stop)
    time.sleep(1)
    status_port = free_port()
    with platform(url, directory) as base:
        blocks = [{"kind": "holding", "start": s, "count": min(125, tags - s), "interval_ms": 1000}
                  for s in range(0, tags, 125)]
        config = {"gateway": {"key": "gw-bench", "platform": {"transport": "http", "url": base, "token": token},
                              "buffer": {"path": str(directory / "buffer.db")},
                              "status": {"host": "127.0.0.1", "port": status_port}},
                  "devices": [{"protocol": "modbus", "name": "reg", "host": "127.0.0.1", "port": port,
                               "blocks": blocks,
                               "tags": [{"key": k, "kind": "holding", "address": i, "type": "uint16"}
                                        for i, k in enumerate(keys)]}]}
        path = directory / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        gateway = subprocess.Popen([sys.executable, "-m", "commonworks", "gateway", "run", "--config", str(path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = psutil.Process(gateway.pid)
        peak = 0.0
        proc.cpu_percent()
        cpu: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1)
            peak = max(peak, proc.memory_info().rss / 2**20)
            cpu.append(proc.cpu_percent())
        doc = httpx.get(f"http://127.0.0.1:{status_port}/status", timeout=5).json()
        read = sum(d["samples_read"] for d in doc["devices"])
        gateway.terminate()
        gateway.wait(30)
        stored = stored_samples(url)
    stop.set()
    server.join(10)
    return peak, sum(cpu[2:]) / max(1, len(cpu[2:])), read, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    rows = []
    result = {}
    base_peak = None
    for tags in (200, 5000):
        peak, cpu, read, stored = measure(tags, args.seconds)
        base_peak = base_peak or peak
        rows.append([f"{tags:,} tags at 1 Hz (Modbus, {max(1, tags // 125)} blocks)", f"{peak:.1f}",
                     f"{peak / base_peak:.2f}", f"{cpu:.1f}", f"{read:,}", f"{stored:,}", f"< {TARGET_MB}"])
        result[f"rss_mb_{tags}"] = f"{peak:.1f}"
        result[f"cpu_pct_{tags}"] = f"{cpu:.1f}"
        result[f"stored_{tags}"] = str(stored)
    table(f"Gateway memory over {args.seconds:.0f} s (baseline: the same gateway with 200 tags)",
          ["load", "peak RSS MB", "ratio to 200 tags", "CPU % of a core", "samples read", "stored", "target MB"],
          rows)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
