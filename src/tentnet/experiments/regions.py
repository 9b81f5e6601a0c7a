"""Linear regions against depth (tent before and after training, Kaiming), and the 2-D
region maps."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from .specs import DEPTH_METHODS, DEPTH_TARGETS, Plan
from .tables import markdown_table, runs_of, write_csv


def _row(depth: int, network: str, stage: str, counts: list[int]) -> dict:
    return {
        "depth": depth,
        "network": network,
        "stage": stage,
        "median_linear_regions": statistics.median(counts),
        "max": max(counts),
        "2^d": 2**depth,
    }


def regions_section(out: Path, records: list[dict], plan: Plan) -> list[str]:
    rows = []
    for rec in sorted(records, key=lambda r: r["job"]["depth"]):
        if rec.get("init_regions"):
            counts = [r["linear_regions"] for r in rec["init_regions"]]
            rows.append(_row(rec["job"]["depth"], rec["job"]["method"], "init", counts))
    after: dict[tuple, list[int]] = defaultdict(list)
    phase1: dict[int, list[int]] = defaultdict(list)
    for job, run in runs_of(records):
        if run["target"] not in DEPTH_TARGETS:  # runs shared with the budget experiment
            continue
        after[(job["method"], job["depth"])].append(run["linear_regions"])
        if job["method"] == "tent" and run["phase1_linear_regions"] is not None:
            phase1[job["depth"]].append(run["phase1_linear_regions"])
    for d in plan.depths:
        for method in DEPTH_METHODS:
            if after.get((method, d)):
                rows.append(_row(d, method, "trained", after[(method, d)]))
        if phase1.get(d):
            rows.append(_row(d, "tent", "after phase 1", phase1[d]))
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


MAP_SIZE = 400  # the 2-D region maps sample a MAP_SIZE x MAP_SIZE grid over [0, 1]^2


def compute_region_maps(size: int = MAP_SIZE) -> dict:
    """Activation-pattern maps of two 2-input networks at initialisation (a TentLayer net and
    a Kaiming MLP), sampled on a ``size`` x ``size`` grid: a stored job result that the report
    draws. Each map is a region label per grid point (row-major, y then x), packed as
    zlib-compressed little-endian uint32 in base64."""
    import base64
    import zlib

    import torch

    from ..multi import dense_mlp, tent_regressor

    g = torch.Generator().manual_seed(0)
    tent = tent_regressor(2, 4, 3, g)
    grid = torch.linspace(0, 1, size, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    tent[0].calibrate(pts)
    nets = {
        "TentLayer net at init (4 channels, depth 3)": torch.nn.Sequential(
            *tent[0].to_mlp(), tent[1]
        ),
        "Kaiming MLP 2-8-8-8-1 at init": dense_mlp([2, 8, 8, 8, 1], g),
    }
    maps = []
    for title, net in nets.items():
        labels = _pattern_labels(net, pts).astype("<u4")
        maps.append(
            {
                "title": title,
                "regions": int(labels.max()) + 1,
                "labels": base64.b64encode(zlib.compress(labels.tobytes(), 9)).decode("ascii"),
            }
        )
    return {"size": size, "maps": maps}


def _pattern_labels(net, pts) -> np.ndarray:
    """Per point, the index of its activation pattern among the distinct patterns."""
    import torch

    bits = []
    h = pts
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, torch.nn.ReLU):
                bits.append((h > 0).numpy())
    packed = np.packbits(np.concatenate(bits, axis=1), axis=1)
    _, labels = np.unique(packed, axis=0, return_inverse=True)
    return labels.reshape(-1)


def regions_2d_figure(out: Path, stored: dict) -> str | None:
    """Draws the maps of :func:`compute_region_maps` (read from the stored record)."""
    import base64
    import zlib

    from ..plot import optional_pyplot, save_figure

    plt = optional_pyplot()
    if plt is None:  # matplotlib is not installed: the report says so instead of the figure
        return None
    size = stored["size"]
    fig, axes = plt.subplots(1, len(stored["maps"]), figsize=(9, 4.4), squeeze=False)
    for ax, m in zip(axes[0], stored["maps"], strict=True):
        raw = zlib.decompress(base64.b64decode(m["labels"]))
        labels = np.frombuffer(raw, dtype="<u4").astype(np.int64)
        shuffled = np.random.default_rng(0).permutation(m["regions"])[labels]
        ax.imshow(
            shuffled.reshape(size, size),
            origin="lower",
            extent=(0, 1, 0, 1),
            cmap="tab20",
            interpolation="nearest",
        )
        ax.set_title(f"{m['title']}\n~{m['regions']} regions (sampled)", fontsize=8)
    save_figure(fig, out / "regions_2d.png")
    return "regions_2d.png"
