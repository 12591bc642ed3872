"""HTTP routes of the network: taxonomy, profile, capabilities, capacity, demands, quotes, orders."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from commonworks.core.auth.deps import Caller, DbSession
from commonworks.core.crud import crud_router
from commonworks.core.errors import NotFound
from commonworks.core.params import Page, PageQuery, RowId, paginate
from commonworks.network import service
from commonworks.network.models import DemandKind
from commonworks.network.schemas import (
    AcceptIn,
    AllocationIn,
    BindIn,
    CapacityReport,
    DeliverIn,
    DemandCreate,
    DemandOut,
    DemandStatusIn,
    MatchesOut,
    OfferOut,
    OrderOut,
    ProfileIn,
    ProfileOut,
    PublishIn,
    QuoteCreate,
    QuoteOut,
    RatingIn,
    Reputation,
)
from commonworks.network.taxonomy import taxonomy

router = APIRouter(prefix="/network", tags=["network"])
crud = APIRouter()
for _resource in service.NETWORK_RESOURCES:
    crud.include_router(crud_router(_resource))


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.get("/taxonomy", summary="Processes (DIN 8580 groups), materials, certifications, finishes")
def get_taxonomy(caller: Caller, locale: Literal["zh", "en"] = "zh") -> dict[str, Any]:
    t = taxonomy()
    return {
        "groups": [{"code": g.code, "name": g.name(locale)} for g in t.groups.values()],
        "processes": [{"code": p.code, "name": p.name(locale), "group": t.group_of(p.code), "parent": p.parent}
                      for p in t.processes.values()],
        "materials": [{"code": m.code, "name": m.name(locale), "parent": m.parent} for m in t.materials.values()],
        "certifications": [{"code": c.code, "name": c.name} for c in t.certifications.values()],
        "finishes": [{"code": f.code, "ra_um": f.ra_um, "name": f.zh if locale == "zh" else f.en}
                     for f in t.finishes.values()],
    }


@router.get("/profile", response_model=ProfileOut, summary="Your enterprise's network profile")
def get_profile(session: DbSession, caller: Caller) -> Any:
    return service.get_profile(session, caller.org_id)


@router.put("/profile", response_model=ProfileOut, summary="Set your enterprise's network profile")
def put_profile(data: ProfileIn, session: DbSession, caller: Caller) -> Any:
    return service.put_profile(session, caller, data)


@router.get("/capacity", response_model=CapacityReport, summary="Spare capacity of your machines, next 4 weeks")
def get_capacity(session: DbSession, caller: Caller) -> CapacityReport:
    """Per machine and per capability, day by day: shift hours − booked − expected load = free hours,
    with what is published. Only your organization sees this; the network sees published offers."""
    return service.capacity_report(session, caller.org_id, now_ms=_now_ms())


@router.post("/capacity/publish", response_model=list[OfferOut], summary="Publish spare hours of a capability")
def publish(data: PublishIn, session: DbSession, caller: Caller) -> Any:
    return service.publish(session, caller, data, now_ms=_now_ms())


@router.delete("/capabilities/{capability_id}/offers", summary="Withdraw a capability's published offers")
def withdraw_offers(capability_id: RowId, session: DbSession, caller: Caller) -> dict[str, int]:
    return {"withdrawn": service.withdraw_offers(session, caller, capability_id)}


@router.post("/demands", response_model=DemandOut, status_code=status.HTTP_201_CREATED, summary="Post a demand")
def create_demand(data: DemandCreate, session: DbSession, caller: Caller) -> DemandOut:
    return service.demand_out(session, caller, service.create_demand(session, caller, data))


@router.get("/demands", response_model=Page[DemandOut], summary="Your demands, or the open market's")
def list_demands(session: DbSession, caller: Caller, page: PageQuery, scope: Literal["mine", "market"] = "mine",
                 kind: DemandKind | None = None, process: str | None = None) -> Page[DemandOut]:
    rows, total = paginate(session, service.demands_query(caller, scope, kind, process), page)
    return Page(items=[service.demand_out(session, caller, d) for d in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/demands/{demand_id}", response_model=DemandOut, summary="Read a demand")
def get_demand(demand_id: RowId, session: DbSession, caller: Caller) -> DemandOut:
    return service.demand_out(session, caller, service.visible_demand(session, caller, demand_id))


@router.put("/demands/{demand_id}/status", response_model=DemandOut, summary="Publish, close or cancel a demand")
def set_status(demand_id: RowId, data: DemandStatusIn, session: DbSession, caller: Caller) -> DemandOut:
    return service.demand_out(session, caller, service.set_demand_status(session, caller, demand_id, data.status))


@router.get("/demands/{demand_id}/matches", response_model=MatchesOut,
            summary="Ranked suppliers for your demand, with reasons")
def get_matches(demand_id: RowId, session: DbSession, caller: Caller,
                top: Annotated[int, Query(ge=1, le=100)] = 10) -> MatchesOut:
    """Only published enterprises that pass every hard constraint (process, material, envelope,
    tolerance, finish, certifications, batch size, published free hours before the due date),
    best first, with the score's components (text relevance, distance, price, reputation,
    capacity slack) and how many suppliers each constraint left out."""
    return service.demand_matches(session, caller, demand_id, top=top)


@router.post("/allocation", summary="Place your open RFQs on the network at least total cost")
def allocation(data: AllocationIn, session: DbSession, caller: Caller) -> dict[str, Any]:
    """Many demands at once (a monthly plan): each to one of its best matching suppliers — or split where
    you allow it — at least total cost (machine hours × price + transport) within the suppliers' published
    spare hours, solved exactly by HiGHS: the assignment, ``objective``, ``bound``, ``gap`` and ``status``."""
    return service.plan_allocation(session, caller, data.demand_ids, time_limit=data.time_limit_s)


@router.post("/demands/{demand_id}/quotes", response_model=QuoteOut, status_code=status.HTTP_201_CREATED,
             summary="Quote for a demand (or revise your quote)")
def submit_quote(demand_id: RowId, data: QuoteCreate, session: DbSession, caller: Caller) -> QuoteOut:
    return service.quote_out(session, service.submit_quote(session, caller, demand_id, data))


@router.get("/demands/{demand_id}/quotes", response_model=list[QuoteOut],
            summary="Quotes of a demand (the buyer sees all, a supplier its own)")
def list_quotes(demand_id: RowId, session: DbSession, caller: Caller) -> list[QuoteOut]:
    return [service.quote_out(session, q) for q in service.quotes_for(session, caller, demand_id)]


@router.post("/quotes/{quote_id}/withdraw", response_model=QuoteOut, summary="Withdraw your quote")
def withdraw_quote(quote_id: RowId, session: DbSession, caller: Caller) -> QuoteOut:
    return service.quote_out(session, service.withdraw_quote(session, caller, quote_id))


@router.post("/quotes/{quote_id}/accept", response_model=OrderOut, status_code=status.HTTP_201_CREATED,
             summary="Accept a quote for your demand: an order")
def accept_quote(quote_id: RowId, session: DbSession, caller: Caller) -> OrderOut:
    return service.order_out(session, caller, service.accept_quote(session, caller, quote_id))


@router.get("/orders", response_model=Page[OrderOut], summary="Your orders, as buyer and as supplier")
def list_orders(session: DbSession, caller: Caller, page: PageQuery,
                role: Literal["buyer", "supplier"] | None = None) -> Page[OrderOut]:
    rows, total = paginate(session, service.orders_query(caller, role), page)
    return Page(items=[service.order_out(session, caller, o) for o in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="An order with its live progress")
def get_order(order_id: RowId, session: DbSession, caller: Caller) -> OrderOut:
    return service.order_out(session, caller, service.visible_order(session, caller, order_id))


@router.post("/orders/{order_id}/bind", response_model=OrderOut, summary="Run the order on one of your machines")
def bind(order_id: RowId, data: BindIn, session: DbSession, caller: Caller) -> OrderOut:
    order = service.bind_order(session, caller, order_id, data.machine_id, data.counter_tag_id, now_ms=_now_ms())
    return service.order_out(session, caller, order)


@router.post("/orders/{order_id}/deliver", response_model=OrderOut, summary="Deliver the order (supplier)")
def deliver(order_id: RowId, data: DeliverIn, session: DbSession, caller: Caller) -> OrderOut:
    return service.order_out(session, caller, service.deliver(session, caller, order_id, data.quantity))


@router.post("/orders/{order_id}/accept", response_model=OrderOut, summary="Accept the delivery (buyer)")
def accept(order_id: RowId, data: AcceptIn, session: DbSession, caller: Caller) -> OrderOut:
    return service.order_out(session, caller, service.accept_delivery(session, caller, order_id, data.good_quantity))


@router.put("/orders/{order_id}/rating", summary="Rate the other side of an order")
def rate(order_id: RowId, data: RatingIn, session: DbSession, caller: Caller) -> dict[str, Any]:
    rating = service.rate(session, caller, order_id, data.stars, data.comment)
    return {"order_id": rating.order_id, "to_org_id": rating.to_org_id, "stars": rating.stars,
            "comment": rating.comment}


@router.get("/enterprises/{org_id}/reputation", response_model=Reputation,
            summary="An enterprise's reputation as a supplier, with its basis")
def get_reputation(org_id: RowId, session: DbSession, caller: Caller) -> Reputation:
    """Public within the network for published enterprises (and always for your own)."""
    profile = service.get_profile(session, org_id)
    if org_id != caller.org_id and not profile.published:
        raise NotFound(f"enterprise {org_id} not found")
    return service.reputation(session, org_id)


router.include_router(crud)
