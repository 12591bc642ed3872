"""Optimal allocation of many demands over many suppliers: a mixed-integer program solved by HiGHS.

Pure: plain data in (an :class:`Instance`, or the same as a dict / JSON text), plain data out
(a dict ready for JSON). The network layer prices each (demand, supplier) option; this module
only chooses.

The instance
============

``suppliers``  ``{id, capacity}`` — capacity in any unit (hours here), ≥ 0.
``demands``    ``{id, size, may_split=false, min_share?, unserved_penalty?}`` — ``min_share`` (only
               where ``may_split``) is the smallest share of the demand one supplier may take.
``options``    ``{demand, supplier, cost, size?, lateness=0, transport=0}`` — ``cost`` is the whole
               cost of serving *all* of the demand at that supplier (price + lateness penalty +
               transport); ``lateness`` and ``transport`` are the parts of it that are reported in the
               breakdown (they never exceed ``cost``). ``size`` is the capacity the whole demand uses at
               that supplier (default: the demand's ``size``; suppliers differ in speed).
``unserved_penalty`` (instance-wide, optional) — see below.

The model
=========

One variable per option, x_ds = the share of demand d served by supplier s, and one per demand,
u_d = 1 when d is left unserved::

    minimise    Σ_ds c_ds·x_ds + Σ_d P_d·u_d
    subject to  Σ_s x_ds + u_d = 1                 for every demand d   (served once, or not at all)
                Σ_d a_ds·x_ds ≤ capacity_s         for every supplier s
                x_ds ∈ {0, 1}                      if d may not split
                x_ds ∈ [0, ū_ds]                   if d may split, ū_ds = min(1, capacity_s / a_ds)
                x_ds ∈ {0} ∪ [m_d, ū_ds]           if d may split with min_share m_d (semi-continuous)
                u_d ∈ {0, 1}                       (a split demand is served whole or not at all)

plus, for a split demand, the valid inequalities x_ds ≤ ū_ds·(1 − u_d) where ū_ds < 1 (below).
No big-M constraints: the minimum share is a semi-continuous variable, which HiGHS handles
itself. Reductions before the solver sees the model: an option that cannot fit even on an
empty supplier (a_ds > capacity_s for a whole demand; ū_ds < m_d for a split one) is dropped; a
demand left with no option is unserved outright (a constant, not a variable); a supplier whose
options could never fill it gets no capacity row.

How it is solved (measured on ``bench/allocation.py``, 1,000 demands × 10,000 suppliers, ~120k
usable options, where plain HiGHS does not reach a 1 % gap in 30 s: its root heuristics found
1.2 % after 11 s and nothing better for a minute; its own sub-MIP and cut rounds take the time):

1. The LP relaxation. Its bound is weak where it serves a split demand in part (0 < u_d < 1, which
   the model forbids), so those demands get the linking rows x_ds ≤ ū_ds·(1 − u_d) and the LP is
   solved again from its basis, a few rounds: the LP bound then equals HiGHS's root bound, with a
   few hundred rows instead of one per split option (~90k).
2. A start by diving on it: demands the LP already serves as the model allows keep that, nearly
   settled ones are rounded where they fit, the LP of the rest is solved again on the capacity
   left; the last few go to a small MIP (or the greedy rule). The better of this and the greedy
   baseline is the start, so there is always a feasible answer, however short the time limit.
3. If the start is within the requested gap of the LP bound, that is the answer (a proof needs no
   branching); otherwise HiGHS's branch and cut runs from it, with the linking rows, for the time
   left. The bound reported is the better of the LP's and HiGHS's.

Minimum shares make it much harder: HiGHS turns each semi-continuous variable into a binary and two
rows and then spends its time in root cut separation; on the benchmark with a minimum share on a
quarter of the demands the answer stays ~5 % above the bound after 30 s.

The unserved penalty P_d is the demand's own ``unserved_penalty``, else the instance-wide one,
else the default 1 + Σ_d max_s c_ds — more than any assignment can cost in total, so the solver
serves as many demands as capacity allows before it looks at cost. A smaller penalty (e.g. what
the order is worth) lets it leave a demand unserved when serving it costs more than that.

The output
==========

``status``      ``optimal`` (gap ≤ 0.01 %, HiGHS's own default tolerance), ``gap_reached`` (within
                the requested gap), ``time_limit`` (stopped at the time limit further from the bound
                than that, with a solution), ``infeasible``, ``no_solution`` or ``error``.
``objective``   Σ cost of the assignment + Σ penalties of unserved demands.
``bound``       the best lower bound proved (the LP relaxation's optimum or HiGHS's MIP dual bound,
                plus the penalties of the demands without any usable option): no assignment costs less.
``gap``         |objective − bound| / |objective|, as HiGHS defines its relative MIP gap (0 when both
                are 0; null when undefined). The solver stops at the requested gap measured on the
                model it solved, which excludes the constant penalties, so the reported gap is no larger.
``breakdown``   ``cost``, of it ``lateness`` and ``transport``, and ``unserved_penalty``.
``assignment``  ``[{demand, supplier, share, cost, size, lateness, transport}]`` — share of the
                demand, and its part of the option's cost, capacity use and components.
``unserved``    ``[{demand, reason, penalty}]`` with reason ``no_option`` (no option listed),
                ``too_large`` (no supplier could take it even if it had nothing else to do),
                ``capacity_exhausted`` (the capacity it could use went to other demands) or
                ``cheaper_unserved`` (it would fit, but serving costs more than its penalty).
``loads``       ``[{supplier, capacity, used}]`` for the suppliers that got work.
``time_s``      the whole call; ``solver``: HiGHS's version, the limits, model size, which start was
                used, its objective and when it was ready, the LP bound, and HiGHS's own status, time
                and node count for the branch and cut (none when the LP bound already proves the start).

A worked example (the one in the tests): suppliers A and B, 10 hours each; demands in arrival order
D1 (5 h; A 4, B 6), D2 (10 h; A 10, B 30), D3 (5 h; A 8, B 9). The greedy baseline sends each
demand, in order, whole to its cheapest supplier with room: D1 → A (4), D2 → B (A has 5 h left;
30), D3 → A (8): 42. The optimum puts D2 on A (10) and D1, D3 on B (6 + 9): 25, and the bound
proves it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import highspy
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]

DEFAULT_TIME_LIMIT_S = 30.0
DEFAULT_GAP = 0.01
OPTIMAL_GAP = 1e-4  # HiGHS's default mip_rel_gap: below it we call the answer optimal
_TOL = 1e-9
_SHARE_EPS = 1e-7  # shares below this are solver noise

REASONS = {
    "no_option": "no option listed",
    "too_large": "no supplier could take it, even with nothing else to do",
    "capacity_exhausted": "the capacity it could use went to other demands",
    "cheaper_unserved": "it fits, but serving it costs more than its unserved penalty",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=True)


class Supplier(_Strict):
    id: Id
    capacity: Amount


class Demand(_Strict):
    id: Id
    size: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    may_split: bool = False
    min_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    unserved_penalty: Amount | None = None


class Option(_Strict):
    demand: Id
    supplier: Id
    cost: Amount
    size: Amount | None = None
    lateness: Amount = 0.0
    transport: Amount = 0.0


class Instance(_Strict):
    suppliers: list[Supplier]
    demands: list[Demand]
    options: list[Option]
    unserved_penalty: Amount | None = None


class InstanceError(ValueError):
    """A bad instance: ``where`` is the JSON path of what is wrong (``options[17].supplier``)."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"{where}: {reason}" if where else reason)


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _from_validation_error(exc: ValidationError) -> InstanceError:
    first = exc.errors(include_url=False)[0]
    where = _json_path(tuple(first["loc"]))
    message = first["msg"]
    if first["type"] == "json_invalid":
        return InstanceError("", f"not JSON: {message.removeprefix('Invalid JSON: ')}")
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        shown = repr(first["input"])
        message += f" (got {shown[:60] + '…' if len(shown) > 60 else shown})"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    return InstanceError(where or "top level", message)


def parse_instance(data: Instance | dict[str, Any] | str | bytes) -> Instance:
    """A checked :class:`Instance` from a dict or JSON text; :class:`InstanceError` names the first problem.

    Beyond the field types: ids unique among suppliers and among demands, every option's demand and
    supplier known, at most one option per (demand, supplier), ``lateness + transport ≤ cost``, and
    ``min_share`` only on a demand that may split.
    """
    if isinstance(data, Instance):
        instance = data
    else:
        try:
            if isinstance(data, str | bytes):
                instance = Instance.model_validate_json(data)
            else:
                instance = Instance.model_validate(data)
        except ValidationError as exc:
            raise _from_validation_error(exc) from None
    _check_references(instance)
    return instance


def read_instance(path: Path) -> Instance:
    """Read and check an instance file (:class:`InstanceError`; OSError is left to the caller)."""
    return parse_instance(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))  # a UTF-8 BOM is fine


def _check_references(instance: Instance) -> None:
    suppliers: dict[str, int] = {}
    for i, supplier in enumerate(instance.suppliers):
        if supplier.id in suppliers:
            raise InstanceError(
                f"suppliers[{i}].id",
                f"duplicate supplier id {supplier.id!r} (also suppliers[{suppliers[supplier.id]}])",
            )
        suppliers[supplier.id] = i
    demands: dict[str, int] = {}
    for i, demand in enumerate(instance.demands):
        if demand.id in demands:
            raise InstanceError(
                f"demands[{i}].id", f"duplicate demand id {demand.id!r} (also demands[{demands[demand.id]}])"
            )
        demands[demand.id] = i
        if demand.min_share is not None and not demand.may_split:
            raise InstanceError(f"demands[{i}].min_share", "only for a demand that may split (may_split: true)")
    seen: dict[tuple[str, str], int] = {}
    for i, option in enumerate(instance.options):
        if option.demand not in demands:
            raise InstanceError(f"options[{i}].demand", f"unknown demand {option.demand!r}")
        if option.supplier not in suppliers:
            raise InstanceError(f"options[{i}].supplier", f"unknown supplier {option.supplier!r}")
        key = (option.demand, option.supplier)
        if key in seen:
            raise InstanceError(
                f"options[{i}]",
                f"a second option for demand {option.demand!r} at supplier "
                f"{option.supplier!r} (the first is options[{seen[key]}])",
            )
        seen[key] = i
        if option.lateness + option.transport > option.cost * (1 + _TOL) + _TOL:
            raise InstanceError(
                f"options[{i}]",
                f"lateness + transport ({option.lateness + option.transport:g}) "
                f"exceed cost ({option.cost:g}); cost is the total",
            )


# ---------------------------------------------------------------- the instance as arrays


@dataclass(frozen=True)
class Problem:
    """An instance as arrays: demands and suppliers by index, options in the order given."""

    demand_ids: list[str]
    supplier_ids: list[str]
    capacity: np.ndarray  # (S,)
    may_split: np.ndarray  # (D,) bool
    min_share: np.ndarray  # (D,) 0 where none
    penalty: np.ndarray  # (D,) P_d
    od: np.ndarray  # (O,) demand index of each option
    os: np.ndarray  # (O,) supplier index
    cost: np.ndarray  # (O,) cost of the whole demand
    size: np.ndarray  # (O,) capacity use of the whole demand
    lateness: np.ndarray
    transport: np.ndarray
    upper: np.ndarray  # (O,) the largest usable share on an empty supplier; 0 = the option can never be used

    @property
    def n_demands(self) -> int:
        return len(self.demand_ids)


def compile_instance(instance: Instance) -> Problem:
    """The arrays of a checked instance (see :func:`parse_instance`)."""
    demand_index = {d.id: i for i, d in enumerate(instance.demands)}
    supplier_index = {s.id: i for i, s in enumerate(instance.suppliers)}
    n_opt = len(instance.options)
    demand_size = np.array([d.size for d in instance.demands], dtype=np.float64)
    od = np.fromiter((demand_index[o.demand] for o in instance.options), np.int64, n_opt)
    os = np.fromiter((supplier_index[o.supplier] for o in instance.options), np.int64, n_opt)
    cost = np.fromiter((o.cost for o in instance.options), np.float64, n_opt)
    size = np.fromiter((np.nan if o.size is None else o.size for o in instance.options), np.float64, n_opt)
    size = np.where(np.isnan(size), demand_size[od], size)
    lateness = np.fromiter((o.lateness for o in instance.options), np.float64, n_opt)
    transport = np.fromiter((o.transport for o in instance.options), np.float64, n_opt)
    capacity = np.array([s.capacity for s in instance.suppliers], dtype=np.float64)
    may_split = np.array([d.may_split for d in instance.demands], dtype=bool)
    min_share = np.array([d.min_share or 0.0 for d in instance.demands], dtype=np.float64)

    max_cost = np.zeros(len(instance.demands))
    np.maximum.at(max_cost, od, cost)
    default = instance.unserved_penalty
    if default is None:
        default = 1.0 + float(max_cost.sum())
    penalty = np.array(
        [default if d.unserved_penalty is None else d.unserved_penalty for d in instance.demands], dtype=np.float64
    )

    upper = _upper(size, capacity[os], may_split[od], min_share[od])
    return Problem(
        [d.id for d in instance.demands],
        [s.id for s in instance.suppliers],
        capacity,
        may_split,
        min_share,
        penalty,
        od,
        os,
        cost,
        size,
        lateness,
        transport,
        upper,
    )


def _upper(size: np.ndarray, cap: np.ndarray, split: np.ndarray, min_share: np.ndarray) -> np.ndarray:
    """The largest share of each option an otherwise empty supplier can take (0: none)."""
    fits_whole = size <= cap * (1 + _TOL) + _TOL
    with np.errstate(divide="ignore", invalid="ignore"):
        part = np.where(size > 0, np.minimum(1.0, cap / np.where(size > 0, size, 1.0)), 1.0)
    upper = np.where(split, part, fits_whole.astype(np.float64))
    upper = np.where(split & (upper < min_share - _TOL), 0.0, upper)
    upper[upper < _SHARE_EPS] = 0.0
    return upper


def _restrict(problem: Problem, keep: np.ndarray, capacity: np.ndarray) -> Problem:
    """The same problem for the demands in ``keep`` only, on the remaining ``capacity``."""
    upper = _upper(problem.size, capacity[problem.os], problem.may_split[problem.od], problem.min_share[problem.od])
    return replace(problem, capacity=capacity, upper=np.where(keep[problem.od], upper, 0.0))


# ---------------------------------------------------------------- the greedy baseline


def greedy_shares(problem: Problem, demands: np.ndarray | None = None) -> np.ndarray:
    """Shares per option of the greedy baseline (see :func:`greedy`), taking the demands in the order
    given (default: as listed)."""
    x = np.zeros(len(problem.od))
    left = problem.capacity.copy()
    order = np.lexsort((problem.cost, problem.od))  # by demand, then cheapest first
    starts = np.searchsorted(problem.od[order], np.arange(problem.n_demands + 1))
    for d in range(problem.n_demands) if demands is None else demands.tolist():
        opts = order[starts[d] : starts[d + 1]]
        opts = opts[problem.upper[opts] > 0]
        if not len(opts):
            continue
        need = problem.size[opts]
        room = left[problem.os[opts]]
        fits = np.flatnonzero(need <= room * (1 + _TOL) + _TOL)
        if len(fits):
            j = opts[fits[0]]
            x[j] = 1.0
            left[problem.os[j]] -= problem.size[j]
            continue
        if not problem.may_split[d]:
            continue
        shares = _greedy_split(problem, d, opts, left)
        if shares is not None:
            for j, share in shares:
                x[j] = share
                left[problem.os[j]] -= share * problem.size[j]
    return x


def _greedy_split(problem: Problem, d: int, opts: np.ndarray, left: np.ndarray) -> list[tuple[int, float]] | None:
    """Fill a split demand from ``opts`` in order (the cheapest first) as far as each has room, every part
    at least the minimum share; None if it cannot."""
    m = problem.min_share[d]
    remaining = 1.0
    parts: list[tuple[int, float]] = []
    for j in opts.tolist():
        a = problem.size[j]
        share = min(remaining, 1.0 if a <= 0 else max(left[problem.os[j]], 0.0) / a)
        if 0 < remaining - share < m:  # leave enough for a last part of at least min_share
            share = remaining - m
        if share < max(m, _SHARE_EPS):
            continue
        parts.append((j, share))
        remaining -= share
        if remaining <= _SHARE_EPS:
            return parts
    return None


def greedy(instance: Instance | dict[str, Any] | str | bytes) -> dict[str, Any]:
    """The baseline: demands in the order listed, each whole to its cheapest option with room left.

    A demand that may split and fits on no single supplier is filled from its cheapest options with
    room (each part at least its ``min_share``), or left unserved. Same document as :func:`allocate`,
    with ``status`` ``heuristic`` and no bound or gap.
    """
    t0 = time.perf_counter()
    problem = compile_instance(parse_instance(instance))
    x = greedy_shares(problem)
    doc = _document(problem, x)
    doc.update(status="heuristic", bound=None, gap=None, time_s=time.perf_counter() - t0, solver=None)
    return doc


# ---------------------------------------------------------------- the exact model


def allocate(
    instance: Instance | dict[str, Any] | str | bytes,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    gap: float = DEFAULT_GAP,
    warm_start: bool = True,
    log: bool = False,
) -> dict[str, Any]:
    """Solve the allocation (see the module docstring) within ``time_limit`` seconds (the whole call,
    model building included) to a relative ``gap``. ``warm_start`` gives HiGHS the better of the greedy
    and the LP-guided starting solution; ``log`` shows HiGHS's log on stdout."""
    if not time_limit > 0:
        raise ValueError("time_limit must be positive")
    if not 0 <= gap < 1:
        raise ValueError("gap must be in [0, 1)")
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    problem = compile_instance(parse_instance(instance))
    model = _model(problem)
    solver: dict[str, Any] = {
        "name": "HiGHS",
        "version": highspy.Highs().version(),
        "time_limit_s": time_limit,
        "gap_target": gap,
        "columns": model.n_cols,
        "rows": model.n_rows,
        "start": None,
        "start_objective": None,
        "lp_bound": None,
    }
    if model.n_cols == 0:  # nothing to decide
        doc = _document(problem, np.zeros(len(problem.od)))
        doc.update(status="optimal", bound=doc["objective"], gap=0.0)
        solver.update(status="not run", time_s=0.0, nodes=0)
        doc.update(time_s=time.perf_counter() - t0, solver=solver)
        return doc

    start: np.ndarray | None = None
    lp_bound: float | None = None
    linked = np.zeros(problem.n_demands, dtype=bool)
    fixed = float(problem.penalty[model.fixed_unserved].sum())
    if warm_start:
        start, solver["start"] = greedy_shares(problem), "greedy"
        if (model.integrality != 0).any():
            guided, lp_value, linked = _lp_guided_start(problem, model, deadline, gap, log)
            lp_bound = None if lp_value is None else lp_value + fixed
            solver["lp_bound"] = lp_bound
            if guided is not None and _objective(problem, guided) < _objective(problem, start) - _TOL:
                start, solver["start"] = guided, "lp-guided"
        solver["start_objective"] = _objective(problem, start)
        solver["start_time_s"] = time.perf_counter() - t0
        if lp_bound is not None:
            relative = _relative_gap(solver["start_objective"], min(lp_bound, solver["start_objective"]))
            if relative is not None and relative <= gap:  # the LP bound already proves the start good enough
                doc = _document(problem, start)
                doc.update(
                    bound=min(lp_bound, doc["objective"]),
                    gap=relative,
                    status="optimal" if relative <= OPTIMAL_GAP else "gap_reached",
                )
                solver.update(status="start within the gap of the LP bound", time_s=0.0, nodes=0)
                doc.update(time_s=time.perf_counter() - t0, solver=solver)
                return doc

    h = _highs(log, gap, deadline - min(1.0, 0.03 * time_limit))  # HiGHS overruns a little; then the answer
    model.pass_to(h)
    model.link(h, problem, linked)  # the valid inequalities the LP needed
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = model.columns_of(problem, start).tolist()
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = bool(h.getSolution().value_valid) and info.primal_solution_status > 0
    solver.update(status=h.modelStatusToString(status), time_s=h.getRunTime(), nodes=int(info.mip_node_count))
    # the best bound known: HiGHS's, the LP's, or (neither solved in time) 0 for the decisions, as no cost is negative
    dual = max(float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else 0.0, 0.0) + fixed
    if lp_bound is not None:
        dual = max(dual, lp_bound)
    x = model.shares(problem, np.asarray(h.getSolution().col_value)) if has_solution else None
    if start is not None and (x is None or _objective(problem, start) < _objective(problem, x) - _TOL):
        x = start  # HiGHS stopped before it used its start (only at a very short time limit)
    if x is None:
        doc = _document(problem, np.zeros(len(problem.od)), solved=False)
        doc.update(bound=dual, status="infeasible" if status == highspy.HighsModelStatus.kInfeasible else "no_solution")
    else:
        doc = _document(problem, x)
        objective = doc["objective"]
        bound = min(dual, objective)
        relative = _relative_gap(objective, bound)
        doc.update(bound=bound, gap=relative)
        if relative is not None and relative <= OPTIMAL_GAP:
            doc["status"] = "optimal"
        elif status == highspy.HighsModelStatus.kOptimal or (relative is not None and relative <= gap):
            doc["status"] = "gap_reached"  # (or the LP bound proves it, although HiGHS ran out of time)
        elif status == highspy.HighsModelStatus.kTimeLimit:
            doc["status"] = "time_limit"
        else:
            doc["status"] = "error"
    doc.update(time_s=time.perf_counter() - t0, solver=solver)
    return doc


def _highs(log: bool, gap: float, deadline: float) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", bool(log))
    h.setOptionValue("mip_rel_gap", float(gap))
    _until(h, deadline)
    return h


def _until(h: highspy.Highs, deadline: float) -> None:
    """Let the next ``run`` end by ``deadline`` (HiGHS's time limit counts all runs of the object)."""
    h.setOptionValue("time_limit", h.getRunTime() + max(deadline - time.perf_counter(), 0.01))


def _relaxation(
    problem: Problem, model: _Model, h: highspy.Highs, deadline: float
) -> tuple[np.ndarray, float, np.ndarray] | None:
    """Solve the LP relaxation of ``model``: (column values, optimum, demands given linking rows), or None.

    A split demand the LP serves in part (0 < u_d < 1) gets the valid inequalities x_ds ≤ ū_ds·(1 − u_d)
    for its options (tighter than its demand row where ū_ds < 1) and the LP is solved again from its
    basis, a few rounds at most: all the strength of those rows at a fraction of their number.
    """
    model.pass_to(h, relax=True)
    linked = np.zeros(problem.n_demands, dtype=bool)
    for _ in range(_LINK_ROUNDS):
        _until(h, deadline)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        values = np.asarray(h.getSolution().col_value)
        value = float(h.getInfo().objective_function_value)
        u = values[len(model.cols) :]
        partial = model.demands[(u > _SHARE_EPS) & (u < 1 - _SHARE_EPS) & problem.may_split[model.demands]]
        partial = partial[~linked[partial]]
        if not len(partial):
            break
        mask = np.zeros(problem.n_demands, dtype=bool)
        mask[partial] = True
        if not model.link(h, problem, mask):
            break
        linked |= mask
    return values, value, linked


_LINK_ROUNDS = 6


def _lp_guided_start(
    problem: Problem, model: _Model, deadline: float, gap: float, log: bool
) -> tuple[np.ndarray | None, float | None, np.ndarray]:
    """A starting solution by diving on the LP relaxation, the LP's optimum (a lower bound), and the
    demands that needed linking rows (see :func:`_relaxation`).

    Each round solves the LP of the demands not yet settled on the capacity left and settles those
    the LP serves in a way the model allows (a whole demand at one supplier; a split one fully, no
    part below its minimum share), then rounds the nearly settled ones (a whole demand to an option
    the LP gives at least half of, a split one to its allowed parts scaled up) where they fit. What
    is left after a few rounds is solved as a small MIP (without minimum shares; else, and if that
    finds nothing better, by the greedy rule). (None, None, …) if the first LP is not solved in time.
    """
    began = time.perf_counter()
    total = deadline - began
    x = np.zeros(len(problem.od))
    capacity = problem.capacity.copy()
    rest = np.zeros(problem.n_demands, dtype=bool)
    rest[model.demands] = True
    current, current_model = problem, model
    lp_value: float | None = None
    linked = np.zeros(problem.n_demands, dtype=bool)
    for _ in range(_DIVE_ROUNDS):
        # the first LP may take most of the time (without it nothing else works at scale); later ones less
        until = began + (0.85 if lp_value is None else 0.7) * total
        solved = _relaxation(current, current_model, _highs(log, gap, until), until)
        if solved is None:
            break
        values, value, links = solved
        if lp_value is None:
            lp_value, linked = value, links
        settled, shares = _settle(current, current_model, values, capacity)
        if not settled.any():
            break
        x += shares
        capacity = np.maximum(
            capacity - np.bincount(problem.os, weights=shares * problem.size, minlength=len(capacity)), 0.0
        )
        rest &= ~settled
        if not rest.any() or time.perf_counter() > began + 0.6 * total:
            break
        current = _restrict(problem, rest, capacity)
        current_model = _model(current)
        if current_model.n_cols == 0:
            break
    if lp_value is None:
        return None, None, linked
    if not rest.any():
        return x, lp_value, linked
    sub = _restrict(problem, rest, capacity)
    part = greedy_shares(sub, np.argsort(-problem.penalty, kind="stable"))  # the dearest to leave unserved first
    sub_model = _model(sub)
    if sub_model.n_cols and not (sub_model.integrality == 2).any():
        h = _highs(log, gap, time.perf_counter() + 0.25 * (deadline - time.perf_counter()))
        sub_model.pass_to(h)
        solution = highspy.HighsSolution()
        solution.col_value = sub_model.columns_of(sub, part).tolist()
        solution.value_valid = True
        h.setSolution(solution)
        h.run()
        if h.getSolution().value_valid and h.getInfo().primal_solution_status > 0:
            found = sub_model.shares(sub, np.asarray(h.getSolution().col_value))
            if _objective(sub, found) < _objective(sub, part):
                part = found
    return x + part, lp_value, linked


_DIVE_ROUNDS = 10


def _settle(problem: Problem, model: _Model, values: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(demands settled, their option shares) from an LP solution of ``model`` (see :func:`_lp_guided_start`)."""
    x = np.zeros(len(problem.od))
    x[model.cols] = np.clip(values[: len(model.cols)], 0.0, problem.upper[model.cols])
    x[x < _SHARE_EPS] = 0.0
    u = np.full(problem.n_demands, np.nan)
    u[model.demands] = values[len(model.cols) :]
    whole = ~problem.may_split[problem.od]
    allowed = (x >= problem.min_share[problem.od] - _SHARE_EPS) & ((x >= 1 - _SHARE_EPS) | ~whole)
    settled = (u < _SHARE_EPS) | (u > 1 - _SHARE_EPS)  # NaN (not in this LP): False
    settled[problem.od[(x > 0) & ~allowed]] = False
    shares = np.where(settled[problem.od] & (u[problem.od] < 0.5), x, 0.0)
    shares[whole] = np.round(shares[whole])
    total = np.bincount(problem.od, weights=shares, minlength=problem.n_demands)
    shares[total[problem.od] > 0] /= total[problem.od][total[problem.od] > 0]
    left = capacity - np.bincount(problem.os, weights=shares * problem.size, minlength=len(capacity))
    # round the demands the LP nearly settles, most settled first, where they fit
    candidate = np.where(whole | allowed, x, 0.0)
    score = np.bincount(problem.od, weights=np.where(whole, 0.0, candidate), minlength=problem.n_demands)
    np.maximum.at(score, problem.od[whole], candidate[whole])  # a whole demand: its largest LP share
    open_ = np.flatnonzero(~settled & ~np.isnan(u) & (score >= 0.5))
    for d in open_[np.argsort(-score[open_], kind="stable")].tolist():
        mine = np.flatnonzero(problem.od == d)
        opts = mine[candidate[mine] > 0]
        if problem.may_split[d]:  # its allowed parts, scaled up to the whole demand
            chosen, part = opts, candidate[opts] / candidate[opts].sum()
        else:  # a whole demand: where the LP puts most of it
            chosen, part = opts[[np.argmax(candidate[opts])]], np.ones(1)
        if not (part * problem.size[chosen] <= left[problem.os[chosen]] * (1 + _TOL) + _TOL).all():
            continue
        shares[chosen] = part
        np.subtract.at(left, problem.os[chosen], part * problem.size[chosen])
        settled[d] = True
    return settled, shares


def _relative_gap(objective: float, bound: float) -> float | None:
    """HiGHS's relative MIP gap: |primal − dual| / |primal|; 0 when both are 0, None when undefined."""
    if objective == 0:
        return 0.0 if bound == 0 else None
    return abs(objective - bound) / abs(objective)


@dataclass(frozen=True)
class _Model:
    """The MIP in HiGHS's column-wise arrays: the usable options' x, then one u per demand with options."""

    cols: np.ndarray  # option index of each x column
    demands: np.ndarray  # demand index of each u column
    fixed_unserved: np.ndarray  # demands without any usable option
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integrality: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lower)

    def pass_to(self, h: highspy.Highs, relax: bool = False) -> None:
        """Give HiGHS the model (``relax``: its LP relaxation, every column continuous from 0)."""
        n = self.n_cols
        h.passModel(
            n,
            self.n_rows,
            len(self.value),
            1,
            1,
            0.0,
            self.cost,
            np.zeros(n) if relax else self.lower,
            self.upper,
            self.row_lower,
            self.row_upper,
            self.start,
            self.index,
            self.value,
            np.zeros(n, dtype=np.int32) if relax else self.integrality,
        )

    def link(self, h: highspy.Highs, problem: Problem, demands: np.ndarray) -> int:
        """Add x_ds + ū_ds·u_d ≤ ū_ds for the options with ū_ds < 1 of the split ``demands`` (a mask); their number."""
        od = problem.od[self.cols]
        k = np.flatnonzero(demands[od] & problem.may_split[od] & (self.upper[: len(self.cols)] < 1 - _TOL))
        if not len(k):
            return 0
        u = len(self.cols) + np.searchsorted(self.demands, od[k])
        ub = self.upper[k]
        index = np.stack([k, u], axis=1).ravel().astype(np.int32)
        value = np.stack([np.ones(len(k)), ub], axis=1).ravel()
        h.addRows(
            len(k), np.full(len(k), -np.inf), ub, 2 * len(k), np.arange(0, 2 * len(k), 2, dtype=np.int32), index, value
        )
        return len(k)

    def columns_of(self, problem: Problem, x: np.ndarray) -> np.ndarray:
        """Column values of option shares ``x`` (u = 1 − Σ shares)."""
        served = np.bincount(problem.od, weights=x, minlength=problem.n_demands)
        return np.concatenate([x[self.cols], np.clip(1.0 - served[self.demands], 0.0, 1.0)])

    def shares(self, problem: Problem, values: np.ndarray) -> np.ndarray:
        """Option shares from a solver solution, cleaned: whole demands exactly 0 or 1, split ones summing to 1."""
        x = np.zeros(len(problem.od))
        x[self.cols] = np.clip(values[: len(self.cols)], 0.0, problem.upper[self.cols])
        unserved = np.zeros(problem.n_demands, dtype=bool)
        unserved[self.fixed_unserved] = True
        unserved[self.demands] = values[len(self.cols) :] > 0.5
        whole = ~problem.may_split[problem.od]
        x[whole] = (x[whole] > 0.5).astype(np.float64)
        x[x < _SHARE_EPS] = 0.0
        x[unserved[problem.od]] = 0.0
        total = np.bincount(problem.od, weights=x, minlength=problem.n_demands)
        served = total > 0
        x[served[problem.od]] /= total[problem.od][served[problem.od]]
        return np.round(x, 9)


def _model(problem: Problem) -> _Model:
    cols = np.flatnonzero(problem.upper > 0)
    od, os = problem.od[cols], problem.os[cols]
    n_x = len(cols)
    usable = np.zeros(problem.n_demands, dtype=bool)
    usable[od] = True
    demands = np.flatnonzero(usable)
    n_u = len(demands)
    u_col = np.full(problem.n_demands, -1, dtype=np.int64)
    u_col[demands] = n_x + np.arange(n_u)
    n_s = len(problem.supplier_ids)
    size, upper = problem.size[cols], problem.upper[cols]
    most = np.bincount(os, weights=size * upper, minlength=n_s)
    binding = np.flatnonzero(most > problem.capacity * (1 + _TOL) + _TOL)  # suppliers their options could overfill
    s_row = np.full(n_s, -1, dtype=np.int64)
    s_row[binding] = n_u + np.arange(len(binding))
    split = problem.may_split[od]
    has_cap = np.flatnonzero((s_row[os] >= 0) & (size > 0))

    d_row = u_col - n_x  # demand d's row is the position of its u among the u columns
    rows = np.concatenate([d_row[od], d_row[demands], s_row[os[has_cap]]])
    columns = np.concatenate([np.arange(n_x), u_col[demands], has_cap])
    values = np.concatenate([np.ones(n_x), np.ones(n_u), size[has_cap]])
    order = np.lexsort((rows, columns))
    start = np.zeros(n_x + n_u + 1, dtype=np.int64)
    np.cumsum(np.bincount(columns, minlength=n_x + n_u), out=start[1:])

    semi = split & (problem.min_share[od] > 0)
    integrality = np.where(split, np.where(semi, 2, 0), 1)  # HighsVarType: continuous 0, integer 1, semi 2
    lower = np.where(semi, problem.min_share[od], 0.0)
    return _Model(
        cols=cols,
        demands=demands,
        fixed_unserved=np.flatnonzero(~usable),
        cost=np.concatenate([problem.cost[cols], problem.penalty[demands]]),
        lower=np.concatenate([lower, np.zeros(n_u)]),
        upper=np.concatenate([upper, np.ones(n_u)]),
        integrality=np.concatenate([integrality, np.ones(n_u)]).astype(np.int32),
        row_lower=np.concatenate([np.ones(n_u), np.full(len(binding), -np.inf)]),
        row_upper=np.concatenate([np.ones(n_u), problem.capacity[binding]]),
        start=start.astype(np.int32),
        index=rows[order].astype(np.int32),
        value=values[order],
    )


# ---------------------------------------------------------------- the answer


def _objective(problem: Problem, x: np.ndarray) -> float:
    served = np.bincount(problem.od, weights=x, minlength=problem.n_demands)
    return float(problem.cost @ x + problem.penalty @ np.clip(1.0 - served, 0.0, 1.0).round(9))


def _document(problem: Problem, x: np.ndarray, solved: bool = True) -> dict[str, Any]:
    """The answer for option shares ``x``: assignment, unserved demands with reasons, loads, breakdown."""
    used = np.bincount(problem.os, weights=x * problem.size, minlength=len(problem.supplier_ids))
    served_share = np.bincount(problem.od, weights=x, minlength=problem.n_demands)
    unserved_mask = served_share < 0.5
    picked = np.flatnonzero(x > 0)
    picked = picked[np.lexsort((problem.os[picked], problem.od[picked]))]
    assignment = [
        {
            "demand": problem.demand_ids[problem.od[j]],
            "supplier": problem.supplier_ids[problem.os[j]],
            "share": float(x[j]),
            "cost": float(problem.cost[j] * x[j]),
            "size": float(problem.size[j] * x[j]),
            "lateness": float(problem.lateness[j] * x[j]),
            "transport": float(problem.transport[j] * x[j]),
        }
        for j in picked.tolist()
    ]
    unserved = [
        {"demand": problem.demand_ids[d], "reason": _reason(problem, d, used), "penalty": float(problem.penalty[d])}
        for d in np.flatnonzero(unserved_mask).tolist()
    ]
    cost = float(problem.cost @ x)
    penalty = float(problem.penalty[unserved_mask].sum())
    loads = [
        {"supplier": problem.supplier_ids[s], "capacity": float(problem.capacity[s]), "used": float(used[s])}
        for s in np.flatnonzero(used > 0).tolist()
    ]
    return {
        "status": None,
        "objective": cost + penalty if solved else None,
        "bound": None,
        "gap": None,
        "breakdown": {
            "cost": cost,
            "lateness": float(problem.lateness @ x),
            "transport": float(problem.transport @ x),
            "unserved_penalty": penalty,
        },
        "demands": problem.n_demands,
        "served": int(problem.n_demands - unserved_mask.sum()),
        "assignment": assignment,
        "unserved": unserved,
        "loads": loads,
    }


def _reason(problem: Problem, d: int, used: np.ndarray) -> str:
    opts = np.flatnonzero(problem.od == d)
    if not len(opts):
        return "no_option"
    upper = problem.upper[opts]
    if not (upper > 0).any() or (problem.may_split[d] and upper.sum() < 1 - _SHARE_EPS):
        return "too_large"
    left = np.maximum(problem.capacity[problem.os[opts]] - used[problem.os[opts]], 0.0)
    size = problem.size[opts]
    if problem.may_split[d]:
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(size > 0, np.minimum(1.0, left / np.where(size > 0, size, 1.0)), 1.0)
        room = np.where((upper > 0) & (room >= max(problem.min_share[d], _SHARE_EPS)), room, 0.0)
        fits = room.sum() >= 1 - _SHARE_EPS
    else:
        fits = bool(((upper > 0) & (size <= left * (1 + _TOL) + _TOL)).any())
    return "cheaper_unserved" if fits else "capacity_exhausted"


def dumps(doc: dict[str, Any]) -> str:
    """The document as JSON (a gap that is undefined is null)."""
    return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
