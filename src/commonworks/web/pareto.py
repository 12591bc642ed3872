"""The downtime Pareto (``/operations/pareto``): which reasons cost the most stop time (or the most
stops) in a range, for all machines, a site, a line or one machine — bars largest first with
the cumulative share, and the table beneath.

Stops without a reason are grouped by their state ("Unassigned: …"), short ones as micro-stops,
exactly as ``GET /operations/downtime/pareto`` does; ranges are days of the organization's
time zone ("today", "yesterday") or the last 7 or 30 days.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import AppError
from commonworks.web import ops_data
from commonworks.web.common import SignedOut, Viewer, card_title, empty_state, local_time, now_ms, page_header, shell
from commonworks.web.layout import N_, Translate
from commonworks.web.ops_charts import group_name, pareto_options
from commonworks.web.ops_format import duration, percent, range_label, state_look, window

RANGES = ("today", "yesterday", "7d", "30d")
MEASURES = {"duration": N_("By duration"), "count": N_("By number of stops")}
SCOPE_LABELS = {"site": N_("Site: {name}"), "line": N_("Line: {name}"), "machine": N_("Machine: {name}")}


@ui.page("/operations/pareto")
def pareto_page() -> RedirectResponse | None:
    signed = shell(N_("Downtime Pareto"), "/operations/pareto")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    ParetoView(viewer, _, lang).build()
    return None


class ParetoView:
    def __init__(self, viewer: Viewer, _: Translate, lang: str) -> None:
        self.viewer = viewer
        self._ = _
        self.lang = lang
        self.scope = "all"
        self.range_key = "7d"
        self.by = "duration"
        self.tz = ops_data.timezone(viewer.user_id)
        self.requests = 0

    def _scope_options(self) -> dict[str, str]:
        _ = self._
        options = {}
        for choice in ops_data.pareto_scopes(self.viewer.user_id):
            if choice.kind == "all":
                options[choice.key] = _("All machines")
                continue
            text = _(SCOPE_LABELS[choice.kind]).format(name=choice.name)
            options[choice.key] = f"{text} · {choice.parent}" if choice.parent else text
        return options

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            page_header(_("Downtime Pareto"), _("Which reasons cost the most stop time — the few to fix first."))
            with ui.card().props("flat bordered").classes("w-full px-5 py-3"), \
                    ui.row().classes("w-full items-center gap-4 max-md:flex-wrap"):
                ui.select(self._scope_options(), value=self.scope, label=_("Scope"),
                          on_change=lambda e: self._choose(scope=e.value)) \
                    .props('outlined dense options-dense data-testid="pareto-scope"').classes("w-80")
                ranges = ui.toggle({k: range_label(_, k) for k in RANGES}, value=self.range_key,
                                   on_change=lambda e: self._choose(range_key=e.value))
                ranges.props("no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                             "padding='4px 12px' data-testid=pareto-range").classes("border border-gray-300 rounded")
                measures = ui.toggle({k: _(v) for k, v in MEASURES.items()}, value=self.by,
                                     on_change=lambda e: self._choose(by=e.value))
                measures.props("no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                               "padding='4px 12px' data-testid=pareto-measure").classes("border border-gray-300 "
                                                                                        "rounded")
                ui.space()
                self.period = ui.label().classes("text-xs text-grey-7").props('data-testid="pareto-period"')
            with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
                with ui.row().classes("w-full items-center gap-3 px-5 py-3"):
                    card_title("bar_chart", _("Downtime by reason"))
                    ui.space()
                    self.totals = ui.label().classes("text-sm text-grey-8").props('data-testid="pareto-totals"')
                ui.separator()
                self.empty = ui.column().classes("w-full")
                self.chart = ui.echart({"animation": False, "series": []}).classes("w-full h-96 px-2 pb-2") \
                    .props('data-testid="pareto-chart"')
            with ui.card().props("flat bordered").classes("w-full p-0 gap-0") as self.table_card:
                self.table = ui.table(columns=self._columns(), rows=[], row_key="rank") \
                    .props('flat dense table-header-class=text-grey-7 data-testid="pareto-table"').classes("w-full")
                self.table.add_slot("body-cell-name", r'''
                    <q-td :props="props">
                      <span v-if="props.row.color" class="inline-block w-2.5 h-2.5 rounded-sm mr-2"
                            :style="{background: props.row.color}"></span>
                      <span class="text-grey-9">{{ props.row.name }}</span>
                    </q-td>''')
        ui.timer(0.05, self.load, once=True)

    def _columns(self) -> list[dict[str, Any]]:
        _ = self._
        nowrap = {"classes": "whitespace-nowrap tabular-nums", "headerClasses": "whitespace-nowrap"}
        return [
            {"name": "rank", "label": "#", "field": "rank", "align": "right", **nowrap},
            {"name": "code", "label": _("Code"), "field": "code", "align": "left", **nowrap},
            {"name": "name", "label": _("Reason"), "field": "name", "align": "left"},
            {"name": "duration", "label": _("Downtime"), "field": "duration", "align": "right", **nowrap},
            {"name": "count", "label": _("Number of stops"), "field": "count", "align": "right", **nowrap},
            {"name": "share", "label": _("Share"), "field": "share", "align": "right", **nowrap},
            {"name": "cumulative", "label": _("Cumulative share"), "field": "cumulative", "align": "right", **nowrap},
        ]

    async def _choose(self, *, scope: str | None = None, range_key: str | None = None, by: str | None = None) -> None:
        self.scope = scope or self.scope
        self.range_key = range_key or self.range_key
        self.by = by or self.by
        await self.load()

    async def load(self) -> None:
        _ = self._
        start, end = window(self.range_key, now_ms(), self.tz)
        self.requests += 1
        request = self.requests
        try:
            groups = await run.io_bound(ops_data.pareto, self.viewer.user_id, self.scope, start, end, self.by)
        except SignedOut:
            ui.navigate.to("/login")
            return
        except AppError:
            ui.notify(_("The Pareto could not be loaded."), type="negative")
            return
        if groups is None or request != self.requests:
            return
        self.period.set_text(f"{local_time(start, self.tz)} – {local_time(end, self.tz)} ({self.tz})")
        seconds = sum(g["seconds"] for g in groups)
        count = sum(g["count"] for g in groups)
        self.totals.set_text(_("{duration} in {count} stops").format(duration=duration(_, seconds), count=count))
        self.empty.clear()
        if not groups:
            with self.empty:
                empty_state("check_circle", _("No stops in this range"),
                            _("Stops appear here once the machines' states are stored."))
        self.chart.set_visibility(bool(groups))
        self.table_card.set_visibility(bool(groups))
        self.chart.options.clear()
        self.chart.options.update(pareto_options(_, groups, lang=self.lang, by=self.by))
        self.chart.update()
        self.table.rows = [{
            "rank": i, "code": g.get("code") or "—", "name": group_name(_, g, self.lang),
            "color": state_look(g["state"]).color if g.get("state") else None,
            "duration": duration(_, g["seconds"]), "count": g["count"], "share": percent(g["share"]),
            "cumulative": percent(g["cumulative_share"]),
        } for i, g in enumerate(groups, start=1)]
        self.table.update()
