"""The operations part of a machine's page: KPI figures, the state timeline, the OEE waterfall of
the losses, and the stops of the chosen range, where engineers give each stop its reason.

It follows the page's range (:class:`commonworks.web.machines.MachineDetail` owns the range
toggle) and refreshes itself with a timer. Reasons come from the organization's reason tree,
named in the UI's language; an owner or administrator can install the standard tree from the
reason dialog when the organization has none yet. Viewers see the reasons, read-only.
"""

from __future__ import annotations

from typing import Any

from nicegui import run, ui
from pydantic import ValidationError

from commonworks.core.errors import AppError, NotFound
from commonworks.web import ops_data
from commonworks.web.common import (
    SignedOut,
    Viewer,
    card_title,
    empty_state,
    local_time,
    paginate_in,
    service_message,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.ops_charts import timeline_options, waterfall_options
from commonworks.web.ops_format import STATE_LOOKS, duration, oee_color, percent, state_look, text_on

REFRESH_S = 30.0
STOPS_SHOWN = 500
SORTS = {"longest": N_("Longest first"), "newest": N_("Newest first")}
KPI_FIGURES = (
    ("oee", N_("OEE"), "percent"),
    ("availability", N_("Availability"), "percent"),
    ("effectiveness", N_("Performance"), "percent"),
    ("quality", N_("Quality"), "percent"),
    ("mtbf_s", N_("MTBF"), "duration"),
    ("mttr_s", N_("MTTR"), "duration"),
)


class MachineOperations:
    """Built inside the machine page's column; :meth:`load` shows a range."""

    def __init__(self, viewer: Viewer, _: Translate, lang: str, machine_id: int, tz: str) -> None:
        self.viewer = viewer
        self._ = _
        self.lang = lang
        self.machine_id = machine_id
        self.tz = tz
        self.sort = "longest"
        self.window: tuple[int, int] | None = None
        self.ops: ops_data.MachineOps | None = None
        self.requests = 0

    # ------------------------------------------------------------ layout

    def build_figures(self) -> None:
        """The KPI figures and what the plan was."""
        _ = self._
        with ui.column().classes("w-full gap-2"):
            self.figures = ui.element("div").classes("w-full grid gap-3 grid-cols-2 sm:grid-cols-3 lg:grid-cols-7")
            self.figure_values: dict[str, ui.label] = {}
            with self.figures:
                for key, label, _kind in KPI_FIGURES:
                    testid = f"kpi-{key.removesuffix('_s')}"
                    with ui.card().props(f'flat bordered data-testid="{testid}"').classes("p-3 gap-0"):
                        ui.label(_(label)).classes("text-xs text-grey-7")
                        self.figure_values[key] = ui.label("—").classes("text-xl font-semibold tabular-nums "
                                                                         "text-grey-9")
                with ui.card().props('flat bordered data-testid="kpi-parts"').classes("p-3 gap-0"):
                    ui.label(_("Good / produced")).classes("text-xs text-grey-7")
                    self.figure_values["parts"] = ui.label("—").classes("text-xl font-semibold tabular-nums "
                                                                        "text-grey-9")
            self.plan = ui.label().classes("text-xs text-grey-7").props('data-testid="kpi-plan"')

    def build_timeline(self) -> None:
        _ = self._
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
            with ui.row().classes("w-full items-center gap-3 px-5 py-3"):
                card_title("view_timeline", _("State timeline"))
                ui.space()
                self.state_totals = ui.row().classes("items-center gap-3 text-xs text-grey-8")
            ui.separator()
            self.no_states = ui.label(_("No machine states stored in this range.")) \
                .classes("w-full text-center text-grey-6 pt-3")
            self.no_states.set_visibility(False)
            self.timeline = ui.echart({"animation": False, "series": []}).classes("w-full h-36 px-2") \
                .props('data-testid="state-timeline"')

    def build_losses_and_stops(self) -> None:
        _ = self._
        columns = "grid-cols-1 lg:grid-cols-[minmax(0,5fr)_minmax(0,7fr)]"  # the columns may shrink below content
        with ui.element("div").classes(f"w-full grid gap-5 {columns} items-stretch"):
            with ui.card().props("flat bordered").classes("min-w-0 p-0 gap-0"):
                with ui.row().classes("w-full items-center px-5 py-3"):
                    card_title("waterfall_chart", _("OEE losses"))
                ui.separator()
                self.waterfall_hint = ui.label().classes("text-xs text-grey-7 px-5 pt-2")
                self.waterfall = ui.echart({"animation": False, "series": []}).classes("w-full h-80 px-2 pb-2") \
                    .props('data-testid="oee-waterfall"')
            with ui.card().props("flat bordered").classes("min-w-0 p-0 gap-0"):
                with ui.row().classes("w-full items-center gap-3 px-5 py-3"):
                    card_title("report", _("Stops"))
                    self.stop_count = ui.badge().props("outline color=grey-7 rounded")
                    ui.space()
                    sorts = ui.toggle({k: _(v) for k, v in SORTS.items()}, value=self.sort,
                                      on_change=lambda e: self._sort(e.value))
                    sorts.props("no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                                "padding='2px 10px'").classes("border border-gray-300 rounded text-xs")
                ui.separator()
                self.stops_hint = ui.label().classes("text-xs text-grey-7 px-5 pt-2")
                self.stops_hint.set_visibility(False)
                self.stops = self._stops_table()

    def _columns(self) -> list[dict[str, Any]]:
        _ = self._
        nowrap = {"classes": "whitespace-nowrap", "headerClasses": "whitespace-nowrap"}
        columns = [
            {"name": "state", "label": _("State"), "field": "state_label", "align": "left", **nowrap},
            {"name": "start", "label": _("Start"), "field": "start", "align": "left", "sortable": True, **nowrap},
            {"name": "duration", "label": _("Duration"), "field": "seconds", "align": "right", "sortable": True,
             **nowrap},
            {"name": "reason", "label": _("Reason"), "field": "reason", "align": "left",
             "classes": "min-w-[200px]"},
        ]
        return columns

    def _stops_table(self) -> ui.table:
        table = ui.table(columns=self._columns(), rows=[], row_key="id", pagination=10) \
            .props('flat dense wrap-cells table-header-class=text-grey-7 data-testid="stop-table"').classes("w-full")
        paginate_in(self._, table)
        table.add_slot("body-cell-state", r'''
            <q-td :props="props">
              <span class="inline-block rounded px-2 py-[2px] text-xs font-medium"
                    :style="{background: props.row.color, color: props.row.text_color}"
              >{{ props.row.state_label }}</span>
            </q-td>''')
        table.add_slot("body-cell-start", r'''
            <q-td :props="props">
              <div class="tabular-nums text-grey-9">{{ props.row.start }}</div>
              <div class="text-xs text-grey-6 tabular-nums">{{ props.row.until }}</div>
            </q-td>''')
        table.add_slot("body-cell-duration", r'''
            <q-td :props="props"><span class="tabular-nums font-medium">{{ props.row.duration }}</span></q-td>''')
        table.add_slot("body-cell-reason", r'''
            <q-td :props="props">
              <div class="flex items-start justify-between gap-2 no-wrap">
                <div class="min-w-0">
                  <div v-if="props.row.reason" class="text-grey-9" :data-testid="'stop-reason-' + props.row.id">
                    <span class="font-mono text-xs text-grey-7 mr-1">{{ props.row.reason_code }}</span
                    >{{ props.row.reason }}
                  </div>
                  <div v-else class="text-grey-5">{{ props.row.no_reason }}</div>
                  <div v-if="props.row.note" class="text-xs text-grey-7">{{ props.row.note }}</div>
                  <div v-if="props.row.by" class="text-[11px] text-grey-6">{{ props.row.by }}</div>
                </div>
                <q-btn v-if="props.row.can_assign" flat dense no-caps size="sm" color="primary" icon="edit_note"
                       :label="props.row.assign_label" :data-testid="'assign-' + props.row.id"
                       class="shrink-0 whitespace-nowrap" @click.stop="() => $parent.$emit('assign', props.row)" />
              </div>
            </q-td>''')
        if self.viewer.is_editor:
            table.on("assign", lambda e: self.reason_dialog(int(e.args["id"])))
        return table

    # ------------------------------------------------------------ data

    async def load(self, start: int, end: int) -> None:
        """Show [start, end); a slower answer to an earlier request is dropped."""
        self.window = (start, end)
        self.requests += 1
        request = self.requests
        try:
            ops = await run.io_bound(ops_data.machine_operations, self.viewer.user_id, self.machine_id, start, end)
        except (SignedOut, NotFound):
            ui.navigate.reload()
            return
        except AppError as exc:
            self.plan.set_text(str(exc.message))
            return
        if ops is None or request != self.requests:
            return
        self.ops = ops
        self._show()

    async def refresh(self) -> None:
        if self.window is not None:
            await self.load(*self.window)

    def _show(self) -> None:
        _, ops = self._, self.ops
        if ops is None:
            return
        kpi = ops.kpi
        for key, _label, kind in KPI_FIGURES:
            value = kpi.get(key)
            self.figure_values[key].set_text(percent(value) if kind == "percent" else duration(_, value))
        self.figure_values["oee"].classes(replace=f"text-xl font-semibold tabular-nums {oee_color(kpi.get('oee'))}")
        self.figure_values["parts"].set_text(f"{kpi['good']:,} / {kpi['produced']:,}")
        plan = (_("Shift calendar: {name}").format(name=ops.calendar_name) if ops.calendar_name
                else _("No shift calendar: planned around the clock."))
        busy = _("Planned busy time {duration}").format(duration=duration(_, kpi["pbt_s"]))
        failures = _("Breakdowns: {count}").format(count=kpi["failures"])
        self.plan.set_text(" · ".join((plan, busy, failures)))

        self.no_states.set_visibility(not ops.spans)
        self.timeline.options.clear()
        self.timeline.options.update(timeline_options(_, ops.spans, lang=self.lang, tz=self.tz, start=ops.start_ms,
                                                      end=ops.end_ms))
        self.timeline.update()
        self._state_totals()

        if kpi.get("ideal_cycle_s") is None:
            self.waterfall_hint.set_text(_("No ideal cycle time for this machine: the speed and quality losses are "
                                           "unknown. Set one on the Plant and machines page."))
        else:
            self.waterfall_hint.set_text(_("From planned busy time to fully productive time (= OEE × planned busy "
                                           "time)."))
        self.waterfall.options.clear()
        self.waterfall.options.update(waterfall_options(_, kpi))
        self.waterfall.update()
        self._show_stops()

    def _state_totals(self) -> None:
        _, ops = self._, self.ops
        assert ops is not None
        seconds: dict[str, float] = {}
        for span in ops.spans:
            seconds[span.state] = seconds.get(span.state, 0.0) + span.seconds
        self.state_totals.clear()
        with self.state_totals:
            for state, look in STATE_LOOKS.items():
                if state in seconds:
                    with ui.row().classes("items-center gap-1 no-wrap"):
                        ui.element("span").classes("inline-block w-2.5 h-2.5 rounded-sm") \
                            .style(f"background:{look.color}")
                        ui.label(f"{_(look.label)} {duration(_, seconds[state])}")

    def _sort(self, value: str) -> None:
        self.sort = value
        self._show_stops()

    def _show_stops(self) -> None:
        _, ops = self._, self.ops
        if ops is None:
            return
        stops = ops.stops
        key = (lambda s: (-s.seconds, -s.start_ms)) if self.sort == "longest" else (lambda s: -s.start_ms)
        shown = sorted(stops, key=key)[:STOPS_SHOWN]
        self.stop_count.set_text(str(len(stops)))
        if len(stops) > STOPS_SHOWN:
            self.stops_hint.set_text(_("Showing {shown} of {count} stops; choose a shorter range to see all.")
                                     .format(shown=STOPS_SHOWN, count=len(stops)))
        self.stops_hint.set_visibility(len(stops) > STOPS_SHOWN)
        self.stops.rows = [self._row(s) for s in shown]
        self.stops.props["no-data-label"] = _("No stops in this range.")
        self.stops.update()

    def _row(self, stop: ops_data.StateSpan) -> dict[str, Any]:
        _ = self._
        look = state_look(stop.state)
        by = None
        if stop.reason_by:
            when = local_time(int(stop.reason_at.timestamp() * 1000), self.tz) if stop.reason_at else ""
            by = _("by {name}, {when}").format(name=stop.reason_by, when=when)
        return {
            "id": stop.id, "state": stop.state, "state_label": _(look.label), "color": look.color,
            "text_color": text_on(look.color), "start": local_time(stop.start_ms, self.tz),
            "until": _("until {time}").format(time=local_time(stop.end_ms, self.tz)),
            "seconds": stop.seconds, "duration": duration(_, stop.seconds),
            "reason": stop.reason.path(self.lang) if stop.reason else None,
            "reason_code": stop.reason.code if stop.reason else None, "note": stop.note, "by": by,
            "no_reason": _("No reason yet"), "can_assign": self.viewer.is_editor,
            "assign_label": _("Assign reason") if stop.reason is None else _("Change"),
        }

    # ------------------------------------------------------------ the reason dialog

    def reason_dialog(self, stop_id: int) -> None:
        _ = self._
        stop = next((s for s in (self.ops.stops if self.ops else []) if s.id == stop_id), None)
        if stop is None:
            return
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes("w-[560px] max-w-full p-6 gap-3").props('data-testid="reason-dialog"'):
            ui.label(_("Stop reason")).classes("text-lg font-semibold text-grey-9")
            look = state_look(stop.state)
            with ui.row().classes("items-center gap-2 text-sm text-grey-8"):
                ui.label(_(look.label)).classes("rounded px-2 py-[2px] text-xs font-medium") \
                    .style(f"background:{look.color};color:{text_on(look.color)}")
                ui.label(f"{local_time(stop.start_ms, self.tz)} – {local_time(stop.end_ms, self.tz)} · "
                         f"{duration(_, stop.seconds)}").classes("tabular-nums")
            body = ui.column().classes("w-full gap-3")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            fields: dict[str, Any] = {}

            def fill() -> None:
                body.clear()
                fields.clear()
                choices = ops_data.reason_choices(self.viewer.user_id)
                save_button.set_enabled(bool(choices))
                with body:
                    if not choices:
                        self._no_reasons(fill)
                        return
                    options = {c.id: f"{c.code} · {c.path(self.lang)}" for c in choices}
                    current = stop.reason.id if stop.reason and stop.reason.id in options else None
                    fields["reason_id"] = ui.select(options, value=current, label=_("Reason"), with_input=True,
                                                    clearable=True) \
                        .props('outlined dense stack-label options-dense data-testid="reason-select"') \
                        .classes("w-full")
                    fields["note"] = ui.textarea(_("Note (optional)"), value=stop.note or "") \
                        .props('outlined dense stack-label autogrow maxlength=500 counter data-testid="reason-note"') \
                        .classes("w-full")

            def save() -> None:
                if "reason_id" not in fields:
                    return
                note = (fields["note"].value or "").strip() or None
                try:
                    ops_data.assign_reason(self.viewer.user_id, stop.id, fields["reason_id"].value, note)
                except ValidationError:
                    fields["note"].error = _("Enter at most {count} characters.").format(count=500)
                    return
                except AppError as exc:
                    field, message = service_message(_, exc)
                    if field in fields:
                        fields[field].error = message
                    else:
                        general.set_text(message)
                        general.set_visibility(True)
                    return
                dialog.close()
                ui.notify(_("Reason saved."), type="positive", timeout=2500)
                ui.timer(0, self.refresh, once=True)

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                save_button = ui.button(_("Save"), icon="check", on_click=save) \
                    .props('unelevated no-caps data-testid="reason-save"')
            fill()
        dialog.open()

    def _no_reasons(self, refill: Any) -> None:
        _ = self._
        empty_state("account_tree", _("No downtime reasons yet"),
                    _("Stops are explained with your organization's reason tree: breakdowns, changeovers, "
                      "material, quality, planned stops …"))
        if not self.viewer.is_manager:
            ui.label(_("An owner or administrator can install the standard reason tree.")) \
                .classes("text-sm text-grey-7 text-center w-full")
            return

        def install() -> None:
            try:
                added = ops_data.install_standard_reasons(self.viewer.user_id)
            except AppError as exc:
                ui.notify(service_message(_, exc)[1], type="negative")
                return
            ui.notify(_("{count} standard reasons installed.").format(count=added), type="positive", timeout=2500)
            refill()

        ui.button(_("Install the standard reasons"), icon="download_done", on_click=install) \
            .props('unelevated no-caps data-testid="install-reasons"').classes("mx-auto")
