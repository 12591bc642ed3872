"""The network pages' data layer and formatting, without a browser.

The data layer acts as the signed-in user through the network logic the API uses, so these
tests check the API's rules hold in the pages too: a buyer never sees the supplier's machine,
a supplier sees only its own quote, a third enterprise gets "not found", a viewer changes
nothing. The demand form's per-kind check must agree with the API's schema. They run on each
database backend.
"""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from commonworks.core.database import Database
from commonworks.core.errors import Forbidden, NotFound
from commonworks.core.i18n import gettext_for
from commonworks.core.orgs.models import Organization
from commonworks.core.settings import Settings
from commonworks.network.schemas import (
    CapabilityCreate,
    DemandCreate,
    ProfileIn,
    PublishIn,
    QuoteCreate,
)
from commonworks.network.taxonomy import taxonomy
from commonworks.web import common, network_data, network_format
from commonworks.web.layout import active_path
from commonworks.web.network_format import demand_values, missing_fields, process_options
from tests.conftest import Tenants, make_plant

ZH, EN = gettext_for("zh_CN"), gettext_for("en")
TODAY = date.today()


@pytest.fixture
def ui_context(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[common.Context]:
    """The pages' process-global context, pointed at this test's database."""
    context = common.Context(settings=settings, db=db)
    monkeypatch.setattr(common, "_context", context)
    yield context


# ---------------------------------------------------------------- formatting (pure)


def test_formatting_examples() -> None:
    assert doctest.testmod(network_format).failed == 0


def test_process_options_follow_the_six_main_groups_in_order() -> None:
    t = taxonomy()
    options = process_options("en")
    assert set(options) == set(t.processes)
    groups = [t.group_of(code) for code in options]
    order = list(t.groups)
    assert [order.index(g) for g in groups] == sorted(order.index(g) for g in groups)  # grouped, in DIN order
    assert options["tig_welding"] == "Joining › Welding › TIG welding"
    assert process_options("zh_CN")["hardening"] == "材料性能改变 › 热处理 › 淬火"


EXAMPLES: dict[str, dict[str, Any]] = {
    "part_rfq": {"title": "支架", "process": "milling", "quantity": 500, "due_date": "2026-12-20"},
    "material": {"title": "铝板", "specification": "6061-T6 3mm", "quantity": 2, "due_date": "2026-12-20"},
    "technical": {"title": "缩痕", "description": "PA66 外壳表面缩痕"},
    "service": {"title": "数字化诊断", "service_kind": "consulting"},
}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_the_form_needs_what_the_api_needs(kind: str) -> None:
    """Each kind's example is complete for the form and for the API's schema; leaving out any one field the
    form requires makes both refuse it (the form names the field, so the message stands under it)."""
    complete = demand_values(kind, EXAMPLES[kind])
    assert missing_fields(kind, complete) == []
    DemandCreate.model_validate(complete)
    for field in EXAMPLES[kind]:
        if field == "title" or (kind == "material" and field == "specification"):
            continue
        values = demand_values(kind, {**EXAMPLES[kind], field: None})
        assert missing_fields(kind, values) == [field]
        with pytest.raises(ValidationError):
            DemandCreate.model_validate(values)
    fields = demand_values(kind, {**EXAMPLES[kind], "process": "milling", "service_kind": "training"})
    assert set(fields) == {"kind", *network_format.KIND_FIELDS[kind]}  # other kinds' fields are not sent


def test_material_demand_takes_a_material_or_a_specification() -> None:
    values = demand_values("material", {**EXAMPLES["material"], "specification": " "})
    assert missing_fields("material", values) == ["material", "specification"]
    with pytest.raises(ValidationError):
        DemandCreate.model_validate(values)
    assert missing_fields("material", {**values, "material": "aluminium_6061"}) == []


def test_network_pages_are_in_the_navigation() -> None:
    assert active_path("/network/demands/12") == "/network/demands"
    assert active_path("/network/orders/3") == "/network/orders"
    assert ZH("Capability profile") == "能力档案" and ZH("Spare capacity") == "空闲产能"
    assert EN("Demands and quotes") == "Demands and quotes"


# ---------------------------------------------------------------- the data layer (per backend)


def _locate(db: Database, org_id: int, lat: float, lon: float) -> None:
    with db.transaction() as session:
        org = session.get(Organization, org_id)
        assert org is not None
        org.latitude, org.longitude = lat, lon


@pytest.fixture
def market(ui_context: common.Context, client, tenants: Tenants) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Supplier ``a`` (a machine without shift calendar: 24 h a day, no history) publishes milling at most 8 h
    a day; buyer ``b`` posts an RFQ for 500 aluminium brackets, 20 machine hours, due in 20 days."""
    db = ui_context.db
    plant = make_plant(client, tenants.a.owner, prefix="vmc-01")
    _locate(db, tenants.a.org_id, 31.82, 117.23)
    _locate(db, tenants.b.org_id, 31.35, 118.43)
    a, b = tenants.a.owner.user_id, tenants.b.owner.user_id
    network_data.save_profile(
        a,
        ProfileIn(
            published=True, description_zh="精密数控加工 铝合金 支架", certifications=["iso_9001"], lead_time_days=10
        ),
    )
    capability = network_data.create_capability(
        a,
        CapabilityCreate(
            process="milling",
            materials=["aluminium"],
            envelope_x_mm=800,
            envelope_y_mm=500,
            envelope_z_mm=500,
            tolerance_mm=0.01,
            price_per_hour=180,
            batch_min=100,
            machine_ids=[plant.machine_id],
        ),
    )
    offers = network_data.publish(a, PublishIn(capability_id=capability.id, max_hours_per_day=8))
    demand = network_data.post_demand(
        b,
        DemandCreate.model_validate(
            demand_values(
                "part_rfq",
                {
                    "title": "铝合金支架 CNC 加工 500 件",
                    "process": "milling",
                    "material": "aluminium_6061",
                    "quantity": 500,
                    "envelope_x_mm": 120,
                    "envelope_y_mm": 80,
                    "envelope_z_mm": 30,
                    "tolerance_mm": 0.05,
                    "hours": 20,
                    "due_date": TODAY + timedelta(days=20),
                    "budget": 30000,
                },
            )
        ),
    )
    return {"plant": plant, "capability": capability, "offers": offers, "demand": demand, "a": a, "b": b}


def test_capacity_and_profile_as_the_pages_read_them(market: dict[str, Any], tenants: Tenants) -> None:
    a = market["a"]
    assert sum(o.hours for o in market["offers"]) == 28 * 8
    view = network_data.capacity(a)
    entry = view.report.capabilities[0]
    assert (sum(d.free_h for d in entry.days), sum(d.published_h or 0 for d in entry.days)) == (28 * 24, 28 * 8)
    assert view.capabilities[entry.capability_id].price_per_hour == 180
    profile = network_data.profile_view(a)
    assert profile.located and profile.profile.published and profile.profile.certifications == ["iso_9001"]
    assert [m.label for m in profile.machines] == ["DMG MORI 立式加工中心 (vmc-01)"]
    assert not network_data.profile_view(tenants.operator.owner.user_id).located
    assert network_data.profile_view(tenants.operator.owner.user_id).capabilities == []  # only one's own
    with pytest.raises(Forbidden):
        network_data.save_profile(tenants.a.viewer.user_id, ProfileIn(published=False))
    with pytest.raises(Forbidden):
        network_data.withdraw(tenants.a.viewer.user_id, market["capability"].id)
    with pytest.raises(NotFound):
        network_data.withdraw(tenants.b.owner.user_id, market["capability"].id)


def test_buyer_sees_the_supplier_matched_with_its_reasons(market: dict[str, Any], tenants: Tenants) -> None:
    found = network_data.matches(market["b"], market["demand"].id)
    assert found is not None and [m.enterprise_id for m in found.matches] == [tenants.a.org_id]
    match = found.matches[0]
    assert all(c.passed for c in match.constraints)
    assert {c.name for c in match.constraints} >= {"process", "material", "envelope", "tolerance", "batch", "capacity"}
    assert match.score == pytest.approx(sum(c.contribution for c in match.components), abs=1e-3)
    with pytest.raises(NotFound):  # matches are the buyer's alone
        network_data.matches(market["a"], market["demand"].id)
    technical = network_data.post_demand(
        market["b"], DemandCreate(kind="technical", title="缩痕", description="PA66 外壳表面缩痕")
    )
    assert network_data.matches(market["b"], technical.id) is None


def test_quotes_orders_and_progress_keep_each_side_to_its_own(market: dict[str, Any], tenants: Tenants) -> None:
    a, b, demand, plant = market["a"], market["b"], market["demand"], market["plant"]
    operator = tenants.operator.owner.user_id
    [row] = network_data.demands(a, "market")
    assert row.demand.id == demand.id and row.own_quote is None
    assert network_data.demands(b, "market") == []  # not one's own
    network_data.submit_quote(a, demand.id, QuoteCreate(price=26000, lead_time_days=12, note="含阳极氧化"))
    network_data.submit_quote(operator, demand.id, QuoteCreate(price=25000, lead_time_days=15))
    [mine] = network_data.demands(b, "mine")
    assert mine.quotes == 2
    [row] = network_data.demands(a, "market")
    assert row.own_quote is not None and row.own_quote.price == 26000
    seen_by_supplier = network_data.demand_detail(a, demand.id)
    assert [q.price for q in seen_by_supplier.quotes] == [26000] and seen_by_supplier.can_quote
    assert seen_by_supplier.capabilities == {market["capability"].id: "milling"}
    buyer_view = network_data.demand_detail(b, demand.id)
    assert [q.price for q in buyer_view.quotes] == [25000, 26000] and not buyer_view.can_quote
    assert not network_data.demand_detail(tenants.a.viewer.user_id, demand.id).can_quote

    quote_id = next(q.id for q in buyer_view.quotes if q.price == 26000)
    with pytest.raises(NotFound):
        network_data.accept_quote(a, quote_id)  # only the buyer accepts
    order = network_data.accept_quote(b, quote_id)
    assert [o.id for o in network_data.demand_detail(b, demand.id).orders] == [order.id]
    assert network_data.demand_detail(operator, demand.id).orders == []  # its quote was declined

    counters = network_data.counter_tags(a, plant.machine_id)
    assert counters[0].key == "vmc-01.part_count" and "vmc-01.program" not in {c.key for c in counters}
    with pytest.raises(NotFound):
        network_data.counter_tags(b, plant.machine_id)
    with pytest.raises(NotFound):
        network_data.bind_order(b, order.id, plant.machine_id, None)
    bound = network_data.bind_order(a, order.id, plant.machine_id, counters[0].id)
    assert bound.status.value == "in_production" and bound.progress is not None and bound.progress.made == 0

    supplier_view = network_data.order_detail(a, order.id)
    assert supplier_view.machine is not None and supplier_view.machine.key == "vmc-01"
    assert supplier_view.counter is not None and supplier_view.counter.key == "vmc-01.part_count"
    assert supplier_view.reputation is None and supplier_view.machines
    buyer_order = network_data.order_detail(b, order.id)
    assert (buyer_order.machine, buyer_order.counter, buyer_order.machines) == (None, None, [])
    assert buyer_order.order.machine_id is None and buyer_order.order.progress is not None
    assert buyer_order.reputation is not None and buyer_order.reputation.score is None
    with pytest.raises(NotFound):
        network_data.order_detail(operator, order.id)
    assert [o.role for o in network_data.orders(a)] == ["supplier"]
    assert [o.role for o in network_data.orders(b)] == ["buyer"]
    assert network_data.orders(operator) == []

    network_data.deliver(a, order.id, 480)
    network_data.accept_delivery(b, order.id, 470)
    network_data.rate(b, order.id, 4, "交期准时")
    assert network_data.order_detail(b, order.id).rating == (4, "交期准时")
    assert network_data.order_detail(a, order.id).rating is None  # the supplier has not rated yet
    reputation = network_data.order_detail(b, order.id).reputation
    assert reputation is not None and (reputation.on_time_90d, reputation.quality_90d) == (1.0, 0.9792)


def test_drafts_are_the_buyers_alone(ui_context: common.Context, tenants: Tenants) -> None:
    draft = network_data.post_demand(
        tenants.b.owner.user_id,
        DemandCreate(kind="service", title="数字化诊断", service_kind="consulting", publish=False),
    )
    assert network_data.demand_detail(tenants.b.viewer.user_id, draft.id).demand.status.value == "draft"
    with pytest.raises(NotFound):
        network_data.demand_detail(tenants.a.owner.user_id, draft.id)
    assert network_data.demands(tenants.a.owner.user_id, "market") == []
    with pytest.raises(Forbidden):
        network_data.set_demand_status(tenants.b.viewer.user_id, draft.id, "open")
    network_data.set_demand_status(tenants.b.owner.user_id, draft.id, "open")
    assert [r.demand.id for r in network_data.demands(tenants.a.owner.user_id, "market")] == [draft.id]


def test_every_constraint_reason_reads_in_the_pages_language() -> None:
    """The match page's ✓/✗ tooltips: each reason check_capability can give has a message, and in
    Chinese it reads in Chinese with the taxonomy's Chinese names (the API keeps the English detail)."""
    from decimal import Decimal

    from commonworks.network.matching import Capability, Demand, SupplierProfile, check_capability

    t = taxonomy()
    mill = Capability(process="milling", materials=("steel",), envelope_mm=(500, 400, 300), tolerance_mm=0.01,
                      finish_ra_um=0.8, batch_min=10, batch_max=100, price_per_hour=Decimal(90), free_hours=(4,) * 28)
    bare = Capability(process="turning", batch_min=1, free_hours=(1,) * 28)
    profile = SupplierProfile(enterprise_id=1, name="x", lat=31.8, lon=117.2, certifications={"iso_9001"},
                              capabilities=(mill, bare))
    asks = [
        Demand(process="milling", hours=8, due_day=5, material="steel_q235", quantity=50, envelope_mm=(200, 100, 50),
               tolerance_mm=0.02, finish_ra_um=1.6, certifications={"iso_9001"}),
        Demand(process="milling", hours=200, due_day=40, material="steel", quantity=5, envelope_mm=(900, 100, 50),
               tolerance_mm=0.001, finish_ra_um=0.1, certifications={"iatf_16949"}),
        Demand(process="milling", hours=1, due_day=3, material="aluminium", quantity=500),
    ]
    checks = [c for d in asks for cap in (mill, bare) for c in check_capability(t, profile, cap, d)]
    assert {c.code for c in checks} == set(network_format.CHECK_TEXTS)  # every reason has its message, no other
    for c in checks:
        zh = network_format.check_text(c.code, dict(c.args), c.detail, "zh_CN", ZH)
        en = network_format.check_text(c.code, dict(c.args), c.detail, "en", EN)
        assert "{" not in zh + en, (c.code, zh, en)
        words = [w for w in zh.replace("Ra", "").replace("mm", "").replace("µm", "").split() if w.isascii()
                 and w.isalpha() and w not in ("ISO", "IATF")]
        assert not words, (c.code, zh)
    by_code = {c.code: c for c in checks}
    q235 = by_code["material.covers"]
    assert network_format.check_text(q235.code, dict(q235.args), q235.detail, "zh_CN", ZH) == (
        "可加工钢，涵盖Q235 碳素结构钢")
    short = by_code["capacity.short"]
    assert network_format.check_text(short.code, dict(short.args), short.detail, "zh_CN", ZH) == (
        "第 28 天（已公布天数的最后一天）前空闲 28 小时 < 所需 200 小时")
    assert short.detail == "free 28 h before day 28 (end of the published days) < 200 h needed"
