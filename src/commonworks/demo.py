"""Demo data for `make demo`: a platform operator, three factories, a consultancy and a city bureau;
the factories' plants, machines and tags, and the configuration to run their simulated machines
(real OPC UA and Modbus servers) and a gateway each.

Seeding is idempotent: what is already stored is left as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core import codes
from commonworks.core.auth import service as auth_service
from commonworks.core.auth.models import Role, User
from commonworks.core.auth.schemas import UserCreate
from commonworks.core.orgs import service as org_service
from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
from commonworks.core.orgs.schemas import OrgCreate
from commonworks.operations.models import StateRuleRow
from commonworks.telemetry.models import DataType, Gateway, Line, Machine, MachineType, Site, Tag

SIMULATED_ACTIVITY = {"producing": "producing", "idle": "idle", "setup": "setup", "down": "down_unplanned",
                      "off": "idle"}

DEMO_PASSWORD = "commonworks-demo"


@dataclass(frozen=True)
class DemoOrg:
    name_zh: str
    name_en: str
    credit17: str
    region: str
    industry: str
    size: SizeClass
    kind: OrgKind
    lat: float
    lon: float
    domain: str
    users: tuple[tuple[str, str, Role], ...]


DEMO_ORGS = (
    DemoOrg("长三角工业互联网服务中心", "Yangtze Delta Industrial Internet Service Centre", "12340100MB1A2B3C4",
            "340100", "I65", SizeClass.medium, OrgKind.platform_operator, 31.82, 117.23, "yrd-platform.cn",
            (("operator", "运营 王敏", Role.owner),)),
    DemoOrg("合肥精工数控加工有限公司", "Hefei Jinggong CNC Machining Co., Ltd.", "91340100MA2N0C0Q0",
            "340100", "C3484", SizeClass.small, OrgKind.manufacturer, 31.86, 117.28, "hefei-cnc.cn",
            (("owner", "张伟", Role.owner), ("engineer", "李娜", Role.engineer))),
    DemoOrg("青岛海润精密注塑有限公司", "Qingdao Hairun Precision Injection Moulding Co., Ltd.", "91370200MA3C4D5E6",
            "370200", "C2929", SizeClass.small, OrgKind.manufacturer, 36.07, 120.38, "hairun-mould.cn",
            (("owner", "刘洋", Role.owner), ("engineer", "陈静", Role.engineer))),
    DemoOrg("芜湖恒信钣金制造有限公司", "Wuhu Hengxin Sheet Metal Co., Ltd.", "91340200MA2T7U8W9",
            "340200", "C3311", SizeClass.micro, OrgKind.manufacturer, 31.35, 118.43, "hengxin-sheet.cn",
            (("owner", "赵磊", Role.owner),)),
    DemoOrg("安徽智造数字化咨询有限公司", "Anhui Smart Manufacturing Digital Consulting Co., Ltd.", "91340100MA8P9Q0R1",
            "340100", "M75", SizeClass.micro, OrgKind.service_provider, 31.79, 117.30, "ah-smartmfg.cn",
            (("owner", "孙芳", Role.owner),)),
    DemoOrg("合肥市经济和信息化局", "Hefei Bureau of Economy and Information Technology", "11340100003000000",
            "340100", "S92", SizeClass.medium, OrgKind.government, 31.82, 117.23, "hefei-jxj.gov.cn",
            (("analyst", "周强", Role.viewer),)),
)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    organization: str
    role: Role


def seed(session: Session) -> list[DemoAccount]:
    """Create the demo organizations and users that are missing; return every demo account."""
    accounts: list[DemoAccount] = []
    for spec in DEMO_ORGS:
        credit_code = codes.credit_code_with_check(spec.credit17)
        org = session.scalar(select(Organization).where(Organization.credit_code == credit_code))
        if org is None:
            org = org_service.create(session=session, data=OrgCreate(
                name_zh=spec.name_zh, name_en=spec.name_en, credit_code=credit_code, region_code=spec.region,
                industry_code=spec.industry, size_class=spec.size, kind=spec.kind, latitude=spec.lat,
                longitude=spec.lon))
        for local, name, role in spec.users:
            email = f"{local}@{spec.domain}"
            if session.scalar(select(User.id).where(User.email == email)) is None:
                auth_service.create_user(session=session, org_id=org.id, data=UserCreate(
                    email=email, display_name=name, password=DEMO_PASSWORD, role=role))
            accounts.append(DemoAccount(email=email, password=DEMO_PASSWORD, organization=spec.name_zh, role=role))
    session.flush()
    return accounts


# ---------------------------------------------------------------- simulated factories

TAG_NAMES = {
    "spindle_speed": "主轴转速", "feed_rate": "进给速度", "part_counter": "产量计数", "scrap_counter": "废品计数",
    "program_name": "加工程序", "machinery_item_state": "设备状态", "machinery_item_state_name": "设备状态名称",
    "activity": "当前活动", "alarm_code": "报警代码", "alarm_text": "报警信息", "machine_status": "机器状态",
    "cycle_time": "成型周期", "barrel_temp_1": "料筒温度 1 区", "barrel_temp_2": "料筒温度 2 区",
    "barrel_temp_3": "料筒温度 3 区", "barrel_temp_4": "料筒温度 4 区", "mould_temp": "模具温度",
    "shot_counter": "射胶计数", "good_counter": "良品计数", "mould_number": "模具编号", "heaters_on": "加热开启",
    "cycle_running": "自动循环", "alarm_active": "报警中",
}
UCUM = {"rpm": "/min", "°C": "Cel", "s": "s", "Cel": "Cel", "mm/min": "mm/min"}


@dataclass(frozen=True)
class DemoMachine:
    key: str
    name: str
    machine_type: MachineType
    simulator: str  # "cnc_opcua" or "imm_modbus"
    seed: int
    manufacturer: str
    model: str
    cycle_times: dict[str, float]  # ideal cycle time per part, by the value of the part tag

    @property
    def part_tag(self) -> str:
        """The key of the tag that names the part being made: the CNC's program, the moulder's mould number."""
        return f"{self.key}.{PART_TAGS[self.simulator]}"


PART_TAGS = {"cnc_opcua": "program_name", "imm_modbus": "mould_number"}
IDEAL_SHARE = 0.9
"""Demo ideal cycle times are this share of the simulator's nominal cycle: a machine at its best runs a little
faster than the cycle it is programmed for on average (cycles vary by ±5 %, and one in 25 is slowed by a jam or a
re-clamp), so its effectiveness reads about 0.9 / 1.02 ≈ 0.88 — realistic, and never above 1."""


def cnc_cycle_times(seed: int) -> dict[str, float]:
    """Ideal cycle time (s) of each program the simulated CNC ``seed`` runs, by program name: the nominal cycle
    of its own variant of the program (the catalogue's within ±15 %) × :data:`IDEAL_SHARE`. Worked example: seed
    11 runs O3005-BRACKET at 76.96 s (the catalogue's 70 s × 1.099) → 0.9 × 76.96 = 69.3 s, O2010-HOUSING at
    281.83 s → 253.6 s and O1002-SHAFT at 158.50 s → 142.7 s.

    >>> cnc_cycle_times(11)
    {'O3005-BRACKET': 69.3, 'O2010-HOUSING': 253.6, 'O1002-SHAFT': 142.7}
    """
    from commonworks.connect.simulators.machines import CncModel

    model = CncModel(seed=seed, start=1_767_225_600.0)  # any start: the programs come first from the seed
    return {p.name: round(IDEAL_SHARE * p.cycle_s, 1) for p in model.programs}


def moulder_cycle_times(seed: int) -> dict[str, float]:
    """Ideal cycle time per part (s) of each mould the simulated moulder ``seed`` runs, by mould number (what its
    ``mould_number`` register says: M310-… → 310): shot cycle ÷ cavities × :data:`IDEAL_SHARE`.

    Operations counts a moulder's parts (good + scrap, one per cavity and shot) and multiplies them by the ideal
    cycle time per part of the mould in the machine; a shot cycle there would inflate effectiveness by the number
    of cavities. The moulds a simulated moulder runs depend on its seed alone, so they are read from the simulator
    itself. Worked example: seed 21 runs M310-GEAR-PA66 (26 s a shot, 4 cavities → 6.5 s a part → 5.85 s ideal),
    M101-CAP-28MM-PP (18 s, 8 → 2.25 s → 2.025 s) and M412-CRATE-HDPE (55 s, 1 → 55 s → 49.5 s).

    >>> moulder_cycle_times(21)
    {'310': 5.85, '101': 2.025, '412': 49.5}
    """
    from commonworks.connect.simulators.imm_modbus import _mould_number
    from commonworks.connect.simulators.machines import ImmModel

    model = ImmModel(seed=seed, start=1_767_225_600.0)  # any start: the choice of moulds comes first from the seed
    return {str(_mould_number(m.name)): round(IDEAL_SHARE * m.cycle_s / m.cavities, 3) for m in model.moulds}


@dataclass(frozen=True)
class DemoFactory:
    credit17: str
    site: str
    line: str
    gateway_key: str
    machines: tuple[DemoMachine, ...]


FACTORIES = (
    # ideal cycle times per program (CNC) or mould number (moulder), read from the simulators (see cnc_cycle_times,
    # moulder_cycle_times); each machine's part tag says which one is in the machine
    DemoFactory("91340100MA2N0C0Q0", "合肥高新区厂区", "机加一线", "gw-hefei-cnc", (
        DemoMachine("cnc-01", "立式加工中心 1 号", MachineType.machining_centre, "cnc_opcua", 11, "海天精工", "VMC850",
                    cnc_cycle_times(11)),
        DemoMachine("cnc-02", "立式加工中心 2 号", MachineType.machining_centre, "cnc_opcua", 12, "海天精工", "VMC1160",
                    cnc_cycle_times(12)),
        DemoMachine("cnc-03", "数控车床 1 号", MachineType.cnc_lathe, "cnc_opcua", 13, "沈阳机床", "i5T3",
                    cnc_cycle_times(13)))),
    DemoFactory("91370200MA3C4D5E6", "青岛城阳厂区", "注塑车间", "gw-qingdao-imm", (
        DemoMachine("imm-01", "注塑机 1 号 160T", MachineType.injection_moulding, "imm_modbus", 21, "海天", "MA1600",
                    moulder_cycle_times(21)),
        DemoMachine("imm-02", "注塑机 2 号 250T", MachineType.injection_moulding, "imm_modbus", 22, "海天", "MA2500",
                    moulder_cycle_times(22)),
        DemoMachine("imm-03", "注塑机 3 号 120T", MachineType.injection_moulding, "imm_modbus", 23, "伊之密", "UN120A5",
                    moulder_cycle_times(23)))),
    DemoFactory("91340200MA2T7U8W9", "芜湖经开区厂区", "钣金线", "gw-wuhu-sheet", (
        DemoMachine("laser-01", "光纤激光切割机", MachineType.laser_cutter, "cnc_opcua", 31, "大族激光", "G3015HF",
                    cnc_cycle_times(31)),
        DemoMachine("pb-01", "数控折弯机", MachineType.press_brake, "cnc_opcua", 32, "亚威", "PBH-110",
                    cnc_cycle_times(32)))),
)


def _tag_type(tag: dict[str, Any]) -> DataType:
    kind = str(tag.get("data_type") or tag.get("type") or "")
    if kind in ("String", "string"):
        return DataType.string
    if kind == "bool":
        return DataType.bool
    if kind in ("Double", "Float", "float32") or tag.get("scale", 1) != 1:
        return DataType.float
    return DataType.int


def _device(machine: DemoMachine, port: int) -> dict[str, Any]:
    if machine.simulator == "cnc_opcua":
        from commonworks.connect.simulators.cnc_opcua import gateway_device as cnc_device

        return cnc_device(machine.key, "127.0.0.1", port)
    from commonworks.connect.simulators.imm_modbus import gateway_device as imm_device

    return imm_device(machine.key, "127.0.0.1", port)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


DEMO_SHIFTS = [{"name": "早班", "start": "08:00", "end": "16:00", "days": [1, 2, 3, 4, 5, 6, 7],
                "breaks": [["12:00", "12:45"]]},
               {"name": "中班", "start": "16:00", "end": "00:00", "days": [1, 2, 3, 4, 5, 6, 7],
                "breaks": [["20:00", "20:30"]]}]


def _seed_operations(session: Session, org_id: int, site_id: int) -> None:
    """The standard reason tree, the simulators' two-shift calendar and a few alarm rules (once)."""
    from commonworks.operations.models import AlarmRule, Severity, ShiftCalendar
    from commonworks.operations.service import install_standard_reasons

    install_standard_reasons(session, org_id)
    if session.scalar(select(ShiftCalendar.id).where(ShiftCalendar.org_id == org_id)) is None:
        session.add(ShiftCalendar(org_id=org_id, name="两班制", timezone="Asia/Shanghai", site_id=site_id,
                                  shifts=DEMO_SHIFTS, exceptions=[]))
    if session.scalar(select(AlarmRule.id).where(AlarmRule.org_id == org_id)) is None:
        session.add_all([
            AlarmRule(org_id=org_id, name="设备故障超过 30 分钟", kind="state_duration", state="down_unplanned",
                      duration_s=1800, severity=Severity.critical),
            AlarmRule(org_id=org_id, name="设备无数据", kind="no_data", duration_s=300, severity=Severity.warning),
            AlarmRule(org_id=org_id, name="报警代码", kind="threshold", tag="alarm_code", limit=0, delay_s=0,
                      severity=Severity.warning),
        ])
    session.flush()


def seed_factories(session: Session, directory: Path, platform_url: str) -> list[Path]:
    """Plants, machines, tags and a gateway per demo factory, plus the YAML to run their simulators and
    gateways; returns [simulate.yaml, gateway yaml …]. Credentials are kept in ``directory`` (0600)."""
    from commonworks.telemetry.service import new_gateway_token

    directory.mkdir(parents=True, exist_ok=True)
    credentials_path = directory / "credentials.json"
    credentials: dict[str, str] = json.loads(credentials_path.read_text()) if credentials_path.exists() else {}
    simulate: dict[str, Any] = {"speed": 1.0, "in_shift": True, "cnc_opcua": [], "imm_modbus": []}
    gateway_files = []
    for factory in FACTORIES:
        org = session.scalar(select(Organization).where(
            Organization.credit_code == codes.credit_code_with_check(factory.credit17)))
        assert org is not None, "seed() first"
        site = session.scalar(select(Site).where(Site.org_id == org.id, Site.name == factory.site))
        if site is None:
            site = Site(org_id=org.id, name=factory.site, timezone="Asia/Shanghai")
            session.add(site)
            session.flush()
        line = session.scalar(select(Line).where(Line.site_id == site.id, Line.name == factory.line))
        if line is None:
            line = Line(org_id=org.id, site_id=site.id, name=factory.line)
            session.add(line)
            session.flush()
        _seed_operations(session, org.id, site.id)
        devices = []
        for m in factory.machines:
            port = _free_port()
            simulate[m.simulator].append({"name": m.key, "port": port, "seed": m.seed})
            device = _device(m, port)
            devices.append(device)
            machine = session.scalar(select(Machine).where(Machine.org_id == org.id, Machine.key == m.key))
            created = machine is None
            if machine is None:
                machine = Machine(org_id=org.id, line_id=line.id, key=m.key, name=m.name, machine_type=m.machine_type,
                                  manufacturer=m.manufacturer, model=m.model, ideal_cycle_times=m.cycle_times)
                session.add(machine)
                session.flush()
            if m.simulator == "cnc_opcua" and session.scalar(
                    select(StateRuleRow.id).where(StateRuleRow.machine_id == machine.id)) is None:
                # OPC 40001-1 alone cannot tell a changeover from waiting (both NotExecuting); the simulated
                # controllers also publish their activity, as many real ones do in a vendor variable.
                session.add(StateRuleRow(org_id=org.id, machine_id=machine.id, kind="map", state_tag="activity",
                                         mapping=SIMULATED_ACTIVITY))
            known = set(session.scalars(select(Tag.key).where(Tag.org_id == org.id)))
            for tag in device["tags"]:
                if tag["key"] in known:
                    continue
                suffix = tag["key"].split(".", 1)[1]
                session.add(Tag(org_id=org.id, machine_id=machine.id, key=tag["key"],
                                name=TAG_NAMES.get(suffix, suffix), unit=UCUM.get(str(tag.get("unit")), "1"),
                                data_type=_tag_type(tag),
                                source=str(tag.get("node") or f"{tag.get('kind')} register {tag.get('address')}")))
            if created:  # its part tag, once the tag exists (a machine seeded earlier is left as it is)
                session.flush()
                machine.part_tag_key = m.part_tag
        gateway = session.scalar(select(Gateway).where(Gateway.key == factory.gateway_key))
        token = credentials.get(factory.gateway_key)
        if gateway is None or token is None or gateway.revoked_at is not None:
            token, prefix, digest = new_gateway_token()
            if gateway is None:
                gateway = Gateway(org_id=org.id, key=factory.gateway_key, name=f"{factory.site} 网关",
                                  token_hash=digest, token_prefix=prefix)
                session.add(gateway)
            else:
                gateway.token_hash, gateway.token_prefix, gateway.revoked_at = digest, prefix, None
            credentials[factory.gateway_key] = token
        config = {"gateway": {"key": factory.gateway_key,
                              "platform": {"transport": "http", "url": platform_url, "token": token},
                              "buffer": {"path": str((directory / factory.gateway_key / "buffer.db").resolve())},
                              "status": {"host": "127.0.0.1", "port": _free_port()}},
                  "devices": devices}
        path = directory / f"{factory.gateway_key}.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        path.chmod(0o600)
        gateway_files.append(path)
    session.flush()
    credentials_path.write_text(json.dumps(credentials, indent=2))
    credentials_path.chmod(0o600)
    simulate_path = directory / "simulate.yaml"
    simulate_path.write_text(yaml.safe_dump(simulate, sort_keys=False))
    return [simulate_path, *gateway_files]


# ---------------------------------------------------------------- the network

# What the demo factories offer the network: (credit17, description zh, description en, certifications,
# [(process, materials, envelope, tolerance, finish, price/h, machine keys)])
NETWORK_PROFILES = (
    ("91340100MA2N0C0Q0", "合肥高新区数控加工厂：立式加工中心与数控车床，铝合金、不锈钢、碳钢精密零件，"
     "支架、端盖、壳体、轴套，小批量多品种，两班生产。",
     "CNC job shop in Hefei: vertical machining centres and CNC lathes; precision aluminium, stainless and steel "
     "parts (brackets, covers, housings, bushes), small batches, two shifts.",
     ["iso_9001"],
     [("milling", ["aluminium", "stainless", "steel"], (1100, 600, 600), 0.01, 1.6, 180.0, ["cnc-01", "cnc-02"]),
      ("turning", ["aluminium", "stainless", "steel", "copper"], (300, 300, 500), 0.01, 1.6, 150.0, ["cnc-03"])]),
    ("91370200MA3C4D5E6", "青岛城阳注塑厂：120T–250T 注塑机，ABS、PC、PP、PA66 外壳、面板、卡扣，自有模具维护。",
     "Injection moulder in Qingdao: 120–250 t machines; ABS, PC, PP and PA66 housings, panels and clips; "
     "in-house mould maintenance.",
     ["iso_9001", "iatf_16949"],
     [("injection_moulding", ["abs", "pc", "pp", "pa66"], (600, 500, 400), 0.05, 0.8, 120.0,
       ["imm-01", "imm-02", "imm-03"])]),
    ("91340200MA2T7U8W9", "芜湖经开区钣金厂：光纤激光切割、数控折弯，碳钢、不锈钢机柜与钣金件。",
     "Sheet-metal shop in Wuhu: fibre laser cutting and CNC bending of steel and stainless cabinets and parts.",
     ["iso_9001"],
     [("laser_cutting", ["steel", "stainless", "aluminium"], (3000, 1500, 20), 0.1, 6.3, 220.0, ["laser-01"]),
      ("bending", ["steel", "stainless", "aluminium"], (3100, 1500, 200), 0.2, None, 160.0, ["pb-01"])]),
)
SYNTHETIC_SUPPLIERS = 40  # published suppliers from the seeded generator, so a buyer's RFQ has alternatives


def seed_network(session: Session, *, now_ms: int) -> None:
    """Network profiles and capabilities of the demo factories (attached to their machines) with their
    spare hours published, and a seeded network of other suppliers around them (once)."""
    from datetime import UTC, datetime

    from commonworks.network import seed as network_seed
    from commonworks.network.models import Capability, NetworkProfile
    from commonworks.network.service import capacity_report, publish_offers

    for credit17, zh, en, certs, capabilities in NETWORK_PROFILES:
        org = session.scalar(select(Organization).where(
            Organization.credit_code == codes.credit_code_with_check(credit17)))
        if org is None or session.scalar(select(NetworkProfile.id).where(NetworkProfile.org_id == org.id)):
            continue
        session.add(NetworkProfile(org_id=org.id, published=True, description_zh=zh, description_en=en,
                                   certifications=certs, lead_time_days=7))
        machines = dict(session.execute(select(Machine.key, Machine.id).where(Machine.org_id == org.id)).all())
        rows = [Capability(org_id=org.id, process=process, materials=materials, envelope_x_mm=envelope[0],
                           envelope_y_mm=envelope[1], envelope_z_mm=envelope[2], tolerance_mm=tolerance,
                           finish_ra_um=finish, price_per_hour=price, hours_per_day=None if machines else 16.0,
                           machine_ids=[machines[k] for k in keys if k in machines])
                for process, materials, envelope, tolerance, finish, price, keys in capabilities]
        session.add_all(rows)
        session.flush()
        report = capacity_report(session, org.id, now_ms=now_ms)  # one report serves every capability
        for row in rows:
            publish_offers(session, row, share=0.8, now_ms=now_ms, report=report)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    network_seed.store(session, SYNTHETIC_SUPPLIERS, seed=2026, today=today)
