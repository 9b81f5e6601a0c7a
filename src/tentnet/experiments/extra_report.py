"""The sections of the extra experiments (several inputs, digits, diabetes): tables and
learning curves."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from .regions import regions_2d_figure
from .tables import markdown_table, write_csv

_EXTRA_TEXT = {
    "multid": (
        "## Many inputs: r^3 with r the Euclidean norm, on [0, 1]^n",
        "TentLayer network (8 channels, depth 4, each channel a tent pair, then a linear "
        "read-out) against a dense ReLU MLP (3 hidden layers) with about as many "
        "parameters; 2,000 random training points, test MSE on 5,000 held-out random "
        "points; two-phase training (a third of the steps on peaks and scales).",
    ),
    "digits": (
        "## Real data: scikit-learn digits (classification)",
        "The same small model (Linear 64 -> 16, ReLU) with a TentLayer head (8 channels, "
        "depth 3, linear read-out) or a dense ReLU head (2 hidden layers) of about equal "
        "parameter count; 75/25 split per seed, inputs standardised, full-batch Adam.",
    ),
    "diabetes": (
        "## Real data: scikit-learn diabetes (regression)",
        "A TentLayer network (4 channels, depth 3) against a dense ReLU MLP (2 hidden "
        "layers) of about equal parameter count; 75/25 split per seed, test MSE in the "
        "target's units.",
    ),
}


def extra_section(out: Path, name: str, records: list[dict]) -> list[str]:
    rows = [row for rec in records for row in rec.get("rows", [])]
    metric = "test_accuracy" if name == "digits" else "test_mse"
    csv_rows = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    write_csv(out / f"{name}.csv", csv_rows)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r.get("target", name), r.get("model", r.get("head")))].append(r)
    table = []
    for (target, kind), rs in groups.items():
        vals = [r[metric] for r in rs]
        table.append(
            {
                "target": target,
                "model": kind,
                "seeds": len(rs),
                "parameters": rs[0]["parameters"],
                f"median_{metric}": statistics.median(vals),
                "min": min(vals),
                "max": max(vals),
                "std": statistics.pstdev(vals),
            }
        )
    heading, text = _EXTRA_TEXT[name]
    lines = [
        heading,
        "",
        text,
        "",
        markdown_table(
            table,
            ["target", "model", "seeds", "parameters", f"median_{metric}", "min", "max", "std"],
        ),
        "",
    ]
    fig = _curves_figure(out, name, rows, metric)
    if fig:
        lines += [f"![{name} learning curves]({fig})", ""]
    maps = [rec["region_maps"] for rec in records if "region_maps" in rec]
    if maps:
        fig2 = regions_2d_figure(out, maps[0])
        if fig2:
            lines += [
                "Activation regions of 2-input networks over [0, 1]^2, coloured by "
                "activation pattern; the counts are estimated by sampling a 400 x 400 "
                "grid (regions smaller than a grid cell are missed).",
                "",
                f"![regions in 2-D]({fig2})",
                "",
            ]
    return lines


def _curves_figure(out: Path, name: str, rows: list[dict], metric: str) -> str | None:
    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:  # matplotlib is not installed: the report says so instead of the figure
        return None
    targets = sorted({r.get("target", name) for r in rows})
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.6), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        for kind, color in (("tent", "C0"), ("dense", "C1")):
            for r in rows:
                if r.get("target", name) == target and r.get("model", r.get("head")) == kind:
                    steps = [c[0] for c in r["curve"]]
                    vals = [c[2] for c in r["curve"]]
                    ax.plot(
                        steps,
                        vals,
                        color=color,
                        alpha=0.6,
                        lw=1,
                        label=kind if r["seed"] == min(x["seed"] for x in rows) else None,
                    )
        if metric == "test_mse":
            ax.set_yscale("log")
        ax.set_title(target, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend(fontsize=7)
    save_figure(fig, out / f"{name}.png")
    return f"{name}.png"
