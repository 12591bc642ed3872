"""How the network pages name, group, check and chart things (pure: no database, no UI).

Labels are message ids (translated where they are shown); the taxonomy's own zh/en names
are used for processes, materials, certifications and finishes. The demand form shows the
fields of the chosen kind only and checks what that kind needs before the API's schema does,
so a missing field gets its message under the field itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from commonworks.network.schemas import CapacityDay, MatchOut, Progress
from commonworks.network.taxonomy import taxonomy
from commonworks.web.layout import N_, PRIMARY, Translate


@dataclass(frozen=True)
class Look:
    label: str  # message id
    color: str  # Quasar colour name


KIND_LABELS = {
    "part_rfq": N_("Part RFQ"),
    "material": N_("Material procurement"),
    "technical": N_("Technical problem"),
    "service": N_("Service request"),
}
KIND_ICONS = {
    "part_rfq": "precision_manufacturing",
    "material": "inventory_2",
    "technical": "psychology",
    "service": "support_agent",
}
SERVICE_KINDS = {"consulting": N_("Consulting"), "training": N_("Training")}
DEMAND_STATUSES = {
    "draft": Look(N_("Draft"), "grey-6"),
    "open": Look(N_("Open for quotes"), "positive"),
    "awarded": Look(N_("Awarded"), "primary"),
    "closed": Look(N_("Closed"), "grey-7"),
    "cancelled": Look(N_("Cancelled"), "grey-5"),
}
QUOTE_STATUSES = {
    "submitted": Look(N_("Submitted"), "blue-7"),
    "accepted": Look(N_("Accepted"), "positive"),
    "rejected": Look(N_("Not chosen"), "grey-6"),
    "withdrawn": Look(N_("Withdrawn"), "grey-5"),
}
ORDER_STATUSES = {
    "open": Look(N_("Waiting for production"), "orange-8"),
    "in_production": Look(N_("In production"), "primary"),
    "delivered": Look(N_("Delivered"), "teal-7"),
    "accepted": Look(N_("Completed"), "positive"),
    "cancelled": Look(N_("Cancelled"), "grey-5"),
}
CONSTRAINT_LABELS = {
    "process": N_("Process"),
    "material": N_("Material"),
    "envelope": N_("Work envelope"),
    "tolerance": N_("Tolerance"),
    "finish": N_("Surface finish"),
    "batch": N_("Batch size"),
    "certification": N_("Certifications"),
    "capacity": N_("Capacity before the due date"),
}
CHECK_TEXTS = {  # a constraint's reason (matching.Check.code) → message id with its values
    "process.covers": N_("{have} covers {need}"),
    "process.not_covered": N_("{have} does not cover {need}"),
    "material.works": N_("works {material}"),
    "material.covers": N_("works {by}, which covers {material}"),
    "material.missing": N_("{material} not worked (offers {offered})"),
    "envelope.unlimited": N_("no envelope limit for {need} mm"),
    "envelope.fits": N_("envelope {have} ≥ {need} mm"),
    "envelope.too_small": N_("envelope {have} too small for {need} mm"),
    "tolerance.unpublished": N_("no tolerance published (±{asked} mm asked)"),
    "tolerance.ok": N_("best tolerance ±{best} ≤ ±{asked} mm asked"),
    "tolerance.too_coarse": N_("best tolerance ±{best} > ±{asked} mm asked"),
    "finish.unpublished": N_("no surface finish published (Ra {asked} µm asked)"),
    "finish.ok": N_("best finish Ra {best} ≤ Ra {asked} µm asked"),
    "finish.too_rough": N_("best finish Ra {best} > Ra {asked} µm asked"),
    "batch.within": N_("quantity {quantity} within batch {limit}"),
    "batch.below": N_("quantity {quantity} below the minimum batch {minimum}"),
    "batch.above": N_("quantity {quantity} above the maximum batch {maximum}"),
    "certification.holds": N_("holds {certifications}"),
    "certification.missing": N_("missing {certifications}"),
    "capacity.enough": N_("free {free} h before {horizon} ≥ {hours} h needed"),
    "capacity.short": N_("free {free} h before {horizon} < {hours} h needed"),
}


def check_text(code: str, args: Mapping[str, Any], detail: str, lang: str, _: Translate) -> str:
    """A constraint's reason in the page's language: taxonomy codes by their names, numbers as sent.

    >>> check_text("material.covers", {"by": "steel", "material": "steel_q235"}, "", "zh_CN", lambda m: m)
    'works 钢, which covers Q235 碳素结构钢'
    >>> check_text("capacity.short", {"free": "3", "day": 28, "horizon_end": True, "hours": "8"}, "", "en",
    ...            lambda m: m)
    'free 3 h before day 28 (end of the published days) < 8 h needed'
    >>> check_text("unknown.code", {}, "as the API said", "en", lambda m: m)
    'as the API said'
    """
    template = CHECK_TEXTS.get(code)
    if template is None:
        return detail
    t, loc = taxonomy(), tax_locale(lang)
    values: dict[str, Any] = dict(args)
    for key in ("have", "need") if code.startswith("process.") else ():
        values[key] = t.name(values[key], loc)
    for key in ("material", "by"):
        if key in values:
            values[key] = t.name(values[key], loc)
    separator = "、" if lang.startswith("zh") else ", "
    if "offered" in values:
        values["offered"] = separator.join(t.name(m, loc) for m in values["offered"]) or _("none listed")
    if "certifications" in values:
        values["certifications"] = separator.join(t.certifications[c].name if c in t.certifications else c
                                             for c in values["certifications"])
    if "day" in values:
        horizon = _("day {day} (end of the published days)") if values.get("horizon_end") else _("day {day}")
        values["horizon"] = horizon.format(day=values["day"])
    try:
        return _(template).format(**values)
    except (KeyError, IndexError):  # a catalog entry naming a value this reason lacks: the English detail
        return detail


COMPONENT_LOOKS = {  # score components: label and chart colour
    "text": (N_("Text relevance"), "#1d4f91"),
    "distance": (N_("Distance"), "#00897b"),
    "price": (N_("Price"), "#f9a825"),
    "reputation": (N_("Reputation"), "#8e24aa"),
    "capacity": (N_("Capacity slack"), "#43a047"),
}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
CAPACITY_COLORS = {
    "booked": "#78909c",
    "expected": "#ffb74d",
    "free": "#66bb6a",
    "shift": "#37474f",
    "published": PRIMARY,
}


def tax_locale(lang: str) -> str:
    """The taxonomy's locale ("zh"/"en") for a UI language."""
    return "zh" if lang == "zh_CN" else "en"


def _short_group(name: str) -> str:
    """``原型/成形 (铸造、注塑)`` → ``原型/成形``: the group's name without its examples."""
    return name.split(" (")[0].split("（")[0].strip()


def process_options(lang: str) -> dict[str, str]:
    """Every process, grouped by its DIN 8580 main group (in the groups' order), labelled
    ``group › process`` or ``group › parent › process``.

    >>> options = process_options("zh_CN")
    >>> options["milling_5axis"]
    '分离/切削 › 铣削 › 五轴加工'
    >>> list(options)[0], process_options("en")["turning"]
    ('casting', 'Separating › Turning')
    """
    t, loc = taxonomy(), tax_locale(lang)
    out: dict[str, str] = {}
    for group in t.groups.values():
        head = _short_group(group.name(loc))
        for code in t.processes_in(group.code):
            names = [t.processes[c].name(loc) for c in reversed(t.process_lineage(code))]
            out[code] = " › ".join([head, *names])
    return out


def material_options(lang: str) -> dict[str, str]:
    loc = tax_locale(lang)
    return {code: term.name(loc) for code, term in taxonomy().materials.items()}


def certification_options(lang: str) -> dict[str, str]:
    """``iso_9001`` → ``ISO 9001 · 质量管理体系``."""
    zh = lang == "zh_CN"
    return {c.code: f"{c.name} · {c.zh if zh else c.en}" for c in taxonomy().certifications.values()}


def finish_options(lang: str) -> dict[float, str]:
    """Surface finish classes by Ra (µm), finest first."""
    zh = lang == "zh_CN"
    return {f.ra_um: f.zh if zh else f.en for f in taxonomy().finishes.values()}


def term_name(code: str | None, lang: str) -> str:
    """A process, material or certification code in the page's language (an unknown code as it is)."""
    if not code:
        return "—"
    try:
        return taxonomy().name(code, tax_locale(lang))
    except KeyError:
        return code


# ---------------------------------------------------------------- numbers


def num(value: float | None) -> str:
    """``1200.0`` → ``1,200``; ``0.05`` → ``0.05``; None → ``—``."""
    if value is None:
        return "—"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def money(value: float | None) -> str:
    """CNY with thousands separators: ``26000`` → ``¥26,000``; ``180.5`` → ``¥180.50``."""
    if value is None:
        return "—"
    return f"¥{value:,.0f}" if value == int(value) else f"¥{value:,.2f}"


def envelope_text(x: float | None, y: float | None, z: float | None) -> str | None:
    """``800 × 500 × 500 mm`` (None when no dimension is given; a missing one reads ``—``)."""
    if x is None and y is None and z is None:
        return None
    return " × ".join(num(v) for v in (x, y, z)) + " mm"


def batch_text(low: int, high: int | None) -> str:
    return f"{low:,} – {high:,}" if high is not None else f"≥ {low:,}"


def day_label(_: Translate, day: date) -> str:
    """``11-27 Fri`` in the page's language."""
    return f"{day:%m-%d} {_(WEEKDAYS[day.weekday()])}"


def share_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


# ---------------------------------------------------------------- order progress


def made_text(progress: Progress | None, quantity: int) -> str:
    """``35 / 500`` (parts counted of the quantity); ``— / 500`` before counting starts."""
    return f"{progress.made:,} / {quantity:,}" if progress is not None else f"— / {quantity:,}"


def on_track_look(progress: Progress | None, status: str = "in_production") -> tuple[str, str]:
    """(message id, colour) of the on-track verdict; a delivered order is counted no more.

    >>> on_track_look(None)
    ('Finish not known yet', 'grey-6')
    >>> on_track_look(Progress(made=35, quantity=500, percent=7.0, rate_per_hour=600.0, expected_finish_ms=1,
    ...                        last_count_ms=1, on_track=False))
    ('Late for the due date', 'negative')
    """
    if status in ("delivered", "accepted"):
        return N_("Counting ended at delivery"), "teal-7"
    if progress is None or progress.on_track is None:
        return N_("Finish not known yet"), "grey-6"
    return (
        (N_("On track for the due date"), "positive")
        if progress.on_track
        else (N_("Late for the due date"), "negative")
    )


# ---------------------------------------------------------------- the demand form

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "part_rfq": (
        "title",
        "description",
        "process",
        "material",
        "quantity",
        "envelope_x_mm",
        "envelope_y_mm",
        "envelope_z_mm",
        "tolerance_mm",
        "finish_ra_um",
        "certifications",
        "hours",
        "due_date",
        "budget",
        "delivery_place",
        "allow_split",
    ),
    "material": (
        "title",
        "description",
        "material",
        "specification",
        "quantity",
        "unit",
        "due_date",
        "budget",
        "delivery_place",
        "allow_split",
    ),
    "technical": ("title", "description", "due_date", "budget"),
    "service": ("title", "description", "service_kind", "due_date", "budget", "delivery_place"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "part_rfq": ("title", "process", "quantity", "due_date"),
    "material": ("title", "quantity", "due_date"),
    "technical": ("title", "description"),
    "service": ("title", "service_kind"),
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def demand_values(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """What the form sends for ``kind``: only that kind's fields, blanks as None (lists stay lists).

    >>> demand_values("technical", {"title": " 缩痕 ", "description": "PA66", "process": "milling", "budget": None})
    {'kind': 'technical', 'title': '缩痕', 'description': 'PA66', 'due_date': None, 'budget': None}
    """
    out: dict[str, Any] = {"kind": kind}
    for field in KIND_FIELDS[kind]:
        value = values.get(field)
        if isinstance(value, str):
            value = value.strip()
        if field == "certifications":
            out[field] = list(value or [])
        elif field == "allow_split":
            out[field] = bool(value)
        else:
            out[field] = None if _blank(value) else value
    return out


def missing_fields(kind: str, values: Mapping[str, Any]) -> list[str]:
    """The fields ``kind`` needs that are empty (a material demand needs a material *or* a specification:
    both are named when both are empty).

    >>> missing_fields("part_rfq", {"title": "支架", "process": "milling", "quantity": 500})
    ['due_date']
    >>> missing_fields("material", {"title": "铝板", "quantity": 2, "due_date": "2026-12-01"})
    ['material', 'specification']
    """
    missing = [f for f in REQUIRED[kind] if _blank(values.get(f))]
    if kind == "material" and _blank(values.get("material")) and _blank(values.get("specification")):
        missing += ["material", "specification"]
    return missing


# ---------------------------------------------------------------- charts


def capacity_options(_: Translate, days: Sequence[CapacityDay]) -> dict[str, Any]:
    """Hours per day, stacked up to the shift: booked, expected load, free; the shift hours and the published
    hours as lines.

    >>> from datetime import date
    >>> o = capacity_options(lambda s: s, [CapacityDay(day=date(2026, 11, 27), shift_h=7.5, booked_h=2,
    ...                                                expected_h=3, free_h=2.5, published_h=1.0)])
    >>> [(s["name"], s["data"]) for s in o["series"]]
    [('Booked', [2.0]), ('Expected load', [3.0]), ('Free', [2.5]), ('Shift hours', [7.5]), ('Published', [1.0])]
    >>> o["xAxis"]["data"]
    ['11-27 Fri']
    """
    categories = [day_label(_, d.day) for d in days]
    stacked = [
        ("booked", N_("Booked"), [d.booked_h for d in days]),
        ("expected", N_("Expected load"), [d.expected_h for d in days]),
        ("free", N_("Free"), [d.free_h for d in days]),
    ]
    series: list[dict[str, Any]] = [
        {
            "id": key,
            "name": _(label),
            "type": "bar",
            "stack": "hours",
            "barMaxWidth": 22,
            "data": values,
            "itemStyle": {"color": CAPACITY_COLORS[key]},
            "emphasis": {"focus": "series"},
        }
        for key, label, values in stacked
    ]
    series.append(  # the stack reaches the shift unless booked + expected exceed it (nothing is free then)
        {
            "id": "shift",
            "name": _("Shift hours"),
            "type": "line",
            "step": "middle",
            "symbol": "none",
            "data": [d.shift_h for d in days],
            "lineStyle": {"width": 1.5, "type": "dashed", "color": CAPACITY_COLORS["shift"]},
            "itemStyle": {"color": CAPACITY_COLORS["shift"]},
        }
    )
    if any(d.published_h is not None for d in days):
        series.append(
            {
                "id": "published",
                "name": _("Published"),
                "type": "line",
                "step": "middle",
                "symbol": "circle",
                "symbolSize": 5,
                "data": [d.published_h for d in days],
                "lineStyle": {"width": 2, "color": CAPACITY_COLORS["published"]},
                "itemStyle": {"color": CAPACITY_COLORS["published"]},
            }
        )
    return {
        "animation": False,
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "right": 8, "textStyle": {"color": "#546e7a"}},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {
            "type": "category",
            "data": categories,
            "axisTick": {"show": False},
            "axisLabel": {"color": "#546e7a", "interval": 0, "rotate": 45, "fontSize": 10},
        },
        "yAxis": {
            "type": "value",
            "name": _("hours"),
            "nameTextStyle": {"color": "#546e7a"},
            "axisLabel": {"color": "#546e7a"},
            "splitLine": {"lineStyle": {"color": "#eceff1"}},
        },
        "series": series,
    }


def score_options(_: Translate, matches: Iterable[MatchOut]) -> dict[str, Any]:
    """The score breakdown of every match as one stacked horizontal bar (weight × normalised value per
    component, summing to the score); rank 1 at the top.

    >>> from commonworks.network.schemas import ComponentOut
    >>> m = MatchOut(rank=1, enterprise_id=7, name="甲", region=None, score=0.6, capability_id=1, process="milling",
    ...              distance_km=None, price_per_hour=None, free_hours_before_due=None, reputation=None,
    ...              reputation_basis="", constraints=[], components=[
    ...                  ComponentOut(name="text", raw=3.0, normalised=1.0, weight=0.4, contribution=0.4),
    ...                  ComponentOut(name="price", raw=None, normalised=0.5, weight=0.4, contribution=0.2)])
    >>> o = score_options(lambda s: s, [m])
    >>> o["yAxis"]["data"], [(s["name"], s["data"]) for s in o["series"]]
    (['#1 甲'], [('Text relevance', [0.4]), ('Price', [0.2])])
    """
    rows = list(matches)
    names = [key for key in COMPONENT_LOOKS if any(c.name == key for m in rows for c in m.components)]
    names += sorted({c.name for m in rows for c in m.components} - set(names))
    series = []
    for key in names:
        label, color = COMPONENT_LOOKS.get(key, (key, "#90a4ae"))
        values = []
        for m in rows:
            found = next((c for c in m.components if c.name == key), None)
            values.append(round(found.contribution, 4) if found is not None else 0.0)
        series.append(
            {
                "id": key,
                "name": _(label),
                "type": "bar",
                "stack": "score",
                "barMaxWidth": 18,
                "data": values,
                "itemStyle": {"color": color},
            }
        )
    return {
        "animation": False,
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "left": 0, "textStyle": {"color": "#546e7a"}},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {
            "type": "value",
            "min": 0,
            "max": 1,
            "axisLabel": {"color": "#546e7a"},
            "splitLine": {"lineStyle": {"color": "#eceff1"}},
        },
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [f"#{m.rank} {m.name}" for m in rows],
            "axisTick": {"show": False},
            "axisLabel": {"color": "#37474f", "width": 160, "overflow": "truncate"},
        },
        "series": series,
    }
