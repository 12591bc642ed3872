"""Explainable supplier matching (供需对接): hard constraints first, then a weighted score with its breakdown.

Plain data in, plain data out, no database. The service layer maps its rows onto
:class:`SupplierProfile` / :class:`Capability` and a request onto :class:`Demand`, builds a
:class:`MatchIndex` once (and again when profiles change), and asks it for matches.

**Hard constraints** (a supplier failing one is never returned), per capability row:

=============  ===========================================================================================
process        the offered process covers the demanded one (``taxonomy().covers``: 5-axis covers milling)
material       one of the offered materials covers the demanded one (aluminium covers aluminium_6061);
               a capability listing no materials fails a demand that names one
envelope       the part fits the work envelope, dimensions compared largest to largest (the part may be
               turned); ``None`` = no limit
tolerance      the best tolerance offered is at least as tight as asked (``None`` offered fails)
finish         the best surface finish offered is at least as fine as asked (Ra µm, ``finish_ok``)
batch          ``batch_min ≤ quantity ≤ batch_max`` (``batch_max None`` = no upper limit)
certification  the enterprise holds every certification asked
capacity       the published free hours of this capability on days ``0 … due_day−1`` (at most the 28
               published days) are at least the machine hours needed
=============  ===========================================================================================

**Score** of a feasible capability row = Σ weight × normalised component (:class:`Weights`), each in [0, 1]:

=========  ================================================================================================
text       BM25 of the demand's text (plus its process and material) against the enterprise's text
           (name, zh/en description, the names of its processes, materials, certifications), divided by
           the best BM25 among the feasible enterprises
distance   ``0.5 ** (km / distance_half_km)`` (great-circle km to the delivery location); left out (weight
           shown as 0) when the demand has no location
price      estimated cost = price per hour × hours. With a budget: ``clip(1 − ½·cost/budget, 0, 1)`` (at
           budget 0.5, free 1, twice the budget 0); without: ``lowest cost among the feasible / cost``.
           A capability without a published price scores 0
reputation the enterprise's reputation (0..1, from delivered orders); ``reputation_prior`` when it has none
capacity   slack ``1 − hours / free hours before the due day``
=========  ================================================================================================

One result per enterprise: its best feasible capability row. Ranking: higher score first, ties by lower
enterprise id (scores are compared at 1e-9, so the vectorised index and the plain reference agree).

:class:`MatchIndex` evaluates all of this column-wise with numpy over every capability row (rows sorted
by process in taxonomy pre-order, so a demanded process and all its sub-processes are one contiguous
slice), and builds the explained :class:`Match` objects for the top rows only. :func:`exhaustive_match`
is the reference: every profile, row by row, in plain Python with the same score function.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from commonworks.network.taxonomy import Taxonomy, taxonomy
from commonworks.network.text import (
    CERTIFICATION,
    MATERIAL,
    PROCESS,
    ReferenceBM25,
    TextIndex,
    term_token,
    tokenize,
    unique,
)

HORIZON_DAYS = 28  # days of published spare capacity (day 0 = today)
EARTH_RADIUS_KM = 6371.0088
EPS = 1e-9
SCORE_QUANTUM = 1e9  # scores are ranked on round(score × 1e9)
CONSTRAINTS = ("process", "material", "envelope", "tolerance", "finish", "batch", "certification", "capacity")
COMPONENTS = ("text", "distance", "price", "reputation", "capacity")
CHINA = ZoneInfo("Asia/Shanghai")


# ================================================================================= plain data in


@dataclass(frozen=True, kw_only=True, slots=True)
class Capability:
    """One thing an enterprise can do, usually provided by one or more of its machines.

    ``free_hours[d]`` is the spare time it publishes for day ``d`` (0 = today) over the next 28 days;
    a shorter sequence means no spare time on the missing days.
    """

    process: str  # taxonomy process code, e.g. "milling_5axis"
    materials: tuple[str, ...] = ()  # taxonomy material codes (a family such as "aluminium" covers its grades)
    envelope_mm: tuple[float, float, float] | None = None  # work envelope x, y, z; None = no limit
    tolerance_mm: float | None = None  # best achievable tolerance (±mm; smaller is better); None = not published
    finish_ra_um: float | None = None  # best surface finish Ra (µm; smaller is finer); None = not published
    batch_min: int = 1
    batch_max: int | None = None  # None = no upper limit
    price_per_hour: Decimal | None = None  # CNY per machine hour; None = on request
    free_hours: tuple[float, ...] = ()  # up to 28 values, hours per day
    machine_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:  # lists from a database row become tuples
        for name in ("materials", "free_hours", "machine_ids"):
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.envelope_mm is not None and not isinstance(self.envelope_mm, tuple):
            object.__setattr__(self, "envelope_mm", tuple(float(x) for x in self.envelope_mm))


@dataclass(frozen=True, kw_only=True, slots=True)
class SupplierProfile:
    """An enterprise as matching sees it: where it is, what it says about itself, what it can do."""

    enterprise_id: int
    name: str
    region: str = ""  # e.g. "宁波"
    lat: float
    lon: float
    description_zh: str = ""
    description_en: str = ""
    certifications: frozenset[str] = frozenset()  # taxonomy certification codes, e.g. {"iso_9001"}
    reputation: float | None = None  # 0..1 from delivered orders; None = no track record yet
    reputation_basis: str = ""  # e.g. "on time 18/20, accepted 97 % (last 90 days)"
    capabilities: tuple[Capability, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.certifications, frozenset):
            object.__setattr__(self, "certifications", frozenset(self.certifications))
        if not isinstance(self.capabilities, tuple):
            object.__setattr__(self, "capabilities", tuple(self.capabilities))


@dataclass(frozen=True, kw_only=True, slots=True)
class Demand:
    """A part RFQ (or any demand with a process) to match against the suppliers."""

    process: str | None  # taxonomy process code; None = any process (text-only demands)
    hours: float  # machine hours needed (> 0)
    due_day: int  # days from today (≥ 1); the work must fit on days 0 … due_day−1
    material: str | None = None
    quantity: int = 1
    envelope_mm: tuple[float, float, float] | None = None  # part size
    tolerance_mm: float | None = None
    finish_ra_um: float | None = None
    certifications: frozenset[str] = frozenset()
    budget: Decimal | None = None  # total CNY for the job
    lat: float | None = None  # delivery location
    lon: float | None = None
    text: str = ""  # the buyer's description, zh and/or en

    def __post_init__(self) -> None:
        if not isinstance(self.certifications, frozenset):
            object.__setattr__(self, "certifications", frozenset(self.certifications))
        if self.envelope_mm is not None and not isinstance(self.envelope_mm, tuple):
            object.__setattr__(self, "envelope_mm", tuple(float(x) for x in self.envelope_mm))


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the score components (they need not sum to 1) and the scales of their normalisation."""

    text: float = 0.30  # BM25 relevance of the enterprise's text to the demand
    distance: float = 0.20  # closeness to the delivery location
    price: float = 0.20  # estimated cost against the budget (or the cheapest feasible offer)
    reputation: float = 0.15  # delivered-order reputation
    capacity: float = 0.15  # spare hours left before the due day after this job
    distance_half_km: float = 300.0  # distance at which the distance component halves
    reputation_prior: float = 0.5  # reputation assumed for an enterprise without delivered orders

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"weight {name} must be a finite number ≥ 0, got {value!r}")
        if not self.distance_half_km > 0:
            raise ValueError(f"distance_half_km must be positive, got {self.distance_half_km!r}")
        if not 0 <= self.reputation_prior <= 1:
            raise ValueError(f"reputation_prior must be within 0..1, got {self.reputation_prior!r}")

    def of(self, component: str) -> float:
        return float(getattr(self, component))


# ================================================================================ plain data out


@dataclass(frozen=True, slots=True)
class Check:
    """One hard constraint on one capability: its name, whether it passed, and why.

    ``detail`` is the reason in English (API, CLI); ``code`` and ``args`` are the same reason
    as a message id and its values (taxonomy codes, numbers), which a UI renders in its language.
    """

    name: str
    passed: bool
    detail: str
    code: str = ""
    args: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Component:
    """One part of the score: raw value (units in ``detail``), normalised 0..1, weight, weight × normalised."""

    name: str
    raw: float | None
    normalised: float
    weight: float
    contribution: float
    detail: str


@dataclass(frozen=True, slots=True)
class Match:
    rank: int
    enterprise_id: int
    name: str
    region: str
    score: float
    capability_index: int  # index into the profile's ``capabilities``
    process: str  # the process of that capability
    machine_ids: tuple[int, ...]
    components: tuple[Component, ...]
    constraints: tuple[Check, ...]  # every hard constraint the demand asks for: all passed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (floats rounded to 6 decimals)."""
        data = asdict(self)
        for check in data["constraints"]:
            check["args"] = dict(check["args"])
        return _rounded(data)


@dataclass(frozen=True, slots=True)
class CapabilityCheck:
    index: int
    process: str
    passed: bool
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an enterprise is (not) among the matches of a demand."""

    enterprise_id: int
    name: str
    status: Literal["matched", "ranked_below", "excluded"]
    rank: int | None  # among all feasible enterprises (None when excluded)
    score: float | None
    cutoff_score: float | None  # score of the last match shown (``top``-th), for "ranked_below"
    summary: str
    capabilities: tuple[CapabilityCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for capability in data["capabilities"]:
            for check in capability["checks"]:
                check["args"] = dict(check["args"])
        return _rounded(data)


def matches_to_json(matches: Iterable[Match]) -> list[dict[str, Any]]:
    return [m.to_dict() for m in matches]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


# ============================================================================== validation


class MatchingInputError(ValueError):
    """A profile or demand that matching cannot use; ``where`` names the record and field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def validate_demand(demand: Demand, tax: Taxonomy | None = None) -> None:
    tax = tax or taxonomy()
    if demand.process is not None and demand.process not in tax.processes:
        raise MatchingInputError("demand.process", f"unknown process {demand.process!r}")
    if demand.material is not None and demand.material not in tax.materials:
        raise MatchingInputError("demand.material", f"unknown material {demand.material!r}")
    for cert in demand.certifications:
        if cert not in tax.certifications:
            raise MatchingInputError("demand.certifications", f"unknown certification {cert!r}")
    if not (demand.hours > 0 and math.isfinite(demand.hours)):
        raise MatchingInputError("demand.hours", f"must be a positive number of hours, got {demand.hours!r}")
    if demand.due_day < 1:
        raise MatchingInputError("demand.due_day", f"must be at least 1 (tomorrow), got {demand.due_day!r}")
    if demand.quantity < 1:
        raise MatchingInputError("demand.quantity", f"must be at least 1, got {demand.quantity!r}")
    if demand.envelope_mm is not None and (len(demand.envelope_mm) != 3 or min(demand.envelope_mm) <= 0):
        raise MatchingInputError("demand.envelope_mm", "must be three positive sizes in mm")
    for name in ("tolerance_mm", "finish_ra_um"):
        value = getattr(demand, name)
        if value is not None and not value > 0:
            raise MatchingInputError(f"demand.{name}", f"must be positive, got {value!r}")
    if demand.budget is not None and not demand.budget > 0:
        raise MatchingInputError("demand.budget", f"must be positive, got {demand.budget!r}")
    if (demand.lat is None) != (demand.lon is None):
        raise MatchingInputError("demand.lat/lon", "give both or neither")


def validate_profile(profile: SupplierProfile, tax: Taxonomy | None = None) -> None:
    tax = tax or taxonomy()
    where = f"enterprise {profile.enterprise_id}"
    if not (-90 <= profile.lat <= 90 and -180 <= profile.lon <= 180):
        raise MatchingInputError(where, f"lat/lon out of range: {profile.lat}, {profile.lon}")
    for cert in profile.certifications:
        if cert not in tax.certifications:
            raise MatchingInputError(f"{where}.certifications", f"unknown certification {cert!r}")
    if profile.reputation is not None and not 0 <= profile.reputation <= 1:
        raise MatchingInputError(f"{where}.reputation", f"must be within 0..1, got {profile.reputation!r}")
    for i, cap in enumerate(profile.capabilities):
        at = f"{where}, capability {i}"
        if cap.process not in tax.processes:
            raise MatchingInputError(f"{at}.process", f"unknown process {cap.process!r}")
        for mat in cap.materials:
            if mat not in tax.materials:
                raise MatchingInputError(f"{at}.materials", f"unknown material {mat!r}")
        if cap.envelope_mm is not None and (len(cap.envelope_mm) != 3 or min(cap.envelope_mm) <= 0):
            raise MatchingInputError(f"{at}.envelope_mm", "must be three positive sizes in mm")
        if len(cap.free_hours) > HORIZON_DAYS or any(not (h >= 0) for h in cap.free_hours):
            raise MatchingInputError(f"{at}.free_hours", f"at most {HORIZON_DAYS} non-negative values")
        if cap.batch_min < 1 or (cap.batch_max is not None and cap.batch_max < cap.batch_min):
            raise MatchingInputError(f"{at}.batch", f"bad batch range {cap.batch_min}–{cap.batch_max}")
        if i >= 1024:
            raise MatchingInputError(where, "more than 1024 capabilities")
        if cap.price_per_hour is not None and not cap.price_per_hour > 0:
            raise MatchingInputError(f"{at}.price_per_hour", f"must be positive, got {cap.price_per_hour!r}")


# ===================================================================== hard constraints in Python


def _num(x: float) -> str:
    text = f"{x:,.3f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _dims(d: Sequence[float]) -> str:
    return "×".join(_num(v) for v in d)


def _sorted_desc(d: Sequence[float]) -> tuple[float, ...]:
    return tuple(sorted((float(v) for v in d), reverse=True))


def free_before(cap: Capability, due_day: int) -> float:
    """Published free hours of ``cap`` on days ``0 … min(due_day, 28)−1`` (summed in day order)."""
    days = min(due_day, HORIZON_DAYS)
    total = 0.0
    for h in cap.free_hours[:days]:
        total += float(h)
    return total


def _pass_process(tax: Taxonomy, cap: Capability, d: Demand) -> bool:
    return d.process is None or tax.covers(cap.process, d.process)


def _pass_material(tax: Taxonomy, cap: Capability, d: Demand) -> bool:
    return d.material is None or any(tax.material_covers(m, d.material) for m in cap.materials)


def _pass_envelope(cap: Capability, d: Demand) -> bool:
    if d.envelope_mm is None or cap.envelope_mm is None:
        return True
    return all(o >= n - EPS for o, n in zip(_sorted_desc(cap.envelope_mm), _sorted_desc(d.envelope_mm), strict=True))


def _pass_tolerance(cap: Capability, d: Demand) -> bool:
    return d.tolerance_mm is None or (cap.tolerance_mm is not None and cap.tolerance_mm <= d.tolerance_mm + EPS)


def _pass_batch(cap: Capability, d: Demand) -> bool:
    return cap.batch_min <= d.quantity and (cap.batch_max is None or d.quantity <= cap.batch_max)


def _pass_certification(profile: SupplierProfile, d: Demand) -> bool:
    return d.certifications <= profile.certifications


def _pass_capacity(cap: Capability, d: Demand) -> bool:
    return free_before(cap, d.due_day) >= d.hours - EPS


def row_passes(tax: Taxonomy, profile: SupplierProfile, cap: Capability, d: Demand) -> bool:
    """Does this capability pass every hard constraint of the demand (no explanations: fast path)?"""
    return (
        _pass_process(tax, cap, d)
        and _pass_material(tax, cap, d)
        and _pass_envelope(cap, d)
        and _pass_tolerance(cap, d)
        and tax.finish_ok(cap.finish_ra_um, d.finish_ra_um)
        and _pass_batch(cap, d)
        and _pass_certification(profile, d)
        and _pass_capacity(cap, d)
    )


def check_capability(tax: Taxonomy, profile: SupplierProfile, cap: Capability, d: Demand) -> tuple[Check, ...]:
    """Every hard constraint the demand asks for, evaluated on one capability, with a human reason."""
    out: list[Check] = []

    def check(name: str, ok: bool, code: str, detail: str, **args: Any) -> None:
        out.append(Check(name, ok, detail, f"{name}.{code}", tuple(args.items())))

    if d.process is not None:
        ok = _pass_process(tax, cap, d)
        check(
            "process",
            ok,
            "covers" if ok else "not_covered",
            f"{cap.process} {'covers' if ok else 'does not cover'} {d.process}",
            have=cap.process,
            need=d.process,
        )
    if d.material is not None:
        ok = _pass_material(tax, cap, d)
        if ok:
            by = next(m for m in cap.materials if tax.material_covers(m, d.material))
            if by == d.material:
                check("material", ok, "works", f"works {by}", material=by)
            else:
                check("material", ok, "covers", f"works {by}, which covers {d.material}", by=by, material=d.material)
        else:
            offered = ", ".join(cap.materials) or "none listed"
            check(
                "material",
                ok,
                "missing",
                f"{d.material} not worked (offers {offered})",
                material=d.material,
                offered=tuple(cap.materials),
            )
    if d.envelope_mm is not None:
        ok = _pass_envelope(cap, d)
        need = _dims(_sorted_desc(d.envelope_mm))
        if cap.envelope_mm is None:
            check("envelope", ok, "unlimited", f"no envelope limit for {need} mm", need=need)
        else:
            have = _dims(_sorted_desc(cap.envelope_mm))
            check(
                "envelope",
                ok,
                "fits" if ok else "too_small",
                f"envelope {have} {'≥' if ok else 'too small for'} {need} mm",
                have=have,
                need=need,
            )
    if d.tolerance_mm is not None:
        ok = _pass_tolerance(cap, d)
        asked = _num(d.tolerance_mm)
        if cap.tolerance_mm is None:
            check("tolerance", ok, "unpublished", f"no tolerance published (±{asked} mm asked)", asked=asked)
        else:
            best = _num(cap.tolerance_mm)
            check(
                "tolerance",
                ok,
                "ok" if ok else "too_coarse",
                f"best tolerance ±{best} {'≤' if ok else '>'} ±{asked} mm asked",
                best=best,
                asked=asked,
            )
    if d.finish_ra_um is not None:
        ok = tax.finish_ok(cap.finish_ra_um, d.finish_ra_um)
        asked = _num(d.finish_ra_um)
        if cap.finish_ra_um is None:
            check("finish", ok, "unpublished", f"no surface finish published (Ra {asked} µm asked)", asked=asked)
        else:
            best = _num(cap.finish_ra_um)
            check(
                "finish",
                ok,
                "ok" if ok else "too_rough",
                f"best finish Ra {best} {'≤' if ok else '>'} Ra {asked} µm asked",
                best=best,
                asked=asked,
            )
    ok = _pass_batch(cap, d)
    limit = f"{cap.batch_min}–{cap.batch_max}" if cap.batch_max is not None else f"≥ {cap.batch_min}"
    if ok:
        check("batch", ok, "within", f"quantity {d.quantity} within batch {limit}", quantity=d.quantity, limit=limit)
    elif d.quantity < cap.batch_min:
        check(
            "batch",
            ok,
            "below",
            f"quantity {d.quantity} below the minimum batch {cap.batch_min}",
            quantity=d.quantity,
            minimum=cap.batch_min,
        )
    else:
        check(
            "batch",
            ok,
            "above",
            f"quantity {d.quantity} above the maximum batch {cap.batch_max}",
            quantity=d.quantity,
            maximum=cap.batch_max,
        )
    if d.certifications:
        missing = sorted(d.certifications - profile.certifications)
        codes = missing or sorted(d.certifications)
        names = [tax.certifications[c].name for c in codes]
        ok = not missing
        check(
            "certification",
            ok,
            "holds" if ok else "missing",
            ("holds " if ok else "missing ") + ", ".join(names),
            certifications=tuple(codes),
        )
    ok = _pass_capacity(cap, d)
    free = _num(free_before(cap, d.due_day))
    day, beyond = min(d.due_day, HORIZON_DAYS), d.due_day > HORIZON_DAYS
    horizon = f"day {day} (end of the published days)" if beyond else f"day {day}"
    check(
        "capacity",
        ok,
        "enough" if ok else "short",
        f"free {free} h before {horizon} {'≥' if ok else '<'} {_num(d.hours)} h needed",
        free=free,
        day=day,
        horizon_end=beyond,
        hours=_num(d.hours),
    )
    return tuple(out)


# ======================================================================== the score, in Python


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    s_lat = math.sin((p2 - p1) * 0.5)
    s_lon = math.sin((math.radians(lon2) - math.radians(lon1)) * 0.5)
    a = s_lat * s_lat + math.cos(p1) * math.cos(p2) * (s_lon * s_lon)
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True, slots=True)
class _Stats:
    """The feasible-set statistics the normalisation needs (the same in the index and the reference)."""

    text_max: float
    cost_min: float | None  # lowest estimated cost among feasible rows with a price


def _components(
    profile: SupplierProfile, cap: Capability, d: Demand, text_raw: float, stats: _Stats, w: Weights
) -> tuple[Component, ...]:
    """The score breakdown of one feasible capability row: the one score function."""
    out: list[Component] = []
    # text
    t_norm = text_raw / stats.text_max if stats.text_max > 0 else 0.0
    share = f"{t_norm:.0%} of the best text match" if stats.text_max > 0 else "no text in common with any supplier"
    out.append(Component("text", text_raw, t_norm, w.text, w.text * t_norm, f"BM25 {text_raw:.2f}: {share}"))
    # distance
    if d.lat is not None and d.lon is not None:
        km = haversine_km(d.lat, d.lon, profile.lat, profile.lon)
        d_norm = 0.5 ** (km / w.distance_half_km)
        out.append(
            Component("distance", km, d_norm, w.distance, w.distance * d_norm, f"{km:,.0f} km to the delivery location")
        )
    else:
        out.append(Component("distance", None, 0.0, 0.0, 0.0, "no delivery location given"))
    # price
    if cap.price_per_hour is None:
        out.append(Component("price", None, 0.0, w.price, 0.0, "no price published"))
    else:
        rate = float(cap.price_per_hour)
        cost = rate * d.hours
        basis = f"est. {cost:,.0f} CNY ({_num(rate)} CNY/h × {_num(d.hours)} h)"
        if d.budget is not None:
            budget = float(d.budget)
            p_norm = min(1.0, max(0.0, 1.0 - 0.5 * cost / budget))
            detail = f"{basis} = {cost / budget:.2f} × budget {budget:,.0f} CNY"
        else:
            assert stats.cost_min is not None
            p_norm = stats.cost_min / cost
            detail = f"{basis}; cheapest feasible offer {stats.cost_min:,.0f} CNY"
        out.append(Component("price", cost, p_norm, w.price, w.price * p_norm, detail))
    # reputation
    if profile.reputation is None:
        r_norm = w.reputation_prior
        out.append(
            Component(
                "reputation",
                None,
                r_norm,
                w.reputation,
                w.reputation * r_norm,
                profile.reputation_basis or f"no delivered orders yet: prior {r_norm:g}",
            )
        )
    else:
        r_norm = float(profile.reputation)
        out.append(
            Component(
                "reputation",
                r_norm,
                r_norm,
                w.reputation,
                w.reputation * r_norm,
                profile.reputation_basis or f"reputation {r_norm:.2f}",
            )
        )
    # capacity slack
    free = free_before(cap, d.due_day)
    c_norm = 1.0 - d.hours / free
    out.append(
        Component(
            "capacity",
            free,
            c_norm,
            w.capacity,
            w.capacity * c_norm,
            f"{_num(free)} h free before day {min(d.due_day, HORIZON_DAYS)} for {_num(d.hours)} h: {c_norm:.0%} left",
        )
    )
    return tuple(out)


def _total(components: Sequence[Component]) -> float:
    total = 0.0
    for c in components:  # fixed order: text, distance, price, reputation, capacity
        total += c.contribution
    return total


def _quantised(score: float) -> int:
    return math.floor(score * SCORE_QUANTUM + 0.5)


# ==================================================================== documents and queries


def document_tokens(profile: SupplierProfile, tax: Taxonomy | None = None) -> list[str]:
    """The enterprise's text for BM25: name and descriptions, then its processes (with their parents),
    materials (with their families) and certifications as canonical tokens, each once."""
    tax = tax or taxonomy()
    tokens = tokenize(f"{profile.name}\n{profile.description_zh}\n{profile.description_en}")
    terms: dict[str, None] = {}
    for cap in profile.capabilities:
        for p in tax.process_lineage(cap.process):
            terms[term_token(PROCESS, p)] = None
        for m in cap.materials:
            for fam in tax.material_lineage(m):
                terms[term_token(MATERIAL, fam)] = None
    for c in sorted(profile.certifications):
        terms[term_token(CERTIFICATION, c)] = None
    return tokens + sorted(terms)


def query_tokens(demand: Demand) -> list[str]:
    """The demand's text plus its process and material, as distinct tokens."""
    extra = []
    if demand.process is not None:
        extra.append(term_token(PROCESS, demand.process))
    if demand.material is not None:
        extra.append(term_token(MATERIAL, demand.material))
    return unique([*tokenize(demand.text), *extra])


# ================================================================================= the index


def _process_order(tax: Taxonomy) -> tuple[dict[str, int], dict[str, int]]:
    """Process ids in pre-order of the taxonomy tree, and the id just past each process's subtree."""
    children: dict[str | None, list[str]] = {}
    for code, term in tax.processes.items():
        children.setdefault(term.parent, []).append(code)
    pid: dict[str, int] = {}
    end: dict[str, int] = {}

    def visit(code: str) -> None:
        pid[code] = len(pid)
        for child in children.get(code, []):
            visit(child)
        end[code] = len(pid)

    for root in children.get(None, []):
        visit(root)
    return pid, end


class MatchIndex:
    """All capability rows of all profiles as numpy columns, plus BM25 over the enterprises' text.

    Build once (``MatchIndex.build(profiles)``); ``match`` and ``explain`` are read-only and may be called
    from several threads.
    """

    def __init__(self) -> None:  # use build()
        raise TypeError("use MatchIndex.build(profiles)")

    @classmethod
    def build(
        cls,
        profiles: Iterable[SupplierProfile],
        *,
        weights: Weights | None = None,
        tax: Taxonomy | None = None,
        documents: Sequence[Sequence[str]] | None = None,
    ) -> MatchIndex:
        """Index ``profiles`` (validated; enterprise ids must be unique). ``documents`` may pass precomputed
        :func:`document_tokens` in the same order as ``profiles`` (the benchmark shares them)."""
        self = object.__new__(cls)
        tax = tax or taxonomy()
        self.taxonomy = tax
        self.weights = weights or Weights()
        given = list(profiles)
        order = sorted(range(len(given)), key=lambda i: given[i].enterprise_id)
        self.profiles = [given[i] for i in order]
        ids = [p.enterprise_id for p in self.profiles]
        for a, b in pairwise(ids):
            if a == b:
                raise MatchingInputError(f"enterprise {a}", "listed twice")
        for p in self.profiles:
            validate_profile(p, tax)
        self._position = {eid: i for i, eid in enumerate(ids)}

        # enterprises
        n = len(self.profiles)
        self.ent_id = np.array(ids, dtype=np.int64)
        lat = np.array([p.lat for p in self.profiles], dtype=np.float64)
        lon = np.array([p.lon for p in self.profiles], dtype=np.float64)
        self.ent_lat = np.radians(lat)
        self.ent_lon = np.radians(lon)
        self.ent_cos_lat = np.cos(self.ent_lat)
        self.ent_rep = np.array([np.nan if p.reputation is None else p.reputation for p in self.profiles])
        self._cert_bit = {code: np.uint64(1 << i) for i, code in enumerate(tax.certifications)}
        ent_cert = np.zeros(n, dtype=np.uint64)
        for i, p in enumerate(self.profiles):
            ent_cert[i] = sum((int(self._cert_bit[c]) for c in p.certifications), 0)

        # capability rows, sorted by process (pre-order) then enterprise
        self._pid, self._pend = _process_order(tax)
        materials = list(tax.materials)
        self._mat_index = {code: i for i, code in enumerate(materials)}
        self._mat_words = max(1, math.ceil(len(materials) / 64))
        rows: list[tuple[int, int, int]] = []  # (process id, enterprise index, capability index)
        for e, p in enumerate(self.profiles):
            for c, cap in enumerate(p.capabilities):
                rows.append((self._pid[cap.process], e, c))
        rows.sort()
        r = len(rows)
        self.row_pid = np.array([x[0] for x in rows], dtype=np.int32)
        self.row_ent = np.array([x[1] for x in rows], dtype=np.int32)
        self.row_cap = np.array([x[2] for x in rows], dtype=np.int32)
        self._offsets = np.searchsorted(self.row_pid, np.arange(len(self._pid) + 1)).astype(np.int64)
        caps = [self.profiles[e].capabilities[c] for _, e, c in rows]
        inf, big = math.inf, int(np.iinfo(np.int64).max)
        mat_bits = [sum(1 << self._mat_index[m] for m in set(cap.materials)) for cap in caps]
        self.row_mat = np.array(
            [[(bits >> (64 * word)) & 0xFFFF_FFFF_FFFF_FFFF for bits in mat_bits] for word in range(self._mat_words)],
            dtype=np.uint64,
        ).reshape(self._mat_words, r)
        no_limit = (inf, inf, inf)
        self.row_env = (
            np.array(
                [no_limit if cap.envelope_mm is None else _sorted_desc(cap.envelope_mm) for cap in caps],
                dtype=np.float64,
            )
            .reshape(r, 3)
            .T.copy()
        )
        self.row_tol = np.array([inf if c.tolerance_mm is None else c.tolerance_mm for c in caps], dtype=np.float64)
        self.row_ra = np.array([inf if c.finish_ra_um is None else c.finish_ra_um for c in caps], dtype=np.float64)
        self.row_bmin = np.array([c.batch_min for c in caps], dtype=np.int64)
        self.row_bmax = np.array([big if c.batch_max is None else c.batch_max for c in caps], dtype=np.int64)
        self.row_price = np.array(
            [math.nan if c.price_per_hour is None else float(c.price_per_hour) for c in caps], dtype=np.float64
        )
        pad = (0.0,) * HORIZON_DAYS
        free = np.zeros((r, HORIZON_DAYS + 1))
        free[:, 1:] = np.array([(*c.free_hours, *pad[len(c.free_hours) :]) for c in caps], dtype=np.float64).reshape(
            r, HORIZON_DAYS
        )
        del caps
        # cumulative free hours, day-major: row_cum[d, j] = free hours of row j on days 0 … d−1
        self.row_cum = np.ascontiguousarray(np.cumsum(free, axis=1).T)
        del free
        self.row_cert = ent_cert[self.row_ent]

        if documents is None:
            documents = [document_tokens(p, tax) for p in self.profiles]
        else:
            if len(documents) != len(given):
                raise ValueError("documents must be given for every profile, in the same order")
            documents = [documents[i] for i in order]
        self.text = TextIndex(documents)
        return self

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def n_enterprises(self) -> int:
        return len(self.profiles)

    @property
    def n_rows(self) -> int:
        return len(self.row_ent)

    @property
    def nbytes(self) -> int:
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays) + self.text.nbytes)

    def profile(self, enterprise_id: int) -> SupplierProfile:
        return self.profiles[self._position[enterprise_id]]

    # -- the vectorised evaluation ---------------------------------------------------------------
    def _feasible(self, d: Demand) -> np.ndarray:
        """Indices of the capability rows passing every hard constraint."""
        if d.process is None:
            lo, hi = 0, self.n_rows
        else:
            lo = int(self._offsets[self._pid[d.process]])
            hi = int(self._offsets[self._pend[d.process]])
        sl = slice(lo, hi)
        mask = self.row_cum[min(d.due_day, HORIZON_DAYS), sl] >= d.hours - EPS
        if d.material is not None:
            want = np.zeros(self._mat_words, dtype=np.uint64)
            for m in self.taxonomy.material_lineage(d.material):
                k = self._mat_index[m]
                want[k // 64] |= np.uint64(1 << (k % 64))
            hit = np.zeros(hi - lo, dtype=bool)
            for word in np.flatnonzero(want):
                hit |= (self.row_mat[word, sl] & want[word]) != 0
            mask &= hit
        if d.envelope_mm is not None:
            for axis, size in enumerate(_sorted_desc(d.envelope_mm)):
                mask &= self.row_env[axis, sl] >= size - EPS
        if d.tolerance_mm is not None:
            mask &= self.row_tol[sl] <= d.tolerance_mm + EPS
        if d.finish_ra_um is not None:
            mask &= self.row_ra[sl] <= d.finish_ra_um + EPS
        mask &= self.row_bmin[sl] <= d.quantity
        mask &= self.row_bmax[sl] >= d.quantity
        if d.certifications:
            want_c = np.uint64(sum(int(self._cert_bit[c]) for c in d.certifications))
            mask &= (self.row_cert[sl] & want_c) == want_c
        return lo + np.flatnonzero(mask)

    def _evaluate(self, d: Demand) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Stats]:
        """(feasible rows, their enterprise index, their score, text raw per enterprise, stats)."""
        w = self.weights
        rows = self._feasible(d)
        ents = self.row_ent[rows]
        text_all = self.text.scores(query_tokens(d))
        text_raw = text_all[ents]
        text_max = float(text_raw.max()) if len(rows) else 0.0
        text_n = text_raw / text_max if text_max > 0 else np.zeros(len(rows))
        if d.lat is not None and d.lon is not None:
            p1 = math.radians(d.lat)
            s_lat = np.sin((self.ent_lat[ents] - p1) * 0.5)
            s_lon = np.sin((self.ent_lon[ents] - math.radians(d.lon)) * 0.5)
            a = s_lat * s_lat + math.cos(p1) * self.ent_cos_lat[ents] * (s_lon * s_lon)
            km = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))
            dist_n = 0.5 ** (km / w.distance_half_km)
            w_dist = w.distance
        else:
            dist_n, w_dist = np.zeros(len(rows)), 0.0
        cost = self.row_price[rows] * d.hours
        priced = ~np.isnan(cost)
        cost_min = float(cost[priced].min()) if priced.any() else None
        if d.budget is not None:
            price_n = np.clip(1.0 - 0.5 * cost / float(d.budget), 0.0, 1.0)
        else:
            price_n = cost_min / cost if cost_min is not None else np.zeros(len(rows))
        price_n = np.where(priced, price_n, 0.0)
        rep = self.ent_rep[ents]
        rep_n = np.where(np.isnan(rep), w.reputation_prior, rep)
        free = self.row_cum[min(d.due_day, HORIZON_DAYS), rows]
        cap_n = 1.0 - d.hours / free
        total = w.text * text_n + w_dist * dist_n + w.price * price_n + w.reputation * rep_n + w.capacity * cap_n
        return rows, ents, total, text_all, _Stats(text_max, cost_min)

    def _best_per_enterprise(
        self, rows: np.ndarray, ents: np.ndarray, total: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(enterprise indices, their quantised best score, the capability index of that best row)."""
        q = np.floor(total * SCORE_QUANTUM + 0.5).astype(np.int64)
        # best row per enterprise: highest score, then lowest capability index (packed in one int64)
        packed = q * 1024 + (1023 - self.row_cap[rows])
        best = np.full(self.n_enterprises, -1, dtype=np.int64)
        np.maximum.at(best, ents, packed)
        cand = np.flatnonzero(best >= 0)
        packed_best = best[cand]
        return cand, packed_best // 1024, 1023 - packed_best % 1024

    # -- public ------------------------------------------------------------------------------
    def match(self, demand: Demand, top: int = 10, *, exclude: Iterable[int] = ()) -> list[Match]:
        """The ``top`` best suppliers passing every hard constraint, with reasons and score breakdown.

        ``exclude``: enterprise ids never to list (the buyer itself); they are left out after scoring, so
        the other suppliers' scores do not depend on it.
        """
        validate_demand(demand, self.taxonomy)
        if top < 1:
            return []
        rows, ents, total, text_all, stats = self._evaluate(demand)
        if len(rows) == 0:
            return []
        cand, qbest, capbest = self._best_per_enterprise(rows, ents, total)
        skip = [self._position[e] for e in exclude if e in self._position]
        if skip:
            keep = ~np.isin(cand, skip)
            cand, qbest, capbest = cand[keep], qbest[keep], capbest[keep]
        if len(cand) > top:
            kth = np.partition(qbest, len(qbest) - top)[len(qbest) - top]
            keep = np.flatnonzero(qbest >= kth)
            cand, qbest, capbest = cand[keep], qbest[keep], capbest[keep]
        order = np.lexsort((cand, -qbest))[:top]  # score desc, then enterprise id asc (index follows id)
        return [
            self._explained(rank, int(cand[i]), int(capbest[i]), demand, float(text_all[cand[i]]), stats)
            for rank, i in enumerate(order, start=1)
        ]

    def _explained(self, rank: int, e: int, c: int, d: Demand, text_raw: float, stats: _Stats) -> Match:
        profile = self.profiles[e]
        return _make_match(rank, profile, c, d, text_raw, stats, self.weights, self.taxonomy)

    def explain(self, demand: Demand, enterprise_id: int, top: int = 10) -> Explanation:
        """Why ``enterprise_id`` is, or is not, among the ``top`` matches of ``demand``."""
        validate_demand(demand, self.taxonomy)
        if enterprise_id not in self._position:
            raise KeyError(f"enterprise {enterprise_id} is not in the index")
        e = self._position[enterprise_id]
        profile = self.profiles[e]
        caps = tuple(
            CapabilityCheck(i, cap.process, all(c.passed for c in checks), checks)
            for i, cap in enumerate(profile.capabilities)
            for checks in (check_capability(self.taxonomy, profile, cap, demand),)
        )
        if not any(c.passed for c in caps):
            if not caps:
                summary = "excluded: no capabilities published"
            else:
                parts = [
                    f"capability {c.index} ({c.process}): " + "; ".join(x.detail for x in c.checks if not x.passed)
                    for c in caps
                ]
                summary = "excluded: no capability passes every hard constraint — " + " | ".join(parts)
            return Explanation(enterprise_id, profile.name, "excluded", None, None, None, summary, caps)
        rows, ents, total, _, _ = self._evaluate(demand)
        cand, qbest, _ = self._best_per_enterprise(rows, ents, total)
        pos = int(np.searchsorted(cand, e))
        if pos >= len(cand) or cand[pos] != e:  # the vectorised and the plain checks disagree: a bug
            raise RuntimeError(f"enterprise {enterprise_id} passes the plain checks but not the index")
        mine = int(qbest[pos])
        rank = 1 + int(np.count_nonzero(qbest > mine)) + int(np.count_nonzero((qbest == mine) & (cand < e)))
        score = mine / SCORE_QUANTUM
        ordered = np.sort(qbest)[::-1]
        cutoff = float(ordered[min(top, len(ordered)) - 1]) / SCORE_QUANTUM
        if rank <= top:
            return Explanation(
                enterprise_id,
                profile.name,
                "matched",
                rank,
                score,
                cutoff,
                f"matched: rank {rank} of {len(cand)} feasible suppliers, score {score:.3f}",
                caps,
            )
        summary = (
            f"passes every hard constraint but ranks {rank} of {len(cand)} feasible suppliers: "
            f"score {score:.3f} < {cutoff:.3f} of the last one shown (top {top})"
        )
        return Explanation(enterprise_id, profile.name, "ranked_below", rank, score, cutoff, summary, caps)


def _make_match(
    rank: int, profile: SupplierProfile, c: int, d: Demand, text_raw: float, stats: _Stats, w: Weights, tax: Taxonomy
) -> Match:
    cap = profile.capabilities[c]
    components = _components(profile, cap, d, text_raw, stats, w)
    return Match(
        rank=rank,
        enterprise_id=profile.enterprise_id,
        name=profile.name,
        region=profile.region,
        score=_total(components),
        capability_index=c,
        process=cap.process,
        machine_ids=tuple(cap.machine_ids),
        components=components,
        constraints=check_capability(tax, profile, cap, d),
    )


def match(
    profiles: Iterable[SupplierProfile], demand: Demand, top: int = 10, weights: Weights | None = None
) -> list[Match]:
    """One-off matching (builds an index over ``profiles``; keep a :class:`MatchIndex` for repeated queries)."""
    return MatchIndex.build(profiles, weights=weights).match(demand, top)


# ============================================================================ the reference


class ReferenceCorpus:
    """What :func:`exhaustive_match` needs besides the profiles: their document tokens and BM25 statistics."""

    def __init__(self, profiles: Sequence[SupplierProfile], documents: Sequence[Sequence[str]] | None = None) -> None:
        self.profiles = list(profiles)
        self.documents = list(documents) if documents is not None else [document_tokens(p) for p in self.profiles]
        if len(self.documents) != len(self.profiles):
            raise ValueError("documents must be given for every profile, in the same order")
        self.bm25 = ReferenceBM25(self.documents)


def exhaustive_match(
    profiles: Sequence[SupplierProfile],
    demand: Demand,
    top: int = 10,
    *,
    weights: Weights | None = None,
    corpus: ReferenceCorpus | None = None,
    exclude: Iterable[int] = (),
) -> list[Match]:
    """The reference matcher: every capability of every profile, row by row, in plain Python, with the same
    hard constraints and score function as :class:`MatchIndex` (pass ``corpus`` to reuse the tokenised text)."""
    tax = taxonomy()
    w = weights or Weights()
    validate_demand(demand, tax)
    corpus = corpus or ReferenceCorpus(profiles)
    feasible: list[tuple[int, int]] = [
        (i, c)
        for i, profile in enumerate(profiles)
        for c, cap in enumerate(profile.capabilities)
        if row_passes(tax, profile, cap, demand)
    ]
    if not feasible or top < 1:
        return []
    query = query_tokens(demand)
    text_raw = {i: corpus.bm25.score(query, i) for i in dict.fromkeys(i for i, _ in feasible)}
    costs = [
        float(cap.price_per_hour) * demand.hours
        for i, c in feasible
        if (cap := profiles[i].capabilities[c]).price_per_hour is not None
    ]
    stats = _Stats(text_max=max(text_raw.values()), cost_min=min(costs) if costs else None)
    best: dict[int, tuple[int, int]] = {}  # profile index → (quantised score, −capability index)
    for i, c in feasible:
        key = (
            _quantised(_total(_components(profiles[i], profiles[i].capabilities[c], demand, text_raw[i], stats, w))),
            -c,
        )
        if i not in best or key > best[i]:
            best[i] = key
    skip = set(exclude)
    ranked = sorted(
        ((i, key) for i, key in best.items() if profiles[i].enterprise_id not in skip),
        key=lambda item: (-item[1][0], profiles[item[0]].enterprise_id),
    )[:top]
    return [
        _make_match(rank, profiles[i], -key[1], demand, text_raw[i], stats, w, tax)
        for rank, (i, key) in enumerate(ranked, start=1)
    ]


# ============================================================================== demand files


def _resolve(kind: str, value: str, table: Mapping[str, Any], tax: Taxonomy) -> str:
    """A code, or any zh/en name or alias of one (case-insensitive), to the code."""
    if value in table:
        return value
    wanted = value.strip().lower()
    for code, entry in table.items():
        names = entry.words() if hasattr(entry, "words") else (entry.name, entry.zh, entry.en)
        if wanted == code.lower() or any(wanted == n.lower() for n in names):
            return code
    examples = ", ".join(list(table)[:6])
    raise ValueError(f"unknown {kind} {value!r}; use a taxonomy code (e.g. {examples}, …) or one of its names")


class DemandModel(BaseModel):
    """A demand as JSON (``commonworks network match --demand demand.json``).

    ``process``, ``material`` and ``certifications`` take taxonomy codes or any of their zh/en names and
    aliases (``"加工中心"``, ``"ISO 9001"``). Give the due date either as ``due_day`` (days from today) or
    ``due_date`` (ISO date, China time).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    process: str | None = None
    material: str | None = None
    quantity: int = Field(1, ge=1)
    envelope_mm: tuple[float, float, float] | None = None
    tolerance_mm: float | None = Field(None, gt=0)
    finish_ra_um: float | None = Field(None, gt=0)
    certifications: list[str] = Field(default_factory=list)
    due_day: int | None = Field(None, ge=1)
    due_date: date | None = None
    hours: float = Field(gt=0, allow_inf_nan=False)
    budget: Decimal | None = Field(None, gt=0)
    currency: Literal["CNY"] = "CNY"
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    text: str = ""

    @field_validator("process")
    @classmethod
    def _process(cls, v: str | None) -> str | None:
        tax = taxonomy()
        return None if v is None else _resolve("process", v, tax.processes, tax)

    @field_validator("material")
    @classmethod
    def _material(cls, v: str | None) -> str | None:
        tax = taxonomy()
        return None if v is None else _resolve("material", v, tax.materials, tax)

    @field_validator("certifications")
    @classmethod
    def _certifications(cls, v: list[str]) -> list[str]:
        tax = taxonomy()
        return [_resolve("certification", c, tax.certifications, tax) for c in v]

    @field_validator("envelope_mm")
    @classmethod
    def _envelope(cls, v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if v is not None and not all(math.isfinite(x) and x > 0 for x in v):
            raise ValueError("every size must be a positive number of mm")
        return v

    @model_validator(mode="after")
    def _pairs(self) -> DemandModel:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon of the delivery location, or neither")
        if (self.due_day is None) == (self.due_date is None):
            raise ValueError("give exactly one of due_day (days from today) and due_date")
        return self

    def to_demand(self, today: date | None = None) -> Demand:
        due_day = self.due_day
        if due_day is None:
            assert self.due_date is not None
            today = today or datetime.now(CHINA).date()
            due_day = (self.due_date - today).days
            if due_day < 1:
                raise ValueError(f"due_date {self.due_date.isoformat()} is not after today ({today.isoformat()})")
        return Demand(
            process=self.process,
            material=self.material,
            quantity=self.quantity,
            envelope_mm=self.envelope_mm,
            tolerance_mm=self.tolerance_mm,
            finish_ra_um=self.finish_ra_um,
            certifications=frozenset(self.certifications),
            due_day=due_day,
            hours=self.hours,
            budget=self.budget,
            lat=self.lat,
            lon=self.lon,
            text=self.text,
        )


class DemandFileError(ValueError):
    """A demand file that cannot be used: ``field`` and ``line`` say where (when known)."""

    def __init__(self, source: str, message: str, *, field: str | None = None, line: int | None = None) -> None:
        where = source
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")
        self.source, self.field, self.line, self.message = source, field, line, message


def _line_of(text: str, key: str) -> int | None:
    m = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def demand_from_dict(data: Any, *, today: date | None = None, source: str = "demand", text: str = "") -> Demand:
    """Validate a parsed JSON demand; errors name the field (and its line when ``text`` is the JSON)."""
    if not isinstance(data, dict):
        raise DemandFileError(source, f"expected a JSON object, got {type(data).__name__}")
    try:
        model = DemandModel.model_validate(data)
        return model.to_demand(today)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(x) for x in err["loc"]]
        name = ".".join(loc) if loc else None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (allowed: " + ", ".join(DemandModel.model_fields) + ")"
        elif err["type"] == "missing":
            message = "required"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        line = _line_of(text, loc[0]) if loc and text else None
        raise DemandFileError(source, message, field=name, line=line) from None
    except ValueError as exc:
        raise DemandFileError(source, str(exc), field="due_date", line=_line_of(text, "due_date")) from None


def load_demand(path: str | Path, *, today: date | None = None) -> Demand:
    """Read a demand JSON file; a :class:`DemandFileError` names the line and field of what is wrong."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DemandFileError(str(path), f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DemandFileError(str(path), f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    return demand_from_dict(data, today=today, source=str(path), text=text)


__all__ = [
    "COMPONENTS",
    "CONSTRAINTS",
    "Capability",
    "CapabilityCheck",
    "Check",
    "Component",
    "Demand",
    "DemandFileError",
    "DemandModel",
    "Explanation",
    "Match",
    "MatchIndex",
    "MatchingInputError",
    "ReferenceCorpus",
    "SupplierProfile",
    "Weights",
    "check_capability",
    "demand_from_dict",
    "document_tokens",
    "exhaustive_match",
    "load_demand",
    "match",
    "matches_to_json",
    "query_tokens",
    "validate_demand",
    "validate_profile",
]
