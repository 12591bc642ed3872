"""Hourly part counts and the planned run time of what was made (pure: :mod:`commonworks.operations.counts`)."""

from __future__ import annotations

import doctest

import numpy as np

from commonworks.operations import counts
from commonworks.operations.counts import HourCount, cycles_at, hourly_counts, hourly_increments

M = 60_000
H = 3_600_000


def test_the_module_examples_hold() -> None:
    result = doctest.testmod(counts)
    assert result.attempted >= 3 and result.failed == 0


def test_two_programs_across_an_hour_boundary_and_a_reset() -> None:
    """Program A (ideal 60 s) from 00:30, B (ideal 90 s) loaded at 00:57. The counter reads 40 at 00:45, 52 at
    00:55 (12 A parts: 720 s), 55 at 01:05 (3 B parts: 270 s), is reset and reads 4 at 01:15 (4 B parts: 360 s),
    then 10 at 01:40 (6 B parts: 540 s).

    Hour 0: 12 parts, 12 × 60 = 720 s; hour 1: 3 + 4 + 6 = 13 parts, 13 × 90 = 1,170 s — all with their own cycle.
    """
    ts = np.array([45 * M, 55 * M, 65 * M, 75 * M, 100 * M])
    cycle = cycles_at(ts, np.array([30 * M, 57 * M]), ["A", "B"], {"A": 60.0, "B": 90.0})
    assert np.array_equal(cycle, [60.0, 60.0, 90.0, 90.0, 90.0])
    result = hourly_counts(ts, np.array([40.0, 52.0, 55.0, 4.0, 10.0]), 0, cycle)
    assert result == {0: HourCount(12, 720.0, 12), H: HourCount(13, 1_170.0, 13)}
    # the parts alone are what they always were
    assert hourly_increments(ts, np.array([40.0, 52.0, 55.0, 4.0, 10.0]), 0) == {0: 12, H: 13}


def test_parts_of_an_unknown_part_are_counted_but_not_valued() -> None:
    """Readings before any part is known, and a program without an ideal cycle time: parts, no planned time."""
    ts = np.array([0, 10 * M, 20 * M, 30 * M])
    cycle = cycles_at(ts, np.array([15 * M, 25 * M]), ["A", "X"], {"A": 60.0})
    assert np.isnan(cycle[[0, 1, 3]]).all() and cycle[2] == 60.0
    assert hourly_counts(ts, np.array([0.0, 5.0, 8.0, 10.0]), 0, cycle) == {0: HourCount(10, 180.0, 3)}
    assert hourly_counts(ts, np.array([0.0, 5.0, 8.0, 10.0]), 0) == {0: HourCount(10, 0.0, 0)}  # no part tag


def test_a_numeric_part_tag_matches_its_key_and_a_start_drops_older_increments() -> None:
    """A mould number register reads 310.0; the ideal cycle times are keyed "310". Increments before the start
    (the caller's recount window) are left out."""
    ts = np.array([0, 30 * M, 70 * M])
    cycle = cycles_at(ts, np.array([-M]), [310.0], {"310": 6.5})
    assert hourly_counts(ts, np.array([100.0, 140.0, 180.0]), H, cycle) == {H: HourCount(40, 260.0, 40)}
    assert hourly_counts(ts[:1], np.array([100.0]), 0, cycle[:1]) == {}
    assert np.isnan(cycles_at(ts, np.array([], dtype=np.int64), [], {"310": 6.5})).all()
