"""Non-convex targets: tent-dc, tent-lm and Kaiming side by side."""

from __future__ import annotations

import statistics
from pathlib import Path

from .specs import NONCONVEX_METHODS, NONCONVEX_TARGETS
from .tables import Limits, by_target, markdown_table, stats, write_csv


def nonconvex_section(out: Path, records: list[dict], limits: Limits) -> list[str]:
    groups = by_target(records, "label")
    params = {rec["job"]["label"]: rec["runs"][0].get("parameters", 0) for rec in records}
    rows = []
    for target, domain in NONCONVEX_TARGETS:
        base = None
        for label, _, _ in NONCONVEX_METHODS:
            runs = groups.get((target, label))
            if not runs:
                continue
            st = stats([r["test_mse"] for r in runs])
            if base is None:
                base = st["median_mse"]
            rows.append(
                {
                    "target": target,
                    "domain": f"[{domain[0]:g}, {domain[1]:g}]",
                    "method": label,
                    "seeds": len(runs),
                    "parameters": params[label],
                    **st,
                    "kaiming/method (median)": base / st["median_mse"],
                    "median_linear_regions": statistics.median(r["linear_regions"] for r in runs),
                    "limit_64_pieces": limits.get(target, 64, domain),
                }
            )
    write_csv(out / "nonconvex.csv", rows)
    return [
        "## Non-convex targets (depth 5, 500 points, equal parameter counts)",
        "",
        "tent-dc is the sum of two tent networks (a difference-of-convex split started from "
        "y = (y + k x^2) - k x^2 with k estimated from the data), exported as one width-8 "
        "plain MLP; the baseline is the same width-8 MLP with Kaiming init. A pair has at "
        "most 63 pieces at initialisation, so the limit shown is for 64 pieces.",
        "",
        markdown_table(
            rows,
            [
                "target",
                "domain",
                "method",
                "seeds",
                "parameters",
                "min_mse",
                "median_mse",
                "mean_mse",
                "max_mse",
                "kaiming/method (median)",
                "median_linear_regions",
                "limit_64_pieces",
            ],
        ),
        "",
    ]
