"""The budget experiment: test error against weight count, deep against shallow.

At each depth d the deep methods train a width-4 network (20d - 7 weights); the shallow
methods train one hidden layer of ``shallow_width(d)`` units, the largest with no more weights.
Side by side, per target: the deep methods, the best shallow network we can fit (``knots``), a
shallow Kaiming MLP, the best shallow optimum itself (``optimal_pwl`` with k + 1 pieces, fitted
to the function, which no k-unit network trained on the points can beat by much), and the 2^d
limit of the deep network. ``tent+`` (the project's deep method) keeps, per seed, the best of
the width-4 tent chain (``tent-lm``) and the first-layer-of-knots shapes within the same
weights (``tentnet.deep``), so its networks need not be width 4; they never have more weights.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from ..mlp import weight_count
from ..train import shallow_width
from .tables import ratio

TARGETS = ("x**2", "x**3", "x**11", "exp(x)", "sqrt(x + 0.01)")
PLUS = "tent+"  # one batch per target (the heaviest of the experiment)
DEEP = ("tent-lm", "tent", "kaiming")  # width 4, one batch for all the targets
SHALLOW = (("knots", "knots"), ("kaiming (shallow)", "kaiming"))


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
        cfg = budget(plan, None, plan.depth_steps)
        out.extend(
            Job("budget", PLUS, PLUS, (target,), d, plan.budget_plus_seeds, config=cfg)
            for target in TARGETS
        )
        k = shallow_width(d)
        for label, m in SHALLOW:
            cfg = budget(plan, {"width": k}, plan.depth_steps)
            out.append(Job("budget", label, m, TARGETS, 1, plan.budget_seeds, config=cfg))
    pieces = {p for d in plan.budget_depths for p in (shallow_width(d) + 1, 2**d)}
    return out + reference_jobs("budget", {(t, (0.0, 1.0)): pieces for t in TARGETS})


def _groups(records: list[dict]) -> dict[tuple, list[dict]]:
    """The runs by (target, label, weights); tent+'s by (target, label, depth of the budget):
    its networks differ in shape and weights from seed to seed."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        job = rec["job"]
        for run in rec["runs"]:
            size = job["depth"] if job["label"] == PLUS else run["parameters"]
            groups[(run["target"], job["label"], size)].append(run)
    return groups


def _median_min(runs: list[dict]) -> tuple:
    """Median and min test MSE of ``runs`` (None, None: none)."""
    mse = [r["test_mse"] for r in runs]
    return (statistics.median(mse), min(mse)) if mse else (None, None)


def picked(runs: list[dict]) -> str | None:
    """The shapes ``tent+`` kept (method depth x width), each with its number of seeds where
    they differ."""
    shapes = Counter(r["chose"] for r in runs if r.get("chose"))
    if len(shapes) < 2:
        return next(iter(shapes), None)
    return ", ".join(f"{shape} ({n})" for shape, n in shapes.most_common())


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
            plus = groups.get((target, PLUS, d), [])
            row[f"{PLUS}_median"], row[f"{PLUS}_min"] = _median_min(plus)
            row[f"{PLUS}_picked"] = picked(plus)
            for m in DEEP:
                runs = groups.get((target, m, deep_w), [])
                row[f"{m}_median"], row[f"{m}_min"] = _median_min(runs)
            for label, _ in SHALLOW:
                mse = [r["test_mse"] for r in groups.get((target, label, shallow_w), [])]
                row[f"{label}_median"] = statistics.median(mse) if mse else None
            row["best_shallow"] = limit(target, k + 1)
            row["limit_2^d"] = limit(target, 2**d)
            for m in (PLUS, "tent-lm"):
                row[f"shallow_over_{m}"] = ratio(row["knots_median"], row[f"{m}_median"])
            row[f"optimum_over_{PLUS}"] = ratio(row["best_shallow"], row[f"{PLUS}_median"])
            out.append(row)
    return out


COLUMNS = [
    "target",
    "depth",
    "weights",
    "tent+_median",
    "tent+_min",
    "tent+_picked",
    "tent-lm_median",
    "tent-lm_min",
    "tent_median",
    "kaiming_median",
    "units",
    "knots_median",
    "kaiming (shallow)_median",
    "best_shallow",
    "limit_2^d",
    "shallow_over_tent+",
    "shallow_over_tent-lm",
    "optimum_over_tent+",
]


def verdict(table: list[dict]) -> list[str]:
    """Where depth pays: per target and deep method, the budgets (named by the width-4 depth)
    at which it beats the best shallow fit, and for tent+ the shallow optimum too."""
    lines = []
    for target in TARGETS:
        for m in (PLUS, "tent-lm"):
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
            if m == PLUS:
                opt = [r["depth"] for r in sel if (r[f"optimum_over_{PLUS}"] or 0) > 1]
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
        [(f"{PLUS}_median", PLUS, "weights", "^-")]
        + [(f"{m}_median", m, "weights", "o-") for m in DEEP]
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
        f"Median test MSE over {len(plan.budget_seeds)} seeds ({len(plan.budget_plus_seeds)} "
        f"for tent+; {', '.join(TARGETS)} on [0, 1], "
        "500 training points per seed). Deep: width 4, `depth` hidden layers, `weights` = "
        "20 depth - 7. Shallow: one hidden layer of `units` units (3 units + 1 weights, never "
        f"more than the deep network's). Adam methods train for {plan.depth_steps} steps. "
        "`best_shallow` is the best continuous piecewise-linear fit with units + 1 free knots "
        "fitted to the function itself (a lower bound for any network of that size trained on "
        "the points, up to the data); `limit_2^d` the same with 2^depth pieces. "
        "`tent+` is the project's deep method: per seed, the best on the reconstruction of its "
        "points of the width-4 tent chain (`tent-lm`) and the first-layer-of-knots networks "
        "(`tent-warp`, `tent-scaled`: a first hidden layer of knots, then width-4 tent levels) "
        "of no more weights; `tent+_picked` names the shapes kept (method depth x width, seeds "
        "per shape). `shallow_over_<method>` above 1 means depth pays; `optimum_over_tent+` "
        "above 1 means tent+ beats every shallow network of its weights.",
        "",
    ]
    if fig:
        lines += [f"![budget]({fig})", ""]
    lines += [markdown_table(table, COLUMNS), "", *verdict(table), ""]
    return lines
