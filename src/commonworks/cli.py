"""The ``commonworks`` command: serve the platform, run the demo, migrate, onboard.

A user mistake (bad code, unknown organization, duplicate e-mail) ends with exit code 2
and one line saying what is wrong — never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from commonworks.connect.cli import gateway_app
from commonworks.core.kinds import OrgKind, Role, SizeClass
from commonworks.core.settings import Settings, get_settings
from commonworks.network.cli import app as network_app

if TYPE_CHECKING:  # the server stack is imported inside the commands that use it, so that
    # `commonworks gateway` on a factory PC stays small
    from sqlalchemy.orm import Session

    from commonworks.core.database import Database

app = typer.Typer(help="Commonworks — open industrial internet platform (工业互联网平台).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
telemetry_app = typer.Typer(help="Telemetry upkeep.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(gateway_app, name="gateway")
app.add_typer(network_app, name="network")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"setting COMMONWORKS_{str(first['loc'][0]).upper()}: {first['msg']}")


def _upgrade(settings: Settings) -> Database:
    from sqlalchemy.exc import OperationalError

    from commonworks.core.database import Database
    from commonworks.core.migrate import upgrade

    db = Database(settings.sqlalchemy_url)
    try:
        upgrade(db.engine)
    except OperationalError as exc:
        fail(f"cannot reach the database at {db.engine.url.render_as_string()}: {exc.orig}", code=1)
    return db


@contextmanager
def _user_errors(db: Database) -> Iterator[Session]:
    """A transaction whose validation and domain errors become one-line messages."""
    from commonworks.core.errors import AppError

    try:
        with db.transaction() as session:
            yield session
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"{field}: {message}")
    except AppError as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)


def _open(settings: Settings) -> Database:
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    from commonworks.core.database import Database

    db = Database(settings.sqlalchemy_url)
    try:
        tables = inspect(db.engine).get_table_names()
    except OperationalError as exc:
        fail(f"cannot reach the database: {exc.orig}", code=1)
    if "organizations" not in tables:
        fail("the database has no schema yet; run `commonworks db upgrade` first", code=1)
    return db


def open_database() -> Database:
    """The configured database, migrated already (else exit 1 saying so): for subcommands of other packages."""
    return _open(_settings())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    from commonworks.core.migrate import current

    settings = _settings()
    db = _upgrade(settings)
    out.print(f"database {db.engine.url.render_as_string()} is at revision {current(db.engine)}")


@org_app.command("create")
def org_create(
    name_zh: Annotated[str, typer.Option("--name-zh", help="Registered Chinese name.")],
    credit_code: Annotated[str, typer.Option("--credit-code", help="统一社会信用代码 (18 characters).")],
    region: Annotated[str, typer.Option(help="GB/T 2260 region code, e.g. 340100.")],
    industry: Annotated[str, typer.Option(help="GB/T 4754-2017 code, e.g. C34.")],
    size: Annotated[SizeClass, typer.Option(help="Size class.")],
    kind: Annotated[OrgKind, typer.Option(help="What the organization is.")] = OrgKind.manufacturer,
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude.")] = None,
    owner_email: Annotated[str | None, typer.Option(help="Create a first user with role owner.")] = None,
    owner_name: Annotated[str | None, typer.Option()] = None,
    owner_password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
) -> None:
    """Onboard an organization (and optionally its first owner)."""
    from commonworks.core.orgs import service
    from commonworks.core.orgs.schemas import OrgCreate

    db = _open(_settings())
    owner = None
    if owner_email:
        if owner_password is None:
            owner_password = typer.prompt("owner password", hide_input=True, confirmation_prompt=True)
        owner = {"email": owner_email, "display_name": owner_name or owner_email.split("@")[0],
                 "password": owner_password}
    with _user_errors(db) as session:
        org = service.create(session=session, data=OrgCreate(
            name_zh=name_zh, name_en=name_en, credit_code=credit_code, region_code=region,
            industry_code=industry, size_class=size, kind=kind, latitude=lat, longitude=lon,
            owner=owner))  # type: ignore[arg-type]
        out.print(f"created organization {org.id}: {org.name_zh} ({org.credit_code})")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option(help="Organization id or credit code.")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[Role, typer.Option()] = Role.viewer,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
) -> None:
    """Add a user to an organization."""
    from sqlalchemy import select

    from commonworks.core.auth import service
    from commonworks.core.auth.schemas import UserCreate
    from commonworks.core.orgs.models import Organization

    db = _open(_settings())
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _user_errors(db) as session:
        by = Organization.id == int(org) if org.isdigit() else Organization.credit_code == org.strip().upper()
        organization = session.scalar(select(Organization).where(by))
        if organization is None:
            fail(f"--org: no organization with id or credit code {org!r}")
        user = service.create_user(session=session, org_id=organization.id, data=UserCreate(
            email=email, display_name=name, password=password, role=role))  # type: ignore[arg-type]
        out.print(f"created user {user.id}: {user.email} ({user.role.value}) in {organization.name_zh}")


@app.command("ingest-worker")
def ingest_worker(
    url: Annotated[str | None, typer.Option(help="Broker, e.g. mqtt://127.0.0.1:1883 (default COMMONWORKS_MQTT_URL).")]
    = None,
) -> None:
    """Store gateway batches arriving over MQTT (run several: the broker shares the load)."""
    import asyncio
    import logging
    import signal

    from commonworks.operations.alarms import install as install_alarms
    from commonworks.process import tune_gc
    from commonworks.telemetry.mqtt_worker import broker_address, run_worker

    settings = _settings()
    broker = url or settings.mqtt_url
    if not broker:
        fail("--url: give the broker address (or set COMMONWORKS_MQTT_URL)")
    try:
        broker_address(broker)
    except ValueError as exc:
        fail(f"--url: {exc}")
    db = _open(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_alarms()  # alarm rules are evaluated on ingest, here as in the server
    tune_gc()

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await run_worker(db, broker, stop)

    asyncio.run(main())


@app.command()
def simulate(
    config: Annotated[Path, typer.Option("--config", "-c", help="Simulated machines (YAML).")],
) -> None:
    """Run simulated machines: an OPC UA server per CNC, a Modbus server per moulding machine, Sparkplug nodes."""
    import asyncio
    import logging
    import signal

    from commonworks.connect.simulators.run import load, run

    try:
        machines = load(config)
    except ValueError as exc:
        fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await run(machines, stop)

    asyncio.run(main())


@telemetry_app.command("retention")
def telemetry_retention() -> None:
    """Apply every tenant's retention policy now (the server also does this hourly)."""
    import time

    from commonworks.telemetry.service import apply_retention

    settings = _settings()
    db = _open(settings)
    with db.transaction() as session:
        counts = apply_retention(session, settings, now_ms=time.time_ns() // 1_000_000)
    out.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))


@app.command()
def kpi(
    events: Annotated[Path, typer.Option(help="Machine states: machine,start,end,state[,reason].")],
    counts: Annotated[Path, typer.Option(help="Part counts: machine,start,end,produced,good,ideal_cycle_s.")],
    calendar: Annotated[Path, typer.Option(help="The plan: machine,start,end,kind (shift or planned_downtime).")],
    start: Annotated[str | None, typer.Option("--from", help="Period start, ISO 8601 with offset "
                                              "(default: the calendar's first start).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Period end (default: the calendar's last end).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")] = False,
) -> None:
    """ISO 22400-2 KPIs (OEE, availability, TEEP, MTBF, MTTR …) from an MES export in three CSV files.

    --json prints {"period": {"from", "to", "seconds"}, "machines": {name: {...}}, "total": {...}}.

    Each machine object and the total (rolled up from summed times and counts, never averaged ratios) hold:

    time elements in seconds — ct_s, pot_s, pdot_s, pbt_s, apt_s, aust_s, adet_s, adot_s, offline_s;

    failures, produced, good, pri_pq_s (Σ ideal cycle × produced);

    availability, effectiveness, quality, oee, teep, scrap_ratio, mtbf_s, mttr_s (null where undefined).

    Timestamps need a UTC offset. A bad row ends with exit code 2 and file:line: reason.
    """
    import json

    from rich.markup import escape

    from commonworks.operations.kpi_files import KpiFileError, parse_time, read_files, report, table
    from commonworks.operations.timemodel import Period

    try:
        data = read_files(events=events, counts=counts, calendar=calendar)
    except KpiFileError as exc:
        fail(escape(str(exc)))  # file contents are not Rich markup

    def instant(option: str, text: str | None, default: int | None) -> int:
        if text is None:
            if default is None:
                fail(escape(f"{option}: {calendar} has no rows to take the period from; give --from and --to"))
            return default
        try:
            return parse_time(text)
        except ValueError as exc:
            fail(escape(f"{option}: {exc}"))

    first, last = data.calendar_span or (None, None)
    begin, finish = instant("--from", start, first), instant("--to", end, last)
    if finish <= begin:
        fail("--to: the period must end after it starts (--from)")
    doc = report(data, Period(begin, finish))
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        out.print(table(doc))


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    from commonworks.app import create_app

    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level="info", proxy_headers=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default COMMONWORKS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default COMMONWORKS_PORT).")] = None,
) -> None:
    """Serve the API and the web UI."""
    settings = _settings()
    _open(settings)
    _serve(settings, host, port)


@app.command()
def demo(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server after seeding.")] = True,
    factories: Annotated[bool, typer.Option("--factories/--no-factories",
                                            help="Run the simulated machines and their gateways.")] = True,
) -> None:
    """Migrate, seed the demo enterprises, start their simulated factories and gateways, and serve."""
    import subprocess
    import time

    from commonworks.demo import seed, seed_factories, seed_network

    settings = _settings()
    db = _upgrade(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    url = f"http://{bind_host}:{bind_port}"
    with db.transaction() as session:
        accounts = seed(session)
        configs = seed_factories(session, settings.data_dir / "demo", url) if factories else []
        seed_network(session, now_ms=int(time.time() * 1000))
    table = Table(title="Demo accounts / 演示账号")
    for column in ("e-mail", "password", "organization", "role"):
        table.add_column(column, overflow="fold")
    for a in accounts:
        table.add_row(a.email, a.password, a.organization, a.role.value)
    out.print(table)
    out.print(f"Web UI: {url}/   API docs: {url}/api/v1/docs")
    db.dispose()
    if not serve_after:
        return
    children: list[subprocess.Popen[bytes]] = []
    logs = settings.data_dir / "demo" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        if configs:
            simulate_yaml, *gateway_yamls = configs
            commands = [["simulate", "--config", str(simulate_yaml)]]
            commands += [["gateway", "run", "--config", str(path)] for path in gateway_yamls]
            for args in commands:
                log_file = (logs / f"{Path(args[-1]).stem}-{args[0]}.log").open("ab")
                children.append(subprocess.Popen([sys.executable, "-m", "commonworks", *args], stdout=log_file,
                                                 stderr=subprocess.STDOUT))
            out.print(f"Simulated machines and {len(gateway_yamls)} gateways are running; logs in {logs}")
        _serve(settings, bind_host, bind_port)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
