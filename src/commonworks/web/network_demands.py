"""Demands and quotes: ``/network/demands`` lists the organization's own demands and the market (other
enterprises' open demands, with a quote dialog), and posts a demand — a part RFQ, material
procurement, a technical problem or a service request, each with its own fields.

``/network/demands/{id}`` shows one demand. Its buyer sees the matched suppliers with their
reasons (every hard constraint as ✓/✗ with its detail, the score broken down by component), the
quotes received and accepts one (an order); a supplier sees its own quote and can revise or
withdraw it. Everything goes through the same logic as the ``/network/demands`` and
``/network/quotes`` endpoints, so a draft is its buyer's alone and others' quotes stay hidden.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from commonworks.core.errors import AppError, NotFound
from commonworks.network.schemas import DemandCreate, DemandOut, MatchesOut, MatchOut, QuoteCreate, QuoteOut
from commonworks.web import network_data as nd
from commonworks.web import network_ui, ops_data
from commonworks.web.common import (
    SignedOut,
    Viewer,
    card_title,
    empty_state,
    local_datetime,
    not_found,
    page_header,
    paginate_in,
    save_form,
    service_message,
    shell,
    show_errors,
    text_or_none,
)
from commonworks.web.layout import N_, Translate
from commonworks.web.network_format import (
    COMPONENT_LOOKS,
    CONSTRAINT_LABELS,
    DEMAND_STATUSES,
    KIND_FIELDS,
    KIND_ICONS,
    KIND_LABELS,
    ORDER_STATUSES,
    QUOTE_STATUSES,
    SERVICE_KINDS,
    certification_options,
    check_text,
    demand_values,
    envelope_text,
    finish_options,
    material_options,
    missing_fields,
    money,
    num,
    process_options,
    score_options,
    share_percent,
    term_name,
)
from commonworks.web.network_ui import INPUT, status_badge

TABS = {"mine": N_("My demands"), "market": N_("Market")}


@ui.page("/network/demands")
def demands_page(tab: str = "mine") -> RedirectResponse | None:
    signed = shell(N_("Demands and quotes"), "/network/demands")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    DemandBoard(viewer, lang, _, tab if tab in TABS else "mine").build()
    return None


# ================================================================ the quote dialog


def quote_dialog(
    viewer: Viewer,
    lang: str,
    _: Translate,
    demand: DemandOut,
    quote: QuoteOut | None,
    capabilities: dict[int, str],
    on_done: Any,
) -> None:
    """Quote for (or revise the quote of) another enterprise's open demand."""
    dialog = ui.dialog().props("persistent")
    dialog.on("hide", dialog.delete)
    with dialog, ui.card().classes("w-[560px] max-w-full p-6 gap-3").props('data-testid="quote-dialog"'):
        ui.label(_("Your quote") if quote is None else _("Revise your quote")).classes(
            "text-lg font-semibold text-grey-9"
        )
        ui.label(demand.title).classes("text-sm text-grey-7")
        general = ui.label().classes("text-sm text-negative")
        general.set_visibility(False)
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-1"):
            price = (
                ui.number(_("Total price (CNY)"), value=quote.price if quote else None, min=0)
                .props(INPUT + ' data-testid="quote-price"')
                .classes("w-full")
            )
            lead = (
                ui.number(
                    _("Lead time (days)"), value=quote.lead_time_days if quote else None, min=0, max=365, precision=0
                )
                .props(INPUT + ' data-testid="quote-lead-time"')
                .classes("w-full")
            )
        options = {cid: process_options(lang).get(code, code) for cid, code in capabilities.items()}
        capability = (
            ui.select(
                options,
                label=_("With capability (optional)"),
                clearable=True,
                value=quote.capability_id if quote and quote.capability_id in options else None,
            )
            .props(INPUT)
            .classes("w-full")
        )
        note = (
            ui.textarea(_("Note (optional)"), value=(quote.note or "") if quote else "")
            .props(INPUT + ' autogrow data-testid="quote-note"')
            .classes("w-full")
        )
        if demand.budget is not None:
            ui.label(_("The buyer's budget: {budget}").format(budget=money(demand.budget))).classes(
                "text-xs text-grey-6"
            )
        fields = {"price": price, "lead_time_days": lead, "capability_id": capability, "note": note}

        def save() -> None:
            values = {
                "price": price.value,
                "lead_time_days": int(lead.value) if lead.value is not None else None,
                "capability_id": capability.value,
                "note": text_or_none(note.value),
            }
            done = save_form(
                _,
                fields,
                general,
                QuoteCreate,
                values,
                lambda m: nd.submit_quote(viewer.user_id, demand.id, m),
                conflict=_("The demand no longer takes quotes."),
            )
            if done:
                dialog.close()
                ui.notify(_("Quote sent to the buyer."), type="positive", timeout=2500)
                on_done()

        with ui.row().classes("w-full justify-end gap-2 pt-2"):
            ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
            ui.button(_("Send quote"), icon="send", on_click=save).props('unelevated no-caps data-testid="quote-save"')
    dialog.open()


# ================================================================ /network/demands


class DemandBoard:
    def __init__(self, viewer: Viewer, lang: str, _: Translate, tab: str) -> None:
        self.viewer = viewer
        self.lang = lang
        self._ = _
        self.tab = tab
        self.tz = ops_data.timezone(viewer.user_id)

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            header = page_header(
                _("Demands and quotes"),
                _(
                    "Post what you need and get explained supplier matches and quotes; "
                    "quote for what other enterprises need."
                ),
            )
            if self.viewer.is_editor:
                with header:
                    ui.button(_("Post a demand"), icon="add", on_click=self.post_dialog).props(
                        'unelevated no-caps data-testid="post-demand"'
                    )
            tabs = ui.toggle(
                {k: _(v) for k, v in TABS.items()}, value=self.tab, on_change=lambda e: self._switch(e.value)
            )
            tabs.props(
                "no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                "padding='4px 14px' data-testid=demand-tabs"
            ).classes("border border-gray-300 rounded bg-white")
            self.listing()

    def _switch(self, tab: str) -> None:
        self.tab = tab
        ui.navigate.history.replace(f"/network/demands?tab={tab}")  # a reload (e.g. the language) keeps the tab
        self.listing.refresh()

    @ui.refreshable_method
    def listing(self) -> None:
        _ = self._
        rows = nd.demands(self.viewer.user_id, self.tab)
        with ui.card().props("flat bordered").classes("w-full p-0 gap-0"):
            if self.tab == "mine":
                columns = [
                    {"name": "title", "label": _("Demand"), "field": "title", "align": "left"},
                    {"name": "status", "label": _("Status"), "field": "status", "align": "left"},
                    {"name": "quotes", "label": _("Quotes"), "field": "quotes", "align": "right"},
                    {"name": "due", "label": _("Due date"), "field": "due", "align": "left"},
                    {"name": "posted", "label": _("Published"), "field": "posted", "align": "left"},
                ]
                empty = _("You have posted no demands yet.")
            else:
                columns = [
                    {"name": "title", "label": _("Demand"), "field": "title", "align": "left"},
                    {"name": "buyer", "label": _("Buyer"), "field": "buyer", "align": "left"},
                    {"name": "quantity", "label": _("Quantity"), "field": "quantity", "align": "right"},
                    {"name": "due", "label": _("Due date"), "field": "due", "align": "left"},
                    {"name": "budget", "label": _("Budget"), "field": "budget", "align": "right"},
                    {"name": "quote", "label": _("Your quote"), "field": "quote", "align": "left"},
                ]
                empty = _("No open demands of other enterprises right now.")
            table = (
                ui.table(columns=columns, rows=[self._row(r) for r in rows], row_key="id", pagination=25)
                .props(f'flat table-header-class=text-grey-7 data-testid="demand-table-{self.tab}"')
                .classes("w-full")
            )
            table.props["no-data-label"] = empty
            paginate_in(_, table)
            table.add_slot(
                "body-cell-title",
                r"""
                <q-td :props="props">
                  <div class="flex items-center gap-2 no-wrap">
                    <q-icon :name="props.row.icon" size="20px" color="grey-7" />
                    <div>
                      <a :href="'/network/demands/' + props.row.id" class="text-primary no-underline font-medium"
                      >{{ props.row.title }}</a>
                      <div class="text-xs text-grey-6">{{ props.row.what }}</div>
                    </div>
                  </div>
                </q-td>""",
            )
            table.add_slot("body-cell-status", network_ui.STATUS_SLOT)
            table.add_slot(
                "body-cell-quote",
                r"""
                <q-td :props="props">
                  <q-badge v-if="props.row.quote_label" :color="props.row.quote_color" :label="props.row.quote_label"
                           rounded class="mr-2" />
                  <q-btn v-if="props.row.can_quote" unelevated dense no-caps size="sm" color="primary"
                         icon="request_quote" :label="props.row.quote_action" :data-testid="'quote-' + props.row.id"
                         class="px-2" @click.stop="() => $parent.$emit('quote', props.row)" />
                </q-td>""",
            )
            table.on("quote", lambda e: self.quote(int(e.args["id"])))
            self.rows = {r.demand.id: r for r in rows}

    def _what(self, d: DemandOut) -> str:
        _ = self._
        parts = [_(KIND_LABELS[d.kind.value])]
        if d.process:
            parts.append(term_name(d.process, self.lang))
        if d.material:
            parts.append(term_name(d.material, self.lang))
        elif d.specification:
            parts.append(d.specification)
        if d.service_kind:
            parts.append(_(SERVICE_KINDS.get(d.service_kind, d.service_kind)))
        return " · ".join(parts)

    def _row(self, row: nd.DemandRow) -> dict[str, Any]:
        _, d = self._, row.demand
        status = DEMAND_STATUSES[d.status.value]
        quote = row.own_quote
        quote_look = QUOTE_STATUSES[quote.status.value] if quote else None
        can_quote = (
            self.viewer.is_editor
            and d.status.value == "open"
            and (quote is None or quote.status.value in ("submitted", "withdrawn"))
        )
        return {
            "id": d.id,
            "title": d.title,
            "icon": KIND_ICONS[d.kind.value],
            "what": self._what(d),
            "status": d.status.value,
            "status_label": _(status.label),
            "status_color": status.color,
            "quotes": row.quotes,
            "due": d.due_date.isoformat() if d.due_date else "—",
            "posted": local_datetime(d.published_at, self.tz) if d.published_at else _("Not published"),
            "buyer": d.buyer,
            "quantity": f"{num(d.quantity)} {d.unit or ''}".strip() if d.quantity else "—",
            "budget": money(d.budget),
            "quote": quote.price if quote else None,
            "quote_label": f"{_(quote_look.label)} · {money(quote.price)}" if quote and quote_look else "",
            "quote_color": quote_look.color if quote_look else "grey",
            "can_quote": can_quote,
            "quote_action": _("Quote") if quote is None else _("Revise"),
        }

    def quote(self, demand_id: int) -> None:
        row = self.rows.get(demand_id)
        if row is None:
            return
        quote_dialog(
            self.viewer,
            self.lang,
            self._,
            row.demand,
            row.own_quote,
            nd.own_capabilities(self.viewer.user_id),
            self.listing.refresh,
        )

    # ------------------------------------------------------------ posting a demand

    def post_dialog(self) -> None:
        PostDemand(self.viewer, self.lang, self._).open()


class PostDemand:
    """The post-a-demand dialog: a kind, then that kind's fields (the others are hidden, keeping their values)."""

    def __init__(self, viewer: Viewer, lang: str, _: Translate) -> None:
        self.viewer = viewer
        self.lang = lang
        self._ = _

    def open(self) -> None:
        _, lang = self._, self.lang
        dialog = ui.dialog().props("persistent")
        dialog.on("hide", dialog.delete)
        with dialog, ui.card().classes("w-[820px] max-w-full p-6 gap-3").props('data-testid="demand-dialog"'):
            ui.label(_("Post a demand")).classes("text-lg font-semibold text-grey-9")
            kind = ui.toggle(
                {k: _(v) for k, v in KIND_LABELS.items()}, value="part_rfq", on_change=lambda e: self._show(e.value)
            )
            kind.props(
                "no-caps unelevated dense toggle-color=primary color=white text-color=grey-8 "
                "padding='4px 12px' data-testid=demand-kind"
            ).classes("border border-gray-300 rounded bg-white")
            self.general = ui.label().classes("text-sm text-negative")
            self.general.set_visibility(False)
            f: dict[str, Any] = {}
            with ui.grid(columns=3).classes("w-full gap-x-4 gap-y-1 max-md:grid-cols-1"):
                wide = "col-span-3 max-md:col-span-1"
                f["title"] = ui.input(_("Title")).props(INPUT + ' data-testid="demand-title"').classes(wide)
                f["process"] = (
                    ui.select(process_options(lang), label=_("Process"), with_input=True)
                    .props(INPUT + ' data-testid="demand-process"')
                    .classes(wide)
                )
                f["material"] = (
                    ui.select(material_options(lang), label=_("Material"), with_input=True, clearable=True)
                    .props(INPUT + ' data-testid="demand-material"')
                    .classes("col-span-2 max-md:col-span-1")
                )
                f["specification"] = ui.input(_("Specification (grade, size …)")).props(INPUT).classes("w-full")
                f["service_kind"] = (
                    ui.select({k: _(v) for k, v in SERVICE_KINDS.items()}, label=_("Service"))
                    .props(INPUT)
                    .classes("w-full")
                )
                f["quantity"] = (
                    ui.number(_("Quantity"), min=0).props(INPUT + ' data-testid="demand-quantity"').classes("w-full")
                )
                f["unit"] = ui.input(_("Unit (e.g. kg, pcs)")).props(INPUT).classes("w-full")
                f["due_date"] = (
                    ui.input(_("Due date")).props(INPUT + ' type=date data-testid="demand-due"').classes("w-full")
                )
                f["envelope_x_mm"] = ui.number(_("Part size X (mm)"), min=0).props(INPUT).classes("w-full")
                f["envelope_y_mm"] = ui.number(_("Part size Y (mm)"), min=0).props(INPUT).classes("w-full")
                f["envelope_z_mm"] = ui.number(_("Part size Z (mm)"), min=0).props(INPUT).classes("w-full")
                f["tolerance_mm"] = ui.number(_("Tolerance ± (mm)"), min=0).props(INPUT).classes("w-full")
                f["finish_ra_um"] = (
                    ui.select(finish_options(lang), label=_("Surface finish"), clearable=True)
                    .props(INPUT)
                    .classes("w-full")
                )
                f["hours"] = (
                    ui.number(_("Machine hours needed"), min=0)
                    .props(INPUT + ' data-testid="demand-hours"')
                    .classes("w-full")
                )
                f["certifications"] = (
                    ui.select(certification_options(lang), label=_("Certifications required"), multiple=True, value=[])
                    .props(INPUT + " use-chips")
                    .classes(wide)
                )
                f["budget"] = (
                    ui.number(_("Budget (CNY, total)"), min=0)
                    .props(INPUT + ' data-testid="demand-budget"')
                    .classes("w-full")
                )
                f["delivery_place"] = ui.input(_("Delivery place")).props(INPUT).classes("col-span-2 max-md:col-span-1")
                f["description"] = (
                    ui.textarea(_("Description")).props(INPUT + ' autogrow data-testid="demand-text"').classes(wide)
                )
                f["allow_split"] = ui.checkbox(_("May be split between suppliers")).classes(wide)
            self.fields = f
            publish = ui.checkbox(
                _("Publish to the network now (else a draft only your organization sees)"), value=True
            ).props('data-testid="demand-publish"')
            self.kind = kind
            self._show("part_rfq")

            def save() -> None:
                raw = {name: element.value for name, element in f.items()}
                values = demand_values(kind.value, raw)
                missing = missing_fields(kind.value, values)
                if missing:
                    show_errors(f, {name: _("Required.") for name in missing}, self.general)
                    return
                done = save_form(
                    _,
                    f,
                    self.general,
                    DemandCreate,
                    {**values, "publish": bool(publish.value)},
                    lambda m: nd.post_demand(self.viewer.user_id, m),
                )
                if done:
                    dialog.close()
                    ui.notify(_("Demand posted."), type="positive", timeout=2500)
                    ui.navigate.to(f"/network/demands/{done.id}")

            with ui.row().classes("w-full justify-end gap-2 pt-2"):
                ui.button(_("Cancel"), on_click=dialog.close).props("flat no-caps color=grey-8")
                ui.button(_("Post"), icon="send", on_click=save).props('unelevated no-caps data-testid="demand-save"')
        dialog.open()

    def _show(self, kind: str) -> None:
        shown = set(KIND_FIELDS[kind])
        for name, element in self.fields.items():
            element.set_visibility(name in shown)
        show_errors(self.fields, {}, self.general)


# ================================================================ /network/demands/{id}


@ui.page("/network/demands/{demand_id}")
def demand_page(demand_id: str) -> RedirectResponse | None:
    signed = shell(N_("Demand"), "/network/demands")
    if signed is None:
        return RedirectResponse("/login")
    viewer, lang, _ = signed
    row_id = network_ui.row_id(demand_id)
    try:
        if row_id is None:
            raise NotFound(f"demand {demand_id} not found")
        detail = nd.demand_detail(viewer.user_id, row_id)
    except NotFound:
        not_found(
            _,
            _("There is no demand with this number, or it is another enterprise's draft."),
            "/network/demands",
            _("Back to demands and quotes"),
        )
        return None
    ui.page_title(f"{detail.demand.title} · Commonworks")
    DemandView(viewer, lang, _, detail).build()
    return None


class DemandView:
    def __init__(self, viewer: Viewer, lang: str, _: Translate, detail: nd.DemandDetail) -> None:
        self.viewer = viewer
        self.lang = lang
        self._ = _
        self.detail = detail

    @property
    def demand(self) -> DemandOut:
        return self.detail.demand

    def build(self) -> None:
        _ = self._
        with ui.column().classes("w-full max-w-7xl mx-auto p-6 gap-5"):
            with ui.row().classes("items-center gap-1 text-sm text-grey-7"):
                ui.link(_("Demands and quotes"), "/network/demands").classes("text-primary no-underline")
                ui.icon("chevron_right", size="18px")
                ui.label(_(KIND_LABELS[self.demand.kind.value]))
            self.content()

    def _reload(self) -> None:
        self.detail = nd.demand_detail(self.viewer.user_id, self.demand.id)
        self.content.refresh()

    @ui.refreshable_method
    def content(self) -> None:
        _, d = self._, self.demand
        with ui.row().classes("w-full items-center gap-4 no-wrap max-sm:flex-wrap"):
            with ui.element("div").classes("rounded-lg bg-blue-1 p-3"):
                ui.icon(KIND_ICONS[d.kind.value], size="32px", color="primary")
            with ui.column().classes("gap-1 min-w-0 grow"):
                with ui.row().classes("items-center gap-3"):
                    ui.label(d.title).classes("text-2xl font-semibold text-grey-9")
                    status_badge(_, DEMAND_STATUSES, d.status.value, "demand-status")
                posted = local_datetime(d.published_at, self.detail.timezone) if d.published_at else _("Not published")
                ui.label(" · ".join([_(KIND_LABELS[d.kind.value]), d.buyer, posted])).classes("text-sm text-grey-7")
            if d.mine and self.viewer.is_editor:
                self._buyer_actions()
        with ui.row().classes("w-full gap-5 items-start max-lg:flex-col"):
            with ui.column().classes("w-[360px] max-lg:w-full gap-5"):
                self.facts_card()
            with ui.column().classes("grow min-w-0 gap-5 max-lg:w-full"):
                if d.mine:
                    if d.kind.value == "part_rfq" and d.status.value in ("open", "draft", "awarded"):
                        self.matches_card()
                    self.quotes_card()
                else:
                    self.own_quote_card()
                if self.detail.orders:
                    self.orders_card()

    def _buyer_actions(self) -> None:
        _, status = self._, self.demand.status.value
        actions = {
            "draft": [("open", _("Publish"), "campaign"), ("cancelled", _("Cancel demand"), "block")],
            "open": [("closed", _("Close"), "lock"), ("cancelled", _("Cancel demand"), "block")],
            "awarded": [("closed", _("Close"), "lock")],
        }.get(status, [])
        with ui.row().classes("gap-2"):
            for target, label, icon in actions:
                ui.button(label, icon=icon, on_click=lambda t=target: self.set_status(t)).props(
                    f"outline no-caps color={'primary' if target == 'open' else 'grey-8'} "
                    f'data-testid="demand-to-{target}"'
                )

    def set_status(self, status: str) -> None:
        _ = self._
        try:
            nd.set_demand_status(self.viewer.user_id, self.demand.id, status)
        except AppError as exc:
            ui.notify(service_message(_, exc, conflict=_("The demand has changed meanwhile."))[1], type="negative")
        else:
            ui.notify(_("Demand updated."), type="positive", timeout=2500)
        self._reload()

    # ------------------------------------------------------------ facts

    def facts_card(self) -> None:
        _, d, lang = self._, self.demand, self.lang
        facts: list[tuple[str, str]] = []
        if d.process:
            facts.append((_("Process"), process_options(lang).get(d.process, d.process)))
        if d.material:
            facts.append((_("Material"), term_name(d.material, lang)))
        if d.specification:
            facts.append((_("Specification"), d.specification))
        if d.service_kind:
            facts.append((_("Service"), _(SERVICE_KINDS.get(d.service_kind, d.service_kind))))
        if d.quantity is not None:
            facts.append((_("Quantity"), f"{num(d.quantity)} {d.unit or ''}".strip()))
        envelope = envelope_text(d.envelope_x_mm, d.envelope_y_mm, d.envelope_z_mm)
        if envelope:
            facts.append((_("Part size"), envelope))
        if d.tolerance_mm is not None:
            facts.append((_("Tolerance"), f"± {num(d.tolerance_mm)} mm"))
        if d.finish_ra_um is not None:
            facts.append((_("Surface finish"), f"Ra {num(d.finish_ra_um)} µm"))
        if d.certifications:
            facts.append((_("Certifications"), ", ".join(term_name(c, lang) for c in d.certifications)))
        if d.hours is not None:
            facts.append((_("Machine hours"), f"{num(d.hours)} h"))
        if d.due_date:
            facts.append((_("Due date"), d.due_date.isoformat()))
        if d.budget is not None:
            facts.append((_("Budget"), money(d.budget)))
        if d.delivery_place:
            facts.append((_("Delivery place"), d.delivery_place))
        if d.allow_split:
            facts.append((_("Split"), _("May be split between suppliers")))
        with ui.card().props('flat bordered data-testid="demand-facts"').classes("w-full p-5 gap-3"):
            card_title("description", _("What is needed"))
            with ui.grid(columns="auto 1fr").classes("gap-x-5 gap-y-2 text-sm"):
                for label, value in facts:
                    ui.label(label).classes("text-grey-7")
                    ui.label(value).classes("text-grey-10 font-medium break-words")
            if d.description:
                ui.separator()
                ui.label(d.description).classes("text-sm text-grey-9 whitespace-pre-line")

    # ------------------------------------------------------------ matches (the buyer)

    def matches_card(self) -> None:
        _ = self._
        with ui.card().props('flat bordered data-testid="matches-card"').classes("w-full p-5 gap-3"):
            card_title("join_inner", _("Matched suppliers"))
            self.matches_box = ui.column().classes("w-full gap-3")
            with self.matches_box, ui.row().classes("items-center gap-2 text-grey-6"):
                ui.spinner("dots", size="20px", color="grey-6")
                ui.label(_("Ranking the suppliers…")).classes("text-sm")
        ui.timer(0.05, self.load_matches, once=True)  # the page shows at once; ranking may take a moment

    async def load_matches(self) -> None:
        _ = self._
        try:
            found = await run.io_bound(nd.matches, self.viewer.user_id, self.demand.id)
            error = None
        except SignedOut:
            ui.navigate.to("/login")
            return
        except AppError as exc:
            found, error = None, service_message(_, exc)[1]
        if self.matches_box.is_deleted:
            return
        self.matches_box.clear()
        with self.matches_box:
            self.show_matches(found, error)

    def show_matches(self, found: MatchesOut | None, error: str | None) -> None:
        _ = self._
        if error is not None:
            ui.label(error).classes("text-sm text-negative")
            return
        if found is None:
            ui.label(_("Matching is not available for this demand.")).classes("text-sm text-grey-7")
            return
        self._match_summary(found)
        if not found.matches:
            empty_state(
                "person_search",
                _("No supplier meets every requirement"),
                _(
                    "Suppliers that fail a hard requirement are never shown. Loosen a requirement or a "
                    "date, or wait for more published capacity."
                ),
            )
            return
        ui.echart(score_options(_, found.matches)).classes("w-full").style(
            f"height: {72 + 34 * len(found.matches)}px"
        ).props('data-testid="score-chart"')
        with ui.column().classes("w-full gap-2"):
            for match in found.matches:
                self.match_row(match)

    def _match_summary(self, found: MatchesOut) -> None:
        _ = self._
        parts = [_("Published profiles considered: {count}").format(count=found.candidates)]
        left = [f"{_(CONSTRAINT_LABELS.get(name, name))} {count}" for name, count in found.excluded.items() if count]
        if left:
            parts.append(_("left out by the first requirement they fail: {list}").format(list=", ".join(left)))
        ui.label(" · ".join(parts)).classes("text-sm text-grey-7").props('data-testid="match-summary"')

    def match_row(self, m: MatchOut) -> None:
        _ = self._
        with ui.card().props(f'flat bordered data-testid="match-{m.enterprise_id}"').classes("w-full px-4 py-3 gap-2"):
            with ui.row().classes("w-full items-center gap-3 no-wrap"):
                ui.label(f"#{m.rank}").classes("text-lg font-semibold text-primary w-8")
                with ui.column().classes("gap-0 grow min-w-0"):
                    ui.label(m.name).classes("text-base font-semibold text-grey-9 truncate")
                    where = [process_options(self.lang).get(m.process, m.process)]
                    if m.region:
                        where.insert(0, m.region)
                    ui.label(" · ".join(where)).classes("text-xs text-grey-7")
                with ui.column().classes("items-end gap-0"):
                    ui.label(f"{m.score:.2f}").classes("text-xl font-semibold tabular-nums text-grey-9").props(
                        f'data-testid="match-score-{m.enterprise_id}"'
                    )
                    ui.label(_("score")).classes("text-[11px] text-grey-6")
            with ui.row().classes("gap-1"):
                for check in m.constraints:
                    label = _(CONSTRAINT_LABELS.get(check.name, check.name))
                    chip = (
                        ui.chip(f"{'✓' if check.passed else '✗'} {label}")
                        .props(
                            f"dense square color={'green-1' if check.passed else 'red-1'} "
                            f"text-color={'green-9' if check.passed else 'red-9'} "
                            f'data-testid="constraint-{m.enterprise_id}-{check.name}"'
                        )
                        .classes("text-xs")
                    )
                    chip.tooltip(check_text(check.code, check.args, check.detail, self.lang, _))
            facts = []
            if m.distance_km is not None:
                facts.append(_("{km} km away").format(km=num(round(m.distance_km))))
            if m.price_per_hour is not None:
                facts.append(_("{price} per hour").format(price=money(m.price_per_hour)))
            if m.free_hours_before_due is not None:
                facts.append(_("{hours} h free before the due date").format(hours=num(m.free_hours_before_due)))
            if m.reputation is not None:
                facts.append(_("reputation {share}").format(share=share_percent(m.reputation)))
            else:
                facts.append(_("no reputation yet"))
            ui.label(" · ".join(facts)).classes("text-xs text-grey-8")
            with ui.row().classes("gap-3 text-[11px] text-grey-7"):
                for c in m.components:
                    ui.label(
                        _("{name} {value} × {weight}").format(
                            name=_(COMPONENT_LOOKS.get(c.name, (c.name, ""))[0]),
                            value=f"{c.normalised:.2f}",
                            weight=f"{c.weight:.2f}",
                        )
                    )

    # ------------------------------------------------------------ quotes

    def quotes_card(self) -> None:
        _, d = self._, self.demand
        quotes = self.detail.quotes
        can_accept = self.viewer.is_editor and (
            d.status.value == "open" or (d.status.value == "awarded" and d.allow_split)
        )
        with ui.card().props('flat bordered data-testid="quotes-card"').classes("w-full p-0 gap-0"):
            with ui.row().classes("w-full items-center px-5 pt-4 pb-2"):
                card_title("request_quote", _("Quotes ({count})").format(count=len(quotes)))
            columns = [
                {"name": "supplier", "label": _("Supplier"), "field": "supplier", "align": "left"},
                {"name": "price", "label": _("Price"), "field": "price", "align": "right", "sortable": True},
                {"name": "lead", "label": _("Lead time"), "field": "lead", "align": "right", "sortable": True},
                {"name": "note", "label": _("Note"), "field": "note", "align": "left"},
                {"name": "status", "label": _("Status"), "field": "status", "align": "left"},
                {"name": "actions", "label": "", "field": "id", "align": "right"},
            ]
            rows = []
            for q in quotes:
                look = QUOTE_STATUSES[q.status.value]
                rows.append(
                    {
                        "id": q.id,
                        "supplier": q.supplier,
                        "price": q.price,
                        "price_text": money(q.price),
                        "lead": q.lead_time_days,
                        "lead_text": _("{count} days").format(count=q.lead_time_days),
                        "note": q.note or "",
                        "status": q.status.value,
                        "status_label": _(look.label),
                        "status_color": look.color,
                        "accept": can_accept and q.status.value == "submitted",
                        "accept_label": _("Accept quote"),
                    }
                )
            table = (
                ui.table(columns=columns, rows=rows, row_key="id")
                .props('flat table-header-class=text-grey-7 hide-bottom data-testid="quote-table"')
                .classes("w-full")
            )
            table.props["no-data-label"] = _("No quotes yet.")
            if not rows:
                table.props(remove="hide-bottom")
            for name in ("price", "lead"):
                table.add_slot(
                    f"body-cell-{name}",
                    f'<q-td :props="props" class="tabular-nums">{{{{ props.row.{name}_text }}}}</q-td>',
                )
            table.add_slot("body-cell-status", network_ui.STATUS_SLOT)
            table.add_slot(
                "body-cell-actions",
                r"""
                <q-td :props="props">
                  <q-btn v-if="props.row.accept" unelevated dense no-caps size="sm" color="positive" icon="handshake"
                         :label="props.row.accept_label" :data-testid="'accept-quote-' + props.row.id" class="px-2"
                         @click.stop="() => $parent.$emit('accept', props.row)" />
                </q-td>""",
            )
            table.on("accept", lambda e: self.accept(e.args))

    def accept(self, row: dict[str, Any]) -> None:
        _ = self._

        def agree() -> str | None:
            try:
                order = nd.accept_quote(self.viewer.user_id, int(row["id"]))
            except AppError as exc:
                return service_message(_, exc, conflict=_("The quote or the demand has changed meanwhile."))[1]
            ui.notify(_("Order placed."), type="positive", timeout=2500)
            ui.navigate.to(f"/network/orders/{order.id}")
            return None

        message = _(
            "{supplier} makes it for {price} in {days} days. Accepting places the order; the other quotes "
            "are declined unless the demand may be split."
        ).format(supplier=row["supplier"], price=row["price_text"], days=row["lead"])
        network_ui.agree_dialog(_, _("Accept this quote?"), message, _("Accept and order"), agree)

    # ------------------------------------------------------------ the supplier's side

    def own_quote_card(self) -> None:
        _, d = self._, self.demand
        quote = self.detail.quotes[0] if self.detail.quotes else None
        with ui.card().props('flat bordered data-testid="own-quote"').classes("w-full p-5 gap-3"):
            card_title("request_quote", _("Your quote"))
            if quote is None:
                ui.label(
                    _("You have not quoted for this demand.")
                    if d.status.value == "open"
                    else _("This demand takes no quotes any more.")
                ).classes("text-sm text-grey-7")
            else:
                with ui.row().classes("items-center gap-3"):
                    ui.label(money(quote.price)).classes("text-2xl font-semibold tabular-nums text-grey-9")
                    ui.label(_("{count} days").format(count=quote.lead_time_days)).classes("text-grey-8")
                    status_badge(_, QUOTE_STATUSES, quote.status.value, "own-quote-status")
                if quote.note:
                    ui.label(quote.note).classes("text-sm text-grey-8")
            editable = self.detail.can_quote and (quote is None or quote.status.value in ("submitted", "withdrawn"))
            with ui.row().classes("gap-2"):
                if editable:
                    ui.button(
                        _("Quote") if quote is None else _("Revise"),
                        icon="request_quote",
                        on_click=lambda: quote_dialog(
                            self.viewer, self.lang, _, d, quote, self.detail.capabilities, self._reload
                        ),
                    ).props('unelevated no-caps data-testid="quote-open"')
                if quote is not None and quote.status.value == "submitted" and self.viewer.is_editor:
                    ui.button(_("Withdraw quote"), icon="undo", on_click=lambda: self.withdraw(quote)).props(
                        "flat no-caps color=negative"
                    )

    def withdraw(self, quote: QuoteOut) -> None:
        _ = self._
        try:
            nd.withdraw_quote(self.viewer.user_id, quote.id)
        except AppError as exc:
            ui.notify(service_message(_, exc, conflict=_("The quote has changed meanwhile."))[1], type="negative")
        else:
            ui.notify(_("Quote withdrawn."), type="positive", timeout=2500)
        self._reload()

    def orders_card(self) -> None:
        _ = self._
        with ui.card().props('flat bordered data-testid="demand-orders"').classes("w-full p-5 gap-2"):
            card_title("local_shipping", _("Orders"))
            for order in self.detail.orders:
                look = ORDER_STATUSES[order.status.value]
                with ui.row().classes("items-center gap-3"):
                    ui.link(_("Order {id}").format(id=order.id), f"/network/orders/{order.id}").classes(
                        "text-primary no-underline font-medium"
                    )
                    ui.label(f"{order.supplier} · {money(order.price)} · {order.quantity:,}").classes(
                        "text-sm text-grey-8"
                    )
                    ui.badge(_(look.label)).props(f"rounded color={look.color}")
