"""Orders: ``/network/orders`` lists the organization's orders as buyer and as supplier with their
progress; ``/network/orders/{id}`` is one order.

The supplier runs the order on one of its machines (a machine and its part-counter tag; counting
starts at binding) and delivers it. The buyer watches the progress counted by that machine —
parts made of the quantity, the rate over the last hour, the expected finish, whether it is on
track for the due date — refreshed by a timer, without seeing anything else of the supplier's
machines; then accepts the delivery with the good quantity. Both rate each other. Everything
goes through the logic of the ``/network/orders`` endpoints.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import NotFound
from commonworks.network.schemas import AcceptIn, BindIn, DeliverIn, OrderOut, RatingIn
from commonworks.web import network_data as nd
from commonworks.web import network_ui
from commonworks.web.common import (
    SignedOut,
    Viewer,
    age,
    card_title,
    local_datetime,
    local_time,
    not_found,
    now_ms,
    page_header,
    paginate_in,
    save_form,
    shell,
    text_or_none,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.network_format import ORDER_STATUSES, made_text, money, num, on_track_look, share_percent
from commonworks.web.network_ui import INPUT, status_badge

LIST_REFRESH_S = 5.0
PROGRESS_REFRESH_S = 3.0
ROLES = {"all": N_("All"), "buyer": N_("As buyer"), "supplier": N_("As supplier")}
ROLE_LABELS = {"buyer": N_("Buyer"), "supplier": N_("Supplier")}


# ================================================================ /network/orders


@ui.page("/network/orders")
def orders_page() -> RedirectResponse | None:
    signed = shell(N_("Orders"), "/network/orders")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    OrderList(viewer, _).build()
    return None


class OrderList:
    def __init__(self, viewer: Viewer, _: Translate) -> None:
        self.viewer = viewer
        self._ = _
        self.role = "all"

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            header = page_header(
                _("Orders"),
                _(
                    "Orders you placed and orders you make for others. Progress comes "
                    "from the supplier's machine counter."
                ),
            )
            with header, ui.row().classes("items-center gap-2 text-grey-6"):
                ui.spinner("dots", size="20px", color="grey-6")
                ui.label(_("Updates every {count} s").format(count=int(LIST_REFRESH_S))).classes("text-xs")
            roles = ui.toggle(
                {k: _(v) for k, v in ROLES.items()}, value=self.role, on_change=lambda e: self._choose(e.value)
            )
            roles.props(
                "no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                "padding='4px 14px' data-testid=order-roles"
            ).classes("border border-gray-300 rounded bg-white")
            with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
                columns = [
                    {"name": "title", "label": _("Order"), "field": "title", "align": "left"},
                    {"name": "role", "label": _("You are"), "field": "role", "align": "left"},
                    {"name": "other", "label": _("With"), "field": "other", "align": "left"},
                    {"name": "progress", "label": _("Made"), "field": "percent", "align": "left"},
                    {"name": "status", "label": _("Status"), "field": "status", "align": "left"},
                    {"name": "due", "label": _("Due date"), "field": "due", "align": "left"},
                    {"name": "price", "label": _("Price"), "field": "price", "align": "right"},
                ]
                self.table = (
                    ui.table(columns=columns, rows=[], row_key="id", pagination=25)
                    .props('flat table-header-class=text-grey-7 data-testid="order-table"')
                    .classes("w-full")
                )
                self.table.props["no-data-label"] = _("No orders yet. Accepting a quote places one.")
                paginate_in(_, self.table)
                self.table.add_slot(
                    "body-cell-title",
                    r"""
                    <q-td :props="props">
                      <a :href="'/network/orders/' + props.row.id" class="text-primary no-underline font-medium"
                      >{{ props.row.title }}</a>
                      <div class="text-xs text-grey-6">{{ props.row.number }}</div>
                    </q-td>""",
                )
                self.table.add_slot(
                    "body-cell-progress",
                    r"""
                    <q-td :props="props" :data-testid="'order-made-' + props.row.id">
                      <div class="tabular-nums text-grey-9">{{ props.row.made }}</div>
                      <q-linear-progress :value="props.row.percent / 100" color="primary" track-color="grey-3"
                                         rounded size="6px" style="width: 120px" />
                    </q-td>""",
                )
                self.table.add_slot("body-cell-status", network_ui.STATUS_SLOT)
        self.show(nd.orders(self.viewer.user_id))
        ui.timer(LIST_REFRESH_S, self.refresh)

    def _row(self, o: OrderOut) -> dict[str, Any]:
        _ = self._
        look = ORDER_STATUSES[o.status.value]
        return {
            "id": o.id,
            "title": o.title,
            "number": _("Order {id}").format(id=o.id),
            "role": _(ROLE_LABELS[o.role]),
            "other": o.supplier if o.role == "buyer" else o.buyer,
            "made": made_text(o.progress, o.quantity),
            "percent": o.progress.percent if o.progress else 0,
            "status": o.status.value,
            "status_label": _(look.label),
            "status_color": look.color,
            "due": o.due_date.isoformat(),
            "price": money(o.price),
        }

    def show(self, orders: list[OrderOut]) -> None:
        if self.role != "all":
            orders = [o for o in orders if o.role == self.role]
        self.table.rows = [self._row(o) for o in orders]
        self.table.update()

    async def _choose(self, role: str) -> None:
        self.role = role
        await self.refresh()

    async def refresh(self) -> None:
        try:
            orders = await run.io_bound(nd.orders, self.viewer.user_id)
        except SignedOut:
            ui.navigate.to("/login")
            return
        if orders is not None:
            self.show(orders)


# ================================================================ /network/orders/{id}


@ui.page("/network/orders/{order_id}")
def order_page(order_id: str) -> RedirectResponse | None:
    signed = shell(N_("Order"), "/network/orders")
    if signed is None:
        return RedirectResponse("/login")
    viewer, _lang, _ = signed
    row_id = network_ui.row_id(order_id)
    try:
        if row_id is None:
            raise NotFound(f"order {order_id} not found")
        detail = nd.order_detail(viewer.user_id, row_id)
    except NotFound:
        not_found(
            _,
            _("There is no order with this number that your organization is a party to."),
            "/network/orders",
            _("Back to orders"),
        )
        return None
    ui.page_title(f"{detail.order.title} · Commonworks")
    OrderView(viewer, _, detail).build()
    return None


class OrderView:
    def __init__(self, viewer: Viewer, _: Translate, detail: nd.OrderDetail) -> None:
        self.viewer = viewer
        self._ = _
        self.detail = detail
        self.tz = detail.timezone

    @property
    def order(self) -> OrderOut:
        return self.detail.order

    @property
    def supplier(self) -> bool:
        return self.order.role == "supplier"

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            with ui.row().classes("items-center gap-1 text-sm text-grey-7"):
                ui.link(_("Orders"), "/network/orders").classes("text-primary no-underline")
                ui.icon("chevron_right", size="18px")
                ui.label(_("Order {id}").format(id=self.order.id))
            self.content()
        ui.timer(PROGRESS_REFRESH_S, self.refresh)

    def _reload(self) -> None:
        self.detail = nd.order_detail(self.viewer.user_id, self.order.id)
        self.content.refresh()

    @ui.refreshable_method
    def content(self) -> None:
        _, o = self._, self.order
        with ui.row().classes("w-full items-center gap-4 no-wrap max-sm:flex-wrap"):
            with ui.element("div").classes("rounded-lg bg-blue-1 p-3"):
                ui.icon("local_shipping", size="32px", color="primary")
            with ui.column().classes("gap-1 min-w-0 grow"):
                with ui.row().classes("items-center gap-3"):
                    ui.label(o.title).classes("text-2xl font-semibold text-grey-9")
                    status_badge(_, ORDER_STATUSES, o.status.value, "order-status")
                you = _("You are the supplier") if self.supplier else _("You are the buyer")
                ui.label(" · ".join([_("Order {id}").format(id=o.id), you])).classes("text-sm text-grey-7")
        with ui.row().classes("w-full gap-5 items-start max-lg:flex-col"):
            with ui.column().classes("w-[380px] max-lg:w-full gap-5"):
                self.facts_card()
                if not self.supplier and self.detail.reputation is not None:
                    self.reputation_card()
            with ui.column().classes("grow min-w-0 gap-5 max-lg:w-full"):
                self.progress_card()
                if self.viewer.is_editor:
                    self.actions()
                if o.status.value in ("delivered", "accepted"):
                    self.rating_card()

    # ------------------------------------------------------------ facts

    def facts_card(self) -> None:
        _, o, d = self._, self.order, self.detail
        facts = [
            (_("Buyer"), o.buyer),
            (_("Supplier"), o.supplier),
            (_("Quantity"), f"{o.quantity:,}"),
            (_("Price"), money(o.price)),
            (_("Due date"), o.due_date.isoformat()),
            (_("Placed"), local_datetime(o.created_at, self.tz)),
        ]
        if d.machine is not None:
            facts.append((_("Machine"), d.machine.label))
        if d.counter is not None:
            facts.append((_("Part counter"), d.counter.key))
        if o.bound_ms is not None:
            facts.append((_("Counting since"), local_time(o.bound_ms, self.tz)))
        if o.delivered_quantity is not None:
            facts.append(
                (
                    _("Delivered"),
                    _("{count} parts, {when}").format(
                        count=f"{o.delivered_quantity:,}", when=local_datetime(o.delivered_at, self.tz)
                    ),
                )
            )
        if o.good_quantity is not None:
            facts.append(
                (
                    _("Accepted as good"),
                    _("{count} parts, {when}").format(
                        count=f"{o.good_quantity:,}", when=local_datetime(o.accepted_at, self.tz)
                    ),
                )
            )
        with ui.card().props('flat bordered data-testid="order-facts"').classes("w-full p-5 gap-3"):
            card_title("receipt_long", _("Order"))
            with ui.grid(columns="auto 1fr").classes("gap-x-5 gap-y-2 text-sm"):
                for label, value in facts:
                    ui.label(label).classes("text-grey-7")
                    ui.label(value).classes("text-grey-10 font-medium break-words")
            ui.link(_("The demand"), f"/network/demands/{o.demand_id}").classes("text-sm text-primary no-underline")

    def reputation_card(self) -> None:
        _, r = self._, self.detail.reputation
        assert r is not None
        with ui.card().props('flat bordered data-testid="supplier-reputation"').classes("w-full p-5 gap-2"):
            card_title("verified", _("The supplier's reputation"))
            if r.score is None:
                ui.label(_("No accepted orders yet.")).classes("text-sm text-grey-7")
            else:
                with ui.grid(columns="auto 1fr").classes("gap-x-5 gap-y-1 text-sm"):
                    for label, value in (
                        (_("On time, last 90 days"), share_percent(r.on_time_90d)),
                        (_("Good quantity, last 90 days"), share_percent(r.quality_90d)),
                        (_("Accepted orders, last 90 days"), str(r.orders_90d)),
                        (_("Stars"), f"{num(r.stars)} ({r.ratings})" if r.stars else "—"),
                    ):
                        ui.label(label).classes("text-grey-7")
                        ui.label(value).classes("text-grey-10 font-medium")

    # ------------------------------------------------------------ progress (live)

    def progress_card(self) -> None:
        _ = self._
        with ui.card().props('flat bordered data-testid="order-progress"').classes("w-full p-5 gap-3"):
            with ui.row().classes("w-full items-center justify-between"):
                card_title("speed", _("Progress from the supplier's machine"))
                with ui.row().classes("items-center gap-2 text-grey-6"):
                    ui.spinner("dots", size="20px", color="grey-6")
                    ui.label(_("Updates every {count} s").format(count=int(PROGRESS_REFRESH_S))).classes("text-xs")
            with ui.row().classes("w-full items-end gap-6 max-sm:flex-wrap"):
                with ui.column().classes("gap-0"):
                    ui.label(_("Parts made")).classes("text-xs text-grey-7")
                    self.made = (
                        ui.label()
                        .classes("text-4xl font-semibold tabular-nums text-grey-9")
                        .props('data-testid="progress-made"')
                    )
                with ui.column().classes("gap-0"):
                    ui.label(_("Rate, last hour")).classes("text-xs text-grey-7")
                    self.rate = (
                        ui.label()
                        .classes("text-xl font-semibold tabular-nums text-grey-9")
                        .props('data-testid="progress-rate"')
                    )
                with ui.column().classes("gap-0"):
                    ui.label(_("Expected finish")).classes("text-xs text-grey-7")
                    self.finish = (
                        ui.label()
                        .classes("text-xl font-semibold tabular-nums text-grey-9")
                        .props('data-testid="progress-finish"')
                    )
                self.track = ui.badge().props('rounded data-testid="progress-on-track"').classes("px-3 py-1 text-sm")
            self.bar = ui.linear_progress(value=0, show_value=False, size="14px").props(
                "rounded color=primary track-color=grey-3"
            )
            self.note = ui.label().classes("text-xs text-grey-7").props('data-testid="progress-note"')
        self.show_progress(self.order)

    def show_progress(self, o: OrderOut) -> None:
        _, p = self._, o.progress
        self.made.set_text(made_text(p, o.quantity))
        self.bar.set_value(min(1.0, (p.percent if p else 0) / 100))
        self.rate.set_text(
            _("{rate} parts/h").format(rate=num(p.rate_per_hour)) if p and p.rate_per_hour is not None else "—"
        )
        self.finish.set_text(local_time(p.expected_finish_ms, self.tz) if p and p.expected_finish_ms else "—")
        label, color = on_track_look(p, o.status.value)
        self.track.set_text(_(label))
        self.track.props(f"color={color}")
        if p is None:
            self.note.set_text(
                _("Counting starts when the supplier runs the order on a machine.")
                if not self.supplier
                else _("Run the order on one of your machines to start counting.")
            )
        elif p.last_count_ms is None:
            self.note.set_text(_("{percent}% · waiting for the machine's first count").format(percent=num(p.percent)))
        else:
            self.note.set_text(
                _("{percent}% · last count {when}").format(
                    percent=num(p.percent), when=age(_, p.last_count_ms, now_ms(), self.tz)
                )
            )

    async def refresh(self) -> None:
        try:
            order = await run.io_bound(nd.order_progress, self.viewer.user_id, self.order.id)
        except SignedOut:
            ui.navigate.to("/login")
            return
        except NotFound:
            return
        if order is None:
            return
        if order.status != self.order.status:  # the other side moved the order on: show its new actions
            self._reload()
            return
        self.detail = replace(self.detail, order=order)
        self.show_progress(order)

    # ------------------------------------------------------------ actions

    def actions(self) -> None:
        status = self.order.status.value
        if self.supplier and status in ("open", "in_production"):
            self.bind_card()
        if not self.supplier and status == "delivered":
            with ui.card().props('flat bordered data-testid="accept-card"').classes("w-full p-5 gap-3"):
                card_title("fact_check", self._("Delivery received"))
                ui.label(
                    self._(
                        "Check the parts and accept the delivery with the good quantity; this closes the "
                        "order and counts towards the supplier's reputation."
                    )
                ).classes("text-sm text-grey-7")
                ui.button(self._("Accept delivery…"), icon="fact_check", on_click=self.accept_dialog).props(
                    'unelevated no-caps color=positive data-testid="accept-delivery"'
                )

    def bind_card(self) -> None:
        _, d = self._, self.detail
        bound = self.order.status.value == "in_production"
        with ui.card().props('flat bordered data-testid="bind-card"').classes("w-full p-5 gap-3"):
            card_title("precision_manufacturing", _("Production"))
            ui.label(
                _(
                    "Choose the machine that makes the order and its part counter; the buyer sees only the "
                    "counted parts, never the machine or its other data."
                )
            ).classes("text-sm text-grey-7")
            machines = {m.id: m.label for m in d.machines}
            with ui.row().classes("w-full gap-4 items-start no-wrap max-md:flex-wrap"):
                machine = (
                    ui.select(
                        machines,
                        label=_("Machine"),
                        value=d.machine.id if d.machine and d.machine.id in machines else None,
                    )
                    .props(INPUT + ' data-testid="bind-machine"')
                    .classes("w-72")
                )
                counter = (
                    ui.select({}, label=_("Part counter tag"))
                    .props(INPUT + ' data-testid="bind-counter"')
                    .classes("w-72")
                )
                general = ui.label().classes("text-sm text-negative")
                general.set_visibility(False)

            def load_counters(machine_id: int | None, keep: int | None = None) -> None:
                tags = nd.counter_tags(self.viewer.user_id, machine_id) if machine_id else []
                options = {t.id: f"{t.name} ({t.key})" for t in tags}
                counter.set_options(options, value=keep if keep in options else next(iter(options), None))

            machine.on_value_change(lambda e: load_counters(e.value))
            if machine.value is not None:
                load_counters(machine.value, d.counter.id if d.counter else None)

            def bind() -> None:
                if machine.value is None:
                    machine.error = _("Required.")
                    return
                done = save_form(
                    _,
                    {"machine_id": machine, "counter_tag_id": counter},
                    general,
                    BindIn,
                    {"machine_id": machine.value, "counter_tag_id": counter.value},
                    lambda m: nd.bind_order(self.viewer.user_id, self.order.id, m.machine_id, m.counter_tag_id),
                )
                if done:
                    ui.notify(_("The order runs on the machine; counting starts now."), type="positive", timeout=2500)
                    self._reload()

            with ui.row().classes("gap-2"):
                ui.button(
                    _("Run on this machine") if not bound else _("Move to this machine"),
                    icon="play_arrow",
                    on_click=bind,
                ).props('unelevated no-caps data-testid="bind-save"')
                if bound:
                    ui.button(_("Deliver…"), icon="local_shipping", on_click=self.deliver_dialog).props(
                        'unelevated no-caps color=teal-7 data-testid="deliver"'
                    )

    def _quantity_dialog(
        self,
        title: str,
        message: str,
        label: str,
        value: int,
        action: str,
        field: str,
        schema: Any,
        save: Any,
        testid: str,
        *,
        limit: int | None = None,
    ) -> None:
        _ = self._
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes("w-[480px] max-w-full p-6 gap-3").props(f'data-testid="{testid}"'):
            ui.label(title).classes("text-lg font-semibold text-grey-9")
            ui.label(message).classes("text-sm text-grey-7")
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)
            quantity = (
                ui.number(label, value=value, min=0, precision=0)
                .props(INPUT + f' data-testid="{testid}-quantity"')
                .classes("w-full")
            )

            def submit() -> None:
                if limit is not None and quantity.value is not None and quantity.value > limit:
                    quantity.error = _("At most the delivered quantity ({count}).").format(count=f"{limit:,}")
                    return
                values = {field: int(quantity.value) if quantity.value is not None else None}
                done = save_form(
                    _, {field: quantity}, general, schema, values, save, conflict=_("The order has moved on meanwhile.")
                )
                if done:
                    dialog.close()
                    self._reload()

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(action, icon="check", on_click=submit).props(
                    f'unelevated no-caps color=positive data-testid="{testid}-save"'
                )
        dialog.open()

    def deliver_dialog(self) -> None:
        _, o = self._, self.order
        made = o.progress.made if o.progress and o.progress.made else o.quantity  # default: what was counted
        self._quantity_dialog(
            _("Deliver the order"),
            _(
                "The machine counted {made} parts. Enter the quantity you ship; the count is kept with the order."
            ).format(made=made_text(o.progress, o.quantity)),
            _("Quantity delivered"),
            min(made, o.quantity),
            _("Deliver"),
            "quantity",
            DeliverIn,
            lambda m: nd.deliver(self.viewer.user_id, o.id, m.quantity),
            "deliver-dialog",
        )

    def accept_dialog(self) -> None:
        _, o = self._, self.order
        delivered = o.delivered_quantity or 0
        self._quantity_dialog(
            _("Accept the delivery"),
            _("{count} parts were delivered. How many are good?").format(count=f"{delivered:,}"),
            _("Good quantity"),
            delivered,
            _("Accept"),
            "good_quantity",
            AcceptIn,
            lambda m: nd.accept_delivery(self.viewer.user_id, o.id, m.good_quantity),
            "accept-dialog",
            limit=delivered,
        )

    # ------------------------------------------------------------ rating

    def rating_card(self) -> None:
        _ = self._
        given = self.detail.rating
        other = _("the buyer") if self.supplier else _("the supplier")
        with ui.card().props('flat bordered data-testid="rating-card"').classes("w-full p-5 gap-3"):
            card_title("star_rate", _("Rate {other}").format(other=other))
            stars = ui.rating(value=given[0] if given else 0, max=5, size="28px", color="amber-8").props(
                'data-testid="rating-stars"'
            )
            comment = (
                ui.input(_("Comment (optional)"), value=(given[1] or "") if given else "")
                .props(INPUT)
                .classes("w-full")
            )
            general = ui.label().classes("text-sm text-negative")
            general.set_visibility(False)

            def save() -> None:
                done = save_form(
                    _,
                    {"comment": comment},
                    general,
                    RatingIn,  # a stars problem shows below
                    {"stars": int(stars.value or 0), "comment": text_or_none(comment.value)},
                    lambda m: nd.rate(self.viewer.user_id, self.order.id, m.stars, m.comment),
                )
                if done:
                    ui.notify(_("Thank you for your rating."), type="positive", timeout=2500)

            if self.viewer.is_editor:
                ui.button(_("Save rating") if given is None else _("Change rating"), icon="check", on_click=save).props(
                    'unelevated no-caps data-testid="rating-save"'
                )
            else:
                stars.props("readonly")
