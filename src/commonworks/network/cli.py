"""`commonworks network …`: bulk onboarding, matching and allocation from files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Network (共享制造): enterprises, matching, allocation.", no_args_is_help=True)

_out = Console()
_err = Console(stderr=True)
_SHOWN_ROWS = 50


def _fail(message: str, code: int = 2) -> NoReturn:
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def allocate(
    instance: Annotated[
        Path, typer.Option("--instance", help="The instance, a JSON file (see below).", show_default=False)
    ],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for the whole run.")] = 30.0,
    gap: Annotated[
        float, typer.Option("--gap", help="Stop within this relative gap of the bound (0.01 = 1 %).")
    ] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
) -> None:
    """Allocate many demands over many suppliers at least total cost (HiGHS, an exact MIP solver).

    The instance (JSON):
    suppliers: [{id, capacity}]
    demands: [{id, size, may_split?, min_share?, unserved_penalty?}]
    options: [{demand, supplier, cost, size?, lateness?, transport?}]
    unserved_penalty? (for all demands without their own)

    An option's cost is for all of the demand at that supplier: price, lateness
    penalty and transport together (lateness and transport are reported parts
    of it); its size is the capacity the whole demand takes there (default: the
    demand's size).

    The result: status (optimal, gap_reached, time_limit, …), objective, bound
    (no allocation costs less), gap = (objective − bound) / objective, the cost
    breakdown, the assignment [{demand, supplier, share, cost, size, lateness,
    transport}], unserved demands with a reason, and supplier loads.

    A bad file ends with exit code 2 and the JSON path of what is wrong.
    """
    from commonworks.network.allocation import InstanceError, dumps, read_instance
    from commonworks.network.allocation import allocate as solve

    if not (math.isfinite(time_limit) and time_limit > 0):
        _fail("--time-limit: must be a positive number of seconds")
    if not (math.isfinite(gap) and 0 <= gap < 1):
        _fail("--gap: must be at least 0 and below 1 (0.01 = 1 %)")
    try:
        data = read_instance(instance)
    except OSError as exc:
        _fail(f"{instance}: cannot read: {exc.strerror or exc}")
    except InstanceError as exc:
        _fail(f"{instance}: {exc}")
    doc = solve(data, time_limit=time_limit, gap=gap)
    if as_json:
        typer.echo(dumps(doc))
    else:
        _print_summary(doc)


def _print_summary(doc: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    from commonworks.network.allocation import REASONS

    def number(x: float | None) -> str:
        return "–" if x is None else f"{x:,.2f}"

    head = Table(title="Allocation", box=box.SIMPLE_HEAD, show_header=False)
    head.add_column(style="bold")
    head.add_column(justify="right")
    breakdown = doc["breakdown"]
    for label, value in [
        ("status", doc["status"]),
        ("objective", number(doc["objective"])),
        ("bound", number(doc["bound"])),
        ("gap", "–" if doc["gap"] is None else f"{doc['gap']:.3%}"),
        ("cost", number(breakdown["cost"])),
        ("  of which lateness", number(breakdown["lateness"])),
        ("  of which transport", number(breakdown["transport"])),
        ("unserved penalty", number(breakdown["unserved_penalty"])),
        ("served", f"{doc['served']} of {doc['demands']}"),
        ("time", f"{doc['time_s']:.2f} s"),
    ]:
        head.add_row(label, escape(str(value)))
    _out.print(head)

    rows = doc["assignment"]
    if rows:
        table = Table(title="Assignment", box=box.SIMPLE_HEAD)
        for column in ("demand", "supplier"):
            table.add_column(column)
        for column in ("share", "cost", "size"):
            table.add_column(column, justify="right")
        for row in rows[:_SHOWN_ROWS]:
            table.add_row(
                escape(row["demand"]),
                escape(row["supplier"]),
                f"{row['share']:.4g}",
                number(row["cost"]),
                f"{row['size']:,.2f}",
            )
        if len(rows) > _SHOWN_ROWS:
            table.caption = f"… and {len(rows) - _SHOWN_ROWS} more rows (--json shows all)"
        _out.print(table)
    if doc["unserved"]:
        table = Table(title="Unserved", box=box.SIMPLE_HEAD)
        table.add_column("demand")
        table.add_column("why")
        table.add_column("penalty", justify="right")
        for row in doc["unserved"][:_SHOWN_ROWS]:
            table.add_row(escape(row["demand"]), REASONS[row["reason"]], number(row["penalty"]))
        if len(doc["unserved"]) > _SHOWN_ROWS:
            table.caption = f"… and {len(doc['unserved']) - _SHOWN_ROWS} more (--json shows all)"
        _out.print(table)


@app.command("import")
def import_enterprises(
    file: Annotated[Path, typer.Option("--file", help="JSON Lines, one enterprise per line (see the README).",
                                       show_default=False)],
) -> None:
    """Onboard enterprises with their profiles and capabilities; a bad line is reported with its number
    and the others are imported (exit code 2 when any line was bad)."""
    from commonworks.cli import open_database
    from commonworks.network.onboarding import import_file

    db = open_database()
    try:
        report = import_file(db, file)
    except FileNotFoundError as exc:
        _fail(str(exc))
    finally:
        db.dispose()
    for line, message in report.errors:
        _err.print(f"{file}:{line}: {escape(message)}", highlight=False, soft_wrap=True)
    _out.print(f"{report.created} enterprises created, {report.updated} updated, "
               f"{report.capabilities} capabilities; {len(report.errors)} bad lines")
    if report.errors:
        raise typer.Exit(2)


@app.command()
def match(
    demand: Annotated[Path, typer.Option("--demand", help="The demand, a JSON file.", show_default=False)],
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="How many suppliers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the matches as JSON.")] = False,
) -> None:
    """Rank the network's published suppliers for a demand, with the reasons (the same matching as the app).

    The demand file: {"process", "hours", "due_date" or "due_day", "material"?, "quantity"?, "envelope_mm"?,
    "tolerance_mm"?, "finish_ra_um"?, "certifications"?, "budget"?, "lat"?, "lon"?, "text"?} — codes or
    zh/en names of the taxonomy."""
    import json as json_module
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from commonworks.cli import open_database
    from commonworks.network import directory
    from commonworks.network.matching import DemandFileError, load_demand

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    try:
        wanted = load_demand(demand, today=today)
    except DemandFileError as exc:
        _fail(str(exc))
    db = open_database()
    try:
        with db.transaction() as session:
            net = directory.network(session, today)
    finally:
        db.dispose()
    found = net.index.match(wanted, top=top) if net is not None else []
    if as_json:
        typer.echo(json_module.dumps({"candidates": len(net.profiles) if net else 0,
                                      "matches": [m.to_dict() for m in found]}, ensure_ascii=False, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"Matches ({len(found)} of {len(net.profiles) if net else 0} published suppliers)")
    for column in ("#", "supplier", "region", "process", "score", "why"):
        table.add_column(column, overflow="fold")
    for m in found:
        why = "; ".join(c.detail for c in m.constraints)
        table.add_row(str(m.rank), m.name, m.region, m.process, f"{m.score:.3f}", why)
    _out.print(table)
