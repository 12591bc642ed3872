"""ISO 22400-2 KPIs from time elements and part counts (pure: plain numbers in, plain numbers out).

The time elements (seconds) and quantities, in the standard's symbols — how they are
cut from machine states and a shift calendar is :mod:`commonworks.operations.timemodel`:

====  ==========================================  ====  ======================================
CT    calendar time of the period                 PQ    produced quantity
POT   planned operation time (shifts)             GQ    good quantity
PDOT  planned down time (breaks, maintenance)     PRI   planned run time per item (ideal cycle)
PBT   planned busy time = POT − PDOT              FE    failure events
APT   actual production time                      AUST  actual unit setup time
ADET  actual unit delay time (idle)               ADOT  actual unit down time (breakdowns)
====  ==========================================  ====  ======================================

plus ``offline``: planned busy time for which there is no data, its own element, so
PBT = APT + AUST + ADET + ADOT + offline.

==============  =========================  =================================================
availability    A  = APT / PBT
effectiveness   E  = ΣPRI·PQ / APT         PRI×PQ summed over products (count rows)
quality         QR = GQ / PQ
OEE             A × E × QR                 = ΣPRI·PQ × QR / PBT
TEEP            OEE × PBT / CT             = ΣPRI·PQ × QR / CT
scrap ratio     (PQ − GQ) / PQ
MTBF            APT / FE
MTTR            ADOT / FE
==============  =========================  =================================================

Decisions:

* **Roll-ups sum, never average.** :class:`TimeElements` and :class:`ProductionCounts` add
  field by field (``a + b``, ``sum(items, TimeElements())``); the KPIs of a line, a plant,
  or a month are the same formulas over the sums. Two machines' OEE is therefore not the
  mean of their OEEs: a machine planned for an hour weighs less than one planned for a week.
* **A zero denominator gives None** (JSON null), never NaN and never an exception: a
  machine with no planned busy time has no availability, which is not the same as 0 %.
* **OEE and TEEP are evaluated in their cancelled form**, numerator ``ΣPRI·PQ × QR`` (the
  *fully productive time*: the ideal time of the good share of the output). That equals
  A × E × QR wherever the three exist, and is still defined when they are not: a machine
  that was planned for a shift and made nothing has OEE 0 — not null because E and QR
  would be 0/0. OEE is None only when PBT = 0, TEEP only when CT = 0.
* **QR is taken over the totals** (ΣGQ / ΣPQ), exactly as A × E × QR with totals, so with
  several products the fully productive time is ΣPRI·PQ × ΣGQ/ΣPQ, not ΣPRI·GQ.
* **TEEP = OEE × PBT / CT** (OEE × loading). ISO 22400-2 does not define TEEP; this is the
  common definition. OEE judges only the planned time; TEEP also asks how much of all the
  time was planned at all, which is the question behind spare capacity ("how much more
  could this machine make?"). Hence the calendar time, not the planned operation time.
* **Scrap ratio** counts every part that was not good (scrap and rework alike: the counts
  do not tell them apart), so it is 1 − QR.
* **MTBF = APT / FE and MTTR = ADOT / FE**, None without failures (there is no mean
  of nothing); what one failure event is, is decided in the time model.
* **Ratios are not clipped.** E > 1 means the ideal cycle time is slower than the machine
  or parts were counted for time outside planned busy time (say, made through a break);
  showing it beats hiding it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


@dataclass(frozen=True, slots=True)
class TimeElements:
    """One machine's (or a roll-up's) ISO 22400-2 time elements over a period, in seconds.

    ``a + b`` adds every field, so a roll-up over machines, lines or periods is ``sum``:

    >>> shift = TimeElements(ct=86_400, pot=28_800, pdot=1_800, apt=23_100, aust=1_200, adot=2_700, failures=2)
    >>> shift.pbt
    27000
    >>> (shift + shift).pbt, (shift + shift).failures
    (54000, 4)
    >>> sum([shift, shift, shift], TimeElements()).apt
    69300.0
    """

    ct: float = 0.0
    """calendar time: all the time of the period"""
    pot: float = 0.0
    """planned operation time: shift time"""
    pdot: float = 0.0
    """planned down time within the shifts"""
    apt: float = 0.0
    """actual production time (producing, within PBT)"""
    aust: float = 0.0
    """actual unit setup time (within PBT)"""
    adet: float = 0.0
    """actual unit delay time: idle within PBT"""
    adot: float = 0.0
    """actual unit down time: unplanned down within PBT"""
    offline: float = 0.0
    """planned busy time without data (offline, or no state known)"""
    failures: int = 0
    """failure events (FE)"""

    @property
    def pbt(self) -> float:
        """Planned busy time, POT − PDOT."""
        return self.pot - self.pdot

    def __add__(self, other: TimeElements) -> TimeElements:
        if not isinstance(other, TimeElements):
            return NotImplemented
        return TimeElements(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class ProductionCounts:
    """Quantities of one machine (or a roll-up) over a period.

    >>> a = ProductionCounts(pq=1_000, gq=960, pri_pq=20_000.0)
    >>> a + ProductionCounts(pq=100, gq=96, pri_pq=900.0)
    ProductionCounts(pq=1100, gq=1056, pri_pq=20900.0)
    """

    pq: int = 0
    """produced quantity"""
    gq: int = 0
    """good quantity"""
    pri_pq: float = 0.0
    """ΣPRI·PQ: the ideal (planned) run time of everything produced, in seconds"""

    def __add__(self, other: ProductionCounts) -> ProductionCounts:
        if not isinstance(other, ProductionCounts):
            return NotImplemented
        return ProductionCounts(self.pq + other.pq, self.gq + other.gq, self.pri_pq + other.pri_pq)


def availability(*, apt: float, pbt: float) -> float | None:
    """A = APT / PBT.

    8 h shift, 30 min break: PBT = 27,000 s; 20 min setup and 45 min down leave APT = 23,100 s.

    >>> availability(apt=23_100, pbt=27_000)  # 77/90
    0.8555555555555555
    >>> availability(apt=0, pbt=0) is None
    True
    """
    return _ratio(apt, pbt)


def effectiveness(*, pri_pq: float, apt: float) -> float | None:
    """E = ΣPRI·PQ / APT: the ideal time of what was made over the time spent making it.

    1,000 parts at an ideal 20 s = 20,000 s of work in APT = 23,100 s:

    >>> effectiveness(pri_pq=1_000 * 20, apt=23_100)  # 200/231
    0.8658008658008658
    """
    return _ratio(pri_pq, apt)


def quality_ratio(*, gq: int, pq: int) -> float | None:
    """QR = GQ / PQ.

    >>> quality_ratio(gq=960, pq=1_000)
    0.96
    >>> quality_ratio(gq=0, pq=0) is None
    True
    """
    return _ratio(gq, pq)


def scrap_ratio(*, gq: int, pq: int) -> float | None:
    """(PQ − GQ) / PQ: every part that was not good.

    >>> scrap_ratio(gq=960, pq=1_000)
    0.04
    """
    return _ratio(pq - gq, pq)


def fully_productive_time(*, pri_pq: float, gq: int, pq: int) -> float:
    """ΣPRI·PQ × QR: the ideal time of the good share of the output (0 when nothing was made).

    >>> fully_productive_time(pri_pq=20_000, gq=960, pq=1_000)
    19200.0
    """
    return 0.0 if pq == 0 else pri_pq * gq / pq


def oee(*, pri_pq: float, gq: int, pq: int, pbt: float) -> float | None:
    """OEE = A × E × QR = ΣPRI·PQ × QR / PBT.

    A = 23,100/27,000, E = 20,000/23,100, QR = 0.96: APT cancels, OEE = 19,200/27,000 = 32/45.

    >>> oee(pri_pq=20_000, gq=960, pq=1_000, pbt=27_000)
    0.7111111111111111
    >>> oee(pri_pq=0, gq=0, pq=0, pbt=27_000)  # planned, nothing made
    0.0
    """
    return _ratio(fully_productive_time(pri_pq=pri_pq, gq=gq, pq=pq), pbt)


def teep(*, pri_pq: float, gq: int, pq: int, ct: float) -> float | None:
    """TEEP = OEE × PBT / CT = ΣPRI·PQ × QR / CT.

    The shift above within a whole day (CT = 86,400 s): 19,200/86,400 = 2/9.

    >>> teep(pri_pq=20_000, gq=960, pq=1_000, ct=86_400)
    0.2222222222222222
    """
    return _ratio(fully_productive_time(pri_pq=pri_pq, gq=gq, pq=pq), ct)


def mtbf(*, apt: float, failures: int) -> float | None:
    """Mean time between failures, APT / FE, in seconds.

    >>> mtbf(apt=23_100, failures=2)
    11550.0
    >>> mtbf(apt=23_100, failures=0) is None
    True
    """
    return _ratio(apt, failures)


def mttr(*, adot: float, failures: int) -> float | None:
    """Mean time to repair, ADOT / FE, in seconds.

    >>> mttr(adot=2_700, failures=2)
    1350.0
    """
    return _ratio(adot, failures)


@dataclass(frozen=True, slots=True)
class Kpis:
    availability: float | None
    effectiveness: float | None
    quality: float | None
    oee: float | None
    teep: float | None
    scrap_ratio: float | None
    mtbf_s: float | None
    mttr_s: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def kpis(elements: TimeElements, counts: ProductionCounts) -> Kpis:
    """Every KPI of one machine or roll-up.

    >>> k = kpis(TimeElements(ct=86_400, pot=28_800, pdot=1_800, apt=23_100, aust=1_200, adot=2_700, failures=2),
    ...          ProductionCounts(pq=1_000, gq=960, pri_pq=20_000.0))
    >>> round(k.availability, 4), round(k.effectiveness, 4), k.quality, round(k.oee, 4), round(k.teep, 4)
    (0.8556, 0.8658, 0.96, 0.7111, 0.2222)
    >>> k.scrap_ratio, k.mtbf_s, k.mttr_s
    (0.04, 11550.0, 1350.0)
    """
    e, c = elements, counts
    return Kpis(
        availability=availability(apt=e.apt, pbt=e.pbt),
        effectiveness=effectiveness(pri_pq=c.pri_pq, apt=e.apt),
        quality=quality_ratio(gq=c.gq, pq=c.pq),
        oee=oee(pri_pq=c.pri_pq, gq=c.gq, pq=c.pq, pbt=e.pbt),
        teep=teep(pri_pq=c.pri_pq, gq=c.gq, pq=c.pq, ct=e.ct),
        scrap_ratio=scrap_ratio(gq=c.gq, pq=c.pq),
        mtbf_s=mtbf(apt=e.apt, failures=e.failures),
        mttr_s=mttr(adot=e.adot, failures=e.failures),
    )


def report_entry(elements: TimeElements, counts: ProductionCounts) -> dict[str, Any]:
    """Time elements in seconds, quantities and KPIs of one machine or roll-up, as one flat object."""
    e, c = elements, counts
    return {"ct_s": e.ct, "pot_s": e.pot, "pdot_s": e.pdot, "pbt_s": e.pbt, "apt_s": e.apt, "aust_s": e.aust,
            "adet_s": e.adet, "adot_s": e.adot, "offline_s": e.offline, "failures": e.failures,
            "produced": c.pq, "good": c.gq, "pri_pq_s": c.pri_pq, **kpis(e, c).as_dict()}

