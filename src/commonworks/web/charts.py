"""ECharts options for a tag's trend (pure: a Series in, a dict out).

Times are handed to ECharts as local wall-clock strings of the *site's* time zone
(``2026-11-27 08:00:00``): ECharts reads a string without an offset as wall-clock time,
so the axis shows the site's time whatever the browser's zone is. Rolled-up series draw
the average as a line over a min–max band (two stacked areas).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from commonworks.telemetry.schemas import Series
from commonworks.web.layout import PRIMARY, Translate

BAND = "rgba(29, 79, 145, 0.16)"
TIME_LABELS = {"year": "{yyyy}", "month": "{yyyy}-{MM}", "day": "{MM}-{dd}", "hour": "{HH}:{mm}",
               "minute": "{HH}:{mm}", "second": "{HH}:{mm}:{ss}", "millisecond": "{HH}:{mm}:{ss}.{SSS}",
               "none": "{MM}-{dd} {HH}:{mm}"}


def wall_clock(ts_ms: int, tz: ZoneInfo) -> str:
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(tz)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{ts_ms % 1000:03d}" if ts_ms % 1000 else text


def _numbers(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    return float(value)


def trend_options(_: Translate, series: Series | None, *, name: str, unit: str, tz: str, data_type: str,
                  start: int, end: int) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    rolled = series is not None and series.resolution != "raw"
    base: dict[str, Any] = {
        "animation": False,
        "grid": {"left": 12, "right": 24, "top": 36, "bottom": 52, "containLabel": True},
        "xAxis": {"type": "time", "min": wall_clock(start, zone), "max": wall_clock(end, zone),
                  "axisLabel": {"hideOverlap": True, "color": "#546e7a", "formatter": TIME_LABELS},
                  "axisLine": {"lineStyle": {"color": "#b0bec5"}}},
        "yAxis": {"type": "value", "name": unit, "scale": True, "nameTextStyle": {"color": "#546e7a"},
                  "axisLabel": {"color": "#546e7a"}, "splitLine": {"lineStyle": {"color": "#eceff1"}}},
        "dataZoom": [{"type": "inside"}, {"type": "slider", "height": 18, "bottom": 8, "showDetail": False}],
        "legend": {"top": 0, "right": 8, "textStyle": {"color": "#546e7a"}},
    }
    if data_type == "bool":
        base["yAxis"].update({"min": 0, "max": 1, "interval": 1, "scale": False})
    points = series.points if series is not None else []
    if not rolled:
        data = [[wall_clock(p.ts, zone), _numbers(p.value)] for p in points]
        base["tooltip"] = {"trigger": "axis"}
        base["series"] = [{
            "id": "raw", "name": name, "type": "line", "data": data, "showSymbol": len(data) <= 60,
            "symbolSize": 5, "sampling": "lttb", "step": "end" if data_type == "bool" else False,
            "lineStyle": {"width": 1.6, "color": PRIMARY}, "itemStyle": {"color": PRIMARY},
        }]
        return base
    labels = {"avg": _("Average"), "min": _("Minimum"), "max": _("Maximum")}
    times = [wall_clock(p.ts, zone) for p in points]
    lows = [_numbers(p.min) for p in points]
    highs = [_numbers(p.max) for p in points]
    averages = [_numbers(p.value) for p in points]
    base["tooltip"] = {
        "trigger": "axis",
        ":formatter": _tooltip_js(labels, unit),
    }
    base["series"] = [
        {"id": "low", "name": _("Min–max range"), "type": "line", "stack": "band", "symbol": "none",
         "data": [[t, lo] for t, lo in zip(times, lows, strict=True)], "lineStyle": {"opacity": 0},
         "itemStyle": {"color": BAND}},
        {"id": "band", "name": _("Min–max range"), "type": "line", "stack": "band", "symbol": "none",
         "data": [[t, None if lo is None or hi is None else hi - lo]
                  for t, lo, hi in zip(times, lows, highs, strict=True)],
         "lineStyle": {"opacity": 0}, "areaStyle": {"color": BAND}, "itemStyle": {"color": BAND}},
        {"id": "avg", "name": labels["avg"], "type": "line", "showSymbol": len(points) <= 60, "symbolSize": 5,
         "sampling": "lttb",
         "data": [[t, a, lo, hi] for t, a, lo, hi in zip(times, averages, lows, highs, strict=True)],
         "encode": {"x": 0, "y": 1}, "lineStyle": {"width": 1.6, "color": PRIMARY}, "itemStyle": {"color": PRIMARY}},
    ]
    return base


def _tooltip_js(labels: dict[str, str], unit: str) -> str:
    words = json.dumps({**labels, "unit": unit}, ensure_ascii=False)
    return (
        "(ps) => { const w = " + words + ";"
        " const p = ps.find((x) => x.seriesId === 'avg'); if (!p) return '';"
        " const f = (x) => (x === null || x === undefined) ? '—'"
        " : Number(x).toLocaleString(undefined, {maximumFractionDigits: 3}) + (w.unit ? ' ' + w.unit : '');"
        " const v = p.value;"
        " return `${v[0]}<br/>${p.marker}${w.avg}: <b>${f(v[1])}</b><br/>${w.min}: ${f(v[2])}"
        "<br/>${w.max}: ${f(v[3])}`; }"
    )
