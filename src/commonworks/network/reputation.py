"""Reputation from delivered orders (pure): on-time share and accepted-good share."""

from __future__ import annotations

from collections.abc import Sequence
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
