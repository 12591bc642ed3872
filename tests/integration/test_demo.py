"""`commonworks demo` end to end: simulated machines → gateways → platform → API, for every demo factory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
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
        _an_order_runs_on_a_simulated_machine(base)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
        log.close()
    leftovers = subprocess.run(["pgrep", "-f", f"{tmp_path}/demo/"], capture_output=True, text=True).stdout.split()
    assert leftovers == []  # simulators and gateways stop with the demo


def _login(base: str, email: str) -> dict[str, str]:
    token = httpx.post(f"{base}/auth/login", json={"email": email, "password": "commonworks-demo"},
                       timeout=10).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _an_order_runs_on_a_simulated_machine(base: str) -> None:
    """芜湖 buys turned bushes; the matches rank 合肥精工 (its lathe published spare hours); it quotes, the
    buyer accepts, the supplier binds the order to its simulated lathe cnc-03, and the buyer watches the
    parts that machine counts arrive."""
    buyer, supplier = _login(base, "owner@hengxin-sheet.cn"), _login(base, "owner@hefei-cnc.cn")
    demand = httpx.post(f"{base}/network/demands", headers=buyer, timeout=10, json={
        "kind": "part_rfq", "title": "不锈钢轴套 数控车削", "process": "turning", "material": "stainless_304",
        "quantity": 200, "envelope_x_mm": 40, "envelope_y_mm": 40, "envelope_z_mm": 60, "tolerance_mm": 0.02,
        "hours": 8, "due_date": (date.today() + timedelta(days=14)).isoformat()}).json()
    matches = httpx.get(f"{base}/network/demands/{demand['id']}/matches?top=50", headers=buyer, timeout=60).json()
    assert "合肥精工数控加工有限公司" in [m["name"] for m in matches["matches"]], matches
    quote = httpx.post(f"{base}/network/demands/{demand['id']}/quotes", headers=supplier, timeout=10,
                       json={"price": 6800, "lead_time_days": 10}).json()
    order = httpx.post(f"{base}/network/quotes/{quote['id']}/accept", headers=buyer, timeout=10).json()
    lathe = next(m for m in httpx.get(f"{base}/machines", headers=supplier, timeout=10).json()["items"]
                 if m["key"] == "cnc-03")
    bound = httpx.post(f"{base}/network/orders/{order['id']}/bind", headers=supplier, timeout=10,
                       json={"machine_id": lathe["id"]})
    assert bound.status_code == 200, bound.text
    deadline, progress = time.monotonic() + 480, None  # cycles of 1–5 min, and the lathe may be in a setup
    while time.monotonic() < deadline:
        progress = httpx.get(f"{base}/network/orders/{order['id']}", headers=buyer, timeout=10).json()["progress"]
        if progress["made"] >= 1:
            break
        time.sleep(5)
    assert progress is not None and progress["made"] >= 1, progress  # counted by the simulated lathe
    assert progress["rate_per_hour"] and progress["expected_finish_ms"]
