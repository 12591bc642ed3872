"""`commonworks demo` end to end: simulated machines → gateways → platform → API, for every demo factory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import free_port

FACTORY_OWNERS = {"owner@hefei-cnc.cn": ["cnc-01", "cnc-02", "cnc-03"],
                  "owner@hairun-mould.cn": ["imm-01", "imm-02", "imm-03"],
                  "owner@hengxin-sheet.cn": ["laser-01", "pb-01"]}


def test_demo_factories_deliver_live_data(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COMMONWORKS_"))}
    env.update(COMMONWORKS_DATA_DIR=str(tmp_path), COMMONWORKS_PORT=str(port))
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen([sys.executable, "-m", "commonworks", "demo"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        live: dict[str, set[str]] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and any(set(m) != live.get(e, set()) for e, m in FACTORY_OWNERS.items()):
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            time.sleep(2)
            for email in FACTORY_OWNERS:
                try:
                    token = httpx.post(f"{base}/auth/login", json={"email": email, "password": "commonworks-demo"},
                                       timeout=5).json()["access_token"]
                except (httpx.HTTPError, KeyError):
                    continue
                headers = {"Authorization": f"Bearer {token}"}
                for machine in httpx.get(f"{base}/machines", headers=headers, timeout=5).json()["items"]:
                    latest = httpx.get(f"{base}/machines/{machine['id']}/latest", headers=headers, timeout=5).json()
                    fresh = [v for v in latest if v["ts"] and not v["stale"] and v["ts"] > (time.time() - 60) * 1000]
                    if len(fresh) == len(latest) > 5:
                        live.setdefault(email, set()).add(machine["key"])
        assert live == {email: set(machines) for email, machines in FACTORY_OWNERS.items()}
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
        log.close()
    leftovers = subprocess.run(["pgrep", "-f", f"{tmp_path}/demo/"], capture_output=True, text=True).stdout.split()
    assert leftovers == []  # simulators and gateways stop with the demo
