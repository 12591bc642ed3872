"""The standard downtime reason tree a tenant can install and then extend (codes, zh/en names, losses)."""

from __future__ import annotations

from commonworks.operations.models import LossKind, ReasonCategory

C, L = ReasonCategory, LossKind

# (code, 中文, English, category, loss, children as (code, 中文, English[, category, loss]))
STANDARD: list[tuple[str, str, str, ReasonCategory, LossKind, list[tuple]]] = [  # type: ignore[type-arg]
    ("PLAN", "计划停机", "Planned stop", C.planned, L.planned, [
        ("PLAN-BREAK", "休息/用餐", "Break"),
        ("PLAN-PM", "计划保养", "Planned maintenance"),
        ("PLAN-MEET", "会议/培训", "Meeting or training"),
        ("PLAN-NOORDER", "无订单", "No orders", C.no_orders, L.planned),
    ]),
    ("BRK", "设备故障", "Breakdown", C.unplanned, L.breakdown, [
        ("BRK-MECH", "机械故障", "Mechanical failure"),
        ("BRK-ELEC", "电气故障", "Electrical failure"),
        ("BRK-HYD", "液压/气动故障", "Hydraulic or pneumatic failure"),
        ("BRK-TOOL", "刀具/模具损坏", "Tool or mould damage"),
        ("BRK-CTRL", "控制系统/程序报警", "Control system alarm"),
    ]),
    ("CHG", "换型换模", "Changeover", C.changeover, L.setup_adjustment, [
        ("CHG-PROG", "换程序与调试", "Program change and adjustment"),
        ("CHG-MOULD", "换模", "Mould or die change"),
        ("CHG-FIRST", "首件检验", "First-article inspection"),
    ]),
    ("MAT", "物料问题", "Material", C.material, L.breakdown, [
        ("MAT-WAIT", "等待物料", "Waiting for material"),
        ("MAT-BAD", "来料不良", "Defective incoming material"),
    ]),
    ("QUA", "质量问题", "Quality", C.quality, L.production_rejects, [
        ("QUA-ADJ", "质量调整", "Quality adjustment"),
        ("QUA-START", "开机调试废品", "Start-up rejects", C.quality, L.startup_rejects),
    ]),
    ("PER", "人员", "Personnel", C.personnel, L.breakdown, [
        ("PER-ABSENT", "缺员", "Operator absent"),
    ]),
    ("MIC", "短暂停机", "Minor stop", C.other, L.small_stops, []),
]
