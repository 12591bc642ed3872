"""The capability profile (``/network/profile``): what the enterprise tells the network about itself
— published or not, descriptions in Chinese and English, certifications, usual lead time — and
its capabilities (a process on the open taxonomy with its materials, work envelope, tolerance,
finish, batch range, price per hour and the machines that provide it).

Engineers and above change both (the API's writer roles); viewers read. Forms are validated
with the API's schemas and saved through the same logic as ``PUT /network/profile`` and the
``/network/capabilities`` endpoints.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from commonworks.core.errors import AppError
from commonworks.network.schemas import CapabilityCreate, CapabilityOut, CapabilityUpdate, ProfileIn
from commonworks.web import network_data as nd
from commonworks.web.common import (
    Viewer,
    card_title,
    confirm,
    empty_state,
    page_header,
    save_form,
    service_message,
    shell,
    text_or_none,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.network_format import (
    batch_text,
    certification_options,
    envelope_text,
    finish_options,
    material_options,
    money,
    num,
    process_options,
    term_name,
)

INPUT = "outlined dense stack-label"


@ui.page("/network/profile")
def profile_page() -> RedirectResponse | None:
    signed = shell(N_("Capability profile"), "/network/profile")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    ProfileEditor(viewer, lang, _).build()
    return None


def _number(value: Any) -> float | None:
    return float(value) if value is not None and value != "" else None


def _whole(value: Any) -> int | None:
    return int(value) if value is not None and value != "" else None


class ProfileEditor:
    def __init__(self, viewer: Viewer, lang: str, _: Translate) -> None:
        self.viewer = viewer
        self.lang = lang
        self._ = _
        self.view = nd.profile_view(viewer.user_id)

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-6xl mx-auto p-6 gap-5"):
            page_header(
                _("Capability profile"),
                _(
                    "What your enterprise offers the network. Buyers find you by these capabilities; "
                    "nothing of your machines' data is shown to them."
                ),
            )
            self.profile_card()
            self.capabilities_card()

    # ------------------------------------------------------------ the profile

    def profile_card(self) -> None:
        _, profile, editable = self._, self.view.profile, self.viewer.is_editor
        with ui.card().props('flat bordered data-testid="profile-card"').classes("w-full p-5 gap-3"):
            with ui.row().classes("w-full items-center justify-between"):
                card_title("storefront", _("Network profile"))
                published = ui.switch(_("Published to the network"), value=profile.published).props(
                    'color=positive data-testid="profile-published"'
                )
            ui.label(
                _(
                    "While the profile is not published, your enterprise is not among any buyer's matches "
                    "and your reputation is not shown."
                )
            ).classes("text-sm text-grey-7")
            if not self.view.located:
                with (
                    ui.row()
                    .classes("w-full items-center gap-2 rounded bg-orange-1 px-3 py-2 no-wrap")
                    .props('data-testid="profile-unlocated"')
                ):
                    ui.icon("location_off", size="20px", color="orange-9")
                    ui.label(
                        _(
                            "Your organization has no location (latitude and longitude) yet: buyers cannot be "
                            "matched with it until an owner or administrator sets it."
                        )
                    ).classes("text-sm text-orange-10")
            with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-2 max-md:grid-cols-1"):
                zh = (
                    ui.textarea(_("Description (Chinese)"), value=profile.description_zh or "")
                    .props(INPUT + " autogrow")
                    .classes("w-full")
                )
                en = (
                    ui.textarea(_("Description (English)"), value=profile.description_en or "")
                    .props(INPUT + " autogrow")
                    .classes("w-full")
                )
                certs = (
                    ui.select(
                        certification_options(self.lang),
                        label=_("Certifications"),
                        multiple=True,
                        value=list(profile.certifications),
                    )
                    .props(INPUT + ' use-chips data-testid="profile-certifications"')
                    .classes("w-full")
                )
                lead = (
                    ui.number(_("Usual lead time (days)"), value=profile.lead_time_days, min=0, max=365, precision=0)
                    .props(INPUT)
                    .classes("w-full")
                )
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            fields = {
                "published": published,
                "description_zh": zh,
                "description_en": en,
                "certifications": certs,
                "lead_time_days": lead,
            }
            for element in fields.values():
                element.set_enabled(editable)

            def save() -> None:
                values = {
                    "published": bool(published.value),
                    "description_zh": text_or_none(zh.value),
                    "description_en": text_or_none(en.value),
                    "certifications": list(certs.value or []),
                    "lead_time_days": _whole(lead.value) if lead.value is not None else 7,
                }
                done = save_form(
                    _, fields, general, ProfileIn, values, lambda m: nd.save_profile(self.viewer.user_id, m)
                )
                if done:
                    ui.notify(_("Profile saved."), type="positive", timeout=2500)

            if editable:
                with ui.row().classes("w-full justify-end"):
                    ui.button(_("Save profile"), icon="check", on_click=save).props(
                        'unelevated no-caps data-testid="profile-save"'
                    )

    # ------------------------------------------------------------ capabilities

    def capabilities_card(self) -> None:
        _ = self._
        with ui.card().props('flat bordered data-testid="capabilities-card"').classes("w-full p-5 gap-3"):
            with ui.row().classes("w-full items-center justify-between"):
                card_title("construction", _("Capabilities"))
                if self.viewer.is_editor:
                    ui.button(_("Add capability"), icon="add", on_click=lambda: self.capability_dialog(None)).props(
                        'unelevated no-caps data-testid="add-capability"'
                    )
            self.capability_list()

    @ui.refreshable_method
    def capability_list(self) -> None:
        _ = self._
        capabilities = self.view.capabilities
        if not capabilities:
            hint = (
                _("Add the processes you offer, with their limits and the machines that provide them.")
                if self.viewer.is_editor
                else _("An engineer or manager of your organization adds them.")
            )
            empty_state("construction", _("No capabilities yet"), hint)
            return
        with ui.list().props("bordered separator").classes("w-full rounded-borders"):
            for capability in capabilities:
                self.capability_item(capability)

    def _machine_names(self, ids: list[int]) -> str:
        names = {m.id: m.label for m in self.view.machines}
        return ", ".join(names.get(i, f"#{i}") for i in ids)

    def capability_item(self, c: CapabilityOut) -> None:
        _, lang = self._, self.lang
        with ui.item().classes("py-3").props(f'data-testid="capability-{c.id}"'):
            with ui.item_section().props("avatar"):
                ui.icon("precision_manufacturing", size="26px", color="primary")
            with ui.item_section():
                ui.label(process_options(lang).get(c.process, c.process)).classes("text-[15px] font-medium text-grey-9")
                with ui.row().classes("gap-1 pt-1"):
                    if c.materials:
                        for material in c.materials:
                            ui.badge(term_name(material, lang)).props("color=blue-1 text-color=primary").classes(
                                "text-[11px]"
                            )
                    else:
                        ui.badge(_("Any material")).props("outline color=grey-7").classes("text-[11px]")
                facts = []
                envelope = envelope_text(c.envelope_x_mm, c.envelope_y_mm, c.envelope_z_mm)
                if envelope:
                    facts.append(_("Envelope {size}").format(size=envelope))
                if c.tolerance_mm is not None:
                    facts.append(_("Tolerance ±{mm} mm").format(mm=num(c.tolerance_mm)))
                if c.finish_ra_um is not None:
                    facts.append(f"Ra {num(c.finish_ra_um)} µm")
                facts.append(_("Batch {range}").format(range=batch_text(c.batch_min, c.batch_max)))
                if c.price_per_hour is not None:
                    facts.append(_("{price} per hour").format(price=money(c.price_per_hour)))
                ui.item_label(" · ".join(facts)).props("caption").classes("pt-1")
                if c.machine_ids:
                    ui.item_label(_("Machines: {names}").format(names=self._machine_names(c.machine_ids))).props(
                        "caption"
                    )
                elif c.hours_per_day is not None:
                    ui.item_label(
                        _("Declared {hours} h a day (no machines attached)").format(hours=num(c.hours_per_day))
                    ).props("caption")
                if c.note:
                    ui.item_label(c.note).props("caption").classes("italic")
            if self.viewer.is_editor:
                with ui.item_section().props("side"), ui.row().classes("gap-0 no-wrap"):
                    for icon, label, handler in (
                        ("edit", _("Edit"), lambda x=c: self.capability_dialog(x)),
                        ("delete", _("Delete"), lambda x=c: self.delete(x)),
                    ):
                        button = ui.button(icon=icon, on_click=handler).props("flat round dense color=grey-7 size=sm")
                        button.tooltip(label)
                        button.props["aria-label"] = label

    def _reload(self) -> None:
        self.view = nd.profile_view(self.viewer.user_id)
        self.capability_list.refresh()

    def capability_dialog(self, c: CapabilityOut | None) -> None:
        _, lang = self._, self.lang
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        machines = {m.id: m.label for m in self.view.machines}
        finishes = finish_options(lang)
        with dialog, ui.card().classes("w-[760px] max-w-full p-6 gap-3").props('data-testid="capability-dialog"'):
            ui.label(_("New capability") if c is None else _("Edit capability")).classes(
                "text-lg font-semibold text-grey-9"
            )
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            with ui.grid(columns=3).classes("w-full gap-x-4 gap-y-1 max-md:grid-cols-1"):
                process = (
                    ui.select(
                        process_options(lang),
                        label=_("Process (DIN 8580 group › process)"),
                        with_input=True,
                        value=c.process if c else None,
                    )
                    .props(INPUT + ' data-testid="capability-process"')
                    .classes("col-span-3 max-md:col-span-1")
                )
                materials = (
                    ui.select(
                        material_options(lang),
                        label=_("Materials (none: any material)"),
                        multiple=True,
                        with_input=True,
                        value=list(c.materials) if c else [],
                    )
                    .props(INPUT + ' use-chips data-testid="capability-materials"')
                    .classes("col-span-3 max-md:col-span-1")
                )
                env_x = (
                    ui.number(_("Envelope X (mm)"), value=c.envelope_x_mm if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                env_y = (
                    ui.number(_("Envelope Y (mm)"), value=c.envelope_y_mm if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                env_z = (
                    ui.number(_("Envelope Z (mm)"), value=c.envelope_z_mm if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                tolerance = (
                    ui.number(_("Best tolerance ± (mm)"), value=c.tolerance_mm if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                finish = (
                    ui.select(
                        finishes,
                        label=_("Best surface finish"),
                        clearable=True,
                        value=c.finish_ra_um if c and c.finish_ra_um in finishes else None,
                    )
                    .props(INPUT)
                    .classes("w-full")
                )
                price = (
                    ui.number(_("Price per hour (CNY)"), value=c.price_per_hour if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                batch_min = (
                    ui.number(_("Smallest batch"), value=c.batch_min if c else 1, min=1, precision=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                batch_max = (
                    ui.number(
                        _("Largest batch (empty: no limit)"), value=c.batch_max if c else None, min=1, precision=0
                    )
                    .props(INPUT)
                    .classes("w-full")
                )
                hours = (
                    ui.number(_("Hours a day without machines"), value=c.hours_per_day if c else None, min=0)
                    .props(INPUT)
                    .classes("w-full")
                )
                chosen = (
                    ui.select(
                        machines,
                        label=_("Machines that provide it"),
                        multiple=True,
                        value=[m for m in (c.machine_ids if c else []) if m in machines],
                    )
                    .props(INPUT + ' use-chips data-testid="capability-machines"')
                    .classes("col-span-3 max-md:col-span-1")
                )
                note = (
                    ui.input(_("Note (optional)"), value=(c.note or "") if c else "")
                    .props(INPUT)
                    .classes("col-span-3 max-md:col-span-1")
                )
            ui.label(
                _(
                    "Spare capacity is computed from the machines' shift calendars, bookings and usual load; "
                    "without machines the declared hours a day count."
                )
            ).classes("text-xs text-grey-6")
            fields = {
                "process": process,
                "materials": materials,
                "envelope_x_mm": env_x,
                "envelope_y_mm": env_y,
                "envelope_z_mm": env_z,
                "tolerance_mm": tolerance,
                "finish_ra_um": finish,
                "price_per_hour": price,
                "batch_min": batch_min,
                "batch_max": batch_max,
                "hours_per_day": hours,
                "machine_ids": chosen,
                "note": note,
            }

            def save() -> None:
                values = {
                    "process": process.value,
                    "materials": list(materials.value or []),
                    "envelope_x_mm": _number(env_x.value),
                    "envelope_y_mm": _number(env_y.value),
                    "envelope_z_mm": _number(env_z.value),
                    "tolerance_mm": _number(tolerance.value),
                    "finish_ra_um": finish.value,
                    "price_per_hour": _number(price.value),
                    "batch_min": _whole(batch_min.value) or 1,
                    "batch_max": _whole(batch_max.value),
                    "hours_per_day": _number(hours.value),
                    "machine_ids": list(chosen.value or []),
                    "note": text_or_none(note.value),
                }
                if c is None:
                    done = save_form(
                        _,
                        fields,
                        general,
                        CapabilityCreate,
                        values,
                        lambda m: nd.create_capability(self.viewer.user_id, m),
                    )
                else:
                    done = save_form(
                        _,
                        fields,
                        general,
                        CapabilityUpdate,
                        values,
                        lambda m: nd.update_capability(self.viewer.user_id, c.id, m),
                    )
                if done:
                    dialog.close()
                    ui.notify(_("Capability saved."), type="positive", timeout=2500)
                    self._reload()

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(_("Save"), icon="check", on_click=save).props(
                    'unelevated no-caps data-testid="capability-save"'
                )
        dialog.open()

    def delete(self, c: CapabilityOut) -> None:
        _ = self._

        def agree() -> str | None:
            try:
                nd.delete_capability(self.viewer.user_id, c.id)
            except AppError as exc:
                return service_message(_, exc)[1]
            ui.notify(_("Deleted."), type="positive", timeout=2500)
            self._reload()
            return None

        confirm(
            _,
            _("Delete the capability “{name}”?").format(name=term_name(c.process, self.lang)),
            _("Its published spare hours are withdrawn with it."),
            _("Delete"),
            agree,
        )
