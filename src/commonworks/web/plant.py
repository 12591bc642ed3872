"""The plant page: sites → production lines → machines, with dialogs to create, change and delete them.

Sites and lines are changed by owners and admins, machines also by engineers (the API's
writer roles); viewers see the tree only. Forms are validated with the API's schemas and
saved through the same CRUD logic as the API.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import ui

from commonworks.core.errors import AppError
from commonworks.telemetry.schemas import (
    LineCreate,
    LineOut,
    LineUpdate,
    MachineCreate,
    MachineOut,
    MachineUpdate,
    SiteCreate,
    SiteOut,
    SiteUpdate,
)
from commonworks.web import data
from commonworks.web.common import (
    MACHINE_ICONS,
    MACHINE_TYPES,
    Viewer,
    confirm,
    empty_state,
    page_header,
    save_form,
    service_message,
    shell,
    text_or_none,
)
from commonworks.web.layout import N_, Translate

INPUT = "outlined dense stack-label"


@cache
def _timezones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@ui.page("/plant")
def plant_page() -> RedirectResponse | None:
    signed = shell(N_("Plant and machines"), "/plant")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    PlantView(viewer, _).build()
    return None


class PlantView:
    def __init__(self, viewer: Viewer, _: Translate) -> None:
        self.viewer = viewer
        self._ = _
        self.nodes: list[data.SiteNode] = []

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-6xl mx-auto p-6 gap-5"):
            header = page_header(_("Plant and machines"),
                                 _("Sites, production lines and machines of your organization."))
            if self.viewer.is_manager:
                with header:
                    ui.button(_("Add site"), icon="add", on_click=lambda: self.site_dialog(None)) \
                        .props('unelevated no-caps data-testid="add-site"')
            self.tree()

    # ------------------------------------------------------------ the tree

    @ui.refreshable_method
    def tree(self) -> None:
        _ = self._
        self.nodes = data.plant(self.viewer.user_id)
        lines = sum(len(n.lines) for n in self.nodes)
        machines = sum(len(line.machines) for n in self.nodes for line in n.lines)
        with ui.row().classes("gap-3"):
            for icon, label, count in (("factory", _("Sites"), len(self.nodes)), ("linear_scale", _("Lines"), lines),
                                       ("precision_manufacturing", _("Machines"), machines)):
                card = ui.card().props("flat bordered").classes("px-4 py-2 min-w-[140px]")
                with card, ui.row().classes("items-center gap-3 no-wrap"):
                    ui.icon(icon, size="24px", color="primary")
                    with ui.column().classes("gap-0"):
                        ui.label(str(count)).classes("text-xl font-semibold text-grey-9 leading-tight")
                        ui.label(label).classes("text-xs text-grey-7")
        if not self.nodes:
            with ui.card().props("flat bordered").classes("w-full"):
                hint = (_("Add your first site, then its production lines and machines.") if self.viewer.is_manager
                        else _("An owner or administrator of your organization adds sites and lines."))
                empty_state("factory", _("No sites yet"), hint)
            return
        for node in self.nodes:
            self.site_card(node)

    def site_card(self, node: data.SiteNode) -> None:
        _, site = self._, node.site
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0").props('data-testid="site-card"'):
            with ui.row().classes("w-full items-center gap-3 px-5 py-3 no-wrap bg-grey-1 rounded-t"):
                ui.icon("factory", size="26px", color="primary")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    ui.label(site.name).classes("text-lg font-semibold text-grey-9 truncate")
                    details = [site.timezone] + ([site.address] if site.address else [])
                    ui.label(" · ".join(details)).classes("text-xs text-grey-7 truncate")
                if self.viewer.is_manager:
                    ui.button(_("Add line"), icon="add", on_click=lambda s=site: self.line_dialog(None, s.id)) \
                        .props("flat dense no-caps color=primary")
                    self._actions(lambda s=site: self.site_dialog(s), lambda s=site: self.delete_site(s))
            ui.separator()
            if not node.lines:
                ui.label(_("No production lines yet.")).classes("text-sm text-grey-6 px-5 py-4")
            for index, line_node in enumerate(node.lines):
                if index:
                    ui.separator()
                self.line_block(line_node)

    def line_block(self, node: data.LineNode) -> None:
        _, line = self._, node.line
        with ui.column().classes("w-full px-5 py-3 gap-2"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("linear_scale", size="20px").classes("text-grey-7")
                ui.label(line.name).classes("text-base font-medium text-grey-9")
                ui.badge(_("{count} machines").format(count=len(node.machines))) \
                    .props("outline color=grey-7").classes("text-[11px]")
                ui.space()
                if self.viewer.is_editor:
                    ui.button(_("Add machine"), icon="add", on_click=lambda ln=line: self.machine_dialog(None, ln.id)) \
                        .props("flat dense no-caps color=primary")
                if self.viewer.is_manager:
                    self._actions(lambda ln=line: self.line_dialog(ln, ln.site_id),
                                  lambda ln=line: self.delete_line(ln))
            if not node.machines:
                ui.label(_("No machines on this line yet.")).classes("text-sm text-grey-6 pl-7")
                return
            with ui.list().props("bordered separator").classes("w-full rounded-borders ml-0 bg-white"):
                for machine in node.machines:
                    self.machine_item(machine)

    def machine_item(self, machine: MachineOut) -> None:
        _ = self._
        with ui.item().props(f'clickable tag=a href="/machines/{machine.id}"').classes("py-2"):
            with ui.item_section().props("avatar"):
                ui.icon(MACHINE_ICONS.get(machine.machine_type.value, "build"), size="24px").classes("text-grey-7")
            with ui.item_section():
                with ui.row().classes("items-center gap-2"):
                    ui.label(machine.name).classes("text-[15px] font-medium text-grey-9")
                    ui.badge(machine.key).props("color=blue-1 text-color=primary").classes("font-mono text-[11px]")
                maker = " ".join(p for p in (machine.manufacturer, machine.model) if p)
                details = [_(MACHINE_TYPES[machine.machine_type.value])] + ([maker] if maker else [])
                if machine.year_built:
                    details.append(str(machine.year_built))
                ui.item_label(" · ".join(details)).props("caption")
            if self.viewer.is_editor:
                with ui.item_section().props("side"):
                    self._actions(lambda m=machine: self.machine_dialog(m, m.line_id),
                                  lambda m=machine: self.delete_machine(m))

    def _actions(self, on_edit: Any, on_delete: Any) -> None:
        _ = self._
        with ui.row().classes("gap-0 no-wrap"):
            # .stop.prevent: inside a machine row (a link) the click must not also open the machine
            for icon, label, handler in (("edit", _("Edit"), on_edit), ("delete", _("Delete"), on_delete)):
                button = ui.button(icon=icon).props("flat round dense color=grey-7 size=sm").tooltip(label)
                button.props["aria-label"] = label
                button.on("click.stop.prevent", handler)

    # ------------------------------------------------------------ dialogs

    def _dialog(self, title: str, width: str = "560px") -> tuple[ui.dialog, ui.card, ui.label]:
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes(f"w-[{width}] max-w-full p-6 gap-3") as card:
            ui.label(title).classes("text-lg font-semibold text-grey-9")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
        return dialog, card, general

    def _buttons(self, dialog: ui.dialog, on_save: Any) -> None:
        _ = self._
        with ui.row().classes("w-full justify-end gap-2 pt-2"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
            ui.button(_("Save"), icon="check", on_click=on_save).props("unelevated no-caps")

    def site_dialog(self, site: SiteOut | None) -> None:
        _ = self._
        dialog, card, general = self._dialog(_("New site") if site is None else _("Edit site"))
        with card:
            name = ui.input(_("Site name"), value=site.name if site else "").props(INPUT).classes("w-full")
            timezone = ui.select(_timezones(), label=_("Time zone"), with_input=True,
                                 value=site.timezone if site else "Asia/Shanghai").props(INPUT).classes("w-full")
            address = ui.input(_("Address (optional)"), value=(site.address or "") if site else "") \
                .props(INPUT).classes("w-full")
            fields = {"name": name, "timezone": timezone, "address": address}

            def save() -> None:
                values = {"name": name.value.strip(), "timezone": timezone.value,
                          "address": text_or_none(address.value)}
                if site is None:
                    done = save_form(_, fields, general, SiteCreate, values,
                                     lambda m: data.create(self.viewer.user_id, "site", m))
                else:
                    done = save_form(_, fields, general, SiteUpdate, values,
                                     lambda m: data.update(self.viewer.user_id, "site", site.id, m))
                if done:
                    dialog.close()
                    ui.notify(_("Site saved."), type="positive", timeout=2500)
                    self.tree.refresh()

            self._buttons(dialog, save)
        dialog.open()

    def _site_options(self) -> dict[int, str]:
        return {node.site.id: node.site.name for node in self.nodes}

    def line_dialog(self, line: LineOut | None, site_id: int) -> None:
        _ = self._
        dialog, card, general = self._dialog(_("New production line") if line is None else _("Edit production line"))
        with card:
            site = ui.select(self._site_options(), label=_("Site"), value=site_id).props(INPUT).classes("w-full")
            name = ui.input(_("Line name"), value=line.name if line else "").props(INPUT).classes("w-full")
            fields = {"site_id": site, "name": name}

            def save() -> None:
                values = {"site_id": site.value, "name": name.value.strip()}
                if line is None:
                    done = save_form(_, fields, general, LineCreate, values,
                                     lambda m: data.create(self.viewer.user_id, "line", m))
                else:
                    done = save_form(_, fields, general, LineUpdate, values,
                                     lambda m: data.update(self.viewer.user_id, "line", line.id, m))
                if done:
                    dialog.close()
                    ui.notify(_("Production line saved."), type="positive", timeout=2500)
                    self.tree.refresh()

            self._buttons(dialog, save)
        dialog.open()

    def _line_options(self) -> dict[int, str]:
        return {ln.line.id: f"{node.site.name} · {ln.line.name}" for node in self.nodes for ln in node.lines}

    def machine_dialog(self, machine: MachineOut | None, line_id: int) -> None:
        _ = self._
        dialog, card, general = self._dialog(_("New machine") if machine is None else _("Edit machine"), "680px")
        with card:
            with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-1"):
                line = ui.select(self._line_options(), label=_("Production line"), value=line_id) \
                    .props(INPUT).classes("col-span-2")
                key = ui.input(_("Machine key"), value=machine.key if machine else "") \
                    .props(INPUT + ' hint="cnc-01"').classes("w-full")
                name = ui.input(_("Machine name"), value=machine.name if machine else "").props(INPUT).classes("w-full")
                kind = ui.select({k: _(v) for k, v in MACHINE_TYPES.items()}, label=_("Machine type"),
                                 value=machine.machine_type.value if machine else "cnc_mill").props(INPUT)
                year = ui.number(_("Year built"), value=machine.year_built if machine else None, format="%d",
                                 precision=0).props(INPUT).classes("w-full")
                maker = ui.input(_("Machine maker"), value=(machine.manufacturer or "") if machine else "") \
                    .props(INPUT).classes("w-full")
                model = ui.input(_("Model"), value=(machine.model or "") if machine else "").props(INPUT) \
                    .classes("w-full")
                serial = ui.input(_("Serial number"), value=(machine.serial_number or "") if machine else "") \
                    .props(INPUT).classes("w-full")
            part_tag = self._part_tag_select(machine)
            families = CycleTimes(_, machine.ideal_cycle_times if machine else {})
            fields = {"line_id": line, "key": key, "name": name, "machine_type": kind, "year_built": year,
                      "manufacturer": maker, "model": model, "serial_number": serial,
                      "part_tag_key": part_tag, "ideal_cycle_times": families}

            def save() -> None:
                values = {"line_id": line.value, "key": key.value.strip(), "name": name.value.strip(),
                          "machine_type": kind.value, "manufacturer": text_or_none(maker.value),
                          "model": text_or_none(model.value), "serial_number": text_or_none(serial.value),
                          "year_built": int(year.value) if year.value is not None else None,
                          "ideal_cycle_times": families.values(), "part_tag_key": part_tag.value or None}
                if machine is None:
                    done = save_form(_, fields, general, MachineCreate, values,
                                     lambda m: data.create(self.viewer.user_id, "machine", m))
                else:
                    done = save_form(_, fields, general, MachineUpdate, values,
                                     lambda m: data.update(self.viewer.user_id, "machine", machine.id, m))
                if done:
                    dialog.close()
                    ui.notify(_("Machine saved."), type="positive", timeout=2500)
                    self.tree.refresh()

            self._buttons(dialog, save)
        dialog.open()

    def _part_tag_select(self, machine: MachineOut | None) -> ui.select:
        """The machine's part tag: one of its own tags (the running program, the mould number), or none."""
        _ = self._
        tags = data.machine_tags(self.viewer.user_id, machine.id) if machine is not None else []
        options = {"": _("None: every part at the fastest ideal cycle time"),
                   **{t.key: f"{t.name} · {t.key}" for t in tags}}
        current = machine.part_tag_key if machine is not None and machine.part_tag_key in options else ""
        hint = _("The tag whose value names the program or mould running; ideal cycle times are then per value "
                 "of it.") if tags else _("Choose a part tag once the machine has tags.")
        select = ui.select(options, label=_("Part tag"), value=current) \
            .props(f'{INPUT} hint="{hint}"').classes("w-full")
        if not tags:
            select.disable()
        return select

    # ------------------------------------------------------------ deletes

    def _delete(self, what: str, row_id: int, conflict: str) -> str | None:
        try:
            data.delete(self.viewer.user_id, what, row_id)
        except AppError as exc:
            return service_message(self._, exc, conflict=conflict)[1]
        ui.notify(self._("Deleted."), type="positive", timeout=2500)
        self.tree.refresh()
        return None

    def delete_site(self, site: SiteOut) -> None:
        _ = self._
        confirm(_, _("Delete site “{name}”?").format(name=site.name),
                _("Only a site without production lines can be deleted."), _("Delete"),
                lambda: self._delete("site", site.id, _("This site still has production lines. "
                                                        "Move or delete them first.")))

    def delete_line(self, line: LineOut) -> None:
        _ = self._
        confirm(_, _("Delete production line “{name}”?").format(name=line.name),
                _("Only a line without machines can be deleted."), _("Delete"),
                lambda: self._delete("line", line.id, _("This line still has machines. Move or delete them first.")))

    def delete_machine(self, machine: MachineOut) -> None:
        _ = self._
        confirm(_, _("Delete machine “{name}”?").format(name=machine.name),
                _("Its tags and their data are kept but no longer belong to a machine."), _("Delete"),
                lambda: self._delete("machine", machine.id, _("The machine could not be deleted.")))


class CycleTimes(ui.column):
    """Ideal cycle time (s) per part family: rows of name + seconds; shows one error under the rows."""

    def __init__(self, _: Translate, initial: dict[str, float]) -> None:
        super().__init__()
        self._ = _
        self.rows: list[tuple[ui.input, ui.number]] = []
        self.classes("w-full gap-1")
        with self:
            with ui.row().classes("w-full items-center justify-between"):
                ui.label(_("Ideal cycle time per part family")).classes("text-sm font-medium text-grey-8")
                ui.button(_("Add part family"), icon="add", on_click=lambda: self._add("", None)) \
                    .props("flat dense no-caps color=primary size=sm")
            self.box = ui.column().classes("w-full gap-1")
            self.message = ui.label().classes("text-xs text-negative")
            self.message.set_visibility(False)
        for family, seconds in initial.items():
            self._add(family, seconds)
        if not initial:
            self._add("", None)

    def _add(self, family: str, seconds: float | None) -> None:
        _ = self._
        with self.box, ui.row().classes("w-full items-center gap-2 no-wrap") as row:
            name = ui.input(_("Part family"), value=family).props("outlined dense").classes("grow")
            time = ui.number(_("Seconds per part"), value=seconds, min=0).props("outlined dense suffix=s") \
                .classes("w-44")
            pair = (name, time)
            self.rows.append(pair)

            def remove() -> None:
                self.rows.remove(pair)
                row.delete()

            ui.button(icon="close", on_click=remove).props("flat round dense color=grey-6 size=sm")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, time in self.rows:
            family = (name.value or "").strip()
            if not family and time.value is None:
                continue
            out[family] = time.value
        return out

    @property
    def error(self) -> str | None:
        return self.message.text or None

    @error.setter
    def error(self, message: str | None) -> None:
        self.message.set_text(message or "")
        self.message.set_visibility(bool(message))
