"""``commonworks simulate``: run a set of simulated machines, each a real protocol server.

The YAML lists the machines::

    speed: 1.0            # simulated seconds per real second
    in_shift: true        # outside shift hours, run the models at a daytime hour (for demos)
    cnc_opcua:  [{name: cnc-01, port: 48401, seed: 11}]
    imm_modbus: [{name: imm-01, port: 50201, seed: 21}]
    sparkplug:  [{url: "mqtt://127.0.0.1:1883", group: hengxin, edge_node: cell-a, seed: 31}]

Every machine is a separate server on 127.0.0.1 (or ``host``); a gateway reads them as it
would read real machines. Timestamps are always wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from commonworks.connect.simulators.machines import SimClock

log = logging.getLogger("commonworks.simulate")
SHANGHAI = ZoneInfo("Asia/Shanghai")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerMachine(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,59}$")
    port: int = Field(ge=1, le=65535)
    seed: int = 0


class EdgeNode(_Strict):
    url: str
    group: str
    edge_node: str
    devices: dict[str, str] | None = None
    interval_s: float = Field(default=1.0, gt=0)
    seed: int = 0


class SimulateConfig(_Strict):
    speed: float = Field(default=1.0, gt=0)
    in_shift: bool = False
    host: str = "127.0.0.1"
    cnc_opcua: list[ServerMachine] = Field(default_factory=list)
    imm_modbus: list[ServerMachine] = Field(default_factory=list)
    sparkplug: list[EdgeNode] = Field(default_factory=list)


def load(path: str | Path) -> SimulateConfig:
    """Read and validate the YAML; errors name the file and the field."""
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text()) or {}
        return SimulateConfig.model_validate(raw)
    except OSError as exc:
        raise ValueError(f"{source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{source}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


def demo_clock(speed: float, *, now: float | None = None) -> SimClock:
    """A clock that is inside shift hours (08–24 Shanghai time): at night it runs from 10:00."""
    real = time.time() if now is None else now
    local = datetime.fromtimestamp(real, SHANGHAI)
    offset = 0.0
    if local.hour < 8:
        offset = (10 - local.hour) * 3600.0 - local.minute * 60.0
    return SimClock(speed=speed, real_origin=real, sim_origin=real + offset)


async def run(config: SimulateConfig, stop: asyncio.Event) -> None:
    """Start every machine's server, run until ``stop``, then stop them all."""
    from commonworks.connect.simulators.cnc_opcua import CncOpcUaServer
    from commonworks.connect.simulators.imm_modbus import ImmModbusServer
    from commonworks.connect.simulators.sparkplug_node import run_edge_node

    clock = demo_clock(config.speed) if config.in_shift else SimClock(speed=config.speed)
    async with contextlib.AsyncExitStack() as stack:
        for m in config.cnc_opcua:
            await stack.enter_async_context(CncOpcUaServer(m.name, m.port, m.seed, config.speed, host=config.host,
                                                           clock=clock))
            log.info("CNC %s: OPC UA on opc.tcp://%s:%s/", m.name, config.host, m.port)
        for m in config.imm_modbus:
            await stack.enter_async_context(ImmModbusServer(m.name, m.port, m.seed, config.speed, host=config.host,
                                                            clock=clock))
            log.info("injection moulding machine %s: Modbus TCP on %s:%s", m.name, config.host, m.port)
        nodes: list[asyncio.Task[Any]] = [
            asyncio.create_task(run_edge_node(n.url, n.group, n.edge_node, n.devices, interval_s=n.interval_s,
                                              seed=n.seed, time_scale=config.speed, stop=stop))
            for n in config.sparkplug]
        for n in config.sparkplug:
            log.info("Sparkplug edge node %s/%s on %s", n.group, n.edge_node, n.url)
        await stop.wait()
        for task in nodes:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=5)
