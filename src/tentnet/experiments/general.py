"""The general-targets experiment: non-convex, steep, oscillating and cusped targets and one
real data set, at equal weights.

At each depth d: ``auto`` (what ``tentnet fit`` does by default), each of its candidates
(``tent-lm`` at width 4 and depth d; ``knots``, one hidden layer of ``shallow_width(d)`` units),
Kaiming and Xavier MLPs of width 4 and depth d, and the best shallow optimum (``optimal_pwl``
with units + 1 free knots, fitted to the function itself; not defined for data). The goal:
auto at least 30x below Kaiming and within 1.5x of the shallow optimum.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from ..mlp import weight_count
from ..train import shallow_width
from .tables import ratio

# (target, domain); a data set takes its own x range and holds 20% out for testing.
TARGETS: tuple[tuple[str, tuple[float, float] | None], ...] = (
    ("sin(3*x)", (0.0, 3.0)),
    ("tanh(5*x)", (-1.0, 1.0)),
    ("exp(-x)*sin(4*x)", (0.0, 3.0)),
    ("x**3 - x", (-1.0, 1.0)),
    ("sqrt(abs(x))", (-1.0, 1.0)),
    ("data:sunspots", None),
)
DATA_HOLDOUT = 0.2
METHODS = ("auto", "tent-lm", "knots", "kaiming", "xavier")
CURVE_POINTS = 1001  # per stored curve (the first seed's fit), for the figure


def targets(plan) -> tuple[tuple[str, tuple[float, float] | None], ...]:
    """The plan's (target, domain) pairs: ``plan.general_targets`` of :data:`TARGETS`, or all."""
    wanted = plan.general_targets
    return TARGETS if wanted is None else tuple(t for t in TARGETS if t[0] in wanted)


def jobs(plan, budget) -> list:
    """One batch per (target, method, depth); ``budget(plan, overrides, steps)`` gives the
    config (the plan's caps applied)."""
    from .jobs import Job, reference_jobs

    out = []
    for target, domain in targets(plan):
        holdout = DATA_HOLDOUT if domain is None else 0.0
        for d in plan.general_depths:
            for m in METHODS:
                shallow = m == "knots"
                width = {"width": shallow_width(d)} if shallow else None
                cfg = budget(plan, width, plan.depth_steps)
                out.append(
                    Job(
                        "general",
                        f"{m} d{d}",
                        m,
                        (target,),
                        1 if shallow else d,
                        plan.general_seeds,
                        config=cfg,
                        domain=domain,
                        holdout=holdout,
                        curve=True,
                    )
                )
    pieces = {shallow_width(d) + 1 for d in plan.general_depths}
    functions = {(t, dom): pieces for t, dom in targets(plan) if dom is not None}
    return out + reference_jobs("general", functions)


def rows(records: list[dict], plan, limit) -> list[dict]:
    """One row per (target, depth): median (and min, mean) test MSE of every method, the
    shallow optimum, auto's choices, and the two ratios of the goal."""
    runs: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        for run in rec["runs"]:
            runs[(run["target"], rec["job"]["label"])].append(run)
    out = []
    for target, domain in targets(plan):
        for d in plan.general_depths:
            k = shallow_width(d)
            row: dict = {"target": target, "depth": d, "weights": weight_count(4, d), "units": k}
            for m in METHODS:
                mse = [r["test_mse"] for r in runs.get((target, f"{m} d{d}"), [])]
                row[f"{m}_median"] = statistics.median(mse) if mse else None
                if m == "auto":
                    row["auto_min"] = min(mse) if mse else None
                    row["auto_mean"] = statistics.fmean(mse) if mse else None
            chose = [r.get("auto_chose") for r in runs.get((target, f"auto d{d}"), [])]
            row["auto_chose"] = "/".join(sorted(set(filter(None, chose)))) or None
            row["shallow_optimum"] = limit(target, k + 1, domain) if domain else None
            row["kaiming/auto"] = ratio(row["kaiming_median"], row["auto_median"])
            row["auto/optimum"] = ratio(row["auto_median"], row["shallow_optimum"])
            out.append(row)
    return out


COLUMNS = [
    "target",
    "depth",
    "weights",
    "auto_median",
    "auto_min",
    "auto_mean",
    "auto_chose",
    "tent-lm_median",
    "units",
    "knots_median",
    "kaiming_median",
    "xavier_median",
    "shallow_optimum",
    "kaiming/auto",
    "auto/optimum",
]


def verdict(table: list[dict]) -> list[str]:
    """The goal, row by row: which (target, depth) cells meet it and which do not."""
    lines = []
    for r in table:
        vs_kaiming, vs_opt = r["kaiming/auto"], r["auto/optimum"]
        if vs_kaiming is None:
            continue
        ok_k = vs_kaiming >= 30
        ok_o = vs_opt is None or vs_opt <= 1.5
        if ok_k and ok_o:
            continue
        why = []
        if not ok_k:
            why.append(f"only {vs_kaiming:.3g}x below Kaiming")
        if not ok_o:
            why.append(f"{vs_opt:.3g}x the shallow optimum")
        lines.append(f"- {r['target']}, depth {r['depth']}: {'; '.join(why)}.")
    met = sum(1 for r in table if r["kaiming/auto"] is not None) - len(lines)
    return (
        [
            f"Goal met (30x below Kaiming, within 1.5x of the optimum) in {met} of "
            f"{met + len(lines)} cells; the others:",
            "",
            *lines,
        ]
        if lines
        else ["Goal met (30x below Kaiming, within 1.5x of the optimum) in every cell."]
    )


def figure(out: Path, records: list[dict], plan) -> str | None:
    """Per target, at the largest depth, seed 0: target and auto's fit (top), absolute error of
    every method (bottom, log scale). None without matplotlib."""
    import numpy as np

    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:
        return None
    d = max(plan.general_depths)
    curves = {}
    for rec in records:
        curve = rec.get("curve")
        if curve and rec["job"]["label"].endswith(f" d{d}"):  # labels name the depth budget
            curves[(rec["job"]["targets"][0], rec["job"]["method"])] = curve
    shown = targets(plan)
    n = len(shown)
    fig, axes = plt.subplots(
        2, n, figsize=(3.2 * n, 5.6), gridspec_kw={"height_ratios": [3, 2]}, squeeze=False
    )
    for col, (target, _) in enumerate(shown):
        top, bottom = axes[0][col], axes[1][col]
        auto = curves.get((target, "auto"))
        if auto is None:
            continue
        x, y = np.asarray(auto["x"]), np.asarray(auto["y"])
        points = len(x) < CURVE_POINTS  # a data set's held-out points, not a grid
        style = "." if points else "-"
        top.plot(x, y, style, color="0.55", lw=3, ms=4, label="target (test set)")
        top.plot(auto["grid"], auto["grid_fit"], "-", color="C0", lw=1, label="auto fit")
        top.set_title(f"{target}: auto chose {auto['method']}", fontsize=9)
        for i, m in enumerate(METHODS):
            c = curves.get((target, m))
            if c is None:
                continue
            err = np.abs(np.asarray(c["fit"]) - y)
            kw = {"ms": 3, "lw": 0} if points else {"lw": 2.2 if m == "auto" else 0.7}
            bottom.semilogy(x, np.maximum(err, 1e-12), style, color=f"C{i}", label=m, **kw)
        bottom.set_xlabel("x")
    axes[0][0].legend(fontsize=6)
    axes[1][-1].legend(fontsize=6)
    axes[1][0].set_ylabel("|fit - target|")
    fig.suptitle(f"depth {d} (width 4) or the shallow net of no more weights; seed 0", fontsize=9)
    save_figure(fig, out / "general.png")
    return "general.png"


def section(out: Path, records: list[dict], plan, limit) -> list[str]:
    """The report's section: CSV, figure, table and verdict."""
    from .tables import markdown_table, write_csv

    table = rows(records, plan, limit)
    write_csv(out / "general.csv", table)
    fig = figure(out, records, plan)
    lines = [
        "## Any 1-D target at equal weights (general)",
        "",
        f"Test MSE over {len(plan.general_seeds)} seeds (median; auto also min and mean); "
        "500 training points per seed uniform on the domain; test on the grid of 10,001 "
        f"points; for the data set a random {DATA_HOLDOUT:.0%} of the points is held out per "
        "seed and the test MSE is in its units. Deep methods: width 4, `depth` hidden layers "
        "(`weights` = 20 depth - 7); `knots`: one hidden layer of `units` units (no more "
        "weights). `auto` is `tentnet fit`'s default: it trains tent-lm, a knot method "
        "(tent-warp or "
        "tent-scaled: a first layer of knot units, then width-4 tent levels, within the same "
        "weights) and knots on 80% of each seed's training points, keeps the one with the "
        "lowest median validation MSE (`auto_chose`) and retrains it on all of them. "
        "`shallow_optimum` is the best continuous piecewise-linear fit with units + 1 free "
        "knots fitted to the function itself. Goal: `kaiming/auto` at least 30 and "
        "`auto/optimum` at most 1.5.",
        "",
    ]
    if fig:
        lines += [f"![general]({fig})", ""]
    lines += [markdown_table(table, COLUMNS), "", *verdict(table), ""]
    return lines
