"""Tables of the network: profiles, capabilities, capacity, demands, quotes, orders, ratings.

An enterprise is an organization; what it shows the network lives in its profile and its
capabilities. Demands, quotes and orders are shared between two organizations (buyer and
supplier), so their queries are scoped by hand in ``service`` rather than by ``org_id`` alone.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commonworks.core.database import Base, Timestamped, UTCDateTime
from commonworks.core.orgs.models import _enum


class NetworkProfile(Timestamped, Base):
    """What an enterprise tells the network about itself (one per organization)."""

    __tablename__ = "network_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    description_zh: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)


class Capability(Timestamped, Base):
    """A process the enterprise offers, with its limits (envelope, tolerance, finish, batch)."""

    __tablename__ = "capabilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    process: Mapped[str] = mapped_column(String(40))
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    envelope_x_mm: Mapped[float | None] = mapped_column(Double)
    envelope_y_mm: Mapped[float | None] = mapped_column(Double)
    envelope_z_mm: Mapped[float | None] = mapped_column(Double)
    tolerance_mm: Mapped[float | None] = mapped_column(Double)
    finish_ra_um: Mapped[float | None] = mapped_column(Double)
    batch_min: Mapped[int] = mapped_column(Integer, default=1)
    batch_max: Mapped[int | None] = mapped_column(Integer)
    price_per_hour: Mapped[float | None] = mapped_column(Double)
    hours_per_day: Mapped[float | None] = mapped_column(Double)  # declared, for capabilities without machines
    machine_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(String(500))


class CapacityBooking(Timestamped, Base):
    """Time already promised on a machine (a job outside the platform, or a network order)."""

    __tablename__ = "capacity_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)


class CapacityOffer(Base):
    """Published spare hours of a capability on one day, at a price: coarse, never telemetry."""

    __tablename__ = "capacity_offers"
    __table_args__ = (UniqueConstraint("capability_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    capability_id: Mapped[int] = mapped_column(ForeignKey("capabilities.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    hours: Mapped[float] = mapped_column(Double)
    price_per_hour: Mapped[float | None] = mapped_column(Double)


class DemandKind(enum.StrEnum):
    part_rfq = "part_rfq"
    material = "material"
    technical = "technical"
    service = "service"


class DemandStatus(enum.StrEnum):
    draft = "draft"  # only the buyer sees it
    open = "open"  # published to the network, quotes welcome
    awarded = "awarded"  # a quote was accepted (an order exists)
    closed = "closed"
    cancelled = "cancelled"


class Demand(Timestamped, Base):
    """What a buyer needs: a part (RFQ), material, an answer to a technical problem or a service."""

    __tablename__ = "demands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DemandKind] = mapped_column(_enum(DemandKind, "demand_kind"))
    status: Mapped[DemandStatus] = mapped_column(_enum(DemandStatus, "demand_status"), default=DemandStatus.draft)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    process: Mapped[str | None] = mapped_column(String(40))
    material: Mapped[str | None] = mapped_column(String(40))
    specification: Mapped[str | None] = mapped_column(String(300))  # material procurement: grade, size …
    quantity: Mapped[float | None] = mapped_column(Double)
    unit: Mapped[str | None] = mapped_column(String(20))
    envelope_x_mm: Mapped[float | None] = mapped_column(Double)
    envelope_y_mm: Mapped[float | None] = mapped_column(Double)
    envelope_z_mm: Mapped[float | None] = mapped_column(Double)
    tolerance_mm: Mapped[float | None] = mapped_column(Double)
    finish_ra_um: Mapped[float | None] = mapped_column(Double)
    certifications: Mapped[list[str]] = mapped_column(JSON, default=list)
    hours: Mapped[float | None] = mapped_column(Double)  # machine hours the job needs (buyer's estimate)
    due_date: Mapped[date | None] = mapped_column(Date)
    budget: Mapped[float | None] = mapped_column(Double)  # total, CNY
    delivery_latitude: Mapped[float | None] = mapped_column(Double)
    delivery_longitude: Mapped[float | None] = mapped_column(Double)
    delivery_place: Mapped[str | None] = mapped_column(String(200))
    allow_split: Mapped[bool] = mapped_column(Boolean, default=False)
    service_kind: Mapped[str | None] = mapped_column(String(20))  # consulting, training
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_demands_status", Demand.status, Demand.id)


class QuoteStatus(enum.StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"


class Quote(Timestamped, Base):
    """A supplier's offer for a demand: total price and lead time."""

    __tablename__ = "quotes"
    __table_args__ = (UniqueConstraint("demand_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)  # supplier
    price: Mapped[float] = mapped_column(Double)
    lead_time_days: Mapped[int] = mapped_column(Integer)
    capability_id: Mapped[int | None] = mapped_column(ForeignKey("capabilities.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[QuoteStatus] = mapped_column(_enum(QuoteStatus, "quote_status"), default=QuoteStatus.submitted)


class OrderStatus(enum.StrEnum):
    open = "open"  # accepted, not bound to a machine yet
    in_production = "in_production"  # bound to a machine and its part counter
    delivered = "delivered"
    accepted = "accepted"  # buyer accepted the delivery (good quantity known): closed
    cancelled = "cancelled"


class Order(Timestamped, Base):
    """An accepted quote: the buyer follows progress from the supplier's own machine counter."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="RESTRICT"), index=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="RESTRICT"), unique=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Double)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"), default=OrderStatus.open)
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="SET NULL"))
    counter_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))
    bound_ms: Mapped[int | None] = mapped_column(BigInteger)
    counter_baseline: Mapped[float | None] = mapped_column(Double)
    made_at_close: Mapped[int | None] = mapped_column(Integer)  # parts counted when delivered
    delivered_quantity: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    good_quantity: Mapped[int | None] = mapped_column(Integer)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rating(Timestamped, Base):
    """One side's rating of the other after an order (1–5 stars and a comment)."""

    __tablename__ = "order_ratings"
    __table_args__ = (UniqueConstraint("order_id", "from_org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    to_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(1000))


