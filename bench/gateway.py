"""Our gateway side by side with the ThingsBoard IoT Gateway, against the same simulated machines.

The ThingsBoard IoT Gateway (PyPI ``thingsboard-gateway``, pinned below) is the most used Python industrial gateway.
Both gateways read exactly the same layout, served by simulators in a process of their own (this script with
``--serve``, so the gateways' CPU figures are theirs alone), all on 127.0.0.1:

* Modbus TCP: 10 pymodbus servers (one port each, unit id 1), 20 holding registers (addresses 0-19, uint16) that
  all change every 100 ms. Ours reads the 20 adjacent registers in one request per device and poll. ThingsBoard
  runs twice: as its docs lay it out (one ``timeseries`` entry, hence one request, per register) and with its
  address-range entry (``"address": "0-19"``, one request per device and poll, one key per register: the
  like-for-like of our block read).
* OPC UA: 10 asyncua servers (one port each; object ``devNN`` with 20 Double variables ``ns=2;s=devNN.vMM``) that
  all change every 100 ms with a fresh source timestamp; both gateways subscribe (100 ms publishing interval).

Scenarios, each a window of ``--seconds`` after a warm-up: Modbus polled every 100 ms, Modbus polled every 10 ms,
OPC UA; per gateway the delivered points/s (a point = one tag value), the share of what was possible (every
register of every poll; every value change the simulators made, counted by the simulators themselves), mean CPU %
of one core, peak RSS and RSS at the start and end of the window (does memory stay bounded?), and ours divided by
each ThingsBoard row (for OPC UA the delivered shares of the changes made are divided: how fast the simulators
change values depends on the CPU the gateway under test leaves them). Then, ours only, the broker is stopped for
``--outage`` seconds during a Modbus 100 ms run and restarted on the same port. Everything shares 2 cores here, so
other load on the machine shows in the figures; run it on a quiet machine.

What "delivered" means, and why the comparison is fair to ThingsBoard:

* ThingsBoard publishes over MQTT to a Mosquitto broker started here; delivered = data points that reach the
  bench's subscriber on ``v1/gateway/telemetry``; the broker's PUBACK is all it waits for.
* Ours uses its MQTT transport to the same kind of broker, with our real ingest worker (``commonworks
  ingest-worker``) storing into SQLite and acking after the commit; delivered = rows stored in the platform's
  ``samples`` table. That is more work end to end (storage and an application ack) than ThingsBoard's path. Neither
  the ingest worker's nor the broker's CPU is counted, only each gateway's own process.
* Every run of ours ends with an exact check: the simulators are stopped (nothing more is read), the queue drains,
  and the samples the gateway says it read (status endpoint, ``samples_read``) must all be stored — rows are unique
  on (tag, ts), so ``lost = read - stored`` counts every sample that never arrived.

ThingsBoard IoT Gateway quirks (3.8.5; found by reading its source in the venv and running it):

1. Its own venv (``var/bench/tb-venv``, created on first use): the Modbus and OPC UA connectors pin pymodbus
   3.9.2 and asyncua 1.1.5 and pip-install them (``--force-reinstall``) at import time when another version is
   installed, plus pyserial and pyserial-asyncio for Modbus; the bench installs them up front.
2. Its MQTT client sends the RPC ``getSessionLimits`` on ``v1/devices/me/rpc/request/N`` after connecting, and
   ``TBClient.is_connected()`` stays false until an answer arrives, so on a plain broker nothing is ever published.
   The bench answers on ``v1/devices/me/rpc/response/N`` with no rate limits (``{"rateLimits": {},
   "gatewayRateLimits": {}, "maxInflightMessages": 100, "maxPayloadSize": 65536}``); an answer without a
   ``rateLimits`` key is ignored. The ``DEFAULT_*_RATE_LIMIT`` placeholders of tb_gateway.json mean "no limit" for
   any host but thingsboard.cloud and demo.thingsboard.io, so nothing throttles it here.
3. ``python -m thingsboard_gateway.tb_gateway`` reads ``$TB_GW_CONFIG_DIR/tb_gateway.json`` and ``logs.json`` from
   there (without logs.json logging falls back silently); its log handlers write to ``./logs`` relative to the
   working directory. It writes an ``id`` into each connector JSON on first start.
4. The package's default tb_gateway.json is used with three changes: our broker and token,
   ``remoteConfiguration: false`` (nothing serves shared attributes here) and statistics off (they run shell
   commands every 60 s and publish the output; not data-path work). Storage stays the default in-memory queue
   (100,000 records: a restart or overflow loses data); the report strategy stays ``ON_RECEIVED`` (every read is
   sent, like ours).
5. Modbus, one entry per register: one request per entry, and the connector's request loop sleeps 100 ms whenever
   its queue is empty and spawns a task per poll. At ``pollPeriod`` 10 ms polls are enqueued far faster than 20
   round trips per device complete: tasks pile up, memory grows without bound and delivery collapses. An address
   range reads at most ``maxRegistersPerRequest`` registers per request (default 16, so the bench sets 20) and
   names each key from ``"tag": "r${address}"``.
6. OPC UA: one connector (a thread with its own event loop and an 8-thread pool) per server URL; the device is
   found by an absolute browse path (``Root\\.Objects\\.dev00``), its values may be node ids
   (``${ns=2;s=dev00.v00}``). The publishing interval is ``subCheckPeriodInMillis`` (at least 100 ms); monitored
   items ask for sampling interval 0 and queue size 0, which asyncua's server takes as its maximum queue.
7. SIGINT starts a slow orderly shutdown (connectors wait seconds each); the bench SIGTERMs it after measuring.

Run: ``.venv/bin/python bench/gateway.py [--seconds 20] [--only modbus100,modbus10,opcua,outage]``
(about 6 minutes for everything on 2 cores; ends with one ``RESULT key=value …`` line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, fresh_database, seed_tenant, server_env, stored_samples, table, workdir

DEVICES = 10
POINTS = 20  # holding registers / variables per device
CHANGE_MS = 100  # every simulated value changes this often
TB_VERSION = "3.8.5"
TB_PACKAGES = [
    f"thingsboard-gateway=={TB_VERSION}",
    "pymodbus==3.9.2",
    "asyncua==1.1.5",
    "pyserial==3.5",
    "pyserial-asyncio==0.6",
]
TB_VENV = ROOT / "var" / "bench" / "tb-venv"
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
TARGET_RATIO = 10
TARGET_RSS_MB = 100
KEEP = False  # --keep: leave each run's working directory (logs, configs, databases) in /tmp


# --- simulators (a process of their own: ``--serve modbus|opcua --ports …``) ----------------------------------------


async def tick_forever(update: Any) -> None:
    """Call ``update(tick)`` every CHANGE_MS on a fixed schedule; print the tick count once a second (the parent
    turns it into the offered change rate)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    tick = 0
    reported = loop.time()
    while True:
        tick += 1
        await update(tick)
        if loop.time() - reported >= 1:
            reported = loop.time()
            print(f"ticks {tick} {time.monotonic():.3f}", flush=True)
        due += CHANGE_MS / 1000
        await asyncio.sleep(max(0.0, due - loop.time()))


async def serve_modbus(ports: list[int]) -> None:
    """One pymodbus TCP server per port, unit id 1, holding registers 0..POINTS-1, all changing every CHANGE_MS."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    servers = []
    for port in ports:
        device = SimDevice(id=1, simdata=[SimData(0, values=[0] * POINTS, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        servers.append(server)

    async def update(tick: int) -> None:
        for n, server in enumerate(servers):
            await server.async_setValues(1, 16, 0, [(tick * 7 + n * 100 + i) % 65536 for i in range(POINTS)])

    print("ready", flush=True)
    await tick_forever(update)


async def serve_opcua(ports: list[int]) -> None:
    """One asyncua server per port; object ``devNN`` with Double variables ``devNN.vMM`` (ns=2), all changing every
    CHANGE_MS with a fresh source timestamp."""
    import logging
    from datetime import UTC, datetime

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.ERROR)

    async def start(n: int, port: int) -> tuple[Server, list[ua.NodeId]]:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace("urn:commonworks:bench")
        name = f"dev{n:02d}"
        obj = await server.nodes.objects.add_object(ua.NodeId(name, idx), ua.QualifiedName(name, idx))
        nodes = []
        for i in range(POINTS):
            var = await obj.add_variable(ua.NodeId(f"{name}.v{i:02d}", idx), ua.QualifiedName(f"v{i:02d}", idx), 0.0)
            nodes.append(var.nodeid)
        await server.start()
        return server, nodes

    servers = [await start(n, port) for n, port in enumerate(ports)]

    async def update(tick: int) -> None:
        now = datetime.now(UTC)
        for n, (server, nodes) in enumerate(servers):
            for i, nid in enumerate(nodes):
                value = ua.DataValue(
                    ua.Variant(float(tick * 7 + n * 100 + i), ua.VariantType.Double),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                )
                await server.write_attribute_value(nid, value)

    print("ready", flush=True)
    await tick_forever(update)


class Simulators:
    """DEVICES simulated servers of one kind in a child process (this script with ``--serve``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.ports = [free_port() for _ in range(DEVICES)]
        self.ticks: list[tuple[float, int]] = []  # (monotonic, ticks so far), reported once a second
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--ports", ",".join(map(str, self.ports))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":  # printed once every server listens
            raise RuntimeError(f"{kind} simulators did not start")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ticks":
                self.ticks.append((float(parts[2]), int(parts[1])))

    def change_rate(self, t0: float, t1: float) -> float:
        """Values changed per second between t0 and t1 (all devices), from the simulators' own tick count."""
        inside = [(t, n) for t, n in self.ticks if t0 - 1 <= t <= t1 + 1]
        if len(inside) < 2:
            return float("nan")
        (ta, na), (tb, nb) = inside[0], inside[-1]
        return (nb - na) / (tb - ta) * DEVICES * POINTS

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- broker ---------------------------------------------------------------------------------------------------------


class Broker:
    """Mosquitto on a loopback port; stop() and start() again keep the port (for the outage)."""

    def __init__(self, directory: Path) -> None:
        if not MOSQUITTO:
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert MOSQUITTO
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port, 15)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.05)


# --- measuring a process ----------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Samples a process (and its children) every 0.25 s: RSS and cumulative CPU seconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, rss MB, cpu s)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = cpu = 0.0
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss / 2**20
                        t = p.cpu_times()
                        cpu += t.user + t.system
                self.samples.append((time.monotonic(), rss, cpu))
            except psutil.Error:
                return
            self.halt.wait(0.25)

    def at(self, when: float) -> tuple[float, float, float]:
        """(time, rss MB, cpu s) of the sample nearest to ``when``."""
        return min(self.samples, key=lambda s: abs(s[0] - when))

    def window(self, t0: float, t1: float) -> tuple[float, float, float, float]:
        """(mean CPU % of a core, RSS at t0, RSS at t1, peak RSS over the whole run)."""
        start, rss0, cpu0 = self.at(t0)
        end, rss1, cpu1 = self.at(t1)
        peak = max(s[1] for s in self.samples)
        return 100 * (cpu1 - cpu0) / max(end - start, 1e-9), rss0, rss1, peak


@dataclass
class Run:
    gateway: str
    kind: str  # modbus | opcua
    poll_ms: int
    note: str = ""
    points: int = 0
    offered: float = 0.0  # values the simulators changed per second in the window
    seconds: float = 0.0
    cpu: float = 0.0
    rss_start: float = 0.0
    rss_end: float = 0.0
    peak_rss: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0


# --- the ThingsBoard IoT Gateway ------------------------------------------------------------------------------------


def tb_python() -> Path:
    """The ThingsBoard gateway's own venv (created on first use), with its pinned pymodbus and asyncua."""
    python = TB_VENV / "bin" / "python"
    marker = TB_VENV / f".installed-{TB_VERSION}"
    if not marker.exists():
        print(f"creating {TB_VENV} with thingsboard-gateway {TB_VERSION} (once) …", flush=True)
        TB_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3.11", "-m", "venv", str(TB_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TB_PACKAGES], check=True)
        marker.touch()
    return python


def tb_version(python: Path) -> str:
    out = subprocess.run([str(python), "-m", "pip", "show", "thingsboard-gateway"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


class TbListener:
    """The bench's stand-in for the ThingsBoard server: answers getSessionLimits, counts delivered data points."""

    LIMITS = {"maxPayloadSize": 65536, "maxInflightMessages": 100, "rateLimits": {}, "gatewayRateLimits": {}}

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.points = 0
        self.messages = 0
        self.limits_answered = 0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="bench-tb-listener", protocol=mqtt.MQTTv311
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("listener could not subscribe")

    def _on_connect(self, client: Any, *_: Any) -> None:
        client.subscribe([("v1/gateway/telemetry", 1), ("v1/devices/me/rpc/request/+", 1)])

    def _on_message(self, client: Any, _: Any, message: Any) -> None:
        topic = message.topic
        if topic == "v1/gateway/telemetry":
            doc = json.loads(message.payload)
            self.messages += 1
            self.points += sum(len(entry.get("values", {})) for entries in doc.values() for entry in entries)
        elif topic.startswith("v1/devices/me/rpc/request/"):
            request = json.loads(message.payload)
            if request.get("method") == "getSessionLimits":
                number = topic.rsplit("/", 1)[1]
                client.publish(f"v1/devices/me/rpc/response/{number}", json.dumps(self.LIMITS), qos=1)
                self.limits_answered += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def tb_modbus_connector(ports: list[int], poll_ms: int, wide: bool) -> dict[str, Any]:
    slaves = []
    for n, port in enumerate(ports):
        if wide:  # one entry for the 20 adjacent registers, one request, one key per register
            series = [
                {
                    "tag": "r${address}",
                    "type": "16uint",
                    "functionCode": 3,
                    "objectsCount": 1,
                    "address": f"0-{POINTS - 1}",
                    "maxRegistersPerRequest": POINTS,
                }
            ]
        else:  # the classic layout: one entry (and one request) per register
            series = [
                {"tag": f"r{i:02d}", "type": "16uint", "functionCode": 3, "objectsCount": 1, "address": i}
                for i in range(POINTS)
            ]
        slaves.append(
            {
                "host": "127.0.0.1",
                "port": port,
                "type": "tcp",
                "method": "socket",
                "unitId": 1,
                "deviceName": f"mb{n:02d}",
                "deviceType": "default",
                "timeout": 35,
                "byteOrder": "BIG",
                "wordOrder": "BIG",
                "retries": 3,
                "retryOnEmpty": True,
                "retryOnInvalid": True,
                "pollPeriod": poll_ms,
                "connectAttemptTimeMs": 5000,
                "connectAttemptCount": 5,
                "waitAfterFailedAttemptsMs": 300000,
                "attributes": [],
                "timeseries": series,
                "attributeUpdates": [],
                "rpc": [],
            }
        )
    return {"master": {"slaves": slaves}}


def tb_opcua_connector(n: int, port: int) -> dict[str, Any]:
    name = f"dev{n:02d}"
    return {
        "server": {
            "url": f"opc.tcp://127.0.0.1:{port}",
            "timeoutInMillis": 5000,
            "scanPeriodInMillis": 3600000,
            "pollPeriodInMillis": 5000,
            "enableSubscriptions": True,
            "subCheckPeriodInMillis": CHANGE_MS,
            "subDataMaxBatchSize": 1000,
            "subDataMinBatchCreationTimeMs": 200,
            "subscriptionProcessBatchSize": 2000,
            "sessionTimeoutInMillis": 120000,
            "showMap": False,
            "security": "None",
            "identity": {"type": "anonymous"},
        },
        "mapping": [
            {
                "deviceNodeSource": "path",
                "deviceNodePattern": f"Root\\.Objects\\.{name}",
                "deviceInfo": {
                    "deviceNameExpression": f"opc{n:02d}",
                    "deviceNameExpressionSource": "constant",
                    "deviceProfileExpression": "default",
                    "deviceProfileExpressionSource": "constant",
                },
                "attributes": [],
                "timeseries": [
                    {"key": f"v{i:02d}", "type": "identifier", "value": f"${{ns=2;s={name}.v{i:02d}}}"}
                    for i in range(POINTS)
                ],
                "rpc_methods": [],
                "attributes_updates": [],
            }
        ],
    }


def write_tb_config(
    directory: Path, python: Path, broker_port: int, kind: str, ports: list[int], poll_ms: int, wide: bool
) -> Path:
    """The package's own default tb_gateway.json and logs.json, pointed at our broker with our connectors."""
    package = Path(
        subprocess.run(
            [str(python), "-c", "import thingsboard_gateway, os; print(os.path.dirname(thingsboard_gateway.__file__))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    config_dir = directory / "config"
    config_dir.mkdir(parents=True)
    (directory / "logs").mkdir()
    main = json.loads((package / "config" / "tb_gateway.json").read_text())
    tb = main["thingsboard"]
    tb.update(host="127.0.0.1", port=broker_port, remoteConfiguration=False, remoteShell=False)
    tb["security"] = {"type": "accessToken", "accessToken": "bench-tb-gateway"}
    tb["statistics"]["enable"] = False
    if kind == "modbus":
        (config_dir / "modbus.json").write_text(json.dumps(tb_modbus_connector(ports, poll_ms, wide), indent=2))
        main["connectors"] = [{"type": "modbus", "name": "Modbus", "configuration": "modbus.json"}]
    else:
        main["connectors"] = []
        for n, port in enumerate(ports):
            (config_dir / f"opcua{n:02d}.json").write_text(json.dumps(tb_opcua_connector(n, port), indent=2))
            main["connectors"].append(
                {"type": "opcua", "name": f"OPC-UA {n:02d}", "configuration": f"opcua{n:02d}.json"}
            )
    (config_dir / "tb_gateway.json").write_text(json.dumps(main, indent=2))
    shutil.copy(package / "config" / "logs.json", config_dir / "logs.json")
    return config_dir


def measure(run: Run, count: Any, sampler: Sampler, sims: Simulators, warmup: float, seconds: float) -> None:
    """Fill ``run`` from a window of ``seconds`` that starts ``warmup`` seconds from now."""
    time.sleep(warmup)
    t0, c0 = time.monotonic(), count()
    time.sleep(seconds)
    t1, c1 = time.monotonic(), count()
    run.points, run.seconds = c1 - c0, t1 - t0
    run.cpu, run.rss_start, run.rss_end, run.peak_rss = sampler.window(t0, t1)
    run.offered = sims.change_rate(t0, t1)


def run_tb(python: Path, sims: Simulators, poll_ms: int, seconds: float, warmup: float, *, wide: bool = False) -> Run:
    directory = workdir()
    run = Run("ThingsBoard", sims.kind, poll_ms, "address range, 1 request" if wide else "")
    broker = Broker(directory)
    broker.start()
    listener = TbListener(broker.port)
    config_dir = write_tb_config(directory / "tb", python, broker.port, sims.kind, sims.ports, poll_ms, wide)
    env = {**os.environ, "TB_GW_CONFIG_DIR": str(config_dir)}
    log = open(directory / "tb.out", "wb")  # noqa: SIM115
    gateway = subprocess.Popen(
        [str(python), "-m", "thingsboard_gateway.tb_gateway"],
        cwd=directory / "tb",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    sampler = Sampler(gateway.pid)
    sampler.start()
    try:
        deadline = time.monotonic() + 120
        while listener.points == 0:
            if gateway.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ThingsBoard gateway delivered nothing; see {directory}")
            time.sleep(0.2)
        measure(run, lambda: listener.points, sampler, sims, warmup, seconds)
        run.extra.update(messages=listener.messages, limits_answered=listener.limits_answered)
    finally:
        sampler.halt.set()
        stop_process(gateway)  # SIGINT would start its slow orderly shutdown
        log.close()
        listener.close()
        broker.stop()
    if not KEEP:
        shutil.rmtree(directory, ignore_errors=True)
    return run


# --- our gateway ---------------------------------------------------------------------------------------------------


def ours_devices(kind: str, ports: list[int], poll_ms: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Device entries for gateway.yaml and every tag key they produce."""
    devices: list[dict[str, Any]] = []
    keys: list[str] = []
    for n, port in enumerate(ports):
        if kind == "modbus":
            name = f"mb{n:02d}"
            tags = [
                {"key": f"{name}.r{i:02d}", "kind": "holding", "address": i, "type": "uint16"} for i in range(POINTS)
            ]
            devices.append(
                {
                    "protocol": "modbus",
                    "name": name,
                    "host": "127.0.0.1",
                    "port": port,
                    "blocks": [{"kind": "holding", "start": 0, "count": POINTS, "interval_ms": poll_ms}],
                    "tags": tags,
                }
            )
        else:
            name = f"opc{n:02d}"
            tags = [
                {"key": f"{name}.v{i:02d}", "node": f"ns=2;s=dev{n:02d}.v{i:02d}", "sampling_ms": poll_ms}
                for i in range(POINTS)
            ]
            devices.append(
                {
                    "protocol": "opcua",
                    "name": name,
                    "endpoint": f"opc.tcp://127.0.0.1:{port}",
                    "publishing_interval_ms": poll_ms,
                    "tags": tags,
                }
            )
        keys += [t["key"] for t in tags]
    return devices, keys


class Ours:
    """Our gateway (``commonworks gateway run``) sending over MQTT to a broker, with our ingest worker storing into
    SQLite; delivered = rows in the platform's samples table."""

    def __init__(self, kind: str, ports: list[int], poll_ms: int) -> None:
        self.directory = workdir()
        self.url = fresh_database("sqlite", self.directory)
        assert self.url
        devices, keys = ours_devices(kind, ports, poll_ms)
        token = seed_tenant(self.url, tags=keys)
        self.broker = Broker(self.directory)
        self.status_port = free_port()
        config = {
            "gateway": {
                "key": "gw-bench",
                "platform": {"transport": "mqtt", "url": self.broker.url, "token": token},
                "buffer": {"path": str(self.directory / "buffer.db")},
                "status": {"host": "127.0.0.1", "port": self.status_port},
            },
            "devices": devices,
        }
        self.config = self.directory / "gateway.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.env = server_env(self.url, self.directory)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Any] = []

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "commonworks", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        return proc

    def start(self) -> subprocess.Popen[bytes]:
        self.broker.start()
        worker = self._spawn("worker", "ingest-worker", "--url", self.broker.url)
        # The platform side runs before the gateway, as it would in production: a batch published while no worker
        # subscribes is gone at the broker and would wait out the gateway's ack timeout before it is sent again.
        self.wait_log("worker", "ingest worker subscribed", worker)
        return self._spawn("gateway", "gateway", "run", "--config", str(self.config))

    def wait_log(self, name: str, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        path = self.directory / f"{name}.log"
        while text not in path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not get ready; see {path}")
            time.sleep(0.1)

    def stored(self) -> int:
        return stored_samples(self.url)

    def status(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.status_port}/status", timeout=10).json()

    def wait_status(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                self.status()
                return
            if self.procs["gateway"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"our gateway did not start; see {self.directory}")
            time.sleep(0.2)

    def drain(self, timeout: float) -> tuple[int, int, dict[str, Any]]:
        """After the devices have gone: wait until nothing is queued; (samples read, stored, last status)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.status()
            stored = self.stored()
            read = sum(d["samples_read"] for d in doc["devices"])
            if (doc["queue_size"] == 0 and doc["in_memory"] == 0 and stored >= read) or time.monotonic() > deadline:
                return read, stored, doc
            time.sleep(0.5)

    def close(self) -> None:
        for name in ("gateway", "worker"):
            if name in self.procs:
                stop_process(self.procs[name])
        self.broker.stop()
        for log in self.logs:
            log.close()


def start_ours(ours: Ours) -> Sampler:
    gateway = ours.start()
    sampler = Sampler(gateway.pid)
    sampler.start()
    ours.wait_status()
    deadline = time.monotonic() + 120
    while ours.stored() == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"our gateway delivered nothing; see {ours.directory}")
        time.sleep(0.2)
    return sampler


def finish_ours(run: Run, ours: Ours, sims: Simulators, sampler: Sampler, drain_s: float) -> None:
    """Stop the devices, so nothing more is read; then every sample read must end up stored, exactly once."""
    sims.stop()
    try:
        read, stored, doc = ours.drain(drain_s)
    finally:
        sampler.halt.set()
        ours.close()
    run.extra.update(
        read=read,
        stored=stored,
        lost=read - stored,
        dropped=doc["dropped"],
        rejected=doc["rejected_samples"],
        duplicates=doc["duplicates"],
        queued_after_drain=doc["queue_size"] + doc["in_memory"],
    )
    if read != stored:
        print(
            f"  {read - stored} samples read but not stored; logs, buffer and database kept in {ours.directory}",
            flush=True,
        )
    elif not KEEP:
        shutil.rmtree(ours.directory, ignore_errors=True)


def run_ours(sims: Simulators, poll_ms: int, seconds: float, warmup: float, drain_s: float = 120) -> Run:
    run = Run("ours", sims.kind, poll_ms)
    ours = Ours(sims.kind, sims.ports, poll_ms)
    try:
        sampler = start_ours(ours)
        measure(run, ours.stored, sampler, sims, warmup, seconds)
        run.extra["backlog_at_end"] = ours.status()["queue_size"]
    except BaseException:
        ours.close()
        raise
    finish_ours(run, ours, sims, sampler, drain_s)
    return run


def run_outage(
    sims: Simulators, poll_ms: int, outage: float, warmup: float, after: float = 10, drain_s: float = 180
) -> Run:
    """Ours only: the broker goes away for ``outage`` seconds mid-run and comes back on the same port."""
    run = Run("ours", sims.kind, poll_ms, f"broker down {outage:.0f} s")
    ours = Ours(sims.kind, sims.ports, poll_ms)
    try:
        sampler = start_ours(ours)
        time.sleep(warmup)
        t0, s0 = time.monotonic(), ours.stored()
        ours.broker.stop()
        peak_queue = 0
        while time.monotonic() - t0 < outage:
            time.sleep(1)
            peak_queue = max(peak_queue, ours.status()["queue_size"])
        stored_during = ours.stored() - s0
        ours.broker.start()
        back = time.monotonic()
        caught_up = None  # seconds from the broker's return until the backlog is gone
        while time.monotonic() - back < max(after, 120) and caught_up is None:
            time.sleep(0.5)
            doc = ours.status()
            if doc["outage_since_ms"] is None and doc["queue_size"] < 2 * POINTS * DEVICES:
                caught_up = time.monotonic() - back
        time.sleep(max(0.0, after - (time.monotonic() - back)))
        t1 = time.monotonic()
        run.cpu, run.rss_start, run.rss_end, run.peak_rss = sampler.window(t0, t1)
        run.seconds = t1 - t0
        run.extra.update(peak_queue=peak_queue, stored_during_outage=stored_during, caught_up_s=caught_up)
    except BaseException:
        ours.close()
        raise
    finish_ours(run, ours, sims, sampler, drain_s)
    run.points = run.extra["stored"]
    return run


# --- main -----------------------------------------------------------------------------------------------------------

SCENARIOS = {
    "modbus100": ("modbus", 100),
    "modbus10": ("modbus", 10),
    "opcua": ("opcua", CHANGE_MS),
    "outage": ("modbus", 100),
}


def target_rate(run: Run) -> float:
    """The most a gateway could deliver: every poll of every register (Modbus), every change (OPC UA)."""
    return DEVICES * POINTS * 1000 / run.poll_ms if run.kind == "modbus" else run.offered


def delivered_ratio(ours: Run, baseline: Run) -> float:
    """Ours ÷ baseline in delivered points/s. For OPC UA the simulators' change rate itself depends on how much CPU
    the gateway under test leaves them (2 cores), so there the ratio is of the delivered shares of what was possible;
    for Modbus what was possible is the same for both (every register of every poll) and it is the plain ratio."""
    return (ours.rate / target_rate(ours)) / max(baseline.rate / target_rate(baseline), 1e-9)


def label(run: Run) -> str:
    if run.gateway == "ours":
        how = {"modbus": "1 request per device", "opcua": "subscription"}[run.kind]
        return f"ours ({run.note or how})"
    if run.kind == "opcua":
        return "ThingsBoard (subscription)"
    return f"ThingsBoard ({run.note or '1 request per register'})"


def fmt_ratio(x: float) -> str:
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×" if x >= 0.1 else f"{x:.3f}×"


def report(runs: list[Run], version: str, seconds: float) -> None:
    rows = []
    for run in runs:
        scenario = f"{'Modbus' if run.kind == 'modbus' else 'OPC UA'} {run.poll_ms} ms"
        growth = run.rss_end - run.rss_start
        ours = next(
            (r for r in runs if r.gateway == "ours" and r.kind == run.kind and r.poll_ms == run.poll_ms and not r.note),
            None,
        )
        if run.gateway == "ours" or ours is None:
            ratios = ["—", "—", "—"]
        else:  # ours ÷ this run: delivered points, CPU per delivered point, peak RSS
            cpu_per_point = (ours.cpu / max(ours.rate, 1e-9)) / (run.cpu / max(run.rate, 1e-9))
            ratios = [
                fmt_ratio(delivered_ratio(ours, run)),
                fmt_ratio(cpu_per_point),
                fmt_ratio(ours.peak_rss / run.peak_rss),
            ]
        if run.note.startswith("broker down"):
            delivered = f"{run.extra['stored']:,} stored / {run.extra['read']:,} read"
            share = "—"
        else:
            delivered = f"{run.rate:,.0f}"
            share = f"{100 * run.rate / target_rate(run):.0f}% of {target_rate(run):,.0f}"
        lost = str(run.extra["lost"]) if "lost" in run.extra else "n/a"
        rows.append(
            [
                scenario,
                label(run),
                delivered,
                share,
                f"{run.cpu:.1f}",
                f"{run.peak_rss:.1f}",
                f"{run.rss_start:.1f} → {run.rss_end:.1f} ({growth:+.1f})",
                lost,
                *ratios,
            ]
        )
    table(
        f"Gateways side by side: {DEVICES} devices × {POINTS} points changing every {CHANGE_MS} ms, {seconds:.0f} s "
        f"windows; baseline: ThingsBoard IoT Gateway {version} in the same run",
        [
            "scenario",
            "gateway",
            "delivered pts/s",
            "of possible",
            "CPU % core",
            "peak RSS MB",
            "RSS window start → end MB",
            "lost",
            "ours ÷ this: pts/s",
            "CPU/pt",
            "RSS",
        ],
        rows,
    )


def targets(runs: list[Run]) -> dict[str, str]:
    """The RESULT fields: every figure, the ratios, and the targets of the issue."""
    out: dict[str, str] = {}

    def find(gateway: str, kind: str, poll: int, note: str = "") -> Run | None:
        return next(
            (r for r in runs if r.gateway == gateway and r.kind == kind and r.poll_ms == poll and r.note == note), None
        )

    for kind, poll in (("modbus", 100), ("modbus", 10), ("opcua", CHANGE_MS)):
        key = f"{kind}_{poll}ms"
        ours, tb = find("ours", kind, poll), find("ThingsBoard", kind, poll)
        tb_range = find("ThingsBoard", kind, poll, "address range, 1 request")
        for name, run in (("ours", ours), ("tb", tb), ("tb_range", tb_range)):
            if run is not None:
                out[f"{name}_{key}_pts_s"] = f"{run.rate:.0f}"
                out[f"{name}_{key}_cpu_pct"] = f"{run.cpu:.1f}"
                out[f"{name}_{key}_rss_mb"] = f"{run.peak_rss:.1f}"
                out[f"{name}_{key}_rss_growth_mb"] = f"{run.rss_end - run.rss_start:.1f}"
        if ours is not None:
            out[f"ours_{key}_lost"] = str(ours.extra["lost"])
            for name, run in (("", tb), ("range_", tb_range)):
                if run is not None:
                    out[f"ratio_{name}{key}"] = f"{delivered_ratio(ours, run):.2f}"
    ours_runs = [r for r in runs if r.gateway == "ours"]
    tb_runs = [r for r in runs if r.gateway == "ThingsBoard"]
    if ours_runs:
        out["ours_rss_mb"] = f"{max(r.peak_rss for r in ours_runs):.1f}"
        out["ours_lost_total"] = str(sum(r.extra["lost"] for r in ours_runs))
    outage = next((r for r in runs if r.note.startswith("broker down")), None)
    if outage is not None:
        out["ours_outage_read"] = str(outage.extra["read"])
        out["ours_outage_stored"] = str(outage.extra["stored"])
        out["ours_outage_lost"] = str(outage.extra["lost"])
        out["ours_outage_peak_queue"] = str(outage.extra["peak_queue"])
        caught = outage.extra["caught_up_s"]
        out["ours_outage_caught_up_s"] = "never" if caught is None else f"{caught:.1f}"
        out["ours_outage_rss_mb"] = f"{outage.peak_rss:.1f}"
    ours10 = find("ours", "modbus", 10)
    if ours10 is not None and tb_runs:
        best = max(tb_runs, key=lambda r: r.rate)
        out["ratio_ours_10ms_vs_tb_best"] = f"{ours10.rate / best.rate:.1f}"
        same_layout = [r for r in tb_runs if r.kind == "modbus" and r.poll_ms == 10]
        checks = {
            "throughput_10x": bool(same_layout) and all(ours10.rate >= TARGET_RATIO * r.rate for r in same_layout),
            "rss_under_100mb": all(r.peak_rss < TARGET_RSS_MB for r in ours_runs),
            "memory_bounded_10ms": ours10.rss_end - ours10.rss_start < 5,
            "outage_lost_0": outage is not None and outage.extra["lost"] == 0,
        }
        out.update({f"target_{k}": "yes" if v else "NO" for k, v in checks.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="measurement window per run (default 20)")
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds between the first delivered point and the window (default 5)"
    )
    parser.add_argument("--outage", type=float, default=30, help="broker outage in seconds (default 30)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's working directory in /tmp")
    parser.add_argument("--serve", choices=["modbus", "opcua"], help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:  # simulator child process
        ports = [int(p) for p in args.ports.split(",")]
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        asyncio.run(serve_modbus(ports) if args.serve == "modbus" else serve_opcua(ports))
        return
    global KEEP
    KEEP = args.keep
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    python = tb_python()
    version = tb_version(python)
    runs: list[Run] = []
    started = time.monotonic()
    for name in chosen:
        kind, poll_ms = SCENARIOS[name]
        print(f"[{time.monotonic() - started:5.0f} s] {name} …", flush=True)
        sims = Simulators(kind)
        try:
            if name == "outage":
                runs.append(run_outage(sims, poll_ms, args.outage, args.warmup))
                continue
            runs.append(run_tb(python, sims, poll_ms, args.seconds, args.warmup))
            if kind == "modbus":
                runs.append(run_tb(python, sims, poll_ms, args.seconds, args.warmup, wide=True))
            runs.append(run_ours(sims, poll_ms, args.seconds, args.warmup))
        finally:
            sims.stop()
    print(f"[{time.monotonic() - started:5.0f} s] done")
    report(runs, version, args.seconds)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in {"tb_version": version, **targets(runs)}.items()))


if __name__ == "__main__":
    main()
