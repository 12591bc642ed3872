"""The pages' data layer and pure helpers, without a browser.

The data layer acts as the signed-in user (a Principal with via="ui") through the API's own
CRUD and service logic, so these tests check that the UI keeps the API's rules: tenant
scoping (another tenant's row is not found), writer roles, referential checks, and the
"still has lines" conflicts. They run on each database backend like the API tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from commonworks.core.database import Database
from commonworks.core.errors import Conflict, Forbidden, Invalid, NotFound
from commonworks.core.i18n import gettext_for
from commonworks.core.settings import Settings
from commonworks.telemetry.models import DataType
from commonworks.telemetry.schemas import (
    GatewayCreate,
    LatestValue,
    LineCreate,
    MachineCreate,
    Series,
    SeriesPoint,
    SiteCreate,
    TagCreate,
    TagUpdate,
)
from commonworks.web import common, data
from commonworks.web.charts import trend_options, wall_clock
from commonworks.web.gateways import gateway_yaml
from commonworks.web.status import QUIET_AFTER_MS, machine_status, newest_values, state_of
from tests.conftest import Tenants, make_plant

ZH, EN = gettext_for("zh_CN"), gettext_for("en")


@pytest.fixture
def ui_context(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[common.Context]:
    """The pages' process-global context, pointed at this test's database."""
    context = common.Context(settings=settings, db=db)
    monkeypatch.setattr(common, "_context", context)
    yield context


# ---------------------------------------------------------------- data layer (per backend)


def test_plant_is_built_and_read_through_the_crud_rules(ui_context: common.Context, tenants: Tenants) -> None:
    a = tenants.a
    site = data.create(a.owner.user_id, "site", SiteCreate(name="一号厂区"))
    line = data.create(a.admin.user_id, "line", LineCreate(site_id=site.id, name="机加线 1"))
    machine = data.create(a.engineer.user_id, "machine", MachineCreate(
        line_id=line.id, key="cnc-01", name="立式加工中心", machine_type="cnc_mill"))
    tree = data.plant(a.viewer.user_id)
    assert [(n.site.name, [(ln.line.name, [m.key for m in ln.machines]) for ln in n.lines]) for n in tree] == \
        [("一号厂区", [("机加线 1", ["cnc-01"])])]
    assert data.plant(tenants.b.owner.user_id) == []

    with pytest.raises(Forbidden):  # lines are for owners and admins
        data.create(a.engineer.user_id, "line", LineCreate(site_id=site.id, name="机加线 2"))
    with pytest.raises(Forbidden):  # viewers read only
        data.create(a.viewer.user_id, "machine", MachineCreate(
            line_id=line.id, key="cnc-02", name="x", machine_type="other"))
    with pytest.raises(Conflict) as clash:
        data.create(a.engineer.user_id, "machine", MachineCreate(
            line_id=line.id, key="cnc-01", name="again", machine_type="other"))
    assert clash.value.field == "key"
    with pytest.raises(Invalid) as foreign:  # a line of another tenant is not a line of yours
        data.create(tenants.b.owner.user_id, "machine", MachineCreate(
            line_id=line.id, key="cnc-01", name="x", machine_type="other"))
    assert foreign.value.field == "line_id"
    with pytest.raises(Conflict):
        data.delete(a.owner.user_id, "site", site.id)
    with pytest.raises(NotFound):
        data.delete(tenants.b.owner.user_id, "machine", machine.id)
    assert common.service_message(ZH, Conflict("x"), conflict="该厂区下还有产线")[1] == "该厂区下还有产线"

    data.delete(a.engineer.user_id, "machine", machine.id)
    data.delete(a.owner.user_id, "line", line.id)
    data.delete(a.owner.user_id, "site", site.id)
    assert data.plant(a.owner.user_id) == []


def test_machine_views_are_tenant_scoped(ui_context: common.Context, tenants: Tenants, client: TestClient) -> None:
    plant = make_plant(client, tenants.a.owner)
    now = int(time.time() * 1000)
    batch = {"batch_id": "b1", "series": [{"tag": "cnc-01.spindle_speed", "ts": [now - 2000, now - 1000],
                                           "v": [1200.0, 1250.0]}]}
    assert client.post("/api/v1/ingest", json=batch, headers=plant.gateway_headers).status_code == 200

    view = data.machine_view(tenants.a.viewer.user_id, plant.machine_id)
    assert view.timezone == "Asia/Shanghai" and view.line_name == "机加线 1"
    latest = {v.key: v for v in view.latest}
    assert latest["cnc-01.spindle_speed"].value == 1250.0
    assert machine_status(view.latest, now).kind == "receiving"
    assert [v.machine.id for v in data.machine_views(tenants.a.engineer.user_id)] == [plant.machine_id]
    assert data.machine_views(tenants.b.owner.user_id) == []
    with pytest.raises(NotFound):
        data.machine_view(tenants.b.owner.user_id, plant.machine_id)
    with pytest.raises(NotFound):
        data.machine_tags(tenants.b.owner.user_id, plant.machine_id)
    with pytest.raises(NotFound):
        data.tag_series(tenants.b.owner.user_id, plant.tags["spindle_speed"], now - 3_600_000, now)
    with pytest.raises(NotFound):
        data.machine_csv(tenants.b.owner.user_id, plant.machine_id, now - 3_600_000, now + 1)

    series = data.tag_series(tenants.a.viewer.user_id, plant.tags["spindle_speed"], now - 3_600_000, now)
    assert (series.resolution, [p.value for p in series.points]) == ("raw", [1200.0, 1250.0])
    csv_text = data.machine_csv(tenants.a.viewer.user_id, plant.machine_id, now - 3_600_000, now + 1)
    assert csv_text.splitlines()[0] == "tag,time,ts_ms,value,unit" and len(csv_text.splitlines()) == 3

    tag = data.create(tenants.a.engineer.user_id, "tag", TagCreate(
        key="cnc-01.power", name="功率", unit="kW", machine_id=plant.machine_id))
    data.update(tenants.a.engineer.user_id, "tag", tag.id, TagUpdate(name="有功功率", unit="kW"))
    assert {t.name for t in data.machine_tags(tenants.a.owner.user_id, plant.machine_id)} >= {"有功功率"}
    with pytest.raises(Forbidden):
        data.update(tenants.a.viewer.user_id, "tag", tag.id, TagUpdate(name="x"))


def test_gateways_are_registered_by_managers_and_listed_per_tenant(ui_context: common.Context,
                                                                    tenants: Tenants) -> None:
    with pytest.raises(Forbidden):
        data.register_gateway(tenants.a.engineer.user_id, GatewayCreate(key="gw-a1", name="网关"))
    created = data.register_gateway(tenants.a.admin.user_id, GatewayCreate(key="gw-a1", name="网关"))
    assert created.token.startswith("cwg_")
    views, tz = data.gateways(tenants.a.viewer.user_id)
    assert [(v.gateway.key, v.dead_letter_total) for v in views] == [("gw-a1", 0)] and tz == "Asia/Shanghai"
    assert data.gateways(tenants.b.owner.user_id)[0] == []
    with pytest.raises(Conflict):  # gateway keys are unique on the platform
        data.register_gateway(tenants.b.owner.user_id, GatewayCreate(key="gw-a1", name="别人的"))
    with pytest.raises(NotFound):
        data.revoke_gateway(tenants.b.owner.user_id, created.id)
    data.revoke_gateway(tenants.a.owner.user_id, created.id)
    assert data.gateways(tenants.a.owner.user_id)[0][0].gateway.revoked_at is not None


def test_a_deactivated_user_is_signed_out(ui_context: common.Context, tenants: Tenants) -> None:
    from commonworks.core.auth.models import User

    with ui_context.db.transaction() as session:
        session.get(User, tenants.a.engineer.user_id).is_active = False  # type: ignore[union-attr]
    with pytest.raises(common.SignedOut):
        data.plant(tenants.a.engineer.user_id)


# ---------------------------------------------------------------- pure helpers


def _latest(key: str, value: float | str | None, ts: int | None, *, stale: bool = False,
            data_type: DataType = DataType.float) -> LatestValue:
    return LatestValue(tag_id=hash(key) % 1000, key=key, name=key, unit="1", data_type=data_type, ts=ts, value=value,
                       stale=stale)


def test_machine_status_from_the_newest_values() -> None:
    now = 1_800_000_000_000
    speed = _latest("m.spindle_speed", 1200.0, now - 1000)
    assert machine_status([], now).kind == "no_tags"
    assert machine_status([_latest("m.a", None, None)], now).kind == "no_data"
    assert machine_status([speed], now).kind == "receiving"
    assert machine_status([_latest("m.a", 1.0, now - QUIET_AFTER_MS - 1)], now).kind == "quiet"
    assert machine_status([_latest("m.a", 1.0, now - 5000, stale=True)], now).kind == "stale"
    for value, kind in ((3, "executing"), (2, "not_executing"), (1, "out_of_service"), (0, "not_available"),
                        ("Executing", "executing"), ("NotExecuting", "not_executing"), ("idle", "not_executing"),
                        ("down", "out_of_service"), ("running", "executing")):
        state = _latest("m.machinery_item_state", value, now - 3_600_000)  # states hold until they change
        assert machine_status([speed, state], now).kind == kind, value
    assert machine_status([_latest("m.state", 3, now - 10, stale=True)], now).kind == "stale"
    odd = state_of("warming up")
    assert (odd.kind, odd.raw) == ("unknown_state", "warming up")
    state = _latest("m.state", "running", now)
    assert newest_values([state, speed, _latest("m.x", None, None)]) == [speed]


def test_trend_options_raw_and_rolled_up_in_site_time() -> None:
    start, end = 1_800_000_000_000, 1_800_003_600_000
    assert wall_clock(start, __import__("zoneinfo").ZoneInfo("Asia/Shanghai")) == "2027-01-15 16:00:00"
    raw = Series(tag_id=1, key="k", unit="kW", resolution="raw", start=start, end=end,
                 points=[SeriesPoint(ts=start + 1500, value=2.5)])
    options = trend_options(EN, raw, name="Power", unit="kW", tz="Asia/Shanghai", data_type="float",
                            start=start, end=end)
    assert options["series"][0]["data"] == [["2027-01-15 16:00:01.500", 2.5]]
    assert options["animation"] is False
    rolled = Series(tag_id=1, key="k", unit="kW", resolution="1m", start=start, end=end,
                    points=[SeriesPoint(ts=start, value=2.0, min=1.0, max=4.0, count=3)])
    options = trend_options(ZH, rolled, name="功率", unit="kW", tz="UTC", data_type="float", start=start, end=end)
    low, band, avg = options["series"]
    assert low["data"] == [["2027-01-15 08:00:00", 1.0]] and band["data"] == [["2027-01-15 08:00:00", 3.0]]
    assert avg["data"] == [["2027-01-15 08:00:00", 2.0, 1.0, 4.0]] and avg["name"] == "平均值"
    assert "平均值" in options["tooltip"][":formatter"]


def test_validation_messages_are_translated_per_field() -> None:
    with pytest.raises(ValidationError) as bad:
        MachineCreate.model_validate({"line_id": 1, "key": "CNC 01", "name": "", "machine_type": "boat",
                                      "year_built": 1800, "ideal_cycle_times": {"支架": -1}})
    messages = common.validation_messages(ZH, bad.value)
    assert messages["key"] == "请使用小写字母、数字、“.”、“_”或“-”，并以字母或数字开头。"
    assert messages["name"] == "必填。"
    assert messages["machine_type"] == "请从选项中选择。"
    assert messages["year_built"] == "不能小于 1900。"
    assert messages["ideal_cycle_times"].startswith("零件族需填写名称")
    with pytest.raises(ValidationError) as bad:
        SiteCreate.model_validate({"name": "x", "timezone": "Mars/Olympus"})
    assert common.validation_messages(EN, bad.value) == {
        "timezone": "Unknown time zone; use an IANA name such as Asia/Shanghai."}
    with pytest.raises(ValidationError) as bad:
        TagCreate.model_validate({"key": "m.speed", "name": "speed", "unit": "rpm"})
    assert common.validation_messages(ZH, bad.value)["unit"].startswith("不是有效的 UCUM 单位代码")


def test_the_gateway_yaml_snippet_is_a_valid_gateway_configuration() -> None:
    from commonworks.connect.config import GatewayConfig

    text = gateway_yaml("gw-hefei-1", "http://127.0.0.1:8000", "cwg_" + "x" * 43)
    config = GatewayConfig.from_dict(yaml.safe_load(text))
    assert (config.gateway.key, config.gateway.platform.url, config.devices) == (
        "gw-hefei-1", "http://127.0.0.1:8000", [])


def test_formatting() -> None:
    assert common.number(11975.0) == "11,975"
    assert common.number(9.2561) == "9.256"
    assert common.number(1234.56) == "1,234.6"
    assert [common.unit_symbol(u) for u in ("Cel", "{count}", "kW", "1")] == ["°C", "", "kW", ""]
    assert common.value_text(ZH, 1.0, "bool") == "开" and common.value_text(EN, None, "float") == "—"
    now = 1_800_000_000_000
    assert common.age(ZH, now - 12_000, now, "Asia/Shanghai") == "12 秒前"
    assert common.age(EN, now - 3 * 3_600_000, now, "Asia/Shanghai") == "3 h ago"
    assert common.age(EN, None, now, "UTC") == "never"
