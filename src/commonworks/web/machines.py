"""Machine monitoring: a live tile per machine (``/machines``) and one machine's page
(``/machines/{id}``): its KPIs, state timeline, OEE losses and stops (:mod:`.machine_ops`), its
tags, and the trend and export of a tag — all over one range chosen at the top of the page.

Both pages refresh themselves with a timer (the values change in place, the page is not
reloaded). A machine id of another organization is "not found", exactly as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import AppError, NotFound
from commonworks.telemetry.models import DataType
from commonworks.telemetry.schemas import MachineOut, Series, TagCreate, TagOut, TagUpdate
from commonworks.web import data
from commonworks.web.charts import trend_options
from commonworks.web.common import (
    MACHINE_ICONS,
    MACHINE_TYPES,
    SignedOut,
    Viewer,
    age,
    card_title,
    empty_state,
    local_time,
    not_found,
    now_ms,
    number,
    page_header,
    save_form,
    shell,
    text_or_none,
    unit_symbol,
    value_text,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.machine_ops import REFRESH_S as OPS_REFRESH_S
from commonworks.web.machine_ops import MachineOperations
from commonworks.web.ops_format import range_label, window
from commonworks.web.status import Status, last_update, machine_status, newest_values, state_of, state_tag

TILE_REFRESH_S = 3.0
TABLE_REFRESH_S = 3.0
CHART_REFRESH_S = 15.0
INPUT = "outlined dense stack-label"
MAX_ROW_ID = 2**31 - 1

RANGES = ("1h", "8h", "today", "24h", "7d", "30d")  # "today": since the site's local midnight
RESOLUTIONS = {
    "raw": N_("Raw samples"),
    "1m": N_("1-minute rollups (average, min–max band)"),
    "1h": N_("Hourly rollups (average, min–max band)"),
    "1d": N_("Daily points (average, min–max band)"),
}
DATA_TYPES = {"float": N_("Decimal number"), "int": N_("Whole number"), "bool": N_("On/off"), "string": N_("Text")}


def _status_text(_: Translate, status: Status) -> str:
    if status.raw is not None:
        return f"{_(status.label)}: {status.raw}"
    return _(status.label)


def _set_status(badge: ui.badge, _: Translate, status: Status) -> None:
    badge.set_text(_status_text(_, status))
    badge.props(f"color={status.color}")


# ================================================================ /machines


@ui.page("/machines")
def machines_page() -> RedirectResponse | None:
    signed = shell(N_("Machine monitoring"), "/machines")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    Board(viewer, _).build()
    return None


class Tile:
    """One machine's card; :meth:`show` updates it in place."""

    def __init__(self, _: Translate, view: data.MachineView) -> None:
        self._ = _
        machine = view.machine
        self.machine_id = machine.id
        link = ui.link(target=f"/machines/{machine.id}").classes("no-underline text-inherit block h-full")
        with link, ui.card().props("flat bordered").classes("w-full h-full p-0 gap-0 hover:shadow-md "
                                                             "transition-shadow") as card:
            card.props(f'data-testid="machine-tile-{machine.key}"')
            self.bar = ui.element("div").classes("w-full h-1 rounded-t bg-grey-4")
            with ui.row().classes("w-full items-start gap-3 px-4 pt-3 pb-2 no-wrap"):
                ui.icon(MACHINE_ICONS.get(machine.machine_type.value, "build"), size="28px").classes("text-grey-7 mt-1")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    ui.label(machine.name).classes("text-base font-semibold text-grey-9 truncate w-full")
                    ui.label(f"{machine.key} · {_(MACHINE_TYPES[machine.machine_type.value])}") \
                        .classes("text-xs text-grey-7 truncate w-full")
                    ui.label(f"{view.site_name} · {view.line_name}").classes("text-xs text-grey-6 truncate w-full")
                self.badge = ui.badge().props("rounded").classes("px-2 py-1 text-xs shrink-0")
            ui.separator()
            self.values = ui.column().classes("w-full gap-1 px-4 py-3 min-h-[112px]")
            ui.separator()
            with ui.row().classes("w-full items-center gap-1 px-4 py-2 no-wrap text-grey-6"):
                ui.icon("update", size="16px")
                self.updated = ui.label().classes("text-xs grow")
                ui.icon("chevron_right", size="18px")
        self._shown: list[tuple[ui.label, ui.label]] | None = None
        self.show(view)

    def show(self, view: data.MachineView) -> None:
        _, now = self._, now_ms()
        status = machine_status(view.latest, now)
        _set_status(self.badge, _, status)
        self.bar.classes(replace=f"w-full h-1 rounded-t bg-{status.color}")
        newest = newest_values(view.latest)
        if self._shown is None or len(newest) != len(self._shown):
            self.values.clear()
            self._shown = []
            with self.values:
                if not newest:
                    hint = _("No tags yet") if not view.latest else _("Waiting for the first values")
                    ui.label(hint).classes("text-sm text-grey-6 m-auto")
                for _value in newest:
                    with ui.row().classes("w-full items-baseline justify-between gap-3 no-wrap"):
                        self._shown.append((ui.label().classes("text-sm text-grey-7 truncate"),
                                            ui.label().classes("text-sm font-semibold text-grey-9 whitespace-nowrap "
                                                               "tabular-nums")))
        for (name, value), latest in zip(self._shown, newest, strict=True):
            name.set_text(latest.name)
            shown = value_text(_, latest.value, latest.data_type.value)
            symbol = unit_symbol(latest.unit) if latest.data_type.numeric else ""
            value.set_text(f"{shown} {symbol}".strip() + (" ⚠" if latest.stale else ""))
        last = last_update(view.latest)
        self.updated.set_text(_("Last data: {when}").format(when=age(_, last, now, view.timezone)))


class Board:
    def __init__(self, viewer: Viewer, _: Translate) -> None:
        self.viewer = viewer
        self._ = _
        self.tiles: dict[int, Tile] = {}
        self.counts: dict[str, ui.label] = {}

    def build(self) -> None:
        _ = self._
        views = data.machine_views(self.viewer.user_id)
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            header = page_header(_("Machine monitoring"), _("Live status and the newest values of every machine."))
            with header, ui.row().classes("items-center gap-2 text-grey-6"):
                ui.spinner("dots", size="20px", color="grey-6")
                ui.label(_("Updates every {count} s").format(count=int(TILE_REFRESH_S))).classes("text-xs")
            self.summary = ui.row().classes("gap-2")
            self.grid = ui.element("div").classes("w-full grid gap-4 grid-cols-[repeat(auto-fill,minmax(300px,1fr))]")
        self._build_tiles(views)
        ui.timer(TILE_REFRESH_S, self.refresh)

    def _build_tiles(self, views: list[data.MachineView]) -> None:
        _ = self._
        self.grid.clear()
        self.tiles = {}
        with self.grid:
            if not views:
                with ui.card().props("flat bordered").classes("col-span-full"):
                    empty_state("precision_manufacturing", _("No machines yet"),
                                _("Add machines on the Plant and machines page; their values appear here."))
                    ui.button(_("Plant and machines"), icon="account_tree",
                              on_click=lambda: ui.navigate.to("/plant")).props("flat no-caps").classes("mx-auto mb-4")
            for view in views:
                self.tiles[view.machine.id] = Tile(_, view)
        self._summarise(views)

    def _summarise(self, views: list[data.MachineView]) -> None:
        _ = self._
        now = now_ms()
        tally: dict[str, tuple[Status, int]] = {}
        for view in views:
            status = machine_status(view.latest, now)
            tally[status.kind] = (status, tally.get(status.kind, (status, 0))[1] + 1)
        self.summary.clear()
        with self.summary:
            ui.chip(_("{count} machines").format(count=len(views)), icon="precision_manufacturing") \
                .props("outline color=grey-8 square")
            for status, count in sorted(tally.values(), key=lambda item: -item[1]):
                ui.chip(f"{_(status.label)} · {count}", icon=status.icon).props(f"color={status.color} "
                                                                                "text-color=white square")

    async def refresh(self) -> None:
        try:
            views = await run.io_bound(data.machine_views, self.viewer.user_id)
        except SignedOut:
            ui.navigate.to("/login")
            return
        if views is None:
            return
        if [v.machine.id for v in views] != list(self.tiles):
            self._build_tiles(views)
            return
        for view in views:
            self.tiles[view.machine.id].show(view)
        self._summarise(views)


# ================================================================ /machines/{id}


def _row_id(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ROW_ID else None


@ui.page("/machines/{machine_id}")
def machine_page(machine_id: str) -> RedirectResponse | None:
    signed = shell(N_("Machine"), "/machines")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    row_id = _row_id(machine_id)
    try:
        if row_id is None:
            raise NotFound(f"machine {machine_id} not found")
        view = data.machine_view(viewer.user_id, row_id)
        tags = data.machine_tags(viewer.user_id, row_id)
    except NotFound:
        not_found(_, _("There is no machine with this number in your organization."), "/machines",
                  _("Back to machine monitoring"))
        return None
    ui.page_title(f"{view.machine.name} · Commonworks")
    MachineDetail(viewer, _, lang, view, tags).build()
    return None


@dataclass
class _Chart:
    tag_id: int | None
    range_key: str = "1h"


class MachineDetail:
    def __init__(self, viewer: Viewer, _: Translate, lang: str, view: data.MachineView, tags: list[TagOut]) -> None:
        self.viewer = viewer
        self._ = _
        self.view = view
        self.tags = tags
        self.chart_state = _Chart(tag_id=self._default_tag())
        self.requests = 0  # trend loads started; only the newest one is shown
        self.operations = MachineOperations(viewer, _, lang, view.machine.id, view.timezone)

    @property
    def machine(self) -> MachineOut:
        return self.view.machine

    @property
    def tz(self) -> str:
        return self.view.timezone

    def _numeric_tags(self) -> list[TagOut]:
        return [t for t in self.tags if t.data_type.numeric]

    def _default_tag(self) -> int | None:
        """A measured value (decimal numbers before counters, the state tag last) that has data."""
        numeric = {t.id for t in self._numeric_tags()}
        state = state_tag(self.view.latest)
        rank = {DataType.float: 0, DataType.int: 1, DataType.bool: 2}
        candidates = sorted((v for v in self.view.latest if v.tag_id in numeric),
                            key=lambda v: (v.ts is None, v is state, rank.get(v.data_type, 3), v.key))
        return candidates[0].tag_id if candidates else None

    # ------------------------------------------------------------ layout

    def build(self) -> None:
        _, machine = self._, self.machine
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            with ui.row().classes("items-center gap-1 text-sm text-grey-7"):
                ui.link(_("Machine monitoring"), "/machines").classes("text-primary no-underline")
                ui.icon("chevron_right", size="18px")
                ui.label(f"{self.view.site_name} · {self.view.line_name}")
            with ui.row().classes("w-full items-center gap-4 no-wrap max-sm:flex-wrap"):
                with ui.element("div").classes("rounded-lg bg-blue-1 p-3"):
                    ui.icon(MACHINE_ICONS.get(machine.machine_type.value, "build"), size="32px", color="primary")
                with ui.column().classes("gap-1 min-w-0 grow"):
                    with ui.row().classes("items-center gap-3"):
                        ui.label(machine.name).classes("text-2xl font-semibold text-grey-9")
                        self.badge = ui.badge().props("rounded").classes("px-3 py-1 text-sm")
                    ui.label(self._facts()).classes("text-sm text-grey-7")
                with ui.column().classes("items-end gap-1"):
                    ranges = ui.toggle({k: range_label(_, k) for k in RANGES}, value=self.chart_state.range_key,
                                       on_change=lambda e: self._choose(range_key=e.value))
                    ranges.props("no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                                 "padding='4px 12px' data-testid=range").classes("border border-gray-300 rounded "
                                                                                 "bg-white")
                    with ui.row().classes("items-center gap-2 text-grey-6"):
                        ui.icon("update", size="18px")
                        self.updated = ui.label().classes("text-xs")
            self.operations.build_figures()
            self.operations.build_timeline()
            self.operations.build_losses_and_stops()
            self._trend_card()
            self._tags_card()
        self._show_status()
        ui.timer(TABLE_REFRESH_S, self.refresh_values)
        ui.timer(CHART_REFRESH_S, self.refresh_chart)
        ui.timer(0.05, self.refresh_chart, once=True)
        ui.timer(0.05, self.load_operations, once=True)
        ui.timer(OPS_REFRESH_S, self.load_operations)

    def _facts(self) -> str:
        _, m = self._, self.machine
        facts = [m.key, _(MACHINE_TYPES[m.machine_type.value])]
        maker = " ".join(p for p in (m.manufacturer, m.model) if p)
        if maker:
            facts.append(maker)
        if m.serial_number:
            facts.append(_("S/N {serial}").format(serial=m.serial_number))
        if m.year_built:
            facts.append(_("built {year}").format(year=m.year_built))
        for family, seconds in m.ideal_cycle_times.items():
            facts.append(_("{family}: {seconds} s per part").format(family=family, seconds=number(seconds)))
        return " · ".join(facts)

    def _show_status(self) -> None:
        _, now = self._, now_ms()
        _set_status(self.badge, _, machine_status(self.view.latest, now))
        self.updated.set_text(_("Last data: {when}").format(when=age(_, last_update(self.view.latest), now, self.tz)))

    # ------------------------------------------------------------ tags

    def _columns(self) -> list[dict[str, Any]]:
        _ = self._
        nowrap = {"classes": "whitespace-nowrap", "headerClasses": "whitespace-nowrap"}
        wide_only = {"classes": "whitespace-nowrap text-grey-7 max-w-[220px] truncate max-xl:hidden",
                     "headerClasses": "whitespace-nowrap max-xl:hidden"}
        columns = [
            {"name": "name", "label": _("Tag"), "field": "name", "align": "left", "sortable": True, **nowrap},
            {"name": "value", "label": _("Latest value"), "field": "value", "align": "right", **nowrap},
            {"name": "unit", "label": _("Unit (UCUM)"), "field": "unit", "align": "left", **nowrap},
            {"name": "time", "label": _("Time ({zone})").format(zone=self.tz), "field": "time", "align": "left",
             **nowrap},
            {"name": "status", "label": _("Status"), "field": "stale", "align": "left", **nowrap},
            {"name": "type", "label": _("Data type"), "field": "type", "align": "left", **nowrap},
            {"name": "source", "label": _("Source"), "field": "source", "align": "left", **wide_only},
        ]
        if self.viewer.is_editor:
            columns.append({"name": "actions", "label": "", "field": "id", "align": "right"})
        return columns

    def _rows(self) -> list[dict[str, Any]]:
        _ = self._
        latest = {v.tag_id: v for v in self.view.latest}
        state = state_tag(self.view.latest)
        rows = []
        for tag in self.tags:
            value = latest.get(tag.id)
            stale = bool(value and value.stale)
            has_data = bool(value and value.ts is not None)
            shown = value_text(_, value.value, tag.data_type.value) if value else "—"
            if value is not None and value is state and value.value is not None:
                meaning = state_of(value.value)
                if meaning.raw is None:
                    shown = f"{shown} · {_(meaning.label)}"
            rows.append({
                "id": tag.id, "key": tag.key, "name": tag.name, "value": shown,
                "unit": tag.unit, "time": local_time(value.ts if value else None, self.tz),
                "stale": stale, "has_data": has_data,
                "status": _("Stale") if stale else (_("Live") if has_data else _("No data")),
                "type": _(DATA_TYPES[tag.data_type.value]), "source": tag.source or "",
                "numeric": tag.data_type.numeric, "selected": tag.id == self.chart_state.tag_id,
                "auto": tag.auto_created, "auto_label": _("auto-created"),
            })
        return rows

    def _tags_card(self) -> None:
        _ = self._
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
            with ui.row().classes("w-full items-center justify-between px-5 py-3"):
                card_title("sell", _("Tags"))
                if self.viewer.is_editor:
                    ui.button(_("Add tag"), icon="add", on_click=lambda: self.tag_dialog(None)) \
                        .props('unelevated no-caps data-testid="add-tag"')
            ui.separator()
            if not self.tags:
                self.table = None
                empty_state("sell", _("No tags yet"),
                            _("Add the tags the gateway reads from this machine, with their UCUM units."))
                return
            table = ui.table(columns=self._columns(), rows=self._rows(), row_key="id") \
                .props("flat dense wrap-cells=false table-header-class=text-grey-7") \
                .classes("w-full").props('data-testid="tag-table"')
            table.add_slot("body-cell-name", r'''
                <q-td :props="props">
                  <div class="text-grey-9 font-medium">
                    <q-icon v-if="props.row.selected" name="show_chart" color="primary" size="18px" class="mr-1" />
                    {{ props.row.name }}
                    <q-badge v-if="props.row.auto" outline color="grey-6" class="ml-1 text-[10px]"
                             :label="props.row.auto_label" />
                  </div>
                  <div class="text-xs text-grey-6 font-mono">{{ props.row.key }}</div>
                </q-td>''')
            table.add_slot("body-cell-value", r'''
                <q-td :props="props">
                  <span class="text-base font-semibold tabular-nums"
                        :class="props.row.stale ? 'text-grey-6' : 'text-grey-10'">{{ props.row.value }}</span>
                </q-td>''')
            table.add_slot("body-cell-unit", r'''
                <q-td :props="props"><span class="font-mono text-grey-8">{{ props.row.unit }}</span></q-td>''')
            table.add_slot("body-cell-time", r'''
                <q-td :props="props"><span class="tabular-nums text-grey-8">{{ props.row.time }}</span></q-td>''')
            table.add_slot("body-cell-status", r'''
                <q-td :props="props">
                  <q-badge :color="props.row.stale ? 'orange-8' : (props.row.has_data ? 'positive' : 'grey-5')"
                           :label="props.row.status" rounded />
                </q-td>''')
            if self.viewer.is_editor:
                table.add_slot("body-cell-actions", r'''
                    <q-td :props="props">
                      <q-btn flat round dense size="sm" color="grey-7" icon="edit"
                             @click.stop="() => $parent.$emit('edit', props.row)" />
                    </q-td>''')
                table.on("edit", lambda e: self.tag_dialog(next((t for t in self.tags if t.id == e.args["id"]), None)))
            table.on("rowClick", self._row_clicked)
            self.table = table

    def _row_clicked(self, event: Any) -> None:
        row = event.args[1] if isinstance(event.args, list) and len(event.args) > 1 else None
        if row and row.get("numeric"):
            self.tag_select.set_value(row["id"])

    async def refresh_values(self) -> None:
        try:
            view = await run.io_bound(data.machine_view, self.viewer.user_id, self.machine.id)
        except (SignedOut, NotFound):
            ui.navigate.reload()
            return
        if view is None:
            return
        self.view = view
        self._show_status()
        if self.table is not None:
            self.table.rows = self._rows()
            self.table.update()

    def tag_dialog(self, tag: TagOut | None) -> None:
        _ = self._
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes("w-[560px] max-w-full p-6 gap-3"):
            ui.label(_("New tag") if tag is None else _("Edit tag")).classes("text-lg font-semibold text-grey-9")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            key = ui.input(_("Tag key"), value=tag.key if tag else f"{self.machine.key}.").props(INPUT) \
                .classes("w-full")
            if tag is None:
                key.props["hint"] = f"{self.machine.key}.spindle_speed"
            else:
                key.props("readonly")
                key.props["hint"] = _("The key is what the gateway sends; it cannot be changed.")
            name = ui.input(_("Tag name"), value=tag.name if tag else "").props(INPUT).classes("w-full")
            with ui.row().classes("w-full gap-4 no-wrap"):
                unit = ui.input(_("Unit (UCUM code)"), value=tag.unit if tag else "") \
                    .props(INPUT).classes("grow")
                unit.props["hint"] = _("e.g. mm/min, Cel, kW.h, bar, %; 1 if dimensionless")
                kind = ui.select({k: _(v) for k, v in DATA_TYPES.items()}, label=_("Data type"),
                                 value=tag.data_type.value if tag else "float").props(INPUT).classes("w-48")
                if tag is not None:
                    kind.props("readonly")
            source = ui.input(_("Source (optional)"), value=(tag.source or "") if tag else "") \
                .props(INPUT).classes("w-full")
            source.props["hint"] = _("Where the gateway reads it: OPC UA node id, Modbus register …")
            description = ui.input(_("Description (optional)"), value=(tag.description or "") if tag else "") \
                .props(INPUT).classes("w-full")
            fields = {"key": key, "name": name, "unit": unit, "data_type": kind, "source": source,
                      "description": description}

            def save() -> None:
                common = {"name": name.value.strip(), "unit": unit.value.strip(),
                          "source": text_or_none(source.value), "description": text_or_none(description.value)}
                if tag is None:
                    values = {**common, "key": key.value.strip(), "data_type": kind.value,
                              "machine_id": self.machine.id}
                    done = save_form(_, fields, general, TagCreate, values,
                                     lambda m: data.create(self.viewer.user_id, "tag", m))
                else:
                    done = save_form(_, fields, general, TagUpdate, common,
                                     lambda m: data.update(self.viewer.user_id, "tag", tag.id, m))
                if done:
                    dialog.close()
                    ui.notify(_("Tag saved."), type="positive", timeout=2500)
                    ui.navigate.reload()

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(_("Save"), icon="check", on_click=save).props("unelevated no-caps")
        dialog.open()

    # ------------------------------------------------------------ trend

    def _trend_card(self) -> None:
        _ = self._
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
            with ui.row().classes("w-full items-center gap-3 px-5 py-3 max-md:flex-wrap"):
                card_title("show_chart", _("Trend"))
                ui.space()
                options = {t.id: f"{t.name} ({unit_symbol(t.unit)})" if unit_symbol(t.unit) else t.name
                           for t in self._numeric_tags()}
                self.tag_select = ui.select(options, value=self.chart_state.tag_id, label=_("Tag"),
                                            on_change=lambda e: self._choose(tag_id=e.value)) \
                    .props("outlined dense options-dense").classes("w-64")
                ui.button(_("Export CSV"), icon="download", on_click=self.export) \
                    .props('outline no-caps color=primary data-testid="export-csv"')
            ui.separator()
            with ui.row().classes("w-full items-center gap-2 px-5 pt-3 text-sm text-grey-7"):
                ui.icon("tune", size="18px")
                self.resolution = ui.label().props('data-testid="resolution"')
                ui.label("·")
                self.point_count = ui.label().props('data-testid="point-count"')
            self.no_data = ui.label(_("No data in this range.")).classes("w-full text-center text-grey-6 pt-2")
            self.no_data.set_visibility(False)
            if not self._numeric_tags():
                self.chart = None
                empty_state("show_chart", _("Nothing to chart yet"), _("Add a numeric tag to see its trend here."))
                self.resolution.set_text("—")
                return
            self.chart = ui.echart(self._options(None, *self._window())).classes("w-full h-80 px-2 pb-2") \
                .props('data-testid="trend-chart"')

    async def _choose(self, *, tag_id: int | None = None, range_key: str | None = None) -> None:
        if tag_id is not None:
            self.chart_state.tag_id = tag_id
        if range_key is not None:
            self.chart_state.range_key = range_key
        if self.table is not None:
            self.table.rows = self._rows()
            self.table.update()
        if range_key is not None:
            await self.load_operations()
        await self.refresh_chart()

    async def load_operations(self) -> None:
        await self.operations.load(*self._window())

    def _window(self) -> tuple[int, int]:
        return window(self.chart_state.range_key, now_ms(), self.tz)

    def _tag(self) -> TagOut | None:
        return next((t for t in self.tags if t.id == self.chart_state.tag_id), None)

    def _options(self, series: Series | None, start: int, end: int) -> dict[str, Any]:
        tag = self._tag()
        return trend_options(self._, series, name=tag.name if tag else "", unit=unit_symbol(tag.unit) if tag else "",
                             tz=self.tz, data_type=tag.data_type.value if tag else DataType.float.value,
                             start=start, end=end)

    async def refresh_chart(self) -> None:
        _, tag = self._, self._tag()
        if self.chart is None or tag is None:
            return
        start, end = self._window()
        self.requests += 1
        request = self.requests
        try:
            series = await run.io_bound(data.tag_series, self.viewer.user_id, tag.id, start, end)
        except AppError as exc:
            self.resolution.set_text(_("The trend could not be loaded."))
            self.point_count.set_text(str(exc.message))
            return
        if series is None or request != self.requests:  # cancelled, or a newer choice is on its way
            return
        self.resolution.set_text(_("Resolution: {resolution}").format(resolution=_(RESOLUTIONS[series.resolution])))
        self.point_count.set_text(_("{count} points").format(count=len(series.points)))
        self.no_data.set_visibility(not series.points)
        self.chart.options.clear()
        self.chart.options.update(self._options(series, start, end))
        self.chart.update()

    async def export(self) -> None:
        _ = self._
        start, end = self._window()
        try:
            text = await run.io_bound(data.machine_csv, self.viewer.user_id, self.machine.id, start, end)
        except data.ExportTooLarge as exc:
            ui.notify(_("{count} samples are too many for a download here; choose a shorter range or use the "
                        "export of the API.").format(count=number(exc.rows)), type="warning", multi_line=True)
            return
        except AppError:
            ui.notify(_("The export failed."), type="negative")
            return
        if text is None:
            return
        stamp = local_time(end, self.tz).replace(" ", "_").replace(":", "")
        ui.download.content(text.encode("utf-8"), f"{self.machine.key}_{self.chart_state.range_key}_{stamp}.csv",
                            "text/csv; charset=utf-8")

