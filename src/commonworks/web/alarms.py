"""The alarm list (``/alarms``): open alarms first — most severe, then newest — with the machine,
the message, since when, how often it came back, and its status; engineers and above
acknowledge an active alarm here (who and when are kept, as ``POST /alarms/{id}/acknowledge``).

The list refreshes with a timer; "Open" shows what is not cleared yet, "All" adds the
newest cleared ones.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import AppError, Invalid, NotFound
from commonworks.web import ops_data
from commonworks.web.common import (
    SignedOut,
    Viewer,
    age,
    local_datetime,
    local_time,
    now_ms,
    number,
    page_header,
    paginate_in,
    service_message,
    set_alarm_badges,
    shell,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.ops_format import ALARM_STATUSES, SEVERITY_LOOKS, text_on

REFRESH_S = 5.0
FILTERS = {"open": N_("Open"), "all": N_("All")}
STATUS_COLORS = {"active": "negative", "acknowledged": "orange-8", "cleared": "grey-6"}


@ui.page("/alarms")
def alarms_page() -> RedirectResponse | None:
    signed = shell(N_("Alarms"), "/alarms")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    AlarmList(viewer, _).build()
    return None


class AlarmList:
    def __init__(self, viewer: Viewer, _: Translate) -> None:
        self.viewer = viewer
        self._ = _
        self.filter = "open"
        self.tz = ops_data.timezone(viewer.user_id)

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            header = page_header(_("Alarms"), _("Open alarms first. Acknowledge an alarm to show it is being "
                                                "handled; it clears by itself when its condition ends."))
            with header, ui.row().classes("items-center gap-2 text-grey-6"):
                ui.spinner("dots", size="20px", color="grey-6")
                ui.label(_("Updates every {count} s").format(count=int(REFRESH_S))).classes("text-xs")
            with ui.row().classes("w-full items-center gap-3"):
                filters = ui.toggle({k: _(v) for k, v in FILTERS.items()}, value=self.filter,
                                    on_change=lambda e: self._filter(e.value))
                filters.props("no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                              "padding='4px 14px' data-testid=alarm-filter").classes("border border-gray-300 rounded "
                                                                                     "bg-white")
                self.summary = ui.row().classes("items-center gap-2")
            with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
                self.table = ui.table(columns=self._columns(), rows=[], row_key="id", pagination=25) \
                    .props('flat table-header-class=text-grey-7 data-testid="alarm-table"').classes("w-full")
                self.table.props["no-data-label"] = _("No open alarms.")
                paginate_in(_, self.table)
                self._slots()
        self.show(ops_data.alarm_list(self.viewer.user_id, open_only=True))
        ui.timer(REFRESH_S, self.refresh)

    def _columns(self) -> list[dict[str, Any]]:
        _ = self._
        nowrap = {"classes": "whitespace-nowrap", "headerClasses": "whitespace-nowrap"}
        columns = [
            {"name": "severity", "label": _("Severity"), "field": "severity_rank", "align": "left", **nowrap},
            {"name": "machine", "label": _("Machine"), "field": "machine", "align": "left", **nowrap},
            {"name": "message", "label": _("Message"), "field": "message", "align": "left"},
            {"name": "since", "label": _("Since"), "field": "raised_ms", "align": "left", **nowrap},
            {"name": "occurrences", "label": _("Occurrences"), "field": "occurrences", "align": "right", **nowrap},
            {"name": "status", "label": _("Status"), "field": "status", "align": "left", **nowrap},
        ]
        if self.viewer.is_editor:
            columns.append({"name": "actions", "label": "", "field": "id", "align": "right"})
        return columns

    def _slots(self) -> None:
        self.table.add_slot("body-cell-severity", r'''
            <q-td :props="props" :style="{borderLeft: '5px solid ' + props.row.color}">
              <span class="inline-flex items-center gap-1 rounded px-2 py-[2px] text-xs font-semibold"
                    :style="{background: props.row.color, color: props.row.text_color}">
                <q-icon :name="props.row.icon" size="14px" />{{ props.row.severity }}
              </span>
            </q-td>''')
        self.table.add_slot("body-cell-machine", r'''
            <q-td :props="props">
              <a :href="'/machines/' + props.row.machine_id" class="text-primary no-underline font-medium"
              >{{ props.row.machine }}</a>
              <div class="text-xs text-grey-6 font-mono">{{ props.row.machine_key }}</div>
            </q-td>''')
        self.table.add_slot("body-cell-message", r'''
            <q-td :props="props">
              <div class="text-grey-9 whitespace-normal">{{ props.row.message }}</div>
              <div v-if="props.row.value" class="text-xs text-grey-6">{{ props.row.value }}</div>
            </q-td>''')
        self.table.add_slot("body-cell-since", r'''
            <q-td :props="props">
              <div class="tabular-nums text-grey-9">{{ props.row.since }}</div>
              <div class="text-xs text-grey-6">{{ props.row.age }}</div>
            </q-td>''')
        self.table.add_slot("body-cell-status", r'''
            <q-td :props="props" :data-testid="'alarm-status-' + props.row.id">
              <q-badge :color="props.row.status_color" :label="props.row.status_label" rounded />
              <div v-if="props.row.status_detail" class="text-xs text-grey-7 pt-1">{{ props.row.status_detail }}</div>
            </q-td>''')
        if self.viewer.is_editor:
            self.table.add_slot("body-cell-actions", r'''
                <q-td :props="props">
                  <q-btn v-if="props.row.status === 'active'" unelevated dense no-caps size="sm" color="primary"
                         icon="done" :label="props.row.ack_label" :data-testid="'ack-' + props.row.id"
                         class="px-2" @click.stop="() => $parent.$emit('acknowledge', props.row)" />
                </q-td>''')
            self.table.on("acknowledge", lambda e: self.acknowledge(int(e.args["id"])))

    def _row(self, alarm: ops_data.AlarmRow, now: int) -> dict[str, Any]:
        _ = self._
        look = SEVERITY_LOOKS.get(alarm.severity, SEVERITY_LOOKS["warning"])
        detail = ""
        if alarm.status == "acknowledged" and alarm.acknowledged_by:
            detail = _("by {name}, {when}").format(name=alarm.acknowledged_by,
                                                   when=local_datetime(alarm.acknowledged_at, self.tz))
        elif alarm.status == "cleared":
            detail = _("cleared {when}").format(when=local_time(alarm.cleared_ms, self.tz))
        return {
            "id": alarm.id, "severity": _(look.label), "severity_rank": alarm.severity, "color": look.color,
            "text_color": text_on(look.color), "icon": look.icon, "machine_id": alarm.machine_id,
            "machine": alarm.machine_name, "machine_key": alarm.machine_key, "message": alarm.message,
            "value": _("Value: {value}").format(value=number(alarm.value)) if alarm.value is not None else "",
            "raised_ms": alarm.raised_ms, "since": local_time(alarm.raised_ms, self.tz),
            "age": age(_, alarm.raised_ms, now, self.tz), "occurrences": alarm.occurrences, "status": alarm.status,
            "status_label": _(ALARM_STATUSES[alarm.status]), "status_color": STATUS_COLORS[alarm.status],
            "status_detail": detail, "ack_label": _("Acknowledge"),
        }

    def show(self, alarms: list[ops_data.AlarmRow]) -> None:
        _, now = self._, now_ms()
        self.table.rows = [self._row(a, now) for a in alarms]
        self.table.props["no-data-label"] = _("No open alarms.") if self.filter == "open" else _("No alarms yet.")
        self.table.update()
        open_alarms = [a for a in alarms if a.is_open]
        self.summary.clear()
        with self.summary:
            for severity, look in SEVERITY_LOOKS.items():
                count = sum(a.severity == severity for a in open_alarms)
                if count:
                    ui.label(f"{_(look.label)} · {count}").classes("rounded-full px-3 py-1 text-xs font-semibold") \
                        .style(f"background: {look.color}; color: {text_on(look.color)}")
            unacknowledged = sum(a.status == "active" for a in open_alarms)
            ui.label(_("{open} open, {active} not acknowledged").format(open=len(open_alarms),
                                                                       active=unacknowledged)) \
                .classes("text-sm text-grey-7").props('data-testid="alarm-summary"')
        set_alarm_badges(len(open_alarms))

    async def _filter(self, value: str) -> None:
        self.filter = value
        await self.refresh()

    async def refresh(self) -> None:
        try:
            alarms = await run.io_bound(ops_data.alarm_list, self.viewer.user_id, open_only=self.filter == "open")
        except SignedOut:
            ui.navigate.to("/login")
            return
        if alarms is not None:
            self.show(alarms)

    async def acknowledge(self, alarm_id: int) -> None:
        _ = self._
        try:
            await run.io_bound(ops_data.acknowledge_alarm, self.viewer.user_id, alarm_id)
        except SignedOut:
            ui.navigate.to("/login")
            return
        except (Invalid, NotFound):
            ui.notify(_("This alarm has cleared or gone meanwhile."), type="warning")
        except AppError as exc:
            ui.notify(service_message(_, exc)[1], type="negative")
        else:
            ui.notify(_("Alarm acknowledged."), type="positive", timeout=2500)
        await self.refresh()
