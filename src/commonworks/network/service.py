"""Network logic: profiles, capabilities, spare capacity, demands, quotes, orders, progress, reputation.

Demands, quotes and orders are seen by two organizations. The rule, everywhere below:
a draft demand only by its buyer, an open (or later) demand by every organization of the
network; a quote by its supplier and the demand's buyer; an order by its buyer and its
supplier — and nobody else, who gets 404 as if the row did not exist.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.crud import EDITORS, Resource, check_writer
from commonworks.core.database import utcnow
from commonworks.core.errors import Conflict, Invalid, NotFound
from commonworks.core.orgs.models import Organization
from commonworks.network import capacity as cap
from commonworks.network import directory, matching
from commonworks.network.models import (
    Capability,
    CapacityBooking,
    CapacityOffer,
    Demand,
    DemandKind,
    DemandStatus,
    NetworkProfile,
    Order,
    OrderStatus,
    Quote,
    QuoteStatus,
    Rating,
)
from commonworks.network.reputation import summarise
from commonworks.network.schemas import (
    BookingCreate,
    BookingOut,
    BookingUpdate,
    CapabilityCapacity,
    CapabilityCreate,
    CapabilityOut,
    CapabilityUpdate,
    CapacityDay,
    CapacityReport,
    ComponentOut,
    ConstraintOut,
    DemandCreate,
    DemandOut,
    MachineCapacity,
    MatchesOut,
    MatchOut,
    OrderOut,
    ProfileIn,
    Progress,
    PublishIn,
    QuoteCreate,
    QuoteOut,
    Reputation,
)
from commonworks.operations.calendar import planned_time
from commonworks.operations.counts import hourly_increments
from commonworks.operations.models import ShiftCalendar
from commonworks.operations.service import calendar_of, kpi_report
from commonworks.telemetry.models import Line, Machine, Rollup1m, Sample, Tag

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
HORIZON_DAYS = cap.HORIZON_DAYS
HISTORY_DAYS = 28
DEFAULT_ZONE = "Asia/Shanghai"


def _check_booking(values: dict[str, Any]) -> None:
    if values["end_ms"] <= values["start_ms"]:
        raise Invalid("end_ms must be after start_ms", field="end_ms")


NETWORK_RESOURCES = [
    Resource(model=Capability, name="capability", path="/capabilities", create=CapabilityCreate,
             update=CapabilityUpdate, out=CapabilityOut, references={"machine_ids": Machine}, tags=["network"]),
    Resource(model=CapacityBooking, name="booking", path="/bookings", create=BookingCreate,
             update=BookingUpdate, out=BookingOut, references={"machine_id": Machine}, tags=["network"],
             check=_check_booking),
]


# ---------------------------------------------------------------- profile


def get_profile(session: Session, org_id: int) -> NetworkProfile:
    profile = session.scalar(select(NetworkProfile).where(NetworkProfile.org_id == org_id))
    return profile or NetworkProfile(org_id=org_id, published=False, certifications=[], lead_time_days=7)


def put_profile(session: Session, caller: Principal, data: ProfileIn) -> NetworkProfile:
    check_writer(caller, EDITORS)
    profile = session.scalar(select(NetworkProfile).where(NetworkProfile.org_id == caller.org_id))
    if profile is None:
        profile = NetworkProfile(org_id=caller.org_id)
        session.add(profile)
    for key, value in data.model_dump().items():
        setattr(profile, key, value)
    session.flush()
    return profile


# ---------------------------------------------------------------- spare capacity


def _today(zone: ZoneInfo, now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, zone).date()


def _day_start_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def capacity_report(session: Session, org_id: int, *, now_ms: int, days: int = HORIZON_DAYS) -> CapacityReport:
    """Free hours per machine and per capability for the next ``days`` days (today first).

    Shift hours come from each machine's shift calendar (planned busy time: shifts minus breaks
    and planned maintenance; a machine without a calendar is planned around the clock, as in
    the KPIs); bookings are subtracted where they fall; the expected load is the machine's
    utilisation over the last 28 days (producing + setup time over planned busy time).
    A capability without machines offers its declared ``hours_per_day``.
    """
    machines = list(session.scalars(select(Machine).where(Machine.org_id == org_id).order_by(Machine.id)))
    calendars = list(session.scalars(select(ShiftCalendar).where(ShiftCalendar.org_id == org_id)))
    line_site = dict(session.execute(select(Line.id, Line.site_id).where(Line.org_id == org_id)).all())
    zone_name = calendars[0].timezone if calendars else DEFAULT_ZONE
    zone = ZoneInfo(zone_name)
    today = _today(zone, now_ms)
    starts = [_day_start_ms(today + timedelta(days=i), zone) for i in range(days + 1)]
    history: dict[int, dict[str, Any]] = {}
    if machines:
        report = kpi_report(session, machines, starts[0] - HISTORY_DAYS * DAY_MS, starts[0])
        history = {entry["machine_id"]: entry for entry in report["machines"]}
    bookings = list(session.scalars(select(CapacityBooking).where(
        CapacityBooking.org_id == org_id, CapacityBooking.end_ms > starts[0], CapacityBooking.start_ms < starts[-1])))
    per_machine: dict[int, MachineCapacity] = {}
    for machine in machines:
        calendar = calendar_of(machine, line_site, calendars)
        shift_h = []
        for a, b in itertools.pairwise(starts):
            if calendar is None:
                shift_h.append((b - a) / HOUR_MS)
            else:
                plan = planned_time(calendar.shifts, calendar.exceptions, calendar.timezone, a, b)
                shift_h.append((cap.overlap_ms(plan.shifts, a, b) - cap.overlap_ms(plan.planned_down, a, b)) / HOUR_MS)
        spans = [(bk.start_ms, bk.end_ms) for bk in bookings if bk.machine_id == machine.id]
        booked_h = [cap.overlap_ms(spans, a, b) / HOUR_MS for a, b in itertools.pairwise(starts)]
        entry = history.get(machine.id, {})
        worked = sum(entry.get(k, 0) or 0 for k in ("apt_s", "aust_s", "adet_s", "adot_s"))
        util = cap.utilisation(int(((entry.get("apt_s") or 0) + (entry.get("aust_s") or 0)) * 1000),
                               int((entry.get("pbt_s") or 0) * 1000)) if worked > 0 else None
        per_machine[machine.id] = MachineCapacity(
            machine_id=machine.id, name=machine.name, utilisation=util, history_days=HISTORY_DAYS if worked else 0,
            days=[CapacityDay(day=today + timedelta(days=i), shift_h=d.shift_h, booked_h=d.booked_h,
                              expected_h=d.expected_h, free_h=d.free_h)
                  for i, d in enumerate(cap.machine_days(shift_h, booked_h, util))])
    offers = {(o.capability_id, o.day): o for o in session.scalars(select(CapacityOffer).where(
        CapacityOffer.org_id == org_id, CapacityOffer.day >= today))}
    capabilities = []
    for capability in session.scalars(select(Capability).where(Capability.org_id == org_id).order_by(Capability.id)):
        own = [per_machine[m] for m in capability.machine_ids if m in per_machine]
        rows = []
        for i in range(days):
            day = today + timedelta(days=i)
            if own:
                shift = sum(m.days[i].shift_h for m in own)
                booked = sum(m.days[i].booked_h for m in own)
                expected = sum(m.days[i].expected_h for m in own)
                free = sum(m.days[i].free_h for m in own)
            else:
                shift = free = capability.hours_per_day or 0.0
                booked = expected = 0.0
            offer = offers.get((capability.id, day))
            rows.append(CapacityDay(day=day, shift_h=round(shift, 3), booked_h=round(booked, 3),
                                    expected_h=round(expected, 3), free_h=round(free, 3),
                                    published_h=offer.hours if offer else None,
                                    price_per_hour=offer.price_per_hour if offer else None))
        capabilities.append(CapabilityCapacity(capability_id=capability.id, process=capability.process,
                                               machines=[m.machine_id for m in own], days=rows))
    return CapacityReport(start=today, machines=list(per_machine.values()), capabilities=capabilities)


def publish(session: Session, caller: Principal, data: PublishIn, *, now_ms: int) -> list[CapacityOffer]:
    """Publish (replace) the offers of one capability for the next ``days`` days from its free hours."""
    check_writer(caller, EDITORS)
    capability = get_in_tenant(session, Capability, data.capability_id, caller, what="capability")
    return publish_offers(session, capability, days=data.days, share=data.share, max_hours=data.max_hours_per_day,
                          price=data.price_per_hour, now_ms=now_ms)


def publish_offers(session: Session, capability: Capability, *, days: int = HORIZON_DAYS, share: float = 1.0,
                   max_hours: float | None = None, price: float | None = None, now_ms: int,
                   report: CapacityReport | None = None) -> list[CapacityOffer]:
    """Replace a capability's offers from its free hours (``report``: the organization's capacity report
    when the caller already has it, as when publishing several capabilities at once)."""
    report = report or capacity_report(session, capability.org_id, now_ms=now_ms, days=days)
    rows = next(c for c in report.capabilities if c.capability_id == capability.id).days
    price = price if price is not None else capability.price_per_hour
    session.execute(delete(CapacityOffer).where(CapacityOffer.capability_id == capability.id))
    offers = [CapacityOffer(org_id=capability.org_id, capability_id=capability.id, day=row.day,
                            hours=cap.published_hours(row.free_h, share, max_hours), price_per_hour=price)
              for row in rows]
    session.add_all(offers)
    session.flush()
    return offers


def withdraw_offers(session: Session, caller: Principal, capability_id: int) -> int:
    check_writer(caller, EDITORS)
    capability = get_in_tenant(session, Capability, capability_id, caller, what="capability")
    result = session.execute(delete(CapacityOffer).where(CapacityOffer.capability_id == capability.id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- demands


def _org_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Registered names, through the session's identity map: a list of rows asks once per organization."""
    return {i: org.name_zh for i in ids if (org := session.get(Organization, i)) is not None}


def demand_out(session: Session, caller: Principal, demand: Demand) -> DemandOut:
    names = _org_names(session, {demand.org_id})
    return DemandOut.model_validate({**{c.key: getattr(demand, c.key) for c in Demand.__table__.columns},
                                     "buyer": names.get(demand.org_id, ""), "mine": demand.org_id == caller.org_id})


def create_demand(session: Session, caller: Principal, data: DemandCreate) -> Demand:
    check_writer(caller, EDITORS)
    values = data.model_dump(exclude={"publish"})
    if values["delivery_latitude"] is None:
        org = session.get(Organization, caller.org_id)
        if org is not None and org.latitude is not None:
            values["delivery_latitude"], values["delivery_longitude"] = org.latitude, org.longitude
    demand = Demand(org_id=caller.org_id, **values)
    if data.publish:
        demand.status, demand.published_at = DemandStatus.open, utcnow()
    session.add(demand)
    session.flush()
    return demand


def visible_demand(session: Session, caller: Principal, demand_id: int) -> Demand:
    demand = session.get(Demand, demand_id)
    if demand is None or (demand.org_id != caller.org_id and demand.status == DemandStatus.draft):
        raise NotFound(f"demand {demand_id} not found")
    return demand


def own_demand(session: Session, caller: Principal, demand_id: int) -> Demand:
    return get_in_tenant(session, Demand, demand_id, caller, what="demand")


def demands_query(caller: Principal, scope: str, kind: DemandKind | None, process: str | None) -> Any:
    query = select(Demand).order_by(Demand.id.desc())
    if scope == "mine":
        query = query.where(Demand.org_id == caller.org_id)
    else:  # the open market: other organizations' open demands
        query = query.where(Demand.status == DemandStatus.open, Demand.org_id != caller.org_id)
    if kind is not None:
        query = query.where(Demand.kind == kind)
    if process is not None:
        query = query.where(Demand.process == process)
    return query


def set_demand_status(session: Session, caller: Principal, demand_id: int, status: str) -> Demand:
    demand = own_demand(session, caller, demand_id)
    check_writer(caller, EDITORS)
    allowed = {DemandStatus.draft: {"open", "cancelled"}, DemandStatus.open: {"closed", "cancelled"},
               DemandStatus.awarded: {"closed"}}
    if status not in allowed.get(demand.status, set()):
        raise Conflict(f"a {demand.status.value} demand cannot become {status}", field="status")
    demand.status = DemandStatus(status)
    if status == "open":
        demand.published_at = utcnow()
    session.flush()
    return demand


# ---------------------------------------------------------------- quotes


def quote_out(session: Session, quote: Quote) -> QuoteOut:
    names = _org_names(session, {quote.org_id})
    return QuoteOut.model_validate({**{c.key: getattr(quote, c.key) for c in Quote.__table__.columns},
                                    "supplier": names.get(quote.org_id, "")})


def submit_quote(session: Session, caller: Principal, demand_id: int, data: QuoteCreate) -> Quote:
    """A supplier's quote (or its revision, while the demand is open)."""
    check_writer(caller, EDITORS)
    demand = visible_demand(session, caller, demand_id)
    if demand.org_id == caller.org_id:
        raise Invalid("you cannot quote for your own demand", field="demand_id")
    if demand.status != DemandStatus.open:
        raise Conflict(f"demand {demand.id} is {demand.status.value}: it takes no quotes")
    if data.capability_id is not None:
        get_in_tenant(session, Capability, data.capability_id, caller, what="capability")
    quote = session.scalar(select(Quote).where(Quote.demand_id == demand.id, Quote.org_id == caller.org_id))
    if quote is None:
        quote = Quote(demand_id=demand.id, org_id=caller.org_id)
        session.add(quote)
    elif quote.status not in (QuoteStatus.submitted, QuoteStatus.withdrawn):
        raise Conflict(f"your quote is {quote.status.value} and can no longer change")
    for key, value in data.model_dump().items():
        setattr(quote, key, value)
    quote.status = QuoteStatus.submitted
    session.flush()
    return quote


def quotes_for(session: Session, caller: Principal, demand_id: int) -> list[Quote]:
    """The buyer sees every quote of its demand; a supplier only its own."""
    demand = visible_demand(session, caller, demand_id)
    query = select(Quote).where(Quote.demand_id == demand.id).order_by(Quote.price, Quote.id)
    if demand.org_id != caller.org_id:
        query = query.where(Quote.org_id == caller.org_id)
    return list(session.scalars(query))


def _visible_quote(session: Session, caller: Principal, quote_id: int) -> tuple[Quote, Demand]:
    quote = session.get(Quote, quote_id)
    demand = session.get(Demand, quote.demand_id) if quote is not None else None
    if quote is None or demand is None or caller.org_id not in (quote.org_id, demand.org_id):
        raise NotFound(f"quote {quote_id} not found")
    return quote, demand


def withdraw_quote(session: Session, caller: Principal, quote_id: int) -> Quote:
    quote, _ = _visible_quote(session, caller, quote_id)
    if quote.org_id != caller.org_id:
        raise NotFound(f"quote {quote_id} not found")
    check_writer(caller, EDITORS)
    if quote.status != QuoteStatus.submitted:
        raise Conflict(f"quote {quote_id} is {quote.status.value}")
    quote.status = QuoteStatus.withdrawn
    session.flush()
    return quote


def accept_quote(session: Session, caller: Principal, quote_id: int) -> Order:
    """The buyer accepts a quote: an order; the demand is awarded and the other quotes rejected
    (unless the buyer allows splitting, where further quotes may still be accepted)."""
    quote, demand = _visible_quote(session, caller, quote_id)
    if demand.org_id != caller.org_id:
        raise NotFound(f"quote {quote_id} not found")
    check_writer(caller, EDITORS)
    if quote.status != QuoteStatus.submitted:
        raise Conflict(f"quote {quote_id} is {quote.status.value}")
    if demand.status not in (DemandStatus.open, DemandStatus.awarded) or (
            demand.status == DemandStatus.awarded and not demand.allow_split):
        raise Conflict(f"demand {demand.id} is {demand.status.value}")
    quote.status = QuoteStatus.accepted
    demand.status = DemandStatus.awarded
    if not demand.allow_split:
        for other in session.scalars(select(Quote).where(Quote.demand_id == demand.id, Quote.id != quote.id,
                                                         Quote.status == QuoteStatus.submitted)):
            other.status = QuoteStatus.rejected
    due = demand.due_date or (datetime.now(UTC).date() + timedelta(days=quote.lead_time_days))
    order = Order(demand_id=demand.id, quote_id=quote.id, buyer_org_id=demand.org_id, supplier_org_id=quote.org_id,
                  title=demand.title, quantity=int(demand.quantity or 1), price=quote.price, due_date=due)
    session.add(order)
    session.flush()
    return order


# ---------------------------------------------------------------- orders


def visible_order(session: Session, caller: Principal, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None or caller.org_id not in (order.buyer_org_id, order.supplier_org_id):
        raise NotFound(f"order {order_id} not found")
    return order


def orders_query(caller: Principal, role: str | None) -> Any:
    query = select(Order).order_by(Order.id.desc())
    if role == "buyer":
        return query.where(Order.buyer_org_id == caller.org_id)
    if role == "supplier":
        return query.where(Order.supplier_org_id == caller.org_id)
    return query.where(or_(Order.buyer_org_id == caller.org_id, Order.supplier_org_id == caller.org_id))


def _latest(session: Session, tag_id: int, before_ms: int | None = None) -> tuple[int, float] | None:
    query = select(Sample.ts, Sample.value).where(Sample.tag_id == tag_id, Sample.value.is_not(None))
    if before_ms is not None:
        query = query.where(Sample.ts <= before_ms)
    row = session.execute(query.order_by(Sample.ts.desc()).limit(1)).first()
    return (int(row[0]), float(row[1])) if row else None


def _due_end_ms(order: Order) -> int:
    """The end of the order's due date (its last millisecond + 1), China time."""
    return _day_start_ms(order.due_date + timedelta(days=1), ZoneInfo(DEFAULT_ZONE))


def bind_order(session: Session, caller: Principal, order_id: int, machine_id: int, counter_tag_id: int | None,
               *, now_ms: int) -> Order:
    """The supplier names the machine (and its part counter) the order runs on; counting starts now."""
    order = visible_order(session, caller, order_id)
    if order.supplier_org_id != caller.org_id:
        raise NotFound(f"order {order_id} not found")
    check_writer(caller, EDITORS)
    if order.status not in (OrderStatus.open, OrderStatus.in_production):
        raise Conflict(f"order {order_id} is {order.status.value}")
    machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
    if counter_tag_id is not None:
        tag = get_in_tenant(session, Tag, counter_tag_id, caller, what="tag")
        if tag.machine_id != machine.id:
            raise Invalid(f"tag {tag.key} does not belong to machine {machine.key}", field="counter_tag_id")
    else:
        tag = session.scalar(select(Tag).where(Tag.org_id == caller.org_id, Tag.key == f"{machine.key}.part_counter"))
        if tag is None:
            raise Invalid(f"machine {machine.key} has no part_counter tag; name the counter tag",
                          field="counter_tag_id")
    latest = _latest(session, tag.id, now_ms)
    order.machine_id, order.counter_tag_id, order.bound_ms = machine.id, tag.id, now_ms
    order.counter_baseline = latest[1] if latest else 0.0
    order.status = OrderStatus.in_production
    demand = session.get(Demand, order.demand_id)
    hours = demand.hours if demand is not None and demand.hours else None
    session.execute(delete(CapacityBooking).where(CapacityBooking.order_id == order.id))
    due_end = _due_end_ms(order)
    end = min(now_ms + int(hours * HOUR_MS), due_end) if hours else due_end
    if end > now_ms:
        session.add(CapacityBooking(org_id=caller.org_id, machine_id=machine.id, start_ms=now_ms, end_ms=end,
                                    label=f"order {order.id}: {order.title}"[:200], order_id=order.id))
    session.flush()
    return order


def progress(session: Session, order: Order) -> Progress | None:
    """Parts counted by the bound machine since binding, the rate over the last hour, the expected finish.

    Counts come from the counter tag's minute rollups (the last reading of each minute) after
    the reading at binding; a reset of the counter counts from zero (see ``counts``).
    """
    if order.counter_tag_id is None or order.bound_ms is None:
        return None
    rows = session.execute(select(Rollup1m.last_ts, Rollup1m.last_value).where(
        Rollup1m.tag_id == order.counter_tag_id, Rollup1m.last_ts > order.bound_ms).order_by(Rollup1m.bucket)).all()
    ts = np.array([order.bound_ms, *(r[0] for r in rows)], dtype=np.int64)
    values = np.array([order.counter_baseline or 0.0, *(r[1] for r in rows)], dtype=np.float64)
    made = sum(hourly_increments(ts, values, order.bound_ms).values()) if len(rows) else 0
    if order.made_at_close is not None:
        made = order.made_at_close
    last = int(ts[-1]) if len(rows) else None
    rate = None
    if last is not None:
        recent = hourly_increments(ts, values, last - HOUR_MS + 1)
        window_start = max(order.bound_ms, last - HOUR_MS)
        span_h = (last - window_start) / HOUR_MS
        if span_h > 0:
            rate = round(sum(recent.values()) / span_h, 2)
    remaining = max(0, order.quantity - made)
    finish = None
    if remaining == 0 and last is not None:
        finish = last
    elif rate and last is not None:
        finish = int(last + remaining / rate * HOUR_MS)
    due_end = _due_end_ms(order)
    return Progress(made=made, quantity=order.quantity, percent=round(100.0 * min(made, order.quantity)
                                                                      / max(order.quantity, 1), 1),
                    rate_per_hour=rate, expected_finish_ms=finish, last_count_ms=last,
                    on_track=None if finish is None else finish <= due_end)


def order_out(session: Session, caller: Principal, order: Order, *, with_progress: bool = True) -> OrderOut:
    names = _org_names(session, {order.buyer_org_id, order.supplier_org_id})
    values = {c.key: getattr(order, c.key) for c in Order.__table__.columns}
    if order.supplier_org_id != caller.org_id:
        values["machine_id"] = None  # the buyer sees progress, not the supplier's machines
    return OrderOut.model_validate({
        **values, "buyer": names.get(order.buyer_org_id, ""), "supplier": names.get(order.supplier_org_id, ""),
        "progress": progress(session, order) if with_progress else None,
        "role": "supplier" if order.supplier_org_id == caller.org_id else "buyer"})


def deliver(session: Session, caller: Principal, order_id: int, quantity: int) -> Order:
    order = visible_order(session, caller, order_id)
    if order.supplier_org_id != caller.org_id:
        raise NotFound(f"order {order_id} not found")
    check_writer(caller, EDITORS)
    if order.status not in (OrderStatus.open, OrderStatus.in_production):
        raise Conflict(f"order {order_id} is {order.status.value}")
    counted = progress(session, order)
    order.made_at_close = counted.made if counted else None
    order.status, order.delivered_quantity, order.delivered_at = OrderStatus.delivered, quantity, utcnow()
    session.execute(delete(CapacityBooking).where(CapacityBooking.order_id == order.id))
    session.flush()
    return order


def accept_delivery(session: Session, caller: Principal, order_id: int, good_quantity: int) -> Order:
    order = visible_order(session, caller, order_id)
    if order.buyer_org_id != caller.org_id:
        raise NotFound(f"order {order_id} not found")
    check_writer(caller, EDITORS)
    if order.status != OrderStatus.delivered:
        raise Conflict(f"order {order_id} is {order.status.value}: only a delivered order can be accepted")
    if good_quantity > (order.delivered_quantity or 0):
        raise Invalid(f"good_quantity {good_quantity} exceeds the delivered {order.delivered_quantity}",
                      field="good_quantity")
    order.status, order.good_quantity, order.accepted_at = OrderStatus.accepted, good_quantity, utcnow()
    demand = session.get(Demand, order.demand_id)
    if demand is not None and demand.status == DemandStatus.awarded and not demand.allow_split:
        demand.status = DemandStatus.closed
    session.flush()
    return order


def rate(session: Session, caller: Principal, order_id: int, stars: int, comment: str | None) -> Rating:
    order = visible_order(session, caller, order_id)
    check_writer(caller, EDITORS)
    if order.status not in (OrderStatus.delivered, OrderStatus.accepted):
        raise Conflict("an order can be rated once it is delivered")
    other = order.buyer_org_id if caller.org_id == order.supplier_org_id else order.supplier_org_id
    rating = session.scalar(select(Rating).where(Rating.order_id == order.id, Rating.from_org_id == caller.org_id))
    if rating is None:
        rating = Rating(order_id=order.id, from_org_id=caller.org_id, to_org_id=other)
        session.add(rating)
    rating.stars, rating.comment = stars, comment
    session.flush()
    return rating


# ---------------------------------------------------------------- reputation


def reputation(session: Session, org_id: int, *, now: datetime | None = None) -> Reputation:
    """On-time delivery and accepted quality as a supplier, over the last 90 days and the last 10 orders."""
    done = list(session.scalars(select(Order).where(Order.supplier_org_id == org_id,
                                                    Order.status == OrderStatus.accepted)
                                .order_by(Order.accepted_at.desc(), Order.id.desc())))
    record = summarise(done, now or utcnow())
    stars, count = session.execute(select(func.avg(Rating.stars), func.count(Rating.id))
                                   .where(Rating.to_org_id == org_id)).one()
    return Reputation(org_id=org_id, orders_90d=record.orders_90d, on_time_90d=record.on_time_90d,
                      quality_90d=record.quality_90d, orders_last10=record.orders_last10,
                      on_time_last10=record.on_time_last10, quality_last10=record.quality_last10,
                      stars=round(float(stars), 2) if stars is not None else None, ratings=int(count),
                      score=record.score, basis=record.basis)


# ---------------------------------------------------------------- matching

MAX_EXPLAINED = 5000  # networks up to this size also say how many suppliers each constraint left out


def matching_demand(demand: Demand, today: date) -> matching.Demand:
    """A stored demand as the matcher reads it. Without an estimate of machine hours, the capacity
    constraint asks for one free hour before the due date (and says so)."""
    due_day = (demand.due_date - today).days + 1 if demand.due_date else cap.HORIZON_DAYS
    envelope = None
    if demand.envelope_x_mm and demand.envelope_y_mm and demand.envelope_z_mm:
        envelope = (demand.envelope_x_mm, demand.envelope_y_mm, demand.envelope_z_mm)
    return matching.Demand(
        process=demand.process, hours=demand.hours or 1.0, due_day=max(1, due_day), material=demand.material,
        quantity=int(demand.quantity or 1), envelope_mm=envelope, tolerance_mm=demand.tolerance_mm,
        finish_ra_um=demand.finish_ra_um, certifications=frozenset(demand.certifications or ()),
        budget=Decimal(str(demand.budget)) if demand.budget is not None else None,
        lat=demand.delivery_latitude, lon=demand.delivery_longitude,
        text=" ".join(t for t in (demand.title, demand.description, demand.specification) if t))


def demand_matches(session: Session, caller: Principal, demand_id: int, *, top: int = 10,
                   today: date | None = None) -> MatchesOut:
    """The buyer's ranked suppliers for its demand, each with the hard constraints it passes and the
    score breakdown. The buyer's own enterprise is never among them."""
    demand = own_demand(session, caller, demand_id)
    if demand.kind != DemandKind.part_rfq or demand.process is None:
        raise Invalid("matching ranks suppliers for part RFQs with a process", field="process")
    today = today or _today(ZoneInfo(DEFAULT_ZONE), int(utcnow().timestamp() * 1000))
    net = directory.network(session, today)
    if net is None:
        return MatchesOut(demand_id=demand.id, candidates=0, excluded={}, matches=[])
    wanted = matching_demand(demand, today)
    found = net.index.match(wanted, top=top, exclude=[caller.org_id])
    excluded: dict[str, int] = {}
    if len(net.profiles) <= MAX_EXPLAINED:
        for profile in net.profiles.values():
            if profile.enterprise_id == caller.org_id:
                continue
            checks = [matching.check_capability(net.index.taxonomy, profile, c, wanted) for c in profile.capabilities]
            if any(all(c.passed for c in cs) for cs in checks):
                continue
            # the constraint that excludes most of its capabilities' (first failure of each)
            firsts = [next(c.name for c in cs if not c.passed) for cs in checks]
            reason = max(set(firsts), key=firsts.count)
            excluded[reason] = excluded.get(reason, 0) + 1
    out = []
    for rank, m in enumerate(found, start=1):
        profile = net.profiles[m.enterprise_id]
        capability = profile.capabilities[m.capability_index]
        comp = {c.name: c for c in m.components}
        distance = None
        if wanted.lat is not None and wanted.lon is not None:
            distance = round(matching.haversine_km(wanted.lat, wanted.lon, profile.lat, profile.lon), 1)
        out.append(MatchOut(
            rank=rank, enterprise_id=m.enterprise_id, name=m.name, region=m.region, score=round(m.score, 4),
            capability_id=net.capability_ids[m.enterprise_id][m.capability_index], process=m.process,
            distance_km=distance,
            price_per_hour=float(capability.price_per_hour) if capability.price_per_hour is not None else None,
            free_hours_before_due=round(matching.free_before(capability, wanted.due_day), 1),
            reputation=profile.reputation, reputation_basis=profile.reputation_basis,
            constraints=[ConstraintOut(name=c.name, passed=c.passed, detail=c.detail, code=c.code, args=dict(c.args))
                         for c in m.constraints],
            components=[ComponentOut(name=c.name, raw=c.raw, normalised=round(c.normalised, 4), weight=c.weight,
                                     contribution=round(c.contribution, 4)) for c in comp.values()]))
    return MatchesOut(demand_id=demand.id, candidates=len(net.profiles), excluded=excluded, matches=out)


# ---------------------------------------------------------------- allocation of many demands

TRANSPORT_CNY_PER_KM = 3.0  # one delivery by a light truck, road distance ≈ great circle × 1.3 folded in
PLAN_CANDIDATES = 30  # suppliers considered per demand: its best matches


def plan_allocation(session: Session, caller: Principal, demand_ids: list[int] | None, *, time_limit: float,
                    today: date | None = None) -> dict[str, Any]:
    """Place the buyer's open part RFQs (all, or ``demand_ids``) on the network at least total cost.

    Each demand may go to its best matching suppliers (every hard constraint passed); the cost of
    an option is machine hours × the capability's price per hour + transport (distance ×
    ``TRANSPORT_CNY_PER_KM``); a supplier's capacity is the spare hours its capability published
    over the next four weeks, shared by all the demands placed on it. A demand may be split only
    where the buyer allowed it. Solved exactly (HiGHS) within ``time_limit``; the answer carries the
    objective, the bound and the gap, and names the suppliers.
    """
    from commonworks.network.allocation import allocate

    query = select(Demand).where(Demand.org_id == caller.org_id, Demand.kind == DemandKind.part_rfq,
                                 Demand.status == DemandStatus.open).order_by(Demand.id)
    if demand_ids is not None:
        query = query.where(Demand.id.in_(demand_ids))
    demands = list(session.scalars(query))
    if demand_ids is not None:
        missing = sorted(set(demand_ids) - {d.id for d in demands})
        if missing:
            raise Invalid(f"demand {missing[0]} is not one of your open part RFQs", field="demand_ids")
    today = today or _today(ZoneInfo(DEFAULT_ZONE), int(utcnow().timestamp() * 1000))
    net = directory.network(session, today)
    suppliers: dict[str, dict[str, Any]] = {}
    instance: dict[str, Any] = {"suppliers": [], "demands": [], "options": []}
    for demand in demands:
        wanted = matching_demand(demand, today)
        instance["demands"].append({"id": str(demand.id), "size": wanted.hours, "may_split": demand.allow_split})
        for m in net.index.match(wanted, top=PLAN_CANDIDATES, exclude=[caller.org_id]) if net else []:
            capability = net.profiles[m.enterprise_id].capabilities[m.capability_index]  # type: ignore[union-attr]
            if capability.price_per_hour is None:
                continue  # price on request: nothing to weigh it by
            key = f"{m.enterprise_id}:{net.capability_ids[m.enterprise_id][m.capability_index]}"  # type: ignore[union-attr]
            if key not in suppliers:
                suppliers[key] = {"id": key, "capacity": float(sum(capability.free_hours)),
                                  "enterprise_id": m.enterprise_id, "name": m.name, "process": m.process}
            profile = net.profiles[m.enterprise_id]  # type: ignore[union-attr]
            distance = (matching.haversine_km(wanted.lat, wanted.lon, profile.lat, profile.lon)
                        if wanted.lat is not None and wanted.lon is not None else 0.0)
            transport = round(distance * TRANSPORT_CNY_PER_KM, 2)
            work = float(capability.price_per_hour) * wanted.hours
            instance["options"].append({"demand": str(demand.id), "supplier": key, "cost": round(work + transport, 2),
                                        "size": wanted.hours, "transport": transport})
    instance["suppliers"] = [{"id": s["id"], "capacity": s["capacity"]} for s in suppliers.values()]
    result = allocate(instance, time_limit=time_limit)
    names = {d.id: d.title for d in demands}
    for row in result["assignment"]:
        supplier = suppliers[row["supplier"]]
        row.update(demand_id=int(row["demand"]), title=names[int(row["demand"])],
                   enterprise_id=supplier["enterprise_id"], supplier_name=supplier["name"],
                   process=supplier["process"], capability_id=int(row["supplier"].split(":")[1]))
    for row in result["unserved"]:
        row.update(demand_id=int(row["demand"]), title=names[int(row["demand"])])
    result["candidates_per_demand"] = PLAN_CANDIDATES
    result["transport_cny_per_km"] = TRANSPORT_CNY_PER_KM
    return result
