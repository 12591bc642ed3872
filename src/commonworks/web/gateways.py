"""Gateways: the edge gateways of the organization with their traffic, a dialog that registers one
and shows its credential once (with a ready gateway.yaml), revocation, and the data each gateway
sent that the platform refused (dead letters).
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import AppError
from commonworks.telemetry.schemas import GatewayCreate, GatewayCreated, GatewayOut
from commonworks.web import data
from commonworks.web.common import (
    SignedOut,
    Viewer,
    confirm,
    empty_state,
    local_datetime,
    local_time,
    number,
    page_header,
    save_form,
    service_message,
    shell,
)
from commonworks.web.layout import N_, Translate

REFRESH_S = 5.0
INPUT = "outlined dense stack-label"


def gateway_yaml(key: str, platform_url: str, token: str) -> str:
    """The gateway section of a gateway.yaml for a new gateway (devices are added by hand)."""
    doc = {"gateway": {"key": key, "platform": {"transport": "http", "url": platform_url, "token": token}},
           "devices": []}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


@ui.page("/gateways")
def gateways_page(request: Request) -> RedirectResponse | None:
    signed = shell(N_("Gateways"), "/gateways")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    GatewaysView(viewer, _, origin=str(request.base_url).rstrip("/")).build()
    return None


class GatewayCard:
    def __init__(self, _: Translate, view: data.GatewayView, tz: str, viewer: Viewer, on_revoke: Any) -> None:
        self._ = _
        self.tz = tz
        gateway = view.gateway
        self.revoked = gateway.revoked_at is not None
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0") as card:
            card.props(f'data-testid="gateway-{gateway.key}"')
            with ui.row().classes("w-full items-center gap-3 px-5 py-3 no-wrap max-sm:flex-wrap"):
                ui.icon("router", size="28px").classes("text-grey-5" if self.revoked else "text-primary")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    with ui.row().classes("items-center gap-2"):
                        ui.label(gateway.name).classes("text-lg font-semibold text-grey-9")
                        ui.badge(gateway.key).props("color=blue-1 text-color=primary").classes("font-mono text-xs")
                        if self.revoked:
                            ui.badge(_("Revoked")).props("color=grey-6 rounded")
                        else:
                            ui.badge(_("Active")).props("color=positive rounded")
                    facts = [_("Credential {prefix}…").format(prefix=gateway.token_prefix),
                             _("Unknown tags are created automatically") if gateway.allow_create_tags
                             else _("Only registered tags are accepted")]
                    if gateway.revoked_at is not None:
                        facts.append(_("revoked {when}").format(when=local_datetime(gateway.revoked_at, tz)))
                    ui.label(" · ".join(facts)).classes("text-xs text-grey-7")
                if viewer.is_manager and not self.revoked:
                    ui.button(_("Revoke"), icon="block", on_click=lambda: on_revoke(gateway)) \
                        .props("flat no-caps color=negative")
            ui.separator()
            with ui.grid(columns=3).classes("w-full gap-0"):
                self.last_seen = self._figure("schedule", _("Last seen"))
                self.accepted = self._figure("check_circle", _("Samples accepted"))
                self.rejected = self._figure("report", _("Samples rejected"), last=True)
            ui.separator()
            self.expansion = ui.expansion(icon="report_gmailerrorred").classes("w-full") \
                .props("dense header-class='px-5 text-grey-8'")
            with self.expansion:
                self.letters = ui.column().classes("w-full px-5 pb-4 gap-2")
        self.show(view)

    def _figure(self, icon: str, label: str, *, last: bool = False) -> ui.label:
        with ui.column().classes("gap-0 px-5 py-3" + ("" if last else " border-r border-gray-200")):
            with ui.row().classes("items-center gap-1 text-grey-7"):
                ui.icon(icon, size="16px")
                ui.label(label).classes("text-xs")
            return ui.label().classes("text-lg font-semibold text-grey-9 tabular-nums")

    def show(self, view: data.GatewayView) -> None:
        _, gateway = self._, view.gateway
        seen = gateway.last_seen_at
        self.last_seen.set_text(local_datetime(seen, self.tz) if seen else _("never"))
        self.accepted.set_text(number(gateway.samples_accepted))
        self.rejected.set_text(number(gateway.samples_rejected))
        self.rejected.classes(replace="text-lg font-semibold tabular-nums "
                              + ("text-negative" if gateway.samples_rejected else "text-grey-9"))
        self.expansion.props["label"] = _("Rejected data ({count})").format(count=view.dead_letter_total)
        self.letters.clear()
        with self.letters:
            if not view.dead_letters:
                ui.label(_("Nothing was rejected.")).classes("text-sm text-grey-6")
                return
            if view.dead_letter_total > len(view.dead_letters):
                ui.label(_("The newest {shown} of {total}.").format(shown=len(view.dead_letters),
                                                                   total=view.dead_letter_total)) \
                    .classes("text-xs text-grey-6")
            columns = [
                {"name": "received", "label": _("Received"), "field": "received", "align": "left"},
                {"name": "tag", "label": _("Tag"), "field": "tag", "align": "left", "classes": "font-mono"},
                {"name": "time", "label": _("Sample time"), "field": "time", "align": "left"},
                {"name": "value", "label": _("Value"), "field": "value", "align": "left"},
                {"name": "reason", "label": _("Reason"), "field": "reason", "align": "left",
                 "classes": "text-negative", "style": "white-space: normal; min-width: 240px"},
                {"name": "batch", "label": _("Batch"), "field": "batch", "align": "left",
                 "classes": "text-grey-6 font-mono text-xs"},
            ]
            rows = [{"id": d.id, "received": local_datetime(d.received_at, self.tz), "tag": d.tag,
                     "time": local_time(d.ts, self.tz), "value": d.value if d.value is not None else "—",
                     "reason": d.reason, "batch": d.batch_id or "—"} for d in view.dead_letters]
            ui.table(columns=columns, rows=rows, row_key="id").props("flat dense bordered") \
                .classes("w-full").props(f'data-testid="dead-letters-{gateway.key}"')


class GatewaysView:
    def __init__(self, viewer: Viewer, _: Translate, *, origin: str) -> None:
        self.viewer = viewer
        self._ = _
        self.origin = origin
        self.cards: dict[int, GatewayCard] = {}
        self.signature: list[tuple[int, bool]] = []

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-6xl mx-auto p-6 gap-5"):
            with page_header(_("Gateways"), _("Edge gateways read your machines and forward their data. "
                                             "Each gateway has its own credential.")):
                if self.viewer.is_manager:
                    ui.button(_("Register gateway"), icon="add", on_click=self.register_dialog) \
                        .props('unelevated no-caps data-testid="register-gateway"')
            self.list = ui.column().classes("w-full gap-4")
        views, tz = data.gateways(self.viewer.user_id)
        self._build(views, tz)
        ui.timer(REFRESH_S, self.refresh)

    def _build(self, views: list[data.GatewayView], tz: str) -> None:
        _ = self._
        self.list.clear()
        self.cards = {}
        self.signature = [(v.gateway.id, v.gateway.revoked_at is not None) for v in views]
        with self.list:
            if not views:
                with ui.card().props("flat bordered").classes("w-full"):
                    hint = (_("Register a gateway, copy its credential into gateway.yaml and start it on a PC "
                              "next to your machines.") if self.viewer.is_manager
                            else _("An owner or administrator of your organization registers gateways."))
                    empty_state("router", _("No gateways yet"), hint)
            for view in views:
                self.cards[view.gateway.id] = GatewayCard(_, view, tz, self.viewer, self.revoke)

    async def refresh(self) -> None:
        try:
            loaded = await run.io_bound(data.gateways, self.viewer.user_id)
        except SignedOut:
            ui.navigate.to("/login")
            return
        if loaded is None:
            return
        views, tz = loaded
        if [(v.gateway.id, v.gateway.revoked_at is not None) for v in views] != self.signature:
            self._build(views, tz)
            return
        for view in views:
            self.cards[view.gateway.id].show(view)

    def reload(self) -> None:
        views, tz = data.gateways(self.viewer.user_id)
        self._build(views, tz)

    # ------------------------------------------------------------ register and revoke

    def register_dialog(self) -> None:
        _ = self._
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", lambda: (dialog.delete(), self.reload()))
        with dialog, ui.card().classes("w-[640px] max-w-full p-6 gap-3") as card:
            ui.label(_("Register gateway")).classes("text-lg font-semibold text-grey-9")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            key = ui.input(_("Gateway key")).props(INPUT).classes("w-full")
            key.props["hint"] = _("Lower-case letters, digits, '.', '_' or '-', e.g. gw-hefei-1; "
                                  "unique on the platform.")
            name = ui.input(_("Gateway name")).props(INPUT).classes("w-full")
            name.props["hint"] = _("e.g. Workshop 1 gateway")
            create_tags = ui.switch(_("Create unknown tags automatically when data arrives"))
            fields = {"key": key, "name": name, "allow_create_tags": create_tags}

            def save() -> None:
                values = {"key": key.value.strip(), "name": name.value.strip(), "allow_create_tags": create_tags.value}
                created = save_form(_, fields, general, GatewayCreate, values,
                                    lambda m: data.register_gateway(self.viewer.user_id, m))
                if created:
                    card.clear()
                    with card:
                        self._credential(created, dialog)

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(_("Register"), icon="check", on_click=save).props("unelevated no-caps")
        dialog.open()

    def _credential(self, created: GatewayCreated, dialog: ui.dialog) -> None:
        _ = self._
        with ui.row().classes("items-center gap-2"):
            ui.icon("check_circle", size="28px", color="positive")
            ui.label(_("Gateway “{name}” registered").format(name=created.name)) \
                .classes("text-lg font-semibold text-grey-9")
        with ui.row().classes("w-full items-start gap-3 no-wrap rounded bg-amber-1 border border-amber-300 px-4 py-3"):
            ui.icon("warning", size="22px").classes("text-amber-9")
            ui.label(_("Copy the credential now: it is shown only this once. The platform keeps only a hash of it; "
                       "if it is lost, register the gateway again.")).classes("text-sm text-grey-9")
        ui.label(_("Credential")).classes("text-sm font-medium text-grey-8 pt-1")
        with ui.row().classes("w-full items-center gap-2 no-wrap rounded border border-gray-300 bg-grey-1 px-3 py-2"):
            ui.label(created.token).classes("font-mono text-sm text-grey-10 break-all grow select-all") \
                .props('data-testid="gateway-token"')

            def copy() -> None:
                ui.clipboard.write(created.token)
                ui.notify(_("Copied."), type="positive", timeout=2500)

            ui.button(icon="content_copy", on_click=copy).props("flat round dense color=primary") \
                .tooltip(_("Copy"))
        ui.label("gateway.yaml").classes("text-sm font-medium text-grey-8 pt-1 font-mono")
        ui.code(gateway_yaml(created.key, self.origin, created.token), language="yaml").classes("w-full text-sm") \
            .props('data-testid="gateway-yaml"')
        ui.label(_("Save this as gateway.yaml on the gateway PC, add your machines under devices, then start it "
                   "with: commonworks gateway run --config gateway.yaml")).classes("text-xs text-grey-7")
        with ui.row().classes("w-full justify-end pt-2"):
            ui.button(_("Done"), on_click=dialog.close).props("unelevated no-caps")

    def revoke(self, gateway: GatewayOut) -> None:
        _ = self._

        def go() -> str | None:
            try:
                data.revoke_gateway(self.viewer.user_id, gateway.id)
            except AppError as exc:
                return service_message(_, exc)[1]
            ui.notify(_("Gateway revoked."), type="positive", timeout=2500)
            self.reload()
            return None

        confirm(_, _("Revoke gateway “{name}”?").format(name=gateway.name),
                _("The gateway can no longer send data with its credential. This cannot be undone; "
                  "data already stored is kept."), _("Revoke"), go)
