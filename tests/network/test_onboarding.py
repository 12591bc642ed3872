"""Bulk onboarding from JSON Lines: good lines land, bad lines are reported with their number."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from commonworks.core.codes import credit_code_with_check
from commonworks.core.orgs.models import Organization
from commonworks.network.models import Capability, NetworkProfile
from commonworks.network.onboarding import import_file


def _enterprise(n: int, **changes) -> dict:  # type: ignore[no-untyped-def]
    base = {
        "name_zh": f"芜湖钣金{n}厂",
        "credit_code": credit_code_with_check(f"9134020{n:03d}MA2N0C0"[:17]),
        "region_code": "340200",
        "industry_code": "C33",
        "size_class": "small",
        "latitude": 31.35,
        "longitude": 118.38,
        "profile": {"published": True, "description_zh": "激光切割、折弯、焊接", "certifications": ["iso_9001"]},
        "capabilities": [
            {
                "process": "laser_cutting",
                "materials": ["steel", "stainless"],
                "envelope_x_mm": 3000,
                "envelope_y_mm": 1500,
                "price_per_hour": 220,
                "hours_per_day": 16,
            },
            {"process": "bending", "materials": ["steel"], "hours_per_day": 8},
        ],
    }
    return base | changes


def test_import_reports_bad_lines_and_imports_the_rest(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = [
        json.dumps(_enterprise(1), ensure_ascii=False),
        "",
        "# a comment",
        json.dumps(_enterprise(2, capabilities=[{"process": "lasercutting"}]), ensure_ascii=False),
        "{not json",
        json.dumps(_enterprise(3, credit_code="91340100MA2N0C0Q06"), ensure_ascii=False),  # bad check digit
        json.dumps(_enterprise(4), ensure_ascii=False),
        json.dumps(_enterprise(1), ensure_ascii=False),
        "[1, 2]",
    ]
    path = tmp_path / "enterprises.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(db, path)
    assert (report.created, report.updated, report.capabilities) == (2, 0, 4)
    errors = dict(report.errors)
    assert sorted(errors) == [4, 5, 6, 8, 9]
    assert errors[4].startswith("capabilities.0.process: unknown process 'lasercutting'")
    assert errors[5].startswith("not JSON")
    assert "credit_code" in errors[6]
    assert "already on line 1" in errors[8]
    assert "one JSON object" in errors[9]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 2
        assert session.scalar(select(func.count()).select_from(Capability)) == 4
        assert session.scalar(select(func.count()).where(NetworkProfile.published.is_(True))) == 2


def test_reimport_updates_by_credit_code_and_keeps_machine_capabilities(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_enterprise(7), ensure_ascii=False) + "\n", encoding="utf-8")
    assert import_file(db, path).created == 1
    with db.transaction() as session:
        org_id = session.scalar(select(Organization.id))
        session.add(Capability(org_id=org_id, process="welding", materials=[], machine_ids=[12345]))
    changed = _enterprise(7, name_zh="芜湖钣金七厂", capabilities=[{"process": "powder_coating"}])
    path.write_text(json.dumps(changed, ensure_ascii=False) + "\n", encoding="utf-8")
    report = import_file(db, path)
    assert (report.created, report.updated, report.errors) == (0, 1, [])
    with db.transaction() as session:
        assert session.scalar(select(Organization.name_zh)) == "芜湖钣金七厂"
        assert sorted(session.scalars(select(Capability.process))) == ["powder_coating", "welding"]
