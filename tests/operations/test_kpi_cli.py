"""`commonworks kpi`: KPIs from three CSV files; a bad row ends with exit code 2 and file:line: reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commonworks.cli import app

DAY = "2024-03-04T{}:00+08:00"

EVENTS = """machine,start,end,state,reason
press-1,{06:00},{06:20},setup,die change
press-1,{06:20},{07:00},producing,
press-1,{07:00},{07:30},down_unplanned,hydraulics
press-1,{07:30},{12:00},producing,
press-1,{12:00},{12:15},down_unplanned,jam
press-1,{12:15},{14:00},producing,
lathe-2,{06:00},{06:30},producing,
lathe-2,{06:30},{07:00},idle,no material
"""
COUNTS = """machine,start,end,produced,good,ideal_cycle_s
press-1,{06:00},{10:00},600,580,20
press-1,{10:00},{14:00},400,380,20
lathe-2,{06:00},{07:00},100,96,9
"""
CALENDAR = """machine,start,end,kind
press-1,{06:00},{14:00},shift
press-1,{10:00},{10:30},planned_downtime
lathe-2,{06:00},{07:00},shift
"""


def fill(template: str) -> str:
    """``{hh:mm}`` → an ISO 8601 time on 2024-03-04 in UTC+8."""
    out = template
    for hour in range(24):
        for minute in range(0, 60, 5):
            out = out.replace(f"{{{hour:02d}:{minute:02d}}}", DAY.format(f"{hour:02d}:{minute:02d}"))
    return out


def write(tmp_path: Path, events: str = EVENTS, counts: str = COUNTS, calendar: str = CALENDAR) -> list[str]:
    files = {"events": events, "counts": counts, "calendar": calendar}
    args = []
    for name, text in files.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(fill(text), encoding="utf-8")
        args += [f"--{name}", str(path)]
    return args


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["kpi", *args], catch_exceptions=False)


def test_kpis_of_two_machines_and_their_total(tmp_path: Path) -> None:
    """Over the whole day 2024-03-04 (UTC+8), CT = 86,400 s per machine.

    press-1 — shift 06:00–14:00 (POT 28,800 s), break 10:00–10:30 (PDOT 1,800 s): PBT 27,000 s.
        setup 20 min (AUST 1,200), breakdowns 07:00–07:30 and 12:00–12:15 (ADOT 2,700, FE 2),
        producing the rest; the 30 min produced through the break are PDOT: APT = 27,000 − 1,200 − 2,700 = 23,100.
        1,000 parts (960 good) at 20 s: ΣPRI·PQ = 20,000 s.
        A = 23,100/27,000 = 77/90, E = 20,000/23,100 = 200/231, QR = 0.96, OEE = 19,200/27,000 = 32/45,
        TEEP = 19,200/86,400 = 2/9, scrap 0.04, MTBF = 23,100/2 = 11,550 s, MTTR = 2,700/2 = 1,350 s.
    lathe-2 — shift 06:00–07:00 (PBT 3,600), producing 30 min, idle 30 min; 100 parts (96 good) at 9 s:
        A = 0.5, E = 900/1,800 = 0.5, QR = 0.96, OEE = 864/3,600 = 0.24, TEEP = 864/86,400 = 0.01, no failures.
    total — CT 172,800, PBT 30,600, APT 24,900, ΣPRI·PQ 20,900, PQ 1,100, GQ 1,056:
        A = 83/102, E = 209/249, OEE = 20,064/30,600 = 836/1,275 (not the mean 0.4756 of 32/45 and 0.24),
        TEEP = 20,064/172,800 = 209/1,800, MTBF = 24,900/2 = 12,450 s, MTTR = 1,350 s.
    """
    result = run(*write(tmp_path), "--from", DAY.format("00:00"), "--to", "2024-03-05T00:00:00+08:00", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["period"] == {"from": "2024-03-03T16:00:00+00:00", "to": "2024-03-04T16:00:00+00:00",
                             "seconds": 86_400.0}
    assert list(doc["machines"]) == ["lathe-2", "press-1"]
    assert doc["machines"]["press-1"] == {
        "ct_s": 86_400, "pot_s": 28_800, "pdot_s": 1_800, "pbt_s": 27_000, "apt_s": 23_100, "aust_s": 1_200,
        "adet_s": 0, "adot_s": 2_700, "offline_s": 0, "failures": 2, "produced": 1_000, "good": 960,
        "pri_pq_s": 20_000, "availability": 77 / 90, "effectiveness": 200 / 231, "quality": 0.96,
        "oee": 32 / 45, "teep": 2 / 9, "scrap_ratio": 0.04, "mtbf_s": 11_550, "mttr_s": 1_350}
    lathe = doc["machines"]["lathe-2"]
    assert (lathe["apt_s"], lathe["adet_s"], lathe["failures"]) == (1_800, 1_800, 0)
    assert (lathe["availability"], lathe["effectiveness"], lathe["oee"], lathe["teep"]) == (0.5, 0.5, 0.24, 0.01)
    assert (lathe["mtbf_s"], lathe["mttr_s"]) == (None, None)
    total = doc["total"]
    assert (total["ct_s"], total["pbt_s"], total["apt_s"], total["produced"], total["good"]) == (
        172_800, 30_600, 24_900, 1_100, 1_056)
    assert (total["availability"], total["effectiveness"], total["quality"]) == (83 / 102, 209 / 249, 0.96)
    assert (total["oee"], total["teep"]) == (836 / 1_275, 209 / 1_800)
    assert (total["mtbf_s"], total["mttr_s"]) == (12_450, 1_350)


def test_the_period_defaults_to_the_span_of_the_calendar(tmp_path: Path) -> None:
    """06:00–14:00 (UTC+8): CT = 28,800 s, so press-1's TEEP = 19,200/28,800 = 2/3."""
    result = run(*write(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["period"]["from"] == "2024-03-03T22:00:00+00:00"
    assert doc["machines"]["press-1"]["teep"] == 2 / 3


def test_without_json_a_table(tmp_path: Path) -> None:
    result = run(*write(tmp_path))
    assert result.exit_code == 0, result.output
    for text in ("press-1", "lathe-2", "total", "71.1%", "24.0%", "65.6%"):
        assert text in result.stdout


BAD = [
    ("events", EVENTS.replace("press-1,{06:20},{07:00}", "press-1,{07:00},{06:20}"), 3,
     "end 2024-03-04T06:20:00+08:00 is before start 2024-03-04T07:00:00+08:00"),
    ("events", EVENTS.replace("press-1,{07:30},{12:00}", "press-1,{07:20},{12:00}"), 5,
     "state interval of machine 'press-1' overlaps the one on line 4"),
    ("events", EVENTS.replace("idle,no material", "waiting,no material"), 9, "unknown state 'waiting'"),
    ("events", EVENTS.replace("press-1,{06:00},{06:20}", "press-1,2024-03-04T06:00:00,{06:20}"), 2,
     "start: '2024-03-04T06:00:00' has no UTC offset"),
    ("events", EVENTS.replace("hydraulics", "hydraulics,extra"), 4, "6 fields, but the header has 5"),
    ("events", "machine,start,state\n", 1, "missing column end"),
    ("counts", COUNTS.replace("600,580", "600,601"), 2, "good 601 > produced 600"),
    ("counts", COUNTS.replace("600,580", "600.5,580"), 2, "produced: '600.5' is not a whole number"),
    ("counts", COUNTS.replace(",ideal_cycle_s", ""), 1, "missing column ideal_cycle_s"),
    ("counts", COUNTS.replace("96,9", "96,0"), 4, "ideal_cycle_s: '0' is not a positive number of seconds"),
    ("counts", COUNTS.replace("press-1,{10:00}", "press-1,{09:00}"), 3,
     "count interval of machine 'press-1' overlaps the one on line 2"),
    ("calendar", CALENDAR.replace("planned_downtime", "break"), 3, "unknown kind 'break'"),
    ("calendar", CALENDAR.replace(",kind", ",kind,site"), 1, "unknown column 'site'"),
    ("calendar", CALENDAR.replace("{06:00},{14:00},shift", "yesterday,{14:00},shift"), 2,
     "start: 'yesterday' is not an ISO 8601 timestamp"),
]


@pytest.mark.parametrize(("which", "text", "line", "reason"), BAD,
                         ids=[f"{b[0]}-{b[3][:30]}" for b in BAD])
def test_bad_rows_exit_2_naming_file_line_and_reason(tmp_path: Path, which: str, text: str, line: int,
                                                     reason: str) -> None:
    args = write(tmp_path, **{which: text})
    result = run(*args, "--json")
    assert result.exit_code == 2
    assert f"{tmp_path / f'{which}.csv'}:{line}: {reason}" in result.output
    assert result.stdout == ""


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    result = run(*write(tmp_path, counts=""))
    assert result.exit_code == 2
    assert f"{tmp_path / 'counts.csv'}: empty file; the first line must be the header" in result.output


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    args = write(tmp_path)
    (tmp_path / "calendar.csv").unlink()
    result = run(*args)
    assert result.exit_code == 2
    assert f"{tmp_path / 'calendar.csv'}: cannot read" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2024-03-04 00:00"], "--from: '2024-03-04 00:00' has no UTC offset"),
    (["--from", "2024-03-04T15:00:00+08:00"], "--to: the period must end after it starts"),
])
def test_bad_period_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(*write(tmp_path), *args)
    assert result.exit_code == 2
    assert message in result.output
