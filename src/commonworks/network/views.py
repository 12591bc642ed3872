"""Read-only questions the network pages ask beyond :mod:`commonworks.network.service`.

Each follows the service's visibility rules: a quote is seen by its supplier and the demand's
buyer, an order by its buyer and its supplier, a rating by whoever gave it — never by anyone
else. Rows are returned as ORM objects for the caller to turn into its own shapes inside
the same session.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal
from commonworks.network.models import Demand, Order, Quote, Rating


def own_quotes(session: Session, caller: Principal, demand_ids: Iterable[int]) -> dict[int, Quote]:
    """The caller's own quote for each of ``demand_ids`` that it has quoted for (demand id → quote)."""
    ids = sorted(set(demand_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Quote).where(Quote.org_id == caller.org_id, Quote.demand_id.in_(ids)))
    return {q.demand_id: q for q in rows}


def quote_counts(session: Session, caller: Principal, demand_ids: Iterable[int]) -> dict[int, int]:
    """How many quotes each of the caller's *own* demands received (other demands count nothing)."""
    ids = sorted(set(demand_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Quote.demand_id, func.count(Quote.id))
        .join(Demand, Demand.id == Quote.demand_id)
        .where(Demand.org_id == caller.org_id, Quote.demand_id.in_(ids))
        .group_by(Quote.demand_id)
    )
    return {int(demand_id): int(count) for demand_id, count in rows}


def orders_of_demand(session: Session, caller: Principal, demand_id: int) -> list[Order]:
    """Orders made from a demand that the caller is a party to (the buyer sees all of them)."""
    return list(
        session.scalars(
            select(Order)
            .where(
                Order.demand_id == demand_id,
                or_(Order.buyer_org_id == caller.org_id, Order.supplier_org_id == caller.org_id),
            )
            .order_by(Order.id)
        )
    )


def own_rating(session: Session, caller: Principal, order_id: int) -> Rating | None:
    """The rating the caller's organization gave for an order, if any."""
    return session.scalar(select(Rating).where(Rating.order_id == order_id, Rating.from_org_id == caller.org_id))
