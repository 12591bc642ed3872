"""ISO 22400-2 KPI formulas: hand-computed answers, roll-ups from sums, and the docstring examples.

The running example (from the issue): an 8 h shift with a 30 min break, 45 min down in two
failures, 20 min setup, 1,000 parts at an ideal 20 s, 960 good, within one calendar day:

    POT  = 8 h                          = 28,800 s
    PDOT = 30 min break                 =  1,800 s
    PBT  = POT − PDOT                   = 27,000 s
    ADOT = 45 min, AUST = 20 min        =  2,700 s, 1,200 s
    APT  = 27,000 − 2,700 − 1,200       = 23,100 s
    ΣPRI·PQ = 1,000 × 20 s              = 20,000 s
    CT   = one day                      = 86,400 s

Dividing two exactly representable integers gives the float nearest to the true ratio, so
``23_100 / 27_000 == 77 / 90`` exactly: the asserts compare exact values.
"""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from commonworks.operations import intervals, kpi_files, timemodel
from commonworks.operations import kpi as kpi_module
from commonworks.operations.kpi import (
    ProductionCounts,
    TimeElements,
    availability,
    effectiveness,
    fully_productive_time,
    kpis,
    mtbf,
    mttr,
    oee,
    quality_ratio,
    scrap_ratio,
    teep,
)

SHIFT = TimeElements(ct=86_400, pot=28_800, pdot=1_800, apt=23_100, aust=1_200, adot=2_700, failures=2)
PARTS = ProductionCounts(pq=1_000, gq=960, pri_pq=20_000.0)


def test_availability_is_apt_over_pbt() -> None:
    """A = APT / PBT = 23,100 / 27,000 = 77/90 ≈ 0.8556."""
    assert SHIFT.pbt == 27_000
    assert availability(apt=23_100, pbt=27_000) == 77 / 90


def test_effectiveness_is_ideal_time_of_output_over_apt() -> None:
    """E = PRI × PQ / APT = 20 s × 1,000 / 23,100 s = 200/231 ≈ 0.8658."""
    assert effectiveness(pri_pq=20 * 1_000, apt=23_100) == 200 / 231


def test_quality_ratio_and_scrap_ratio() -> None:
    """QR = GQ / PQ = 960 / 1,000 = 0.96; scrap = (1,000 − 960) / 1,000 = 0.04."""
    assert quality_ratio(gq=960, pq=1_000) == 0.96
    assert scrap_ratio(gq=960, pq=1_000) == 0.04


def test_oee_is_availability_times_effectiveness_times_quality() -> None:
    """OEE = A × E × QR = 77/90 × 200/231 × 24/25 = 32/45 ≈ 0.7111.

    APT cancels: OEE = ΣPRI·PQ × QR / PBT = 20,000 × 0.96 / 27,000 = 19,200 / 27,000 = 32/45.
    """
    assert fully_productive_time(pri_pq=20_000, gq=960, pq=1_000) == 19_200
    assert oee(pri_pq=20_000, gq=960, pq=1_000, pbt=27_000) == 32 / 45
    assert oee(pri_pq=20_000, gq=960, pq=1_000, pbt=27_000) == pytest.approx(77 / 90 * 200 / 231 * 0.96, rel=1e-15)


def test_teep_relates_the_good_ideal_time_to_the_whole_calendar() -> None:
    """TEEP = OEE × PBT / CT = 32/45 × 27,000 / 86,400 = 19,200 / 86,400 = 2/9 ≈ 0.2222."""
    assert teep(pri_pq=20_000, gq=960, pq=1_000, ct=86_400) == 2 / 9


def test_mtbf_and_mttr_divide_by_failure_events() -> None:
    """MTBF = APT / FE = 23,100 / 2 = 11,550 s; MTTR = ADOT / FE = 2,700 / 2 = 1,350 s."""
    assert mtbf(apt=23_100, failures=2) == 11_550
    assert mttr(adot=2_700, failures=2) == 1_350


def test_kpis_of_the_shift() -> None:
    """All of the above at once, from the elements and counts."""
    k = kpis(SHIFT, PARTS)
    assert (k.availability, k.effectiveness, k.quality, k.oee, k.teep) == (77 / 90, 200 / 231, 0.96, 32 / 45, 2 / 9)
    assert (k.scrap_ratio, k.mtbf_s, k.mttr_s) == (0.04, 11_550, 1_350)


def test_zero_denominators_give_none_not_nan() -> None:
    """No planned time, no production, no failures: undefined ratios are None; OEE of a planned
    shift that made nothing is 0 (its numerator is 0 whatever E and QR would be)."""
    idle_day = kpis(TimeElements(ct=86_400, pot=28_800, adet=28_800), ProductionCounts())
    assert idle_day.availability == 0
    assert (idle_day.effectiveness, idle_day.quality, idle_day.scrap_ratio) == (None, None, None)
    assert (idle_day.oee, idle_day.teep) == (0, 0)
    assert (idle_day.mtbf_s, idle_day.mttr_s) == (None, None)
    nothing = kpis(TimeElements(), ProductionCounts())
    assert all(v is None for v in nothing.as_dict().values())


def test_rollup_of_two_machines_sums_elements_instead_of_averaging_oee() -> None:
    """Machine A is the shift above: OEE = 32/45 ≈ 0.7111.
    Machine B: a 1 h shift (PBT = 3,600 s), APT = 1,800 s, 100 parts at 9 s (ΣPRI·PQ = 900 s), 96 good:
        A = 0.5, E = 900/1,800 = 0.5, QR = 0.96, OEE = 0.24.
    The mean of the OEEs is (32/45 + 0.24) / 2 ≈ 0.4756 — not the line's OEE. From the sums:
        PBT = 30,600 s, APT = 24,900 s, ΣPRI·PQ = 20,900 s, PQ = 1,100, GQ = 1,056 (QR = 0.96)
        OEE = 20,900 × 0.96 / 30,600 = 20,064 / 30,600 = 836/1,275 ≈ 0.6557
        A = 24,900 / 30,600 = 83/102, E = 20,900 / 24,900 = 209/249, MTBF = 24,900 / 2 = 12,450 s.
    """
    b_elements = TimeElements(ct=86_400, pot=3_600, apt=1_800, adet=1_800)
    b_counts = ProductionCounts(pq=100, gq=96, pri_pq=900.0)
    assert kpis(b_elements, b_counts).oee == 0.24

    total = kpis(SHIFT + b_elements, PARTS + b_counts)
    assert total.oee == 836 / 1_275
    assert total.oee != pytest.approx((32 / 45 + 0.24) / 2)
    assert (total.availability, total.effectiveness, total.quality) == (83 / 102, 209 / 249, 0.96)
    assert total.mtbf_s == 12_450
    assert sum([SHIFT, b_elements], TimeElements()) == SHIFT + b_elements


@pytest.mark.parametrize("module", [kpi_module, timemodel, intervals, kpi_files], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
