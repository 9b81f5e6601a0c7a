"""`tent-warp` with one start per seed against its default of several (``WARP_STARTS``).

Levenberg-Marquardt from the least-squares start of `tent-warp` lands in minima far apart:
seeds whose points differ only by their draw end up to 20x apart. The default trains
``WARP_STARTS`` starts per seed (the equidistributed knots, then copies moved at random by up
to ``START_JITTER`` of each knot's nearer gap) and keeps the one closest to the reconstruction
halfway between its grid points. Both are run here on the same points, in the same process
(``restarts=1`` against the default):

    python benchmarks/warp_starts.py                         # 4 targets, depths 6, 8, 10, 12
    python benchmarks/warp_starts.py --targets 'tan(x)' --depths 8 --levels 4

Setting: 500 uniform random points on [0, 1] per seed, seeds 0-4, test MSE on the uniform grid
of 10,001 points, float64, one torch thread; each budget is that of a width-4 network of depth
d (20d - 7 weights), spent on ``levels`` tent levels and as many knots as fit.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet import TrainConfig, fit
from tentnet.mlp import weight_count
from tentnet.warp import WARP_STARTS, warp_units

TARGETS = "x**3,x**11,exp(x),sqrt(x + 0.01)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help="comma-separated expressions in x")
    ap.add_argument("--depths", default="6,8,10,12")
    ap.add_argument("--levels", type=int, default=4, help="tent levels after the knots")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        f"| target | d (weights) | knots k | 1 start: median (min, max) | {WARP_STARTS} starts: "
        "median (min, max) | 1 / several | s (1, several) |"
    )
    print("|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        for d in (int(v) for v in args.depths.split(",")):
            k = warp_units(weight_count(4, d), args.levels)
            cells, secs = [], []
            for starts in (1, None):  # None: the default, WARP_STARTS
                start = time.perf_counter()
                runs = fit(
                    target,
                    depth=args.levels + 1,
                    method="tent-warp",
                    seeds=seeds,
                    config=TrainConfig(width=k, restarts=starts),
                    count_regions=False,
                )
                secs.append(time.perf_counter() - start)
                mse = [r.test_mse for r in runs]
                cells.append((statistics.median(mse), min(mse), max(mse)))
            (m1, lo1, hi1), (m4, lo4, hi4) = cells
            print(
                f"| {target} | {d} ({weight_count(4, d)}) | {k} | {m1:.2g} ({lo1:.2g}, {hi1:.2g})"
                f" | {m4:.2g} ({lo4:.2g}, {hi4:.2g}) | {m1 / m4:.3g}x | "
                f"{secs[0]:.0f}, {secs[1]:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
