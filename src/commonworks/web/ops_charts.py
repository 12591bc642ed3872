"""ECharts options of the operations pages (pure: plain data in, a dict out).

* :func:`timeline_options` — a machine's states as coloured bars on a time axis (a custom
  series per state), times in the site's zone as in the trend, zoomable;
* :func:`waterfall_options` — the ISO 22400 time model as a (horizontal) waterfall: planned busy time,
  minus setup, idle, down and offline time, gives the actual production time; minus the
  speed loss gives the ideal time of what was made; minus the quality loss, the fully
  productive time (= OEE × planned busy time);
* :func:`pareto_options` — downtime groups as bars, largest first, with the cumulative share.

Every chart is drawn without animation (screenshots and tests see the final picture), and
text that came from users (reason names, notes) is escaped before it goes into a tooltip.
"""

from __future__ import annotations

from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from commonworks.web.charts import TIME_LABELS, wall_clock
from commonworks.web.common import local_time
from commonworks.web.layout import N_, PRIMARY, Translate
from commonworks.web.ops_data import StateSpan
from commonworks.web.ops_format import STATE_LOOKS, duration, percent, state_look

AXIS = {"axisLabel": {"color": "#546e7a"}, "axisLine": {"lineStyle": {"color": "#b0bec5"}}}
SPLIT = {"lineStyle": {"color": "#eceff1"}}

# one rectangle per interval, clipped to the plot (a Gantt row); x holds [start, end]
_RENDER_INTERVAL = (
    "(params, api) => { const a = api.coord([api.value(0), 0]); const b = api.coord([api.value(1), 0]);"
    " const h = api.size([0, 1])[1] * 0.62; const c = params.coordSys;"
    " const x0 = Math.max(a[0], c.x), x1 = Math.min(b[0], c.x + c.width); if (x1 <= x0) return;"
    " return {type: 'rect', shape: {x: x0, y: a[1] - h / 2, width: Math.max(x1 - x0, 0.6), height: h},"
    " style: api.style()}; }"
)
_TIP = "(p) => (p && p.data && p.data.tip) || ''"


def _tip(_: Translate, span: StateSpan, lang: str, tz: str) -> str:
    look = state_look(span.state)
    lines = [f"<b style='color:{look.color}'>●</b> <b>{escape(_(look.label))}</b>",
             f"{local_time(span.start_ms, tz)} – {local_time(span.end_ms, tz)}",
             escape(_("Duration: {duration}").format(duration=duration(_, span.seconds)))]
    if span.reason is not None:
        lines.append(escape(_("Reason: {reason}").format(reason=f"{span.reason.code} {span.reason.path(lang)}")))
    if span.note:
        lines.append(escape(_("Note: {note}").format(note=span.note)))
    return "<br/>".join(lines)


def timeline_options(_: Translate, spans: list[StateSpan], *, lang: str, tz: str, start: int,
                     end: int) -> dict[str, Any]:
    """The state timeline over [start, end): one custom series per state (the page lists the states)."""
    zone = ZoneInfo(tz)
    series = []
    for state, look in STATE_LOOKS.items():
        data = [{"value": [wall_clock(s.start_ms, zone), wall_clock(s.end_ms, zone), 0], "tip": _tip(_, s, lang, tz)}
                for s in spans if s.state == state]
        series.append({
            "id": state, "name": _(look.label), "type": "custom", ":renderItem": _RENDER_INTERVAL,
            "itemStyle": {"color": look.color}, "encode": {"x": [0, 1], "y": 2},
            "dimensions": [{"name": "start", "type": "time"}, {"name": "end", "type": "time"},
                           {"name": "row", "type": "number"}],
            "data": data,
        })
    return {
        "animation": False,
        "grid": {"left": 12, "right": 24, "top": 12, "bottom": 40, "containLabel": True},
        "tooltip": {"trigger": "item", ":formatter": _TIP},
        "xAxis": {"type": "time", "min": wall_clock(start, zone), "max": wall_clock(end, zone),
                  "axisLabel": {"hideOverlap": True, "color": "#546e7a", "formatter": TIME_LABELS},
                  "axisLine": {"lineStyle": {"color": "#b0bec5"}}, "splitLine": {"show": True, **SPLIT}},
        "yAxis": {"type": "category", "data": [""], "axisTick": {"show": False}, "axisLine": {"show": False}},
        "dataZoom": [{"type": "inside", "filterMode": "weakFilter"},
                     {"type": "slider", "filterMode": "weakFilter", "height": 14, "bottom": 6, "showDetail": False}],
        "series": series,
    }


# ---------------------------------------------------------------- OEE waterfall

WATERFALL_STEPS = {
    "pbt": N_("Planned busy time"),
    "setup": N_("Setup"),
    "idle": N_("Idle"),
    "down": N_("Unplanned down"),
    "offline": N_("Offline"),
    "apt": N_("Actual production time"),
    "speed": N_("Speed loss"),
    "quality": N_("Quality loss"),
    "fpt": N_("Fully productive time"),
}
_TOTAL_COLORS = {"pbt": PRIMARY, "apt": "#2e7d32", "fpt": "#1b5e20"}
_LOSS_COLORS = {"setup": STATE_LOOKS["setup"].color, "idle": STATE_LOOKS["idle"].color,
                "down": STATE_LOOKS["down_unplanned"].color, "offline": STATE_LOOKS["offline"].color,
                "speed": "#8e24aa", "quality": "#c2185b"}
GAIN = "#66bb6a"


def waterfall_steps(kpi: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(step, level before, level after) in seconds; totals start at 0. Without an ideal cycle time the
    speed and quality losses are unknown and the waterfall ends at the actual production time.

    >>> e = {"pbt_s": 27_000, "aust_s": 1_200, "adet_s": 0, "adot_s": 2_700, "offline_s": 0, "apt_s": 23_100,
    ...      "pri_pq_s": 20_000, "produced": 1_000, "good": 960, "ideal_cycle_s": 20.0}
    >>> [(k, round(b)) for k, a, b in waterfall_steps(e)]  # doctest: +NORMALIZE_WHITESPACE
    [('pbt', 27000), ('setup', 25800), ('idle', 25800), ('down', 23100), ('offline', 23100), ('apt', 23100),
     ('speed', 20000), ('quality', 19200), ('fpt', 19200)]
    """
    pbt, apt = float(kpi["pbt_s"]), float(kpi["apt_s"])
    steps = [("pbt", 0.0, pbt)]
    level = pbt
    for key, field in (("setup", "aust_s"), ("idle", "adet_s"), ("down", "adot_s"), ("offline", "offline_s")):
        steps.append((key, level, level - float(kpi[field])))
        level -= float(kpi[field])
    steps.append(("apt", 0.0, apt))
    if kpi.get("ideal_cycle_s") is None:
        return steps
    ideal = float(kpi["pri_pq_s"])
    fpt = ideal * kpi["good"] / kpi["produced"] if kpi["produced"] else 0.0
    steps += [("speed", apt, ideal), ("quality", ideal, fpt), ("fpt", 0.0, fpt)]
    return steps


def waterfall_options(_: Translate, kpi: dict[str, Any]) -> dict[str, Any]:
    """The losses from planned busy time to fully productive time, in hours, labelled in h/min."""
    steps = waterfall_steps(kpi)
    pbt = float(kpi["pbt_s"])
    bases, bars = [], []
    for key, before, after in steps:
        total = key in _TOTAL_COLORS
        change = after - before
        text = duration(_, after if total else change)
        if not total and change > 0:
            text = "+" + text
        share = percent(abs(after if total else change) / pbt) if pbt else "—"
        color = _TOTAL_COLORS[key] if total else (GAIN if change > 0 else _LOSS_COLORS[key])
        bases.append(round(min(before, after) / 3600, 4) if not total else 0)
        bars.append({"value": round(abs(change) / 3600, 4), "itemStyle": {"color": color},
                     "label": {"show": True, "position": "right", "formatter": text, "color": "#37474f",
                               "fontSize": 11},
                     "tip": f"<b>{escape(_(WATERFALL_STEPS[key]))}</b><br/>{escape(text)} · {share}"})
    return {
        "animation": False,
        "grid": {"left": 8, "right": 72, "top": 28, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "item", ":formatter": _TIP},
        "yAxis": {"type": "category", "inverse": True, "data": [_(WATERFALL_STEPS[k]) for k, _a, _b in steps],
                  "axisTick": {"show": False},
                  "axisLabel": {"interval": 0, "width": 110, "overflow": "break", "color": "#37474f"},
                  "axisLine": {"lineStyle": {"color": "#b0bec5"}}},
        "xAxis": {"type": "value", "name": _("Hours"), "nameTextStyle": {"color": "#546e7a"}, **AXIS,
                  "splitLine": SPLIT},
        "series": [
            {"id": "base", "type": "bar", "stack": "fall", "silent": True, "data": bases,
             "itemStyle": {"color": "transparent"}, "emphasis": {"disabled": True}},
            {"id": "value", "type": "bar", "stack": "fall", "data": bars, "barMaxWidth": 22, "barCategoryGap": "30%"},
        ],
    }


# ---------------------------------------------------------------- downtime Pareto


def group_name(_: Translate, group: dict[str, Any], lang: str) -> str:
    """A Pareto group's name: the reason (or micro-stops) in the UI's language, else "Unassigned: <state>"."""
    if group.get("name_zh"):
        return str(group["name_zh"] if lang == "zh_CN" else group["name_en"])
    return _("Unassigned: {state}").format(state=_(state_look(group.get("state")).label))


def pareto_options(_: Translate, groups: list[dict[str, Any]], *, lang: str, by: str) -> dict[str, Any]:
    """Bars (hours or stops), largest first, and the cumulative share on a 0–100 % axis with the 80 % line."""
    names = [group_name(_, g, lang) for g in groups]
    bars = []
    for g in groups:
        value = round(g["seconds"] / 3600, 3) if by == "duration" else g["count"]
        color = state_look(g["state"]).color if g.get("state") else PRIMARY
        share = _("Share: {share}").format(share=percent(g["share"]))
        stops = _("{duration} in {count} stops").format(duration=duration(_, g["seconds"]), count=g["count"])
        tip = f"<b>{escape(group_name(_, g, lang))}</b><br/>{escape(stops)}<br/>{escape(share)}"
        label = duration(_, g["seconds"]) if by == "duration" else str(g["count"])
        bars.append({"value": value, "itemStyle": {"color": color}, "label": {"formatter": label}, "tip": tip})
    cumulative = [{"value": round(g["cumulative_share"] * 100, 2),
                   "tip": escape(_("Cumulative: {share}").format(share=percent(g["cumulative_share"])))}
                  for g in groups]
    return {
        "animation": False,
        "grid": {"left": 12, "right": 16, "top": 40, "bottom": 8, "containLabel": True},
        "legend": {"top": 0, "right": 8, "textStyle": {"color": "#546e7a"}},
        "tooltip": {"trigger": "item", ":formatter": _TIP},
        "xAxis": {"type": "category", "data": names, "axisTick": {"show": False},
                  "axisLabel": {"interval": 0, "width": 96, "overflow": "break", "rotate": 30 if len(names) > 8
                                else 0, "color": "#546e7a"},
                  "axisLine": {"lineStyle": {"color": "#b0bec5"}}},
        "yAxis": [
            {"type": "value", "name": _("Hours") if by == "duration" else _("Number of stops"),
             "minInterval": 0 if by == "duration" else 1, "nameTextStyle": {"color": "#546e7a"}, **AXIS,
             "splitLine": SPLIT},
            {"type": "value", "min": 0, "max": 100, "interval": 20, "axisLabel": {"formatter": "{value}%",
                                                                               "color": "#546e7a"},
             "splitLine": {"show": False}},
        ],
        "series": [
            {"id": "bars", "name": _("Downtime") if by == "duration" else _("Number of stops"), "type": "bar",
             "data": bars, "barMaxWidth": 56, "itemStyle": {"color": PRIMARY},
             "label": {"show": True, "position": "top", "color": "#37474f", "fontSize": 11}},
            {"id": "cumulative", "name": _("Cumulative share"), "type": "line", "yAxisIndex": 1, "data": cumulative,
             "symbolSize": 6, "itemStyle": {"color": "#ef6c00"}, "lineStyle": {"color": "#ef6c00", "width": 2},
             "markLine": {"silent": True, "symbol": "none", "data": [{"yAxis": 80}],
                          "lineStyle": {"type": "dashed", "color": "#90a4ae"}, "label": {"show": False}}},
        ],
    }
