"""The depth sweep: test error against depth, its figure, and whether depth pays per layer."""

from __future__ import annotations

import statistics
from pathlib import Path

from .specs import DEPTH_METHODS, DEPTH_TARGETS, Plan
from .tables import Limits, by_target, markdown_table, write_csv


def depth_section(out: Path, records: list[dict], limits: Limits, plan: Plan) -> list[str]:
    groups = by_target(records, "method", "depth")
    rows = []
    for target in DEPTH_TARGETS:
        for method in DEPTH_METHODS:
            for d in plan.depths:
                mse = [r["test_mse"] for r in groups.get((target, method, d), [])]
                if mse:
                    rows.append(
                        {
                            "target": target,
                            "method": method,
                            "depth": d,
                            "seeds": len(mse),
                            "median_test_mse": statistics.median(mse),
                            "min_test_mse": min(mse),
                            "limit_2^d_pieces": limits.get(target, 2**d),
                        }
                    )
    write_csv(out / "depth.csv", rows)
    fig = _depth_figure(out, rows, plan)
    lines = [
        "## Error against depth",
        "",
        f"Median test MSE over {len(plan.depth_seeds)} seeds; Adam methods train for "
        f"{plan.depth_steps} steps here.",
        "",
    ]
    if fig:
        lines += [f"![depth]({fig})", ""]
    lines += [
        markdown_table(
            rows,
            [
                "target",
                "method",
                "depth",
                "seeds",
                "median_test_mse",
                "min_test_mse",
                "limit_2^d_pieces",
            ],
        ),
        "",
    ]
    plus = {
        r["depth"]: r["median_test_mse"]
        for r in rows
        if r["target"] == "x**3" and r["method"] == "tent-lm"
    }
    pairs = [(d, plus[d] / plus[d + 1]) for d in range(3, 10) if d in plus and d + 1 in plus]
    if pairs:
        worst = min(f for _, f in pairs)
        lines += [
            "tent-lm on x^3, factor per added layer from depth 3 to 10: "
            + ", ".join(f"{d}->{d + 1}: {f:.1f}x" for d, f in pairs)
            + f" (goal at least 3x each: {'met' if worst >= 3 else 'NOT met'}).",
            "",
        ]
    return lines


def _depth_figure(out: Path, rows: list[dict], plan: Plan) -> str | None:
    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:  # matplotlib is not installed: the report says so instead of the figure
        return None
    fig, axes = plt.subplots(1, len(DEPTH_TARGETS), figsize=(4.2 * len(DEPTH_TARGETS), 3.6))
    for ax, target in zip(axes, DEPTH_TARGETS, strict=True):
        for method in DEPTH_METHODS:
            pts = [
                (r["depth"], r["median_test_mse"])
                for r in rows
                if r["target"] == target and r["method"] == method
            ]
            if pts:
                ax.semilogy(*zip(*pts, strict=True), "o-", ms=3, label=method)
        lim = [
            (r["depth"], r["limit_2^d_pieces"])
            for r in rows
            if r["target"] == target and r["method"] == DEPTH_METHODS[0]
        ]
        if lim:
            ax.semilogy(*zip(*lim, strict=True), "k--", lw=1, label="limit (2^d pieces)")
        ax.set_title(target)
        ax.set_xlabel("depth")
    axes[0].set_ylabel("median test MSE")
    axes[0].legend(fontsize=7)
    save_figure(fig, out / "depth.png")
    return "depth.png"
