"""Spare capacity (``/network/capacity``): for each capability, and for each of its machines, the next
28 days as stacked bars — booked hours, the expected usual load (the machine's utilisation learned
from its own state history) and the free hours, up to the shift hours — with the hours published
to the network drawn as a line.

Engineers and above publish a capability's free hours (a share of them, at most so many hours a
day, at a price per hour; coarse, in half hours, never telemetry) or withdraw them, as
``POST /network/capacity/publish`` and ``DELETE /network/capabilities/{id}/offers``.
"""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import ui

from commonworks.core.errors import AppError
from commonworks.network.schemas import CapabilityCapacity, CapacityDay, MachineCapacity, PublishIn
from commonworks.web import network_data as nd
from commonworks.web.common import Viewer, confirm, empty_state, page_header, save_form, service_message, shell
from commonworks.web.layout import N_, Translate
from commonworks.web.network_format import capacity_options, money, num, process_options, share_percent

INPUT = "outlined dense stack-label"


@ui.page("/network/capacity")
def capacity_page() -> RedirectResponse | None:
    signed = shell(N_("Spare capacity"), "/network/capacity")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    CapacityCalendar(viewer, lang, _).build()
    return None


def _total(days: list[CapacityDay], attribute: str, first: int | None = None) -> float:
    values = [getattr(d, attribute) or 0.0 for d in days[:first]]
    return round(sum(values), 1)


class CapacityCalendar:
    def __init__(self, viewer: Viewer, lang: str, _: Translate) -> None:
        self.viewer = viewer
        self.lang = lang
        self._ = _

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            page_header(
                _("Spare capacity"),
                _(
                    "Free hours a day for the next 4 weeks: shift hours − booked jobs − the usual load "
                    "learned from each machine's own history. Publish what you want to sell; buyers see "
                    "only the published hours per day and capability."
                ),
            )
            self.calendar()

    @ui.refreshable_method
    def calendar(self) -> None:
        _ = self._
        view = nd.capacity(self.viewer.user_id)
        report = view.report
        if not report.capabilities:
            with ui.card().props("flat bordered").classes("w-full"):
                empty_state(
                    "event_available",
                    _("No capabilities yet"),
                    _("Add a capability to your profile first; its machines' free hours appear here."),
                )
                with ui.row().classes("w-full justify-center pb-6"):
                    ui.button(
                        _("Open the capability profile"),
                        icon="badge",
                        on_click=lambda: ui.navigate.to("/network/profile"),
                    ).props("flat no-caps")
            return
        machines = {m.machine_id: m for m in report.machines}
        for entry in report.capabilities:
            capability = view.capabilities.get(entry.capability_id)
            self.capability_card(
                entry,
                [machines[i] for i in entry.machines if i in machines],
                capability.price_per_hour if capability else None,
            )

    def capability_card(self, entry: CapabilityCapacity, machines: list[MachineCapacity], price: float | None) -> None:
        _ = self._
        published = any(d.published_h is not None for d in entry.days)
        with ui.card().props(f'flat bordered data-testid="capacity-{entry.capability_id}"').classes("w-full p-0 gap-0"):
            with ui.row().classes("w-full items-center gap-3 px-5 py-3 no-wrap bg-grey-1 rounded-t max-md:flex-wrap"):
                ui.icon("event_available", size="26px", color="primary")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    ui.label(process_options(self.lang).get(entry.process, entry.process)).classes(
                        "text-lg font-semibold text-grey-9"
                    )
                    names = ", ".join(m.name for m in machines) or _("No machines: declared hours a day")
                    ui.label(names).classes("text-xs text-grey-7")
                if self.viewer.is_editor:
                    ui.button(
                        _("Publish…"), icon="campaign", on_click=lambda e=entry, p=price: self.publish_dialog(e, p)
                    ).props(f'unelevated no-caps data-testid="publish-{entry.capability_id}"')
                    if published:
                        ui.button(_("Withdraw"), icon="unpublished", on_click=lambda e=entry: self.withdraw(e)).props(
                            f'flat no-caps color=negative data-testid="withdraw-{entry.capability_id}"'
                        )
            with ui.row().classes("w-full gap-3 px-5 pt-3"):
                figures = [
                    (_("Free, next 7 days"), f"{num(_total(entry.days, 'free_h', 7))} h", "free-7"),
                    (_("Free, 4 weeks"), f"{num(_total(entry.days, 'free_h'))} h", "free-28"),
                    (_("Booked, 4 weeks"), f"{num(_total(entry.days, 'booked_h'))} h", "booked-28"),
                ]
                if published:
                    offered = next((d.price_per_hour for d in entry.days if d.published_h is not None), None)
                    figures.append(
                        (
                            _("Published, 4 weeks"),
                            f"{num(_total(entry.days, 'published_h'))} h"
                            + (f" · {money(offered)}/h" if offered is not None else ""),
                            "published",
                        )
                    )
                else:
                    figures.append((_("Published, 4 weeks"), _("Nothing published"), "published"))
                for label, value, key in figures:
                    with ui.column().classes("gap-0 rounded border border-gray-200 px-3 py-1 min-w-[150px]"):
                        ui.label(label).classes("text-xs text-grey-7")
                        ui.label(value).classes("text-base font-semibold text-grey-9 tabular-nums").props(
                            f'data-testid="capacity-{key}-{entry.capability_id}"'
                        )
            ui.echart(capacity_options(_, entry.days)).classes("w-full h-72 px-3 pb-2").props(
                f'data-testid="capacity-chart-{entry.capability_id}"'
            )
            if machines:
                title = _("Per machine ({count})").format(count=len(machines))
                with (
                    ui.expansion(title, icon="precision_manufacturing")
                    .classes("w-full border-t border-gray-200")
                    .props("dense")
                ):
                    for machine in machines:
                        self.machine_block(machine)

    def machine_block(self, machine: MachineCapacity) -> None:
        _ = self._
        with ui.column().classes("w-full gap-1 px-4 pb-3"):
            with ui.row().classes("items-baseline gap-3"):
                ui.label(machine.name).classes("text-sm font-semibold text-grey-9")
                if machine.utilisation is None:
                    load = _("Usual load unknown (no state history yet): counted as none")
                else:
                    load = _("Usual load {share} of planned time, learned over {days} days").format(
                        share=share_percent(machine.utilisation), days=machine.history_days
                    )
                ui.label(load).classes("text-xs text-grey-7")
            ui.echart(capacity_options(_, machine.days)).classes("w-full h-56").props(
                f'data-testid="machine-capacity-chart-{machine.machine_id}"'
            )

    # ------------------------------------------------------------ publishing

    def publish_dialog(self, entry: CapabilityCapacity, price: float | None) -> None:
        _ = self._
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes("w-[520px] max-w-full p-6 gap-3").props('data-testid="publish-dialog"'):
            ui.label(_("Publish spare hours")).classes("text-lg font-semibold text-grey-9")
            ui.label(process_options(self.lang).get(entry.process, entry.process)).classes("text-sm text-grey-7")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            share = (
                ui.number(_("Share of the free hours (%)"), value=100, min=1, max=100, precision=0)
                .props(INPUT)
                .classes("w-full")
            )
            cap = (
                ui.number(_("At most hours a day (empty: no limit)"), value=None, min=0).props(INPUT).classes("w-full")
            )
            offer_price = ui.number(_("Price per hour (CNY)"), value=price, min=0).props(INPUT).classes("w-full")
            days = ui.number(_("Days to publish"), value=28, min=1, max=28, precision=0).props(INPUT).classes("w-full")
            ui.label(
                _(
                    "Offers are coarse on purpose: whole half hours per day, never your machines' data. "
                    "Publishing again replaces the earlier offers."
                )
            ).classes("text-xs text-grey-6")
            fields = {"share": share, "max_hours_per_day": cap, "price_per_hour": offer_price, "days": days}

            def save() -> None:
                values = {
                    "capability_id": entry.capability_id,
                    "max_hours_per_day": cap.value,
                    "price_per_hour": offer_price.value,
                }
                if share.value is not None:  # empty: the schema's default (all of them)
                    values["share"] = share.value / 100
                if days.value is not None:
                    values["days"] = int(days.value)
                done = save_form(_, fields, general, PublishIn, values, lambda m: nd.publish(self.viewer.user_id, m))
                if done:
                    dialog.close()
                    hours = sum(o.hours for o in done)
                    ui.notify(
                        _("Published {hours} h over {days} days.").format(hours=num(hours), days=len(done)),
                        type="positive",
                        timeout=2500,
                    )
                    self.calendar.refresh()

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(_("Publish"), icon="campaign", on_click=save).props(
                    'unelevated no-caps data-testid="publish-save"'
                )
        dialog.open()

    def withdraw(self, entry: CapabilityCapacity) -> None:
        _ = self._

        def agree() -> str | None:
            try:
                count = nd.withdraw(self.viewer.user_id, entry.capability_id)
            except AppError as exc:
                return service_message(_, exc)[1]
            ui.notify(_("Withdrew {count} daily offers.").format(count=count), type="positive", timeout=2500)
            self.calendar.refresh()
            return None

        confirm(
            _,
            _("Withdraw the published hours?"),
            _("Buyers no longer see spare hours of this capability until you publish again."),
            _("Withdraw"),
            agree,
        )
