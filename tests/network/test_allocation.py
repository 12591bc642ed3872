"""Allocation of many demands over many suppliers: hand-computed instances, and the exact optimum
found by trying every assignment of small random instances."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from commonworks.network.allocation import InstanceError, allocate, greedy, parse_instance


def instance(
    suppliers: dict[str, float],
    demands: list[dict[str, Any]],
    options: list[tuple[str, str, float] | dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "suppliers": [{"id": s, "capacity": c} for s, c in suppliers.items()],
        "demands": demands,
        "options": [o if isinstance(o, dict) else {"demand": o[0], "supplier": o[1], "cost": o[2]} for o in options],
        **extra,
    }


def placed(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{demand: {supplier: share}}"""
    out: dict[str, dict[str, float]] = {}
    for row in doc["assignment"]:
        out.setdefault(row["demand"], {})[row["supplier"]] = row["share"]
    return out


# Suppliers A and B have 10 hours each; demands arrive D1 (5 h), D2 (10 h), D3 (5 h).
THREE = instance(
    {"A": 10, "B": 10},
    [{"id": "D1", "size": 5}, {"id": "D2", "size": 10}, {"id": "D3", "size": 5}],
    [("D1", "A", 4), ("D1", "B", 6), ("D2", "A", 10), ("D2", "B", 30), ("D3", "A", 8), ("D3", "B", 9)],
)


def test_the_optimum_beats_greedy_on_three_demands() -> None:
    """Greedy, in arrival order: D1 → A (4; A has 5 h left), D2 does not fit on A → B (30), D3 → A (8): 42.
    Optimal: D2 → A (10), D1 → B (6), D3 → B (9): 25 — and HiGHS's bound proves it (gap 0)."""
    base = greedy(THREE)
    assert base["objective"] == 42
    assert placed(base) == {"D1": {"A": 1.0}, "D2": {"B": 1.0}, "D3": {"A": 1.0}}
    assert base["status"] == "heuristic" and base["bound"] is None

    best = allocate(THREE)
    assert best["objective"] == 25
    assert best["bound"] == pytest.approx(25)
    assert best["gap"] == pytest.approx(0, abs=1e-9)
    assert best["status"] == "optimal"
    assert placed(best) == {"D1": {"B": 1.0}, "D2": {"A": 1.0}, "D3": {"B": 1.0}}
    assert best["served"] == best["demands"] == 3 and best["unserved"] == []
    assert best["loads"] == [
        {"supplier": "A", "capacity": 10, "used": 10},
        {"supplier": "B", "capacity": 10, "used": 10},
    ]
    assert [row["cost"] for row in best["assignment"]] == [6, 10, 9]


def split_instance(**demand: Any) -> dict[str, Any]:
    """D (10 h) on A (6 h free, 100 for all of D) and B (6 h free, 200 for all of D)."""
    return instance(
        {"A": 6, "B": 6},
        [{"id": "D", "size": 10, **demand}],
        [{"demand": "D", "supplier": "A", "cost": 100, "lateness": 10, "transport": 20}, ("D", "B", 200)],
    )


def test_a_demand_that_may_split_fills_the_cheaper_supplier_first() -> None:
    """A takes 6 h = 60 % (cost 60, lateness 6, transport 12), B the other 40 % (cost 80): 140."""
    doc = allocate(split_instance(may_split=True))
    assert doc["status"] == "optimal"
    assert doc["objective"] == pytest.approx(140)
    rows = {row["supplier"]: row for row in doc["assignment"]}
    assert rows["A"]["share"] == pytest.approx(0.6) and rows["B"]["share"] == pytest.approx(0.4)
    assert (rows["A"]["cost"], rows["A"]["size"]) == (pytest.approx(60), pytest.approx(6))
    assert (rows["B"]["cost"], rows["B"]["size"]) == (pytest.approx(80), pytest.approx(4))
    assert doc["breakdown"] == {
        "cost": pytest.approx(140),
        "lateness": pytest.approx(6),
        "transport": pytest.approx(12),
        "unserved_penalty": 0,
    }


def test_a_demand_that_may_not_split_and_fits_nowhere_is_unserved() -> None:
    """The default penalty is 1 + the dearest option of every demand: 1 + 200."""
    doc = allocate(split_instance())
    assert doc["assignment"] == []
    assert doc["unserved"] == [{"demand": "D", "reason": "too_large", "penalty": 201}]
    assert doc["objective"] == 201 and doc["breakdown"]["unserved_penalty"] == 201
    assert doc["served"] == 0


def test_a_minimum_share_limits_how_a_demand_splits() -> None:
    """min_share 0.5: each part at least 5 h, so A takes 50 % (50) and B 50 % (100): 150.
    min_share 0.7: a part needs 7 h but no supplier has more than 6 h: unserved."""
    doc = allocate(split_instance(may_split=True, min_share=0.5))
    assert doc["objective"] == pytest.approx(150)
    assert placed(doc) == {"D": {"A": pytest.approx(0.5), "B": pytest.approx(0.5)}}
    doc = allocate(split_instance(may_split=True, min_share=0.7))
    assert doc["unserved"] == [{"demand": "D", "reason": "too_large", "penalty": 201}]


def test_a_split_demand_is_served_whole_or_not_at_all() -> None:
    """Only A (6 h) for a 10 h demand: 60 % cannot be served alone, so none of it is."""
    doc = allocate(instance({"A": 6}, [{"id": "D", "size": 10, "may_split": True}], [("D", "A", 100)]))
    assert doc["assignment"] == [] and doc["unserved"][0]["reason"] == "too_large"


def test_the_lp_bound_knows_a_split_demand_is_served_whole_or_not_at_all() -> None:
    """D (10 h, penalty 1,000) may split over A (6 h free) and B (3 h free), 100 for all of D at either.
    The plain LP serves 90 % and pays 10 % of the penalty: 90 + 100 = 190. With x_ds ≤ ū_ds·(1 − u_d)
    (ū = 0.6 and 0.3) the served share 1 − u ≤ 0.9·(1 − u) forces u = 1: the bound is the optimum, 1,000."""
    doc = allocate(
        instance(
            {"A": 6, "B": 3},
            [{"id": "D", "size": 10, "may_split": True, "unserved_penalty": 1000}],
            [("D", "A", 100), ("D", "B", 100)],
        ),
        gap=0,
    )
    assert doc["solver"]["lp_bound"] == pytest.approx(1000)
    assert (doc["objective"], doc["status"]) == (1000, "optimal")


def test_the_size_on_a_supplier_can_differ_from_the_demand_size() -> None:
    """D is 8 h, but the slow supplier A needs 12 h for it and has 10: it goes to the dearer B."""
    doc = allocate(
        instance(
            {"A": 10, "B": 10},
            [{"id": "D", "size": 8}],
            [{"demand": "D", "supplier": "A", "cost": 5, "size": 12}, ("D", "B", 9)],
        )
    )
    assert placed(doc) == {"D": {"B": 1.0}}
    assert doc["assignment"][0]["size"] == 8


def test_when_capacity_runs_out_the_cheapest_demands_to_serve_are_served() -> None:
    """One supplier with 10 h; D1 and D2 need 8 h each (cost 5 and 7); penalty 1 + 5 + 7 = 13 each.
    Serving D1: 5 + 13 = 18 < serving D2: 7 + 13 = 20. D2's reason: capacity went to D1."""
    doc = allocate(
        instance({"A": 10}, [{"id": "D1", "size": 8}, {"id": "D2", "size": 8}], [("D1", "A", 5), ("D2", "A", 7)])
    )
    assert placed(doc) == {"D1": {"A": 1.0}}
    assert doc["unserved"] == [{"demand": "D2", "reason": "capacity_exhausted", "penalty": 13}]
    assert doc["objective"] == 18


def test_the_default_penalty_serves_as_many_demands_as_capacity_allows() -> None:
    """10 h: D1 (10 h, cost 1) or both D2 and D3 (5 h each, cost 100 each). Penalty 1 + 1 + 100 + 100 = 202:
    D2 + D3 cost 200 + 202 = 402 < D1 costs 1 + 2 × 202 = 405, so two demands are served, not one."""
    doc = allocate(
        instance(
            {"A": 10},
            [{"id": "D1", "size": 10}, {"id": "D2", "size": 5}, {"id": "D3", "size": 5}],
            [("D1", "A", 1), ("D2", "A", 100), ("D3", "A", 100)],
        )
    )
    assert placed(doc) == {"D2": {"A": 1.0}, "D3": {"A": 1.0}}
    assert doc["objective"] == 402


def test_a_low_penalty_leaves_a_demand_unserved_when_that_is_cheaper() -> None:
    """D1's own penalty 3 is less than its cost 5, although A has room: unserved; D2 (instance penalty 50)
    is served for 4. Objective 3 + 4 = 7."""
    doc = allocate(
        instance(
            {"A": 10},
            [{"id": "D1", "size": 5, "unserved_penalty": 3}, {"id": "D2", "size": 5}],
            [("D1", "A", 5), ("D2", "A", 4)],
            unserved_penalty=50,
        )
    )
    assert placed(doc) == {"D2": {"A": 1.0}}
    assert doc["unserved"] == [{"demand": "D1", "reason": "cheaper_unserved", "penalty": 3}]
    assert doc["objective"] == 7


def test_a_demand_without_options_is_unserved_and_counted_in_objective_and_bound() -> None:
    doc = allocate(
        instance(
            {"A": 10}, [{"id": "D1", "size": 5}, {"id": "D2", "size": 5, "unserved_penalty": 40}], [("D1", "A", 5)]
        )
    )
    assert doc["unserved"] == [{"demand": "D2", "reason": "no_option", "penalty": 40}]
    assert doc["objective"] == 45 and doc["bound"] == pytest.approx(45)


def test_an_empty_instance() -> None:
    doc = allocate({"suppliers": [], "demands": [], "options": []})
    assert (doc["status"], doc["objective"], doc["bound"], doc["gap"]) == ("optimal", 0, 0, 0)
    assert doc["assignment"] == doc["unserved"] == doc["loads"] == []


def test_suppliers_without_capacity_serve_nothing() -> None:
    doc = allocate(instance({"A": 0}, [{"id": "D", "size": 5, "may_split": True}], [("D", "A", 5)]))
    assert doc["assignment"] == [] and doc["unserved"][0]["reason"] == "too_large"


# ---------------------------------------------------------------- against enumeration


def random_instance(rng: random.Random, n_demands: int = 6, n_suppliers: int = 4) -> dict[str, Any]:
    options = []
    for d in range(n_demands):
        for s in sorted(rng.sample(range(n_suppliers), rng.randint(1, n_suppliers))):
            options.append(
                {"demand": f"D{d}", "supplier": f"S{s}", "cost": rng.randint(5, 60), "size": rng.randint(2, 9)}
            )
    demands = [{"id": f"D{d}", "size": rng.randint(2, 9)} for d in range(n_demands)]
    if rng.random() < 0.5:  # sometimes a penalty low enough to matter
        demands[0]["unserved_penalty"] = rng.randint(10, 40)
    return {
        "suppliers": [{"id": f"S{s}", "capacity": rng.randint(3, 15)} for s in range(n_suppliers)],
        "demands": demands,
        "options": options,
    }


def enumerate_optimum(data: dict[str, Any]) -> float:
    """Every demand at each of its options or unserved: 5⁶ assignments at most; the cheapest that fits."""
    inst = parse_instance(data)
    default = 1 + sum(max(o.cost for o in inst.options if o.demand == d.id) for d in inst.demands)
    capacity = {s.id: s.capacity for s in inst.suppliers}
    choices = [[None, *[o for o in inst.options if o.demand == d.id]] for d in inst.demands]
    best = float("inf")
    for combo in itertools.product(*choices):
        used = dict.fromkeys(capacity, 0.0)
        total = 0.0
        for d, o in zip(inst.demands, combo, strict=True):
            if o is None:
                total += d.unserved_penalty if d.unserved_penalty is not None else default
            else:
                used[o.supplier] += o.size if o.size is not None else d.size
                total += o.cost
        if total < best and all(used[s] <= capacity[s] for s in capacity):
            best = total
    return best


@pytest.mark.parametrize("seed", range(25))
def test_small_random_instances_reach_the_exact_optimum(seed: int) -> None:
    data = random_instance(random.Random(seed))
    exact = enumerate_optimum(data)
    doc = allocate(data, gap=0)
    assert doc["objective"] == pytest.approx(exact)
    assert doc["status"] == "optimal"
    # the answer is what it claims: capacities hold, the objective adds up
    capacity = {s["id"]: s["capacity"] for s in data["suppliers"]}
    for load in doc["loads"]:
        assert load["used"] <= capacity[load["supplier"]] + 1e-9
    assert sum(r["cost"] for r in doc["assignment"]) + sum(u["penalty"] for u in doc["unserved"]) == pytest.approx(
        doc["objective"]
    )
    assert doc["served"] + len(doc["unserved"]) == 6
    assert greedy(data)["objective"] >= doc["objective"] - 1e-9


def test_a_time_limit_too_short_to_solve_still_returns_a_feasible_allocation() -> None:
    rng = random.Random(7)
    data = random_instance(rng, n_demands=40, n_suppliers=25)
    doc = allocate(data, time_limit=1e-3)
    assert doc["objective"] is not None and doc["status"] in {"time_limit", "gap_reached", "optimal"}
    capacity = {s["id"]: s["capacity"] for s in data["suppliers"]}
    assert all(load["used"] <= capacity[load["supplier"]] + 1e-9 for load in doc["loads"])
    assert doc["objective"] <= greedy(data)["objective"] + 1e-9


def test_the_gap_is_relative_to_the_objective() -> None:
    data = random_instance(random.Random(3), n_demands=60, n_suppliers=30)
    doc = allocate(data, gap=0.05)
    assert doc["status"] in {"optimal", "gap_reached"}
    assert doc["bound"] <= doc["objective"]
    assert doc["gap"] == pytest.approx((doc["objective"] - doc["bound"]) / doc["objective"])
    assert doc["gap"] <= 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"time_limit": 0}, "time_limit"), ({"gap": 1.0}, "gap"), ({"gap": -0.1}, "gap")]
)
def test_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        allocate(THREE, **kwargs)


# ---------------------------------------------------------------- bad instances


def edited(change: Any) -> dict[str, Any]:
    data = {
        "suppliers": [{"id": "A", "capacity": 10}, {"id": "B", "capacity": 10}],
        "demands": [{"id": "D1", "size": 5}, {"id": "D2", "size": 10, "may_split": True}],
        "options": [{"demand": "D1", "supplier": "A", "cost": 4}, {"demand": "D2", "supplier": "B", "cost": 30}],
    }
    change(data)
    return data


BAD = [
    (lambda d: d["options"][1].update(supplier="S9"), "options[1].supplier: unknown supplier 'S9'"),
    (lambda d: d["options"][0].update(demand="D7"), "options[0].demand: unknown demand 'D7'"),
    (
        lambda d: d["suppliers"].append({"id": "A", "capacity": 3}),
        "suppliers[2].id: duplicate supplier id 'A' (also suppliers[0])",
    ),
    (
        lambda d: d["demands"].append({"id": "D1", "size": 3}),
        "demands[2].id: duplicate demand id 'D1' (also demands[0])",
    ),
    (
        lambda d: d["suppliers"][1].update(capacity=-1),
        "suppliers[1].capacity: Input should be greater than or equal to 0",
    ),
    (lambda d: d["demands"][0].update(size=0), "demands[0].size: Input should be greater than 0"),
    (lambda d: d["options"][1].pop("cost"), "options[1].cost: Field required"),
    (lambda d: d["options"][1].update(cost="cheap"), "options[1].cost: Input should be a valid number"),
    (lambda d: d["demands"][0].update(maysplit=True), "demands[0].maysplit: unknown field"),
    (
        lambda d: d["options"].append({"demand": "D1", "supplier": "A", "cost": 5}),
        "options[2]: a second option for demand 'D1' at supplier 'A' (the first is options[0])",
    ),
    (
        lambda d: d["options"][0].update(lateness=3, transport=2),
        "options[0]: lateness + transport (5) exceed cost (4); cost is the total",
    ),
    (lambda d: d["demands"][0].update(min_share=0.2), "demands[0].min_share: only for a demand that may split"),
    (lambda d: d["demands"][1].update(min_share=1.5), "demands[1].min_share: Input should be less than or equal to 1"),
    (lambda d: d.pop("options"), "options: Field required"),
    (lambda d: d["suppliers"][0].update(id=" "), "suppliers[0].id: String should have at least 1 character"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(":")[0] + "-" + m[-20:] for _, m in BAD])
def test_bad_instances_name_the_json_path(change: Any, message: str) -> None:
    with pytest.raises(InstanceError) as caught:
        parse_instance(edited(change))
    assert str(caught.value).startswith(message)


def test_not_json() -> None:
    with pytest.raises(InstanceError, match=r"^not JSON: .*line 1 column"):
        parse_instance(b'{"suppliers": [')
    with pytest.raises(InstanceError, match=r"^top level: Input should be an object"):
        parse_instance(b"[]")
