"""`tent-warp` with one start per seed (or without its floored starts) against its default.

Levenberg-Marquardt from the least-squares start of `tent-warp` lands in minima far apart:
seeds whose points differ only by their draw end up to 20x apart. The default trains
``WARP_STARTS`` starts per seed (the equidistributed knots, then copies moved at random by up
to ``START_JITTER`` of each knot's nearer gap) and keeps the one closest to the reconstruction
halfway between its grid points. Both are run here on the same points, in the same process
(``restarts=1`` against the default):

    python benchmarks/warp_starts.py                         # 4 targets, depths 6, 8, 10, 12
    python benchmarks/warp_starts.py --targets 'tan(x)' --depths 8 --levels 4

Where the data's |f''| dips near 0 the default adds a start per ``FLOOR_STARTS`` fraction (knots
and zigzag held at that floor). ``--against floors`` runs the default against the same without
them (``FLOOR_STARTS`` emptied in this process), level count by level count:

    python benchmarks/warp_starts.py --against floors --targets 'x**3' --depths 7,8,9,10,11,12 \
        --levels 3,4,5

Setting: 500 uniform random points on [0, 1] per seed, seeds 0-4, test MSE on the uniform grid
of 10,001 points, float64, one torch thread; each budget is that of a width-4 network of depth
d (20d - 7 weights), spent on ``levels`` tent levels and as many knots as fit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import tentnet.warp
from tentnet import TrainConfig, fit
from tentnet.mlp import weight_count
from tentnet.warp import FLOOR_STARTS, WARP_STARTS, warp_units

TARGETS = "x**3,x**11,exp(x),sqrt(x + 0.01)"


def _median_fit(target: str, levels: int, k: int, seeds: list[int], starts: int | None):
    """(median, min, max) test MSE and seconds of tent-warp with ``starts`` per seed."""
    start = time.perf_counter()
    runs = fit(
        target,
        depth=levels + 1,
        method="tent-warp",
        seeds=seeds,
        config=TrainConfig(width=k, restarts=starts),
        count_regions=False,
    )
    mse = [r.test_mse for r in runs]
    return (statistics.median(mse), min(mse), max(mse)), time.perf_counter() - start


def _without_floors(target: str, levels: int, k: int, seeds: list[int]):
    tentnet.warp.FLOOR_STARTS = ()
    try:
        return _median_fit(target, levels, k, seeds, None)
    finally:
        tentnet.warp.FLOOR_STARTS = FLOOR_STARTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help="comma-separated expressions in x")
    ap.add_argument("--depths", default="6,8,10,12")
    ap.add_argument("--levels", default="4", help="comma-separated tent levels after the knots")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--against", choices=("one", "floors"), default="one")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    other = "1 start" if args.against == "one" else f"{WARP_STARTS} starts, no floored ones"
    print(
        f"| target | d (weights) | L (k) | {other}: median (min, max) | default: "
        "median (min, max) | other / default | s (other, default) |"
    )
    print("|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        for d in (int(v) for v in args.depths.split(",")):
            for levels in (int(v) for v in args.levels.split(",")):
                k = warp_units(weight_count(4, d), levels)
                if args.against == "one":
                    (m1, lo1, hi1), s1 = _median_fit(target, levels, k, seeds, 1)
                else:
                    (m1, lo1, hi1), s1 = _without_floors(target, levels, k, seeds)
                (m4, lo4, hi4), s4 = _median_fit(target, levels, k, seeds, None)
                print(
                    f"| {target} | {d} ({weight_count(4, d)}) | {levels} ({k}) | {m1:.2g} "
                    f"({lo1:.2g}, {hi1:.2g}) | {m4:.2g} ({lo4:.2g}, {hi4:.2g}) | "
                    f"{m1 / m4:.3g}x | {s1:.0f}, {s4:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
