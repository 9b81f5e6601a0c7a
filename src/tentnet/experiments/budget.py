"""The budget experiment: test error against weight count, deep against shallow.

At each depth d the deep methods train a width-4 network (20d - 7 weights); the shallow
methods train one hidden layer of ``shallow_width(d)`` units, the largest with no more weights.
Side by side, per target: the deep methods, the best shallow network we can fit (``knots``), a
shallow Kaiming MLP, the best shallow optimum itself (``optimal_pwl`` with k + 1 pieces, fitted
to the function, which no k-unit network trained on the points can beat by much), and the 2^d
limit of the deep network. ``tent-warp`` (a first layer of knots, then ``BUDGET_LEVELS`` width-4
tent levels) spends the same budget differently: as many first-layer units as fit.

``tent+`` (per seed the best of ``tent-lm`` and the judged knot shapes of the budget) and
``auto`` are not in it: with ``tent+`` on seeds 0-2 the full reproduce took 37 minutes on 2
cores instead of under 30; ``benchmarks/auto_budget.py --method tent+`` measures both at
these budgets.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from ..mlp import weight_count
from ..train import shallow_width
from ..warp import BUDGET_LEVELS, units_within, warp_weight_count
from .tables import ratio

TARGETS = ("x**2", "x**3", "x**11", "exp(x)", "sqrt(x + 0.01)")
DEEP = ("tent-lm", "tent", "kaiming")
SHALLOW = (("knots", "knots"), ("kaiming (shallow)", "kaiming"))


def warp_shape(depth: int) -> tuple[int, int]:
    """``(units, weights)`` of the tent-warp network within the budget of a width-4 ``depth``
    network (units 0: none fits)."""
    k = units_within(depth)
    return k, warp_weight_count(k, BUDGET_LEVELS)


def jobs(plan, budget) -> list:
    """The batches: every deep method at every depth, every shallow one at the matching width.

    ``budget(plan, overrides, steps)`` gives a job's config (the plan's caps applied).
    """
    from .jobs import Job, reference_jobs

    out = []
    for d in plan.budget_depths:
        for m in DEEP:
            cfg = budget(plan, None, plan.depth_steps)
            out.append(Job("budget", m, m, TARGETS, d, plan.budget_seeds, config=cfg))
        units = warp_shape(d)[0]
        if units >= 2:  # one batch per target: each seed trains WARP_STARTS networks
            cfg = budget(plan, {"width": units}, plan.depth_steps)
            out.extend(
                Job(
                    "budget",
                    "tent-warp",
                    "tent-warp",
                    (target,),
                    BUDGET_LEVELS + 1,
                    plan.budget_seeds,
                    config=cfg,
                )
                for target in TARGETS
            )
        k = shallow_width(d)
        for label, m in SHALLOW:
            cfg = budget(plan, {"width": k}, plan.depth_steps)
            out.append(Job("budget", label, m, TARGETS, 1, plan.budget_seeds, config=cfg))
    pieces = {p for d in plan.budget_depths for p in (shallow_width(d) + 1, 2**d)}
    return out + reference_jobs("budget", {(t, (0.0, 1.0)): pieces for t in TARGETS})


def _groups(records: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        job = rec["job"]
        for run in rec["runs"]:
            groups[(run["target"], job["label"], run["parameters"])].append(run)
    return groups


def _median_min(groups, target: str, label: str, weights: int) -> tuple:
    """Median and min test MSE of the runs of ``label`` with ``weights`` (None, None: none)."""
    mse = [r["test_mse"] for r in groups.get((target, label, weights), [])]
    return (statistics.median(mse), min(mse)) if mse else (None, None)


def rows(records: list[dict], plan, limit) -> list[dict]:
    """One row per (target, depth): the median test MSE of every method at that budget.

    ``limit(target, pieces)`` is the stored ``optimal_pwl`` error.
    """
    groups = _groups(records)
    out = []
    for target in TARGETS:
        for d in plan.budget_depths:
            k = shallow_width(d)
            deep_w, shallow_w = weight_count(4, d), weight_count(k, 1)
            row: dict = {"target": target, "depth": d, "weights": deep_w, "units": k}
            row["shallow_weights"] = shallow_w
            for m in DEEP:
                row[f"{m}_median"], row[f"{m}_min"] = _median_min(groups, target, m, deep_w)
            units, warp_w = warp_shape(d)
            row["warp_units"], row["warp_weights"] = units, warp_w
            median_min = _median_min(groups, target, "tent-warp", warp_w)
            row["tent-warp_median"], row["tent-warp_min"] = median_min
            for label, _ in SHALLOW:
                mse = [r["test_mse"] for r in groups.get((target, label, shallow_w), [])]
                row[f"{label}_median"] = statistics.median(mse) if mse else None
            row["best_shallow"] = limit(target, k + 1)
            row["limit_2^d"] = limit(target, 2**d)
            for m in ("tent-lm", "tent-warp"):
                row[f"shallow_over_{m}"] = ratio(row["knots_median"], row[f"{m}_median"])
            row["optimum_over_tent-warp"] = ratio(row["best_shallow"], row["tent-warp_median"])
            out.append(row)
    return out


COLUMNS = [
    "target",
    "depth",
    "weights",
    "tent-lm_median",
    "tent-lm_min",
    "tent_median",
    "kaiming_median",
    "warp_units",
    "tent-warp_median",
    "tent-warp_min",
    "units",
    "knots_median",
    "kaiming (shallow)_median",
    "best_shallow",
    "limit_2^d",
    "shallow_over_tent-lm",
    "shallow_over_tent-warp",
    "optimum_over_tent-warp",
]


def verdict(table: list[dict]) -> list[str]:
    """Where depth pays: per target and deep method, the budgets (named by the width-4 depth)
    at which it beats the best shallow fit, and for tent-warp the shallow optimum too."""
    lines = []
    for target in TARGETS:
        for m in ("tent-lm", "tent-warp"):
            key = f"shallow_over_{m}"
            sel = [r for r in table if r["target"] == target and r[key]]
            if not sel:
                continue
            wins = [r["depth"] for r in sel if r[key] > 1]
            best = max(sel, key=lambda r: r[key])
            line = (
                f"- {target}, {m}: ahead of knots (no more weights) at depth(s) "
                f"{', '.join(map(str, wins)) or 'none'}; best ratio {best[key]:.2g}x at depth "
                f"{best['depth']}"
            )
            if m == "tent-warp":
                opt = [r["depth"] for r in sel if (r["optimum_over_tent-warp"] or 0) > 1]
                line += f"; below the shallow optimum at {', '.join(map(str, opt)) or 'none'}"
            lines.append(line + ".")
    return lines


def figure(out: Path, table: list[dict]) -> str | None:
    """One log-log panel per target: median test MSE against weights; None without matplotlib."""
    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(3.6 * len(TARGETS), 3.4), sharey=False)
    series = (
        [(f"{m}_median", m, "weights", "o-") for m in DEEP]
        + [("tent-warp_median", "tent-warp", "warp_weights", "^-")]
        + [(f"{label}_median", label, "shallow_weights", "s-") for label, _ in SHALLOW]
    )
    for ax, target in zip(axes, TARGETS, strict=True):
        sel = [r for r in table if r["target"] == target]
        for key, label, wkey, style in series:
            pts = [(r[wkey], r[key]) for r in sel if r[key] is not None]
            if pts:
                ax.loglog(*zip(*pts, strict=True), style, ms=3, lw=1, label=label)
        for key, label, style in (
            ("best_shallow", "best shallow (optimum)", "k--"),
            ("limit_2^d", "2^d pieces limit", "k:"),
        ):
            pts = [(r["weights"], r[key]) for r in sel]
            if pts:
                ax.loglog(*zip(*pts, strict=True), style, lw=1, label=label)
        ax.set_title(target)
        ax.set_xlabel("weights")
    axes[0].set_ylabel("median test MSE")
    axes[0].legend(fontsize=6)
    save_figure(fig, out / "budget.png")
    return "budget.png"


def section(out: Path, records: list[dict], plan, limit) -> list[str]:
    """The report's section: CSV, figure, table and verdict."""
    from .tables import markdown_table, write_csv

    table = rows(records, plan, limit)
    write_csv(out / "budget.csv", table)
    fig = figure(out, table)
    lines = [
        "## Deep against shallow at equal weights (budget)",
        "",
        f"Median test MSE over {len(plan.budget_seeds)} seeds ({', '.join(TARGETS)} on [0, 1], "
        "500 training points per seed). Deep: width 4, `depth` hidden layers, `weights` = "
        "20 depth - 7. Shallow: one hidden layer of `units` units (3 units + 1 weights, never "
        f"more than the deep network's). Adam methods train for {plan.depth_steps} steps. "
        "`best_shallow` is the best continuous piecewise-linear fit with units + 1 free knots "
        "fitted to the function itself (a lower bound for any network of that size trained on "
        "the points, up to the data); `limit_2^d` the same with 2^depth pieces. "
        f"`tent-warp`: a first hidden layer of `warp_units` units, then {BUDGET_LEVELS} width-4 "
        "tent levels (6 units + 20 levels - 11 weights, never more than the deep network's). "
        "`shallow_over_<method>` above 1 means depth pays; `optimum_over_tent-warp` above 1 "
        "means tent-warp beats every shallow network of its weights. `tent+` and `auto` (which "
        "pick per seed among these shapes and more) are measured by "
        "`benchmarks/auto_budget.py`: their batches would take the full run past 30 minutes.",
        "",
    ]
    if fig:
        lines += [f"![budget]({fig})", ""]
    lines += [markdown_table(table, COLUMNS), "", *verdict(table), ""]
    return lines
