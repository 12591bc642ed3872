"""What the network pages read and write, as the signed-in user (see :mod:`commonworks.web.data`).

Every call goes through the network logic the API uses (:mod:`commonworks.network.service`,
the capability CRUD resource, :mod:`commonworks.network.views`), so the API's rules hold in
the pages too: a draft demand is its buyer's alone, a quote is seen by its supplier and the
buyer, an order by its two parties, and anything else is "not found"; viewers change nothing.
Everything returned is plain data (the API's response models and dataclasses).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from commonworks.core import crud
from commonworks.core.auth.deps import get_in_tenant, tenant_scoped
from commonworks.core.crud import EDITORS
from commonworks.core.orgs.models import Organization
from commonworks.network import service, views
from commonworks.network.models import Capability, DemandKind, DemandStatus
from commonworks.network.schemas import (
    CapabilityCreate,
    CapabilityOut,
    CapabilityUpdate,
    CapacityReport,
    DemandCreate,
    DemandOut,
    MatchesOut,
    OfferOut,
    OrderOut,
    ProfileIn,
    ProfileOut,
    PublishIn,
    QuoteCreate,
    QuoteOut,
    Reputation,
)
from commonworks.telemetry.models import Machine, Tag
from commonworks.web.common import tenant_session
from commonworks.web.data import org_timezone

LIST_LIMIT = 200  # rows a list page shows (newest first)
MATCHES_SHOWN = 10
_CAPABILITY = next(r for r in service.NETWORK_RESOURCES if r.name == "capability")


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------- profile and capabilities


@dataclass(frozen=True)
class MachineChoice:
    id: int
    key: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.key})"


@dataclass(frozen=True)
class ProfileView:
    profile: ProfileOut
    capabilities: list[CapabilityOut]
    machines: list[MachineChoice]
    located: bool  # the organization has coordinates: without them matching cannot place it


def _machines(session, caller) -> list[MachineChoice]:  # type: ignore[no-untyped-def]
    rows = session.scalars(tenant_scoped(select(Machine), Machine, caller).order_by(Machine.key))
    return [MachineChoice(m.id, m.key, m.name) for m in rows]


def profile_view(user_id: int) -> ProfileView:
    """The organization's network profile, its capabilities and its machines (for the capability form)."""
    with tenant_session(user_id) as (session, caller):
        profile = ProfileOut.model_validate(service.get_profile(session, caller.org_id))
        rows = session.scalars(crud.list_query(caller, _CAPABILITY))
        org = session.get(Organization, caller.org_id)
        located = org is not None and org.latitude is not None and org.longitude is not None
        return ProfileView(
            profile, [CapabilityOut.model_validate(c) for c in rows], _machines(session, caller), located
        )


def save_profile(user_id: int, data: ProfileIn) -> ProfileOut:
    with tenant_session(user_id) as (session, caller):
        return ProfileOut.model_validate(service.put_profile(session, caller, data))


def create_capability(user_id: int, data: CapabilityCreate) -> CapabilityOut:
    with tenant_session(user_id) as (session, caller):
        return crud.create(session, caller, _CAPABILITY, data)


def update_capability(user_id: int, capability_id: int, data: CapabilityUpdate) -> CapabilityOut:
    with tenant_session(user_id) as (session, caller):
        return crud.update(session, caller, _CAPABILITY, capability_id, data)


def delete_capability(user_id: int, capability_id: int) -> None:
    with tenant_session(user_id) as (session, caller):
        crud.delete(session, caller, _CAPABILITY, capability_id)


# ---------------------------------------------------------------- spare capacity


@dataclass(frozen=True)
class CapacityView:
    report: CapacityReport
    capabilities: dict[int, CapabilityOut]  # id → capability (for its price and its note)


def capacity(user_id: int) -> CapacityView:
    """Free hours per capability and machine for the next 28 days, with what is published."""
    with tenant_session(user_id) as (session, caller):
        report = service.capacity_report(session, caller.org_id, now_ms=_now_ms())
        rows = session.scalars(select(Capability).where(Capability.org_id == caller.org_id))
        return CapacityView(report, {c.id: CapabilityOut.model_validate(c) for c in rows})


def publish(user_id: int, data: PublishIn) -> list[OfferOut]:
    with tenant_session(user_id) as (session, caller):
        return [OfferOut.model_validate(o) for o in service.publish(session, caller, data, now_ms=_now_ms())]


def withdraw(user_id: int, capability_id: int) -> int:
    with tenant_session(user_id) as (session, caller):
        return service.withdraw_offers(session, caller, capability_id)


# ---------------------------------------------------------------- demands and quotes


@dataclass(frozen=True)
class DemandRow:
    demand: DemandOut
    quotes: int  # quotes received (own demands only)
    own_quote: QuoteOut | None  # the caller's quote (market demands)


def demands(user_id: int, scope: str) -> list[DemandRow]:
    """``mine``: the organization's demands (drafts too); ``market``: other organizations' open demands."""
    with tenant_session(user_id) as (session, caller):
        rows = list(session.scalars(service.demands_query(caller, scope, None, None).limit(LIST_LIMIT)))
        ids = [d.id for d in rows]
        counts = views.quote_counts(session, caller, ids) if scope == "mine" else {}
        quotes = views.own_quotes(session, caller, ids) if scope == "market" else {}
        return [
            DemandRow(
                service.demand_out(session, caller, d),
                counts.get(d.id, 0),
                service.quote_out(session, quotes[d.id]) if d.id in quotes else None,
            )
            for d in rows
        ]


def post_demand(user_id: int, data: DemandCreate) -> DemandOut:
    with tenant_session(user_id) as (session, caller):
        return service.demand_out(session, caller, service.create_demand(session, caller, data))


def set_demand_status(user_id: int, demand_id: int, status: str) -> DemandOut:
    with tenant_session(user_id) as (session, caller):
        return service.demand_out(session, caller, service.set_demand_status(session, caller, demand_id, status))


@dataclass(frozen=True)
class DemandDetail:
    demand: DemandOut
    quotes: list[QuoteOut]  # the buyer: every quote; a supplier: its own
    orders: list[OrderOut]  # orders made from the demand that the caller is a party to (without progress)
    capabilities: dict[int, str]  # the caller's capabilities (id → process code), for a quote
    can_quote: bool  # another organization's open demand, and the caller may write
    timezone: str


def demand_detail(user_id: int, demand_id: int) -> DemandDetail:
    """A demand as the caller may see it (NotFound for another organization's draft or a missing id)."""
    with tenant_session(user_id) as (session, caller):
        demand = service.visible_demand(session, caller, demand_id)
        out = service.demand_out(session, caller, demand)
        quotes = [service.quote_out(session, q) for q in service.quotes_for(session, caller, demand.id)]
        orders = [
            service.order_out(session, caller, o, with_progress=False)
            for o in views.orders_of_demand(session, caller, demand.id)
        ]
        own = session.scalars(select(Capability).where(Capability.org_id == caller.org_id).order_by(Capability.id))
        return DemandDetail(
            out,
            quotes,
            orders,
            {c.id: c.process for c in own},
            can_quote=not out.mine and demand.status == DemandStatus.open and caller.user.role in EDITORS,
            timezone=org_timezone(session, caller),
        )


def matches(user_id: int, demand_id: int, top: int = MATCHES_SHOWN) -> MatchesOut | None:
    """Ranked suppliers with their reasons, for the buyer's part RFQ (None for other demands)."""
    with tenant_session(user_id) as (session, caller):
        demand = service.own_demand(session, caller, demand_id)
        if demand.kind != DemandKind.part_rfq or demand.process is None:
            return None
        return service.demand_matches(session, caller, demand.id, top=top)


def own_capabilities(user_id: int) -> dict[int, str]:
    """The organization's capabilities (id → process code), to name the one a quote is for."""
    with tenant_session(user_id) as (session, caller):
        rows = session.scalars(select(Capability).where(Capability.org_id == caller.org_id).order_by(Capability.id))
        return {c.id: c.process for c in rows}


def submit_quote(user_id: int, demand_id: int, data: QuoteCreate) -> QuoteOut:
    with tenant_session(user_id) as (session, caller):
        return service.quote_out(session, service.submit_quote(session, caller, demand_id, data))


def withdraw_quote(user_id: int, quote_id: int) -> QuoteOut:
    with tenant_session(user_id) as (session, caller):
        return service.quote_out(session, service.withdraw_quote(session, caller, quote_id))


def accept_quote(user_id: int, quote_id: int) -> OrderOut:
    """The buyer accepts a quote: the new order."""
    with tenant_session(user_id) as (session, caller):
        return service.order_out(session, caller, service.accept_quote(session, caller, quote_id), with_progress=False)


# ---------------------------------------------------------------- orders


def orders(user_id: int, role: str | None = None) -> list[OrderOut]:
    """The organization's orders as buyer and as supplier (``role`` narrows), newest first, with progress."""
    with tenant_session(user_id) as (session, caller):
        rows = session.scalars(service.orders_query(caller, role).limit(LIST_LIMIT))
        return [service.order_out(session, caller, o) for o in rows]


@dataclass(frozen=True)
class CounterChoice:
    id: int
    key: str
    name: str


@dataclass(frozen=True)
class OrderDetail:
    order: OrderOut
    timezone: str
    machine: MachineChoice | None  # the supplier's bound machine (None for the buyer)
    counter: CounterChoice | None  # the bound counter tag (supplier only)
    machines: list[MachineChoice]  # the supplier's machines to bind to (empty for the buyer)
    rating: tuple[int, str | None] | None  # stars and comment the caller gave
    reputation: Reputation | None  # the supplier's, as the buyer sees it


def order_detail(user_id: int, order_id: int) -> OrderDetail:
    """An order with its live progress (NotFound unless the caller is its buyer or its supplier)."""
    with tenant_session(user_id) as (session, caller):
        order = service.visible_order(session, caller, order_id)
        out = service.order_out(session, caller, order)
        supplier = order.supplier_org_id == caller.org_id
        machine = counter = None
        if supplier and order.machine_id is not None:
            row = session.get(Machine, order.machine_id)
            machine = MachineChoice(row.id, row.key, row.name) if row is not None else None
        if supplier and order.counter_tag_id is not None:
            tag = session.get(Tag, order.counter_tag_id)
            counter = CounterChoice(tag.id, tag.key, tag.name) if tag is not None else None
        rating = views.own_rating(session, caller, order.id)
        return OrderDetail(
            order=out,
            timezone=org_timezone(session, caller),
            machine=machine,
            counter=counter,
            machines=_machines(session, caller) if supplier else [],
            rating=(rating.stars, rating.comment) if rating is not None else None,
            reputation=None if supplier else service.reputation(session, order.supplier_org_id),
        )


def order_progress(user_id: int, order_id: int) -> OrderOut:
    """The order again, for the live refresh."""
    with tenant_session(user_id) as (session, caller):
        return service.order_out(session, caller, service.visible_order(session, caller, order_id))


def counter_tags(user_id: int, machine_id: int) -> list[CounterChoice]:
    """A machine's numeric tags, counters first (``…part_count…``, ``…counter…``), for binding an order."""
    with tenant_session(user_id) as (session, caller):
        machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
        rows = list(
            session.scalars(
                tenant_scoped(select(Tag), Tag, caller).where(Tag.machine_id == machine.id).order_by(Tag.key)
            )
        )
    numeric = [t for t in rows if t.data_type.numeric]
    numeric.sort(key=lambda t: (not any(w in t.key for w in ("part_count", "counter", "count")), t.key))
    return [CounterChoice(t.id, t.key, t.name) for t in numeric]


def bind_order(user_id: int, order_id: int, machine_id: int, counter_tag_id: int | None) -> OrderOut:
    with tenant_session(user_id) as (session, caller):
        order = service.bind_order(session, caller, order_id, machine_id, counter_tag_id, now_ms=_now_ms())
        return service.order_out(session, caller, order)


def deliver(user_id: int, order_id: int, quantity: int) -> OrderOut:
    with tenant_session(user_id) as (session, caller):
        return service.order_out(session, caller, service.deliver(session, caller, order_id, quantity))


def accept_delivery(user_id: int, order_id: int, good_quantity: int) -> OrderOut:
    with tenant_session(user_id) as (session, caller):
        return service.order_out(session, caller, service.accept_delivery(session, caller, order_id, good_quantity))


def rate(user_id: int, order_id: int, stars: int, comment: str | None) -> None:
    with tenant_session(user_id) as (session, caller):
        service.rate(session, caller, order_id, stars, comment)
