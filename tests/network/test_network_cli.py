"""`commonworks network import` and `match` against the platform's database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from commonworks.cli import app
from commonworks.core.codes import credit_code_with_check
from commonworks.core.settings import get_settings


@pytest.fixture
def cli(db_url: str, tmp_path, monkeypatch) -> Iterator[CliRunner]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COMMONWORKS_DATABASE_URL", db_url)
    monkeypatch.setenv("COMMONWORKS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _line(n: int, name: str, lat: float, lon: float, capability: dict) -> str:
    return json.dumps(
        {
            "name_zh": name,
            "credit_code": credit_code_with_check(f"9134010{n:03d}MA2N0C0"[:17]),
            "region_code": "340100",
            "industry_code": "C34",
            "size_class": "small",
            "latitude": lat,
            "longitude": lon,
            "profile": {"published": True, "description_zh": "数控加工 铝合金 精密零件"},
            "capabilities": [{"hours_per_day": 12, "price_per_hour": 150, **capability}],
        },
        ensure_ascii=False,
    )


def test_import_then_match_from_files(cli, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from commonworks.network.models import Capability
    from commonworks.network.service import publish_offers

    enterprises = tmp_path / "enterprises.jsonl"
    enterprises.write_text(
        "\n".join(
            [
                _line(
                    1,
                    "合肥精铣",
                    31.86,
                    117.28,
                    {"process": "milling_5axis", "materials": ["aluminium"], "tolerance_mm": 0.01},
                ),
                _line(2, "合肥车削", 31.80, 117.20, {"process": "turning", "materials": ["aluminium"]}),
                '{"name_zh": "缺字段"}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = cli.invoke(app, ["network", "import", "--file", str(enterprises)])
    assert result.exit_code == 2, result.output
    assert "2 enterprises created" in result.output
    assert "enterprises.jsonl:3: credit_code: Field required" in result.output.replace("\n", "")
    with db.transaction() as session:  # spare hours are published from the declared 12 h a day
        for capability in session.scalars(select(Capability)):
            publish_offers(session, capability, now_ms=int(time.time() * 1000), share=1.0)
    demand = tmp_path / "demand.json"
    demand.write_text(
        json.dumps(
            {
                "process": "加工中心",
                "material": "6061",
                "hours": 10,
                "due_day": 30,
                "lat": 31.82,
                "lon": 117.23,
                "text": "铝合金外壳 五轴",
            },
            ensure_ascii=False,
        )
    )
    found = cli.invoke(app, ["network", "match", "--demand", str(demand), "--json"])
    assert found.exit_code == 0, found.output
    doc = json.loads(found.output)
    assert doc["candidates"] == 2
    assert [m["name"] for m in doc["matches"]] == ["合肥精铣"]  # turning does not cover milling
    assert {c["name"] for c in doc["matches"][0]["constraints"]} >= {"process", "material", "capacity"}
    table = cli.invoke(app, ["network", "match", "--demand", str(demand)])
    assert table.exit_code == 0 and "合肥精铣" in table.output


def test_bad_files_exit_2_naming_what_is_wrong(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = cli.invoke(app, ["network", "import", "--file", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "nope.jsonl" in missing.output
    demand = tmp_path / "demand.json"
    demand.write_text('{\n  "process": "milling",\n  "hours": -1\n}')
    bad = cli.invoke(app, ["network", "match", "--demand", str(demand)])
    assert bad.exit_code == 2 and "hours" in bad.output and "line 3" in bad.output
    assert "Traceback" not in bad.output
