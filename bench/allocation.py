"""Allocation of many demands over many suppliers (issue 5): HiGHS against the greedy baseline.

Rows, on the main instance (1,000 demands × 10,000 suppliers) and then on a harder variant of it:

1. The greedy baseline: each demand in arrival order whole to its cheapest option with room left (a
   split demand that fits nowhere whole is filled from its cheapest options) — total cost, time.
2. ``allocate`` (HiGHS, time limit 30 s, gap target 1 %): objective, bound, gap, status, time (model
   building included; wall clock, and this process's CPU time as the machine is shared) — target: gap
   ≤ 1 % within 30 s; the ratio of its cost to greedy's, in the same run. Then how it got there (the
   start, the LP bound, whether branch and cut was needed) and the lateness and transport parts.
3. The variant: a minimum share of 10 % on half the split demands (semi-continuous variables). Not part
   of the target; it shows what minimum shares cost at this size.
4. Small instances (6 demands × 4 suppliers, seeded, whole demands): ``allocate`` with gap 0 against
   the exact optimum by enumerating every assignment (5⁶ = 15,625 per instance) — must be equal.

The instance is synthetic but shaped like a regional sharing-manufacturing batch (seeded RNG, so runs
compare): suppliers in 32 Chinese industrial cities (real approximate coordinates, weighted by how much
small manufacturing each has), each offering 1–3 of 16 processes (DIN 8580 groups) at its own hourly
price, speed and lead time, with spare capacity in hours over the next four weeks (many small workshops,
a few large plants). A demand needs one process; its options are 50–300 of the suppliers offering it
(as the matching layer's hard constraints would leave). The option's size is the hours at that supplier
(its speed); its cost = hours × hourly price + transport (road distance × rate × weight) + a lateness
penalty per day the supplier's lead time + production + transit would miss the due date. Half the
demands (large batches) may split. Left unserved, a demand goes to an outside shop at three times its
median option (its unserved penalty). Capacities are tight: 80 % aggregate utilisation.

Run: ``.venv/bin/python bench/allocation.py [--quick] [--no-variant] [--demands N --suppliers M]
[--time-limit S] [--small N] [--log]`` (about a minute; ``--no-variant`` saves half of it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from commonworks.network.allocation import (
    Instance,
    allocate,
    compile_instance,
    greedy,
    parse_instance,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

SEED = 8580
TIME_LIMIT_S = 30.0
GAP_TARGET = 0.01

# (city, latitude, longitude, weight ~ share of the region's small manufacturers)
CITIES = [
    ("深圳 Shenzhen", 22.54, 114.06, 8),
    ("东莞 Dongguan", 23.02, 113.75, 8),
    ("广州 Guangzhou", 23.13, 113.26, 5),
    ("佛山 Foshan", 23.02, 113.12, 6),
    ("中山 Zhongshan", 22.52, 113.39, 3),
    ("惠州 Huizhou", 23.11, 114.42, 2),
    ("厦门 Xiamen", 24.48, 118.09, 2),
    ("泉州 Quanzhou", 24.87, 118.68, 3),
    ("福州 Fuzhou", 26.07, 119.30, 2),
    ("宁波 Ningbo", 29.87, 121.55, 6),
    ("杭州 Hangzhou", 30.27, 120.16, 4),
    ("温州 Wenzhou", 28.00, 120.67, 4),
    ("台州 Taizhou", 28.66, 121.42, 4),
    ("金华 Jinhua", 29.08, 119.65, 2),
    ("上海 Shanghai", 31.23, 121.47, 5),
    ("苏州 Suzhou", 31.30, 120.58, 7),
    ("无锡 Wuxi", 31.49, 120.31, 4),
    ("常州 Changzhou", 31.81, 119.97, 4),
    ("南京 Nanjing", 32.06, 118.80, 2),
    ("合肥 Hefei", 31.82, 117.23, 3),
    ("芜湖 Wuhu", 31.33, 118.38, 2),
    ("青岛 Qingdao", 36.07, 120.38, 3),
    ("济南 Jinan", 36.65, 117.12, 2),
    ("烟台 Yantai", 37.46, 121.45, 1),
    ("天津 Tianjin", 39.13, 117.20, 3),
    ("沈阳 Shenyang", 41.80, 123.43, 2),
    ("大连 Dalian", 38.91, 121.61, 1),
    ("武汉 Wuhan", 30.59, 114.31, 3),
    ("长沙 Changsha", 28.23, 112.94, 2),
    ("郑州 Zhengzhou", 34.75, 113.63, 2),
    ("成都 Chengdu", 30.57, 104.07, 3),
    ("重庆 Chongqing", 29.56, 106.55, 3),
]
# (process, CNY per machine hour, popularity)
PROCESSES = [
    ("车削 turning", 80, 10),
    ("铣削 milling", 100, 10),
    ("五轴加工 5-axis", 260, 3),
    ("磨削 grinding", 120, 4),
    ("线切割 wire EDM", 90, 3),
    ("激光切割 laser cutting", 150, 6),
    ("冲压 stamping", 180, 5),
    ("折弯 bending", 90, 5),
    ("注塑 injection moulding", 140, 7),
    ("压铸 die casting", 220, 3),
    ("焊接 welding", 70, 6),
    ("喷涂 painting", 60, 4),
    ("电镀 plating", 85, 2),
    ("热处理 heat treatment", 50, 3),
    ("装配 assembly", 45, 5),
    ("3D打印 additive", 180, 2),
]
ROAD_FACTOR = 1.3  # road km per great-circle km
RATE_CNY_PER_T_KM = 0.45  # less-than-truckload freight
TRANSIT_KM_PER_DAY = 500


def make_instance(
    n_demands: int,
    n_suppliers: int,
    seed: int = SEED,
    utilisation: float = 0.8,
    split_share: float = 0.5,
    min_share_share: float = 0.0,
) -> tuple[dict[str, Any], dict[str, float]]:
    """(instance as the JSON file would hold it, facts about it)."""
    rng = np.random.default_rng(seed)
    n_proc = len(PROCESSES)
    lat = np.array([c[1] for c in CITIES])
    lon = np.array([c[2] for c in CITIES])
    city_p = np.array([c[3] for c in CITIES], dtype=float)
    city_p /= city_p.sum()
    proc_price = np.array([p[1] for p in PROCESSES], dtype=float)
    proc_p = np.array([p[2] for p in PROCESSES], dtype=float)
    proc_p /= proc_p.sum()

    # suppliers: where, what, at what price, how fast, how soon, how much spare time
    s_city = rng.choice(len(CITIES), n_suppliers, p=city_p)
    s_lat = lat[s_city] + rng.normal(0, 0.12, n_suppliers)
    s_lon = lon[s_city] + rng.normal(0, 0.12, n_suppliers)
    offers = np.zeros((n_suppliers, n_proc), dtype=bool)
    n_offer = 1 + rng.binomial(2, 0.4, n_suppliers)
    for k in range(3):
        chosen = rng.choice(n_proc, n_suppliers, p=proc_p)
        offers[np.arange(n_suppliers)[n_offer > k], chosen[n_offer > k]] = True
    s_price = np.exp(rng.normal(0, 0.18, n_suppliers))  # × the process's hourly price
    s_speed = np.exp(rng.normal(0, 0.12, n_suppliers))  # hours at this supplier = base hours × speed
    s_lead = np.minimum(rng.exponential(4.0, n_suppliers).round(), 21)  # days before it can start
    s_daily = rng.choice([8.0, 16.0, 22.0], n_suppliers, p=[0.4, 0.45, 0.15])  # hours a day it can run the job
    capacity = np.exp(rng.normal(np.log(15), 1.2, n_suppliers))  # spare hours over four weeks

    # demands: a process, a buyer location, hours, weight, due date, whether and how it may split
    d_proc = rng.choice(n_proc, n_demands, p=proc_p)
    d_city = rng.choice(len(CITIES), n_demands, p=city_p)
    d_lat = lat[d_city] + rng.normal(0, 0.12, n_demands)
    d_lon = lon[d_city] + rng.normal(0, 0.12, n_demands)
    may_split = rng.random(n_demands) < split_share
    hours = np.where(
        may_split, np.exp(rng.normal(np.log(400), 0.6, n_demands)), np.exp(rng.normal(np.log(30), 0.7, n_demands))
    )
    # scale the batch to the wanted aggregate utilisation of the suppliers' spare capacity
    hours *= utilisation * capacity.sum() / hours.sum()
    tonnes = np.exp(rng.normal(np.log(0.6), 1.0, n_demands))
    due = rng.integers(7, 36, n_demands)  # days from now
    min_share = np.where(may_split & (rng.random(n_demands) < min_share_share), 0.1, 0.0)

    by_proc = [np.flatnonzero(offers[:, p]) for p in range(n_proc)]
    suppliers = [{"id": f"S{i:05d}", "capacity": round(float(c), 1)} for i, c in enumerate(capacity)]
    demands: list[dict[str, Any]] = []
    options: list[dict[str, Any]] = []
    for d in range(n_demands):
        pool = by_proc[d_proc[d]]
        k = min(len(pool), int(rng.integers(50, 301)))
        cand = rng.choice(pool, k, replace=False)
        km = ROAD_FACTOR * _haversine_km(d_lat[d], d_lon[d], s_lat[cand], s_lon[cand])
        h = hours[d] * s_speed[cand]
        price = h * proc_price[d_proc[d]] * s_price[cand]
        transport = np.maximum(km * RATE_CNY_PER_T_KM * tonnes[d], 50.0)
        finish = s_lead[cand] + np.ceil(h / s_daily[cand]) + np.ceil(km / TRANSIT_KM_PER_DAY)
        per_day = 0.02 * hours[d] * proc_price[d_proc[d]]  # 2 % of the job's value per day late
        lateness = np.maximum(finish - due[d], 0) * per_day
        # not placed on the platform, the job goes to an outside shop at three times its median option
        demand: dict[str, Any] = {
            "id": f"D{d:04d}",
            "size": round(float(hours[d]), 2),
            "unserved_penalty": round(3 * float(np.median(price + transport + lateness)), 2),
        }
        if may_split[d]:
            demand["may_split"] = True
            if min_share[d]:
                demand["min_share"] = float(min_share[d])
        demands.append(demand)
        for j, s in enumerate(cand.tolist()):
            t, late = round(float(transport[j]), 2), round(float(lateness[j]), 2)
            options.append(
                {
                    "demand": demand["id"],
                    "supplier": suppliers[s]["id"],
                    "cost": round(float(price[j]), 2) + t + late,
                    "size": round(float(h[j]), 2),
                    "lateness": late,
                    "transport": t,
                }
            )
    facts = {
        "demands": n_demands,
        "suppliers": n_suppliers,
        "options": len(options),
        "split": int(may_split.sum()),
        "min_share": int((min_share > 0).sum()),
        "utilisation": float(hours.sum() / capacity.sum()),
    }
    return {"suppliers": suppliers, "demands": demands, "options": options}, facts


def _haversine_km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


# ---------------------------------------------------------------- small instances against enumeration


def small_instance(rng: np.random.Generator, n_demands: int = 6, n_suppliers: int = 4) -> dict[str, Any]:
    """Whole demands, 2–4 options each, capacities for about two demands a supplier."""
    suppliers = [{"id": f"S{s}", "capacity": float(rng.integers(4, 16))} for s in range(n_suppliers)]
    demands = [{"id": f"D{d}", "size": float(rng.integers(2, 9))} for d in range(n_demands)]
    options = []
    for d in range(n_demands):
        for s in sorted(rng.choice(n_suppliers, int(rng.integers(2, n_suppliers + 1)), replace=False).tolist()):
            options.append(
                {
                    "demand": f"D{d}",
                    "supplier": f"S{s}",
                    "cost": float(rng.integers(5, 60)),
                    "size": float(rng.integers(2, 9)),
                }
            )
    return {"suppliers": suppliers, "demands": demands, "options": options}


def brute_force(instance: Instance) -> float:
    """The exact optimum of a whole-demand instance by trying every assignment (or unserved) of every demand."""
    problem = compile_instance(instance)
    choices = [[None, *np.flatnonzero(problem.od == d).tolist()] for d in range(problem.n_demands)]
    best = float("inf")
    for combo in itertools.product(*choices):
        used = np.zeros(len(problem.capacity))
        total = 0.0
        for d, j in enumerate(combo):
            if j is None:
                total += problem.penalty[d]
            else:
                used[problem.os[j]] += problem.size[j]
                total += problem.cost[j]
        if total < best and (used <= problem.capacity + 1e-9).all():
            best = total
    return best


# ---------------------------------------------------------------- main


def solve_row(
    label: str, data: dict[str, Any], facts: dict[str, float], time_limit: float, log: bool
) -> tuple[list[list[str]], dict[str, Any], dict[str, Any]]:
    """Greedy and HiGHS on one instance: table rows, and both documents."""
    t = time.perf_counter()
    instance = parse_instance(data)
    checked = time.perf_counter() - t
    usable = int((compile_instance(instance).upper > 0).sum())
    print(
        f"{label}: {facts['demands']:,} demands × {facts['suppliers']:,} suppliers, {facts['options']:,} options "
        f"({facts['options'] / facts['demands']:.0f} a demand, {usable:,} usable: the rest cannot fit their "
        f"supplier), {facts['split']} may split ({facts['min_share']} with a minimum share), aggregate "
        f"utilisation {facts['utilisation']:.0%}; instance checked in {checked:.1f} s",
        flush=True,
    )
    base = greedy(instance)
    cpu = time.process_time()
    best = allocate(instance, time_limit=time_limit, gap=GAP_TARGET, log=log)
    best["cpu_s"] = time.process_time() - cpu
    solver = best["solver"]
    ran = (
        "MIP not needed: the LP bound proves the start"
        if solver["nodes"] == 0 and solver["time_s"] == 0
        else f"branch and cut {solver['time_s']:.1f} s, {solver['nodes']} nodes"
    )
    rows = [
        [
            f"{label}: greedy baseline (arrival order, cheapest with room)",
            _money(base["objective"]),
            "–",
            "–",
            f"{base['time_s']:.2f}",
            f"{base['served']}/{base['demands']} served",
            "1",
        ],
        [
            f"{label}: HiGHS {solver['version']} (limit {time_limit:.0f} s, gap target {GAP_TARGET:.0%})",
            _money(best["objective"]),
            _money(best["bound"]),
            f"{best['gap']:.3%}",
            f"{best['time_s']:.2f} (CPU {best['cpu_s']:.2f})",
            f"{best['status']}; {best['served']}/{best['demands']} served",
            f"{best['objective'] / base['objective']:.4f}",
        ],
        [
            f"{label}:   start: {solver['start']} ({_money(solver['start_objective'])}); LP bound "
            f"{_money(solver['lp_bound'])}",
            "",
            "",
            "",
            "",
            ran,
            "",
        ],
        [
            f"{label}:   lateness / transport, HiGHS vs greedy",
            f"{_money(best['breakdown']['lateness'])} / {_money(best['breakdown']['transport'])}",
            "",
            "",
            "",
            f"greedy {_money(base['breakdown']['lateness'])} / {_money(base['breakdown']['transport'])}",
            "",
        ],
    ]
    return rows, base, best


def _money(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 demands × 1,000 suppliers, 5 small instances")
    parser.add_argument("--demands", type=int)
    parser.add_argument("--suppliers", type=int)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S)
    parser.add_argument("--small", type=int, help="small instances to check against enumeration (default 20)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--no-variant", action="store_true", help="skip the harder variant (a minimum share on half the split demands)"
    )
    parser.add_argument("--log", action="store_true", help="show HiGHS's log")
    args = parser.parse_args()
    n_d = args.demands or (100 if args.quick else 1000)
    n_s = args.suppliers or (1000 if args.quick else 10_000)
    n_small = args.small or (5 if args.quick else 20)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (times are wall clock; CPU = this process)")
    data, facts = make_instance(n_d, n_s, args.seed)
    rows, base, best = solve_row("main", data, facts, args.time_limit, args.log)
    if not args.no_variant:
        data, facts = make_instance(n_d, n_s, args.seed, min_share_share=0.5)
        more, _, hard = solve_row("min-share variant", data, facts, args.time_limit, args.log)
        rows += more
    del data

    rng = np.random.default_rng(args.seed + 1)
    equal, worst, t = 0, 0.0, time.perf_counter()
    for _ in range(n_small):
        small = parse_instance(small_instance(rng))
        exact = brute_force(small)
        got = allocate(small, gap=0.0)["objective"]
        worst = max(worst, abs(got - exact) / max(1.0, abs(exact)))
        equal += abs(got - exact) <= 1e-6 * max(1.0, abs(exact))
    rows.append(
        [
            "small instances (6 demands × 4 suppliers, seeded) vs enumerating all 5^6 assignments",
            f"{equal}/{n_small} equal",
            "",
            f"worst {worst:.1e}",
            f"{time.perf_counter() - t:.2f}",
            "",
            "",
        ]
    )

    table(
        f"Allocation, {n_d:,} demands × {n_s:,} suppliers (cost in CNY; ratio = cost / greedy's cost, same instance)",
        ["what", "objective", "bound", "gap", "time s", "note", "ratio"],
        rows,
    )
    result = {
        "alloc_gap": f"{best['gap']:.4f}",
        "alloc_time_s": f"{best['time_s']:.1f}",
        "alloc_cpu_s": f"{best['cpu_s']:.1f}",
        "alloc_status": best["status"],
        "alloc_vs_greedy": f"{best['objective'] / base['objective']:.4f}",
        "greedy_time_s": f"{base['time_s']:.2f}",
        "small_equal_exact": str(equal == n_small).lower(),
        "target_met": str(best["gap"] <= GAP_TARGET and best["time_s"] <= args.time_limit).lower(),
    }
    if not args.no_variant:
        result["min_share_gap"] = f"{hard['gap']:.4f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
