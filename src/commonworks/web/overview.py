"""The plant overview (``/operations``): a tile per machine in the colour of its current state, with
today's OEE and its open alarms; above them the plant's OEE today and the machines per state.

"Current state" is the newest stored machine-state interval (the states the platform derives
from the machines' tags, see :mod:`commonworks.operations.derive`), not a raw tag value;
"today" starts at the local midnight of each machine's site. The page refreshes with a timer,
changing the tiles in place.
"""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.web import ops_data
from commonworks.web.common import (
    MACHINE_ICONS,
    SignedOut,
    Viewer,
    empty_state,
    local_time,
    now_ms,
    page_header,
    set_alarm_badges,
    shell,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.ops_format import SEVERITY_LOOKS, STATE_LOOKS, duration, oee_color, percent, state_look, text_on

REFRESH_S = 15.0
STALE_AFTER_MS = 10 * 60_000  # a newest state that ended this long ago is shown with its end


@ui.page("/operations")
def overview_page() -> RedirectResponse | None:
    signed = shell(N_("Plant overview"), "/operations")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    PlantOverview(viewer, _).build()
    return None


class OpsTile:
    """One machine's tile; :meth:`show` updates it in place."""

    def __init__(self, _: Translate, m: ops_data.MachineNow) -> None:
        self._ = _
        link = ui.link(target=f"/machines/{m.machine_id}").classes("no-underline text-inherit block h-full")
        with link, ui.card().props(f'flat bordered data-testid="ops-tile-{m.key}"') \
                .classes("w-full h-full p-0 gap-0 hover:shadow-md transition-shadow overflow-hidden") as card:
            self.card = card
            with ui.row().classes("w-full items-start gap-3 px-4 pt-3 pb-2 no-wrap"):
                ui.icon(MACHINE_ICONS.get(m.machine_type, "build"), size="26px").classes("text-grey-7 mt-1")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    ui.label(m.name).classes("text-base font-semibold text-grey-9 truncate w-full")
                    ui.label(f"{m.key} · {m.line_name}").classes("text-xs text-grey-7 truncate w-full")
                self.state = ui.label().classes("rounded-full px-3 py-1 text-xs font-semibold whitespace-nowrap "
                                                "shrink-0").props('data-testid="tile-state"')
            self.since = ui.label().classes("text-xs text-grey-7 px-4")
            with ui.row().classes("w-full items-end justify-between px-4 pt-2 pb-3 no-wrap"):
                with ui.column().classes("gap-0"):
                    ui.label(_("OEE today")).classes("text-xs text-grey-7")
                    self.oee = ui.label().classes("text-3xl font-semibold tabular-nums leading-tight") \
                        .props('data-testid="tile-oee"')
                with ui.grid(columns="auto auto").classes("gap-x-2 gap-y-0 text-xs"):
                    self.factors = []
                    for label in (N_("Availability"), N_("Performance"), N_("Quality")):
                        ui.label(_(label)).classes("text-grey-7")
                        self.factors.append(ui.label().classes("text-grey-9 font-medium tabular-nums text-right"))
            ui.separator()
            with ui.row().classes("w-full items-center gap-2 px-4 py-2 no-wrap"):
                self.alarm_icon = ui.icon("notifications_none", size="18px")
                self.alarms = ui.label().classes("text-xs grow").props('data-testid="tile-alarms"')
                self.parts = ui.label().classes("text-xs text-grey-7 tabular-nums")
        self.show(m, now_ms())

    def show(self, m: ops_data.MachineNow, now: int) -> None:
        _ = self._
        look = state_look(m.state)
        self.card.style(f"border-left: 6px solid {look.color}; background: linear-gradient({look.color}14, "
                        f"#ffffff 70%)")
        self.state.set_text(_(look.label))
        self.state.style(f"background: {look.color}; color: {text_on(look.color)}")
        if m.state_since_ms is None:
            self.since.set_text(_("No states stored yet"))
        elif m.state_until_ms is not None and m.state_until_ms < now - STALE_AFTER_MS:
            self.since.set_text(_("Last known state, until {time}").format(
                time=local_time(m.state_until_ms, m.timezone)))
        else:
            self.since.set_text(_("Since {time} · {duration}").format(
                time=local_time(m.state_since_ms, m.timezone, with_date=now - m.state_since_ms >= 86_400_000),
                duration=duration(_, (now - m.state_since_ms) / 1000)))
        oee = m.kpi.get("oee")
        self.oee.set_text(percent(oee))
        self.oee.classes(replace=f"text-3xl font-semibold tabular-nums leading-tight {oee_color(oee)}")
        for label, key in zip(self.factors, ("availability", "effectiveness", "quality"), strict=True):
            label.set_text(percent(m.kpi.get(key)))
        if m.open_alarms:
            severity = SEVERITY_LOOKS.get(m.worst_severity or "", SEVERITY_LOOKS["warning"])
            self.alarm_icon.props("name=notifications_active")
            self.alarm_icon.style(f"color: {severity.color}")
            self.alarms.set_text(_("Open alarms: {count}").format(count=m.open_alarms))
            self.alarms.style(f"color: {severity.color}; font-weight: 600")
        else:
            self.alarm_icon.props("name=notifications_none")
            self.alarm_icon.style("color: #9e9e9e")
            self.alarms.set_text(_("No open alarms"))
            self.alarms.style("color: #757575; font-weight: 400")
        self.parts.set_text(_("{good} / {produced} good").format(good=f"{m.kpi['good']:,}",
                                                                 produced=f"{m.kpi['produced']:,}"))


class PlantOverview:
    def __init__(self, viewer: Viewer, _: Translate) -> None:
        self.viewer = viewer
        self._ = _
        self.tiles: dict[int, OpsTile] = {}

    def build(self) -> None:
        _ = self._
        overview = ops_data.plant_overview(self.viewer.user_id, now_ms())
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            header = page_header(_("Plant overview"),
                                 _("The state of every machine now, and how today went since midnight."))
            with header, ui.row().classes("items-center gap-2 text-grey-6"):
                ui.spinner("dots", size="20px", color="grey-6")
                ui.label(_("Updates every {count} s").format(count=int(REFRESH_S))).classes("text-xs")
            self.summary = ui.row().classes("w-full gap-3 items-stretch")
            self.grid = ui.element("div").classes("w-full grid gap-4 grid-cols-[repeat(auto-fill,minmax(300px,1fr))]")
        self._show(overview, rebuild=True)
        ui.timer(REFRESH_S, self.refresh)

    def _show(self, overview: ops_data.Overview, *, rebuild: bool) -> None:
        self._summarise(overview)
        if rebuild or [m.machine_id for m in overview.machines] != list(self.tiles):
            self._build_tiles(overview)
            return
        for m in overview.machines:
            self.tiles[m.machine_id].show(m, overview.now_ms)

    def _build_tiles(self, overview: ops_data.Overview) -> None:
        _ = self._
        self.grid.clear()
        self.tiles = {}
        with self.grid:
            if not overview.machines:
                with ui.card().props("flat bordered").classes("col-span-full"):
                    empty_state("precision_manufacturing", _("No machines yet"),
                                _("Add machines on the Plant and machines page; their states appear here."))
            for m in overview.machines:
                self.tiles[m.machine_id] = OpsTile(_, m)

    def _figure(self, label: str, value: str, *, testid: str, color: str = "text-grey-9", hint: str = "",
                warning: str = "") -> None:
        with ui.card().props(f'flat bordered data-testid="{testid}"').classes("px-4 py-3 gap-0 min-w-[150px]"):
            ui.label(label).classes("text-xs text-grey-7")
            ui.label(value).classes(f"text-2xl font-semibold tabular-nums leading-tight {color}")
            if hint:
                ui.label(hint).classes("text-xs text-grey-6")
            if warning:
                ui.label(warning).classes("text-xs text-amber-9 max-w-[260px]")

    def _summarise(self, overview: ops_data.Overview) -> None:
        _ = self._
        total = overview.total
        self.summary.clear()
        with self.summary:
            self._figure(_("Plant OEE today"), percent(total.get("oee")), testid="plant-oee",
                         color=oee_color(total.get("oee")),
                         hint=_("A {a} · P {p} · Q {q}").format(a=percent(total.get("availability")),
                                                               p=percent(total.get("effectiveness")),
                                                               q=percent(total.get("quality"))),
                         warning=self._without_ideal_cycle(overview))
            alarms = overview.open_alarms
            with ui.link(target="/alarms").classes("no-underline text-inherit"):
                self._figure(_("Open alarms"), str(alarms), testid="plant-alarms",
                             color="text-negative" if alarms else "text-grey-9",
                             hint=_("Acknowledge them on the Alarms page"))
            self._figure(_("Machines"), str(len(overview.machines)), testid="plant-machines",
                         hint=_("Day starts 00:00 ({zone})").format(zone=overview.timezone))
            with ui.card().props('flat bordered data-testid="plant-states"').classes("px-4 py-3 gap-2 grow"):
                ui.label(_("Machines per state")).classes("text-xs text-grey-7")
                counts = overview.state_counts()
                with ui.row().classes("gap-2"):
                    for state, look in [*STATE_LOOKS.items(), (None, state_look(None))]:
                        if counts.get(state):
                            ui.label(f"{_(look.label)} · {counts[state]}") \
                                .classes("rounded-full px-3 py-1 text-xs font-semibold") \
                                .style(f"background: {look.color}; color: {text_on(look.color)}")
        set_alarm_badges(overview.open_alarms)

    def _without_ideal_cycle(self, overview: ops_data.Overview) -> str:
        """The plant OEE counts the planned time of machines without an ideal cycle time, not their output."""
        keys = [m.key for m in overview.machines if m.kpi.get("ideal_cycle_s") is None]
        if not keys:
            return ""
        return self._("Without an ideal cycle time, so counted as making nothing: {machines}").format(
            machines=", ".join(keys))

    async def refresh(self) -> None:
        try:
            overview = await run.io_bound(ops_data.plant_overview, self.viewer.user_id, now_ms())
        except SignedOut:
            ui.navigate.to("/login")
            return
        if overview is not None:
            self._show(overview, rebuild=False)
