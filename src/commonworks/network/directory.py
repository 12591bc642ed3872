"""The network as matching sees it: published enterprises → :class:`matching.SupplierProfile`, indexed once.

Only what an enterprise published reaches the index: its profile (when ``published``), its
capabilities and the spare hours of its published capacity offers — never telemetry. The
index is rebuilt when any of these change (a cheap fingerprint query per request decides)
and shared by the requests of one process.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commonworks.core.codes import CodeError, lookup_region
from commonworks.core.database import utcnow
from commonworks.core.orgs.models import Organization
from commonworks.network import matching
from commonworks.network.capacity import HORIZON_DAYS
from commonworks.network.models import Capability, CapacityOffer, NetworkProfile, Order, OrderStatus
from commonworks.network.reputation import summarise

_lock = threading.Lock()
_cache: dict[str, tuple[Any, Network]] = {}


@dataclass(frozen=True)
class Network:
    """The index and, per enterprise, the ids of its capabilities in the index's order."""

    index: matching.MatchIndex
    capability_ids: dict[int, list[int]]
    profiles: dict[int, matching.SupplierProfile]


def _fingerprint(session: Session, today: date) -> tuple[Any, ...]:
    parts: list[Any] = [today.isoformat(), session.get_bind().url.render_as_string()]
    for model, column in ((NetworkProfile, NetworkProfile.updated_at), (Capability, Capability.updated_at),
                          (CapacityOffer, CapacityOffer.id), (Order, Order.updated_at)):
        parts.extend(session.execute(select(func.count(), func.max(column)).select_from(model)).one())
    return tuple(str(p) for p in parts)


def _region_name(code: str) -> str:
    try:
        region = lookup_region(code)
    except CodeError:
        return code
    return region.province if region.name == "市辖区" else region.name  # 天津, 重庆 …


def reputations(session: Session, org_ids: list[int]) -> dict[int, tuple[float | None, str]]:
    """Supplier reputation (score, basis) for many organizations in one query — the same record
    ``service.reputation`` shows (``reputation.summarise``)."""
    done: dict[int, list[Order]] = defaultdict(list)
    for order in session.scalars(select(Order).where(Order.status == OrderStatus.accepted)
                                 .order_by(Order.accepted_at.desc(), Order.id.desc())):
        done[order.supplier_org_id].append(order)
    now = utcnow()
    out = {}
    for org_id in org_ids:
        record = summarise(done.get(org_id, []), now)
        out[org_id] = (record.score, record.basis)
    return out


def supplier_profiles(session: Session, today: date) -> tuple[list[matching.SupplierProfile], dict[int, list[int]]]:
    """The published enterprises that can be placed and have capabilities, and their capability ids."""
    rows = session.execute(select(NetworkProfile, Organization).join(
        Organization, Organization.id == NetworkProfile.org_id).where(
        NetworkProfile.published.is_(True), Organization.is_active.is_(True))).all()
    if not rows:
        return [], {}
    org_ids = [org.id for _, org in rows]
    capabilities: dict[int, list[Capability]] = defaultdict(list)
    for capability in session.scalars(select(Capability).where(Capability.org_id.in_(org_ids))
                                      .order_by(Capability.id)):
        capabilities[capability.org_id].append(capability)
    free: dict[int, list[float]] = defaultdict(lambda: [0.0] * HORIZON_DAYS)
    last = today + timedelta(days=HORIZON_DAYS)
    for offer in session.scalars(select(CapacityOffer).where(
            CapacityOffer.org_id.in_(org_ids), CapacityOffer.day >= today, CapacityOffer.day < last)):
        free[offer.capability_id][(offer.day - today).days] = offer.hours
    reputation = reputations(session, org_ids)
    profiles, ids = [], {}
    for profile, org in rows:
        if org.latitude is None or org.longitude is None or not capabilities.get(org.id):
            continue  # the network cannot place or use it yet
        score, basis = reputation[org.id]
        caps = tuple(matching.Capability(
            process=c.process, materials=tuple(c.materials or ()),
            envelope_mm=(c.envelope_x_mm or 1e6, c.envelope_y_mm or 1e6, c.envelope_z_mm or 1e6)
            if any(v is not None for v in (c.envelope_x_mm, c.envelope_y_mm, c.envelope_z_mm)) else None,
            tolerance_mm=c.tolerance_mm, finish_ra_um=c.finish_ra_um, batch_min=c.batch_min, batch_max=c.batch_max,
            price_per_hour=Decimal(str(c.price_per_hour)) if c.price_per_hour is not None else None,
            free_hours=tuple(free[c.id]) if c.id in free else (), machine_ids=tuple(c.machine_ids or ()))
            for c in capabilities[org.id])
        ids[org.id] = [c.id for c in capabilities[org.id]]
        profiles.append(matching.SupplierProfile(
            enterprise_id=org.id, name=org.name_zh, region=_region_name(org.region_code), lat=org.latitude,
            lon=org.longitude, description_zh=profile.description_zh or "", description_en=profile.description_en or "",
            certifications=frozenset(profile.certifications or ()), reputation=score, reputation_basis=basis,
            capabilities=caps))
    return profiles, ids


def network(session: Session, today: date) -> Network | None:
    """The current index of the published network (None when nobody has published yet)."""
    key = _fingerprint(session, today)
    bind = key[1]
    with _lock:
        cached = _cache.get(bind)
        if cached is not None and cached[0] == key:
            return cached[1]
    profiles, ids = supplier_profiles(session, today)
    if not profiles:
        return None
    built = Network(matching.MatchIndex.build(profiles), ids, {p.enterprise_id: p for p in profiles})
    with _lock:
        _cache[bind] = (key, built)
    return built
