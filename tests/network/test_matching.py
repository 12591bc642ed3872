"""Explainable supplier matching: hard constraints with reasons, the score breakdown, ranking, explain(),
the vectorised index against the plain reference, and demand files."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from commonworks.network.matching import (
    EARTH_RADIUS_KM,
    Capability,
    Demand,
    DemandFileError,
    MatchIndex,
    MatchingInputError,
    ReferenceCorpus,
    SupplierProfile,
    Weights,
    document_tokens,
    exhaustive_match,
    load_demand,
    match,
)
from commonworks.network.synth import generate_demands, generate_network

# ------------------------------------------------------------------ a supplier that passes everything

GOOD_CAP = Capability(
    process="milling_5axis",
    materials=("aluminium", "stainless_304"),
    envelope_mm=(400.0, 600.0, 300.0),
    tolerance_mm=0.01,
    finish_ra_um=0.8,
    batch_min=10,
    batch_max=5000,
    price_per_hour=Decimal("200"),
    free_hours=(8.0,) * 28,
    machine_ids=(11, 12),
)
DEMAND = Demand(
    process="milling",
    material="aluminium_6061",
    quantity=500,
    envelope_mm=(300.0, 200.0, 500.0),
    tolerance_mm=0.02,
    finish_ra_um=1.6,
    certifications=frozenset({"iso_9001"}),
    due_day=10,
    hours=40.0,
    budget=Decimal("20000"),
    lat=31.30,
    lon=120.62,
    text="6061铝合金外壳 CNC加工",
)


def supplier(eid: int, name: str, cap: Capability = GOOD_CAP, **kw) -> SupplierProfile:
    fields = dict(
        enterprise_id=eid,
        name=name,
        region="苏州",
        lat=31.3,
        lon=120.6,
        description_zh="精密数控加工",
        certifications=frozenset({"iso_9001"}),
        reputation=0.9,
        capabilities=(cap,),
    )
    fields.update(kw)
    return SupplierProfile(**fields)


FAILING = {  # constraint → (supplier failing only it, expected words in the reason)
    "process": (supplier(2, "只做车削", replace(GOOD_CAP, process="turning")), "turning does not cover milling"),
    "material": (
        supplier(3, "只做钢", replace(GOOD_CAP, materials=("steel",))),
        "aluminium_6061 not worked (offers steel)",
    ),
    "envelope": (
        supplier(4, "小机床", replace(GOOD_CAP, envelope_mm=(600.0, 400.0, 150.0))),
        "envelope 600×400×150 too small for 500×300×200 mm",
    ),
    "tolerance": (supplier(5, "粗加工", replace(GOOD_CAP, tolerance_mm=0.05)), "best tolerance ±0.05 > ±0.02 mm asked"),
    "finish": (supplier(6, "粗糙", replace(GOOD_CAP, finish_ra_um=3.2)), "best finish Ra 3.2 > Ra 1.6 µm asked"),
    "batch": (supplier(7, "大批量", replace(GOOD_CAP, batch_min=1000)), "quantity 500 below the minimum batch 1000"),
    "certification": (supplier(8, "无认证", certifications=frozenset()), "missing ISO 9001"),
    "capacity": (
        supplier(9, "满负荷", replace(GOOD_CAP, free_hours=(3.0,) * 28)),
        "free 30 h before day 10 < 40 h needed",
    ),
}


@pytest.fixture(scope="module")
def constraint_index() -> MatchIndex:
    return MatchIndex.build([supplier(1, "全能精密"), *(s for s, _ in FAILING.values())])


def test_only_the_supplier_passing_every_hard_constraint_is_shown(constraint_index: MatchIndex) -> None:
    matches = constraint_index.match(DEMAND, top=10)
    assert [m.enterprise_id for m in matches] == [1]
    reasons = {c.name: c for c in matches[0].constraints}
    assert set(reasons) == {
        "process",
        "material",
        "envelope",
        "tolerance",
        "finish",
        "batch",
        "certification",
        "capacity",
    }
    assert all(c.passed for c in reasons.values())
    assert reasons["process"].detail == "milling_5axis covers milling"
    assert reasons["material"].detail == "works aluminium, which covers aluminium_6061"
    assert reasons["envelope"].detail == "envelope 600×400×300 ≥ 500×300×200 mm"
    assert reasons["capacity"].detail == "free 80 h before day 10 ≥ 40 h needed"
    assert reasons["certification"].detail == "holds ISO 9001"


@pytest.mark.parametrize("constraint", list(FAILING))
def test_each_hard_constraint_excludes_with_its_reason(constraint_index: MatchIndex, constraint: str) -> None:
    profile, detail = FAILING[constraint]
    explanation = constraint_index.explain(DEMAND, profile.enterprise_id)
    assert explanation.status == "excluded"
    assert explanation.rank is None
    (cap,) = explanation.capabilities
    failed = [c for c in cap.checks if not c.passed]
    assert [(c.name, c.detail) for c in failed] == [(constraint, detail)]
    assert detail in explanation.summary
    # … and the reference agrees it is not a match
    assert profile.enterprise_id not in {
        m.enterprise_id for m in exhaustive_match([supplier(1, "全能精密"), *(s for s, _ in FAILING.values())], DEMAND)
    }


def test_a_child_process_covers_its_parent_but_not_the_reverse() -> None:
    five_axis = supplier(1, "五轴厂")
    three_axis = supplier(2, "三轴厂", replace(GOOD_CAP, process="milling"))
    index = MatchIndex.build([five_axis, three_axis])
    assert {m.enterprise_id for m in index.match(DEMAND)} == {1, 2}
    assert [m.enterprise_id for m in index.match(replace(DEMAND, process="milling_5axis"))] == [1]


def test_capacity_counts_only_days_before_the_due_day_and_within_28_days() -> None:
    cap = replace(GOOD_CAP, free_hours=(0.0,) * 5 + (10.0,) * 23)  # free from day 5 on
    index = MatchIndex.build([supplier(1, "晚开工", cap)])
    assert index.match(replace(DEMAND, due_day=8, hours=30)) != []  # days 5, 6, 7 = 30 h
    assert index.match(replace(DEMAND, due_day=7, hours=30)) == []
    late = index.match(replace(DEMAND, due_day=60, hours=230))  # only 28 days are published
    assert late[0].constraints[-1].detail == "free 230 h before day 28 (end of the published days) ≥ 230 h needed"
    assert index.match(replace(DEMAND, due_day=60, hours=231)) == []


def test_unpublished_tolerance_or_finish_fails_a_demand_that_asks() -> None:
    index = MatchIndex.build([supplier(1, "未公布", replace(GOOD_CAP, tolerance_mm=None, finish_ra_um=None))])
    assert index.match(DEMAND) == []
    assert index.match(replace(DEMAND, tolerance_mm=None, finish_ra_um=None)) != []
    reasons = index.explain(DEMAND, 1).capabilities[0].checks
    assert [c.detail for c in reasons if not c.passed] == [
        "no tolerance published (±0.02 mm asked)",
        "no surface finish published (Ra 1.6 µm asked)",
    ]


# ------------------------------------------------------------------ the worked example: three suppliers

KM = 300 / EARTH_RADIUS_KM  # radians of latitude for 300 km along a meridian


def worked_example() -> tuple[list[SupplierProfile], list[list[str]], Demand]:
    def cap(price: str | None, free: float) -> Capability:
        return Capability(
            process="milling",
            materials=("aluminium",),
            price_per_hour=None if price is None else Decimal(price),
            free_hours=(free,) * 28,
        )

    profiles = [
        SupplierProfile(
            enterprise_id=10, name="A", lat=30.0, lon=120.0, reputation=0.9, capabilities=(cap("100", 10.0),)
        ),
        SupplierProfile(
            enterprise_id=20, name="B", lat=30.0 + math.degrees(KM), lon=120.0, capabilities=(cap("150", 8.0),)
        ),
        SupplierProfile(
            enterprise_id=30,
            name="C",
            lat=30.0 + 2 * math.degrees(KM),
            lon=120.0,
            reputation=0.6,
            capabilities=(cap(None, 20.0),),
        ),
    ]
    documents = [
        ["p:milling", "m:aluminium", "p:anodizing"],
        ["p:milling", "m:aluminium", "精密"],
        ["p:milling", "m:steel", "精密"],
    ]
    demand = Demand(
        process="milling",
        material="aluminium",
        hours=20.0,
        due_day=5,
        budget=Decimal("4000"),
        lat=30.0,
        lon=120.0,
        text="阳极氧化",
    )
    return profiles, documents, demand


def test_worked_example_score_breakdown() -> None:
    profiles, documents, demand = worked_example()
    index = MatchIndex.build(profiles, documents=documents)
    matches = index.match(demand, top=3)
    assert [m.enterprise_id for m in matches] == [10, 20, 30]

    # text: query = {p:anodizing, p:milling, m:aluminium}; every document has 3 tokens = avgdl, so
    # tf-part = 1 / (1.5 + 1) = 0.4; idf = ln(1 + (3 − df + ½)/(df + ½)): df 3, 2, 1 → ln(8/7), ln 1.6, ln(8/3)
    milling, aluminium, anodizing = 0.4 * math.log(8 / 7), 0.4 * math.log(1.6), 0.4 * math.log(8 / 3)
    text_raw = [milling + aluminium + anodizing, milling + aluminium, milling]
    text = [t / text_raw[0] for t in text_raw]  # A is the best text match → 1
    distance = [1.0, 0.5, 0.25]  # 0, 300, 600 km; halves every 300 km
    price = [1 - 0.5 * 2000 / 4000, 1 - 0.5 * 3000 / 4000, 0.0]  # 20 h × 100 / 150 CNY; C publishes no price
    reputation = [0.9, 0.5, 0.6]  # B has no orders: prior 0.5
    capacity = [1 - 20 / 50, 1 - 20 / 40, 1 - 20 / 100]  # 5 days × 10 / 8 / 20 h free
    expected_total = [0.875, 0.3 * text[1] + 0.1 + 0.125 + 0.075 + 0.075, 0.3 * text[2] + 0.05 + 0 + 0.09 + 0.12]
    assert expected_total[1] == pytest.approx(0.489280, abs=1e-6)
    assert expected_total[2] == pytest.approx(0.285284, abs=1e-6)

    for i, m in enumerate(matches):
        c = {x.name: x for x in m.components}
        assert c["text"].raw == pytest.approx(text_raw[i], rel=1e-12)
        assert c["text"].normalised == pytest.approx(text[i], rel=1e-12)
        assert c["distance"].raw == pytest.approx(300 * i, abs=1e-6)
        assert c["distance"].normalised == pytest.approx(distance[i], rel=1e-9)
        assert c["price"].normalised == pytest.approx(price[i])
        assert c["reputation"].normalised == pytest.approx(reputation[i])
        assert c["capacity"].normalised == pytest.approx(capacity[i])
        weights = [x.weight for x in m.components]
        assert weights == [0.3, 0.2, 0.2, 0.15, 0.15]
        assert all(x.contribution == pytest.approx(x.weight * x.normalised) for x in m.components)
        assert m.score == pytest.approx(expected_total[i], abs=1e-9)
    a = {x.name: x for x in matches[0].components}
    assert a["price"].raw == 2000.0
    assert a["price"].detail == "est. 2,000 CNY (100 CNY/h × 20 h) = 0.50 × budget 4,000 CNY"
    assert a["capacity"].detail == "50 h free before day 5 for 20 h: 60% left"
    assert {x.name: x for x in matches[2].components}["price"].detail == "no price published"
    # the reference computes the same
    ref = exhaustive_match(profiles, demand, 3, corpus=ReferenceCorpus(profiles, documents))
    assert [(m.enterprise_id, m.score) for m in ref] == [(m.enterprise_id, m.score) for m in matches]


def test_weights_change_the_ranking() -> None:
    profiles, documents, demand = worked_example()
    # Only capacity slack counts: C (100 h free) before A (50 h) before B (40 h)
    only_capacity = Weights(text=0, distance=0, price=0, reputation=0, capacity=1)
    index = MatchIndex.build(profiles, documents=documents, weights=only_capacity)
    assert [m.enterprise_id for m in index.match(demand)] == [30, 10, 20]
    # Without a budget the cheapest feasible offer sets the scale: A 1, B 2000/3000
    cheap = MatchIndex.build(profiles, documents=documents, weights=Weights(1e-9, 0, 1, 0, 0))
    got = {
        m.enterprise_id: {c.name: c for c in m.components}["price"] for m in cheap.match(replace(demand, budget=None))
    }
    assert got[10].normalised == 1.0 and got[20].normalised == pytest.approx(2 / 3)


def test_no_location_leaves_distance_out_and_ties_go_to_the_lower_id() -> None:
    cap = Capability(process="welding", materials=("steel",), price_per_hour=Decimal(80), free_hours=(8.0,) * 28)
    twins = [
        SupplierProfile(enterprise_id=i, name=f"T{i}", lat=30 + i, lon=120, capabilities=(cap,)) for i in (7, 3, 5)
    ]
    matches = match(twins, Demand(process="welding", hours=8, due_day=3))
    assert [m.enterprise_id for m in matches] == [3, 5, 7]
    assert len({m.score for m in matches}) == 1
    distance = {c.name: c for c in matches[0].components}["distance"]
    assert (distance.weight, distance.contribution, distance.raw) == (0.0, 0.0, None)


def test_one_result_per_enterprise_from_its_best_capability() -> None:
    slow = replace(GOOD_CAP, free_hours=(4.5,) * 28, price_per_hour=Decimal(300))
    fast = replace(GOOD_CAP, process="milling", free_hours=(16.0,) * 28, price_per_hour=Decimal(90))
    index = MatchIndex.build([supplier(1, "两条线", slow, capabilities=(slow, fast)), supplier(2, "一条线")])
    matches = index.match(DEMAND)
    assert sorted(m.enterprise_id for m in matches) == [1, 2]
    best = next(m for m in matches if m.enterprise_id == 1)
    assert (best.capability_index, best.process) == (1, "milling")


def test_explain_a_supplier_ranked_below_the_list() -> None:
    profiles, documents, demand = worked_example()
    index = MatchIndex.build(profiles, documents=documents)
    below = index.explain(demand, 20, top=1)
    assert below.status == "ranked_below"
    assert below.rank == 2
    assert below.score == pytest.approx(0.489280, abs=1e-6)
    assert below.cutoff_score == pytest.approx(0.875)
    assert "ranks 2 of 3" in below.summary
    top = index.explain(demand, 10, top=1)
    assert (top.status, top.rank) == ("matched", 1)
    with pytest.raises(KeyError):
        index.explain(demand, 999)
    nothing = index.explain(replace(demand, material="steel"), 10)
    assert nothing.status == "excluded"
    assert "steel not worked (offers aluminium)" in nothing.summary


def test_index_equals_exhaustive_on_a_seeded_network() -> None:
    profiles = generate_network(500, seed=42)
    documents = [document_tokens(p) for p in profiles]
    index = MatchIndex.build(profiles, documents=documents)
    corpus = ReferenceCorpus(profiles, documents)
    demands = generate_demands(120, seed=7)
    # and some looser ones: any process (text only), no material, no location, far-off due dates
    demands += [replace(d, process=None) for d in demands[:10]]
    demands += [replace(d, material=None, envelope_mm=None, lat=None, lon=None, due_day=40) for d in demands[10:30]]
    nonempty = 0
    for d in demands:
        got = index.match(d, 10)
        want = exhaustive_match(profiles, d, 10, corpus=corpus)
        assert [(m.enterprise_id, m.capability_index) for m in got] == [
            (m.enterprise_id, m.capability_index) for m in want
        ], d
        assert [m.score for m in got] == pytest.approx([m.score for m in want], abs=1e-9)
        assert all(c.passed for m in got for c in m.constraints)
        nonempty += bool(got)
    assert nonempty > len(demands) * 0.7  # the comparison is not about empty lists


def test_match_output_is_json() -> None:
    matches = MatchIndex.build([supplier(1, "全能精密")]).match(DEMAND)
    data = json.loads(json.dumps([m.to_dict() for m in matches], ensure_ascii=False))
    assert data[0]["enterprise_id"] == 1
    assert data[0]["machine_ids"] == [11, 12]
    assert [c["name"] for c in data[0]["components"]] == ["text", "distance", "price", "reputation", "capacity"]
    assert data[0]["constraints"][0] == {"name": "process", "passed": True, "detail": "milling_5axis covers milling",
                                         "code": "process.covers", "args": {"have": "milling_5axis", "need": "milling"}}


def test_bad_profiles_and_demands_are_named() -> None:
    with pytest.raises(MatchingInputError, match=r"enterprise 1, capability 0.process: unknown process 'milng'"):
        MatchIndex.build([supplier(1, "x", replace(GOOD_CAP, process="milng"))])
    with pytest.raises(MatchingInputError, match="enterprise 1: listed twice"):
        MatchIndex.build([supplier(1, "x"), supplier(1, "y")])
    index = MatchIndex.build([supplier(1, "x")])
    with pytest.raises(MatchingInputError, match=r"demand\.material: unknown material 'unobtainium'"):
        index.match(replace(DEMAND, material="unobtainium"))
    with pytest.raises(MatchingInputError, match=r"demand\.hours"):
        index.match(replace(DEMAND, hours=0))


# ------------------------------------------------------------------ demand files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demand.json"
    path.write_text(text, "utf-8")
    return path


def test_load_demand_accepts_codes_names_and_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            {
                "process": "加工中心",
                "material": "6061",
                "quantity": 200,
                "envelope_mm": [300, 200, 50],
                "tolerance_mm": 0.02,
                "certifications": ["ISO 9001", "iatf_16949"],
                "due_date": "2026-03-15",
                "hours": 24,
                "budget": "6000",
                "lat": 31.3,
                "lon": 120.6,
                "text": "铝合金外壳",
            },
            ensure_ascii=False,
        ),
    )
    demand = load_demand(path, today=date(2026, 3, 1))
    assert demand.process == "milling"
    assert demand.material == "aluminium_6061"
    assert demand.certifications == {"iso_9001", "iatf_16949"}
    assert demand.due_day == 14
    assert demand.budget == Decimal("6000")
    assert demand.envelope_mm == (300.0, 200.0, 50.0)


@pytest.mark.parametrize(
    ("body", "field", "line", "words"),
    [
        (
            '{\n  "process": "milling",\n  "hours": 10,\n  "due_day": 5,\n  "procss": "x"\n}',
            "procss",
            5,
            "unknown field",
        ),
        ('{\n  "process": "铣刨",\n  "hours": 10,\n  "due_day": 5\n}', "process", 2, "unknown process '铣刨'"),
        ('{\n  "process": "milling",\n  "due_day": 5\n}', "hours", None, "required"),
        ('{\n  "process": "milling",\n  "hours": 10,\n  "due_day": 0\n}', "due_day", 4, "greater than or equal to 1"),
        (
            '{"process": "milling", "hours": 10, "due_day": 3,\n "envelope_mm": [300, -2, 10]}',
            "envelope_mm",
            2,
            "positive",
        ),
        (
            '{"process": "milling", "hours": 10, "due_day": 3, "certifications": ["ISO 9002"]}',
            "certifications",
            1,
            "unknown certification 'ISO 9002'",
        ),
        ('{"process": "milling", "hours": 10, "due_date": "2026-02-01"}', "due_date", 1, "not after today"),
    ],
)
def test_bad_demand_files_name_the_field(tmp_path: Path, body: str, field: str, line: int | None, words: str) -> None:
    with pytest.raises(DemandFileError) as caught:
        load_demand(write(tmp_path, body), today=date(2026, 3, 1))
    err = caught.value
    assert err.field == field
    assert err.line == line
    assert words in str(err)
    assert f"field {field!r}" in str(err)


def test_bad_demand_file_syntax_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DemandFileError, match=r"line 3: not valid JSON") as caught:
        load_demand(write(tmp_path, '{\n  "process": "milling",\n  "hours": 10,,\n}'))
    assert caught.value.line == 3
    with pytest.raises(DemandFileError, match="give both lat and lon"):
        load_demand(write(tmp_path, '{"process": "milling", "hours": 1, "due_day": 2, "lat": 30}'))
    with pytest.raises(DemandFileError, match="expected a JSON object"):
        load_demand(write(tmp_path, "[1, 2]"))
    with pytest.raises(DemandFileError, match="cannot read"):
        load_demand(tmp_path / "missing.json")


def test_plain_lists_from_database_rows_are_accepted_and_the_buyer_can_be_left_out() -> None:
    cap = Capability(
        process="milling", materials=["aluminium"], free_hours=[8.0] * 28, machine_ids=[1], envelope_mm=[100, 100, 100]
    )
    profiles = [
        SupplierProfile(enterprise_id=i, name=f"E{i}", lat=30, lon=120, certifications=["iso_9001"], capabilities=[cap])
        for i in (1, 2)
    ]
    demand = Demand(process="milling", hours=8, due_day=2, certifications=["iso_9001"], envelope_mm=[50, 50, 50])
    assert [m.enterprise_id for m in match(profiles, demand)] == [1, 2]
    index = MatchIndex.build(profiles)
    assert [m.enterprise_id for m in index.match(demand, exclude=[1])] == [2]
    assert [m.enterprise_id for m in exhaustive_match(profiles, demand, exclude=[1])] == [2]
