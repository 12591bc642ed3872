"""`commonworks network allocate`: an instance file in, the allocation out; a bad file ends with exit code 2
and one line naming the JSON path of what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commonworks.cli import app

# the worked example of the module docstring: greedy 42, optimum 25; D4 fits nowhere
INSTANCE: dict[str, Any] = {
    "suppliers": [{"id": "A", "capacity": 10}, {"id": "B", "capacity": 10}],
    "demands": [
        {"id": "D1", "size": 5},
        {"id": "D2", "size": 10},
        {"id": "D3", "size": 5},
        {"id": "D4", "size": 50, "unserved_penalty": 100},
    ],
    "options": [
        {"demand": "D1", "supplier": "A", "cost": 4},
        {"demand": "D1", "supplier": "B", "cost": 6, "lateness": 1, "transport": 2},
        {"demand": "D2", "supplier": "A", "cost": 10},
        {"demand": "D2", "supplier": "B", "cost": 30},
        {"demand": "D3", "supplier": "A", "cost": 8},
        {"demand": "D3", "supplier": "B", "cost": 9},
        {"demand": "D4", "supplier": "B", "cost": 90},
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "instance.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["network", "allocate", *args], catch_exceptions=False)


def test_json_output(tmp_path: Path) -> None:
    result = run("--instance", str(write(tmp_path, INSTANCE)), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {
        "status",
        "objective",
        "bound",
        "gap",
        "breakdown",
        "demands",
        "served",
        "assignment",
        "unserved",
        "loads",
        "time_s",
        "solver",
    } <= set(doc)
    assert (doc["status"], doc["objective"], doc["gap"]) == ("optimal", 125, 0)
    assert doc["bound"] == pytest.approx(125)
    assert doc["breakdown"] == {"cost": 25, "lateness": 1, "transport": 2, "unserved_penalty": 100}
    assert doc["assignment"] == [
        {"demand": "D1", "supplier": "B", "share": 1, "cost": 6, "size": 5, "lateness": 1, "transport": 2},
        {"demand": "D2", "supplier": "A", "share": 1, "cost": 10, "size": 10, "lateness": 0, "transport": 0},
        {"demand": "D3", "supplier": "B", "share": 1, "cost": 9, "size": 5, "lateness": 0, "transport": 0},
    ]
    assert doc["unserved"] == [{"demand": "D4", "reason": "too_large", "penalty": 100}]
    assert (doc["served"], doc["demands"]) == (3, 4)
    assert doc["solver"]["name"] == "HiGHS" and doc["solver"]["gap_target"] == 0.01


def test_options_reach_the_solver(tmp_path: Path) -> None:
    result = run("--instance", str(write(tmp_path, INSTANCE)), "--json", "--time-limit", "5", "--gap", "0")
    assert result.exit_code == 0, result.output
    solver = json.loads(result.stdout)["solver"]
    assert (solver["time_limit_s"], solver["gap_target"]) == (5, 0)


def test_without_json_a_summary(tmp_path: Path) -> None:
    result = run("--instance", str(write(tmp_path, INSTANCE)))
    assert result.exit_code == 0, result.output
    for text in ("optimal", "125.00", "3 of 4", "D2", "D4", "no supplier could take it"):
        assert text in result.stdout


BAD = [
    (
        {**INSTANCE, "options": [*INSTANCE["options"], {"demand": "D1", "supplier": "S9", "cost": 1}]},
        "options[7].supplier: unknown supplier 'S9'",
    ),
    (
        {**INSTANCE, "suppliers": [{"id": "A", "capacity": -5}]},
        "suppliers[0].capacity: Input should be greater than or equal to 0 (got -5)",
    ),
    (
        {**INSTANCE, "demands": [*INSTANCE["demands"], {"id": "D2", "size": 1}]},
        "demands[4].id: duplicate demand id 'D2' (also demands[1])",
    ),
    ({key: value for key, value in INSTANCE.items() if key != "suppliers"}, "suppliers: Field required"),
    ({**INSTANCE, "options": [{"demand": "D1", "supplier": "A"}]}, "options[0].cost: Field required"),
    ({**INSTANCE, "options": [{"demand": "D8", "supplier": "A", "cost": 3}]}, "options[0].demand: unknown demand 'D8'"),
    ('{"suppliers": [}', "not JSON: "),
    ("", "not JSON: "),
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_instances_exit_2_naming_the_field(tmp_path: Path, data: Any, message: str) -> None:
    path = write(tmp_path, data)
    result = run("--instance", str(path), "--json")
    assert result.exit_code == 2
    assert f"error: {path}: {message}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_missing_file(tmp_path: Path) -> None:
    result = run("--instance", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope.json'}: cannot read: No such file or directory" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-limit", "0"], "--time-limit: must be a positive number of seconds"),
        (["--gap", "1.5"], "--gap: must be at least 0 and below 1"),
        (["--gap", "nan"], "--gap: must be at least 0 and below 1"),
    ],
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("--instance", str(write(tmp_path, INSTANCE)), *args)
    assert result.exit_code == 2
    assert message in result.output
