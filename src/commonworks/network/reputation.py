"""Reputation from delivered orders (pure): on-time share and accepted-good share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from commonworks.network.models import Order

ZONE = ZoneInfo("Asia/Shanghai")  # due dates are calendar days where the buyer is


def delivery_rates(orders: Sequence[Order]) -> tuple[float | None, float | None]:
    """(on-time share, accepted good share) of accepted orders.

    >>> from datetime import date, datetime, UTC
    >>> from commonworks.network.models import Order
    >>> a = Order(due_date=date(2026, 3, 1), delivered_at=datetime(2026, 2, 28, tzinfo=UTC),
    ...           delivered_quantity=100, good_quantity=98)
    >>> b = Order(due_date=date(2026, 3, 1), delivered_at=datetime(2026, 3, 3, tzinfo=UTC),
    ...           delivered_quantity=100, good_quantity=100)
    >>> delivery_rates([a, b])
    (0.5, 0.99)
    """
    if not orders:
        return None, None
    zone = ZONE
    on_time = sum(1 for o in orders if o.delivered_at is not None and o.delivered_at.astimezone(zone).date()
                  <= o.due_date)
    delivered = sum(o.delivered_quantity or 0 for o in orders)
    good = sum(o.good_quantity or 0 for o in orders)
    return round(on_time / len(orders), 4), (round(good / delivered, 4) if delivered else None)


@dataclass(frozen=True, slots=True)
class Summary:
    """A supplier's record: rates over the last 90 days and the last 10 orders, and the score matching uses
    (mean of on-time and quality over whichever basis holds more orders), with that basis in words."""

    orders_90d: int
    on_time_90d: float | None
    quality_90d: float | None
    orders_last10: int
    on_time_last10: float | None
    quality_last10: float | None
    score: float | None
    basis: str


def summarise(done: Sequence[Order], now: datetime) -> Summary:
    """``done``: the supplier's accepted orders, newest acceptance first."""
    recent = [o for o in done if o.accepted_at is not None and o.accepted_at >= now - timedelta(days=90)]
    last10 = list(done[:10])
    on90, q90 = delivery_rates(recent)
    on10, q10 = delivery_rates(last10)
    basis_orders, on, q, window = (recent, on90, q90, "last 90 days") if len(recent) >= len(last10) else \
        (last10, on10, q10, "last 10 orders")
    parts = [x for x in (on, q) if x is not None]
    score = round(sum(parts) / len(parts), 4) if basis_orders and parts else None
    basis = f"{len(basis_orders)} accepted orders ({window})" if basis_orders else "no accepted orders yet"
    return Summary(len(recent), on90, q90, len(last10), on10, q10, score, basis)
