"""Linear regions against depth (tent before and after training, Kaiming), and the 2-D
region maps."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from .specs import DEPTH_METHODS, Plan
from .tables import markdown_table, runs_of, write_csv


def regions_section(out: Path, records: list[dict], plan: Plan) -> list[str]:
    rows = []
    for rec in sorted(records, key=lambda r: r["job"]["depth"]):
        if not rec.get("init_regions"):
            continue
        counts = [r["linear_regions"] for r in rec["init_regions"]]
        d = rec["job"]["depth"]
        rows.append(
            {
                "depth": d,
                "network": rec["job"]["method"],
                "stage": "init",
                "median_linear_regions": statistics.median(counts),
                "max": max(counts),
                "2^d": 2**d,
            }
        )
    after: dict[tuple, list[int]] = defaultdict(list)
    phase1: dict[int, list[int]] = defaultdict(list)
    for job, run in runs_of(records):
        after[(job["method"], job["depth"])].append(run["linear_regions"])
        if job["method"] == "tent" and run["phase1_linear_regions"] is not None:
            phase1[job["depth"]].append(run["phase1_linear_regions"])
    for d in plan.depths:
        for method in DEPTH_METHODS:
            c = after.get((method, d))
            if c:
                rows.append(
                    {
                        "depth": d,
                        "network": method,
                        "stage": "trained",
                        "median_linear_regions": statistics.median(c),
                        "max": max(c),
                        "2^d": 2**d,
                    }
                )
        if phase1.get(d):
            rows.append(
                {
                    "depth": d,
                    "network": "tent",
                    "stage": "after phase 1",
                    "median_linear_regions": statistics.median(phase1[d]),
                    "max": max(phase1[d]),
                    "2^d": 2**d,
                }
            )
    write_csv(out / "regions.csv", rows)
    fig = _regions_figure(out, rows)
    lines = [
        "## Linear regions against depth",
        "",
        "Exact counts (`count_linear_regions`) on [0, 1], median over the depth-sweep "
        "seeds and targets.",
        "",
    ]
    if fig:
        lines += [f"![regions]({fig})", ""]
    lines += [
        markdown_table(rows, ["depth", "network", "stage", "median_linear_regions", "max", "2^d"])
    ]
    return [*lines, ""]


def _regions_figure(out: Path, rows: list[dict]) -> str | None:
    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:  # matplotlib is not installed: the report says so instead of the figure
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    series = defaultdict(list)
    for r in rows:
        series[(r["network"], r["stage"])].append((r["depth"], r["median_linear_regions"]))
    for (net, stage), pts in series.items():
        ax.semilogy(*zip(*pts, strict=True), "o-", ms=3, label=f"{net} ({stage})")
    depths = sorted({r["depth"] for r in rows})
    ax.semilogy(depths, [2**d for d in depths], "k--", lw=1, label="2^d")
    ax.set_xlabel("depth")
    ax.set_ylabel("linear regions on [0, 1]")
    ax.legend(fontsize=7)
    save_figure(fig, out / "regions.png")
    return "regions.png"


def regions_2d_figure(out: Path) -> str | None:
    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:  # matplotlib is not installed: the report says so instead of the figure
        return None
    import torch

    from ..multi import dense_mlp, tent_regressor

    g = torch.Generator().manual_seed(0)
    tent = tent_regressor(2, 4, 3, g)
    grid = torch.linspace(0, 1, 400, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    tent[0].calibrate(pts)
    nets = {
        "TentLayer net at init (4 channels, depth 3)": torch.nn.Sequential(
            *tent[0].to_mlp(), tent[1]
        ),
        "Kaiming MLP 2-8-8-8-1 at init": dense_mlp([2, 8, 8, 8, 1], g),
    }
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, (title, net) in zip(axes, nets.items(), strict=True):
        codes = _pattern_codes(net, pts)
        _, labels = np.unique(codes, return_inverse=True)
        count = int(labels.max()) + 1
        shuffled = np.random.default_rng(0).permutation(count)[labels]
        ax.imshow(
            shuffled.reshape(400, 400),
            origin="lower",
            extent=(0, 1, 0, 1),
            cmap="tab20",
            interpolation="nearest",
        )
        ax.set_title(f"{title}\n~{count} regions (sampled)", fontsize=8)
    save_figure(fig, out / "regions_2d.png")
    return "regions_2d.png"


def _pattern_codes(net, pts) -> np.ndarray:
    import torch

    bits = []
    h = pts
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, torch.nn.ReLU):
                bits.append((h > 0).numpy())
    pattern = np.concatenate(bits, axis=1)
    return np.array([hash(row.tobytes()) for row in np.packbits(pattern, axis=1)])
