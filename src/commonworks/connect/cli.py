"""``commonworks gateway …``: run the edge gateway, look at its status, browse an OPC UA server for tags.

Kept import-light (everything heavy is imported inside the command that needs it) because
the main CLI loads this module for every command, and a gateway PC should not pay for the
server side it never runs. A user mistake (bad config, unreachable status URL) ends with
exit code 2 and one line saying what is wrong — never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

gateway_app = typer.Typer(
    help="The edge gateway: connect machines and forward their data (store and forward).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@gateway_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway YAML file")] = Path("gateway.yaml"),
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the gateway until Ctrl-C or SIGTERM (what is in memory is flushed to disk on the way out)."""
    import asyncio

    from commonworks.connect.buffer import BufferFileError
    from commonworks.connect.config import ConfigError, load_config
    from commonworks.connect.gateway import serve

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(f"--log-level: {log_level!r} is not one of debug, info, warning, error")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_config(config)
        asyncio.run(serve(settings))
    except ConfigError as exc:
        _fail(str(exc))
    except BufferFileError as exc:
        _fail(str(exc), code=1)
    except OSError as exc:  # buffer folder not writable, and the like
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), code=1)


@gateway_app.command("status")
def status(
    url: Annotated[str | None, typer.Option(help="the gateway's status address, e.g. http://127.0.0.1:8710")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="take the address from this gateway YAML")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the raw status document")] = False,
    plain: Annotated[bool, typer.Option(help="plain text instead of tables")] = False,
) -> None:
    """Show a running gateway's queue, delivery and devices."""
    import httpx
    import orjson

    if url is None:
        url = _status_url_from_config(config or Path("gateway.yaml"))
    target = url.rstrip("/")
    if not target.endswith("/status"):
        target += "/status"
    try:
        response = httpx.get(target, timeout=5)
        response.raise_for_status()
        doc = response.json()
    except httpx.HTTPError as exc:
        _fail(f"no gateway status at {target}: {exc}")
    except ValueError:
        _fail(f"{target} did not answer with JSON")
    if as_json:
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    if plain:
        from commonworks.connect.gateway import status_text

        typer.echo(status_text(doc))
        return
    _print_status(doc)


def _status_url_from_config(path: Path) -> str:
    from commonworks.connect.config import ConfigError, load_config

    try:
        settings = load_config(path, devices=False).gateway.status
    except ConfigError as exc:
        _fail(str(exc))
    if not settings.port:
        _fail(f"{path}: gateway.status.port: 0 means the status endpoint is off; give --url or set a port")
    return f"http://{settings.host}:{settings.port}"


def _print_status(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from commonworks.connect.gateway import _ago

    now = doc.get("time_ms") or 0
    transport = doc.get("transport", {})
    summary = Table(title=f"gateway {doc.get('gateway')}", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    state = str(transport.get("state"))
    state_style = "green" if state == "connected" else "yellow" if state in ("started", "idle") else "red"
    summary.add_row("platform", f"{transport.get('kind')} {transport.get('target')}  [{state_style}]{state}[/]")
    if doc.get("last_error"):
        summary.add_row("last error", str(doc["last_error"]))
    if doc.get("outage_since_ms"):
        summary.add_row("outage since", _ago(doc["outage_since_ms"], now))
    summary.add_row("queued", f"{doc.get('queue_size', 0):,} samples on disk, {doc.get('in_memory', 0):,} in memory")
    dropped = doc.get("dropped", 0)
    summary.add_row("dropped", f"[red]{dropped:,}[/] (buffer full)" if dropped else "0")
    if doc.get("held_back"):
        summary.add_row(
            "held back",
            f"[yellow]{doc['held_back']:,}[/] times, {doc.get('held_back_s', 0):,.1f} s "
            "(the disk was behind; devices read later)",
        )
    summary.add_row("sent", f"{doc.get('sent_batches', 0):,} batches, {doc.get('sent_samples', 0):,} samples")
    summary.add_row("last ack", _ago(doc.get("last_ack_ms"), now))
    rejected = doc.get("rejected_batches", 0)
    summary.add_row("rejected", f"{rejected:,} batches (kept in rejected/), {doc.get('rejected_samples', 0):,} samples")
    if doc.get("repeated_samples"):
        summary.add_row(
            "repeated",
            f"[yellow]{doc['repeated_samples']:,}[/] samples had a tag and time already in "
            "their batch: sent once, first value kept",
        )
    summary.add_row("uptime", f"{doc.get('uptime_s', 0):,.0f} s")

    devices = Table(title="devices", title_justify="left")
    for column in (
        "device",
        "protocol",
        "state",
        "tags",
        "samples",
        "errors",
        "reconnects",
        "last value",
        "last error",
    ):
        devices.add_column(column, justify="right" if column in ("tags", "samples", "errors", "reconnects") else "left")
    for device in doc.get("devices", []):
        available = device.get("available")
        devices.add_row(
            str(device.get("name")),
            str(device.get("protocol")),
            "[green]available[/]" if available else "[red]unavailable[/]",
            f"{device.get('tags', 0):,}",
            f"{device.get('samples_read', 0):,}",
            f"{device.get('errors', 0):,}",
            f"{device.get('reconnects', 0):,}",
            _ago(device.get("last_value_ms"), now),
            str(device.get("last_error") or ""),
        )
    console = Console()
    console.print(summary)
    console.print(devices)


@gateway_app.command("browse")
def browse(
    endpoint: Annotated[str, typer.Argument(help="opc.tcp://host:port/path of the OPC UA server")],
    prefix: Annotated[str, typer.Option(help="tag key prefix, usually the device name, e.g. cnc-01")],
    out: Annotated[Path, typer.Option(help="where to write the tag map (YAML)")] = Path("tags.yaml"),
    max_nodes: Annotated[int, typer.Option(help="stop after this many variables")] = 5000,
) -> None:
    """Walk an OPC UA server's address space and write a tag map to paste into a device's config."""
    import asyncio

    if not endpoint.startswith("opc.tcp://"):
        _fail(f"endpoint must start with opc.tcp://, got {endpoint!r}")
    try:
        from commonworks.connect.opcua import browse as browse_server
        from commonworks.connect.opcua import write_tag_map
    except ImportError as exc:
        _fail(f"OPC UA support is not available: {exc}", code=1)
    try:
        entries = asyncio.run(browse_server(endpoint, prefix=prefix, max_nodes=max_nodes))
    except Exception as exc:  # asyncua raises many kinds; the user needs the one line, not the stack
        _fail(f"cannot browse {endpoint}: {type(exc).__name__}: {exc}", code=1)
    write_tag_map(entries, out)
    typer.echo(f"{len(entries)} variables written to {out}")
