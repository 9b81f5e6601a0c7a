"""`tent-scaled` against `tent-warp`, level count by level count, at equal weights.

For every target, weight budget (that of a width-4 depth-d network, 20d - 7 weights) and level
count L, both methods get as many first-layer knot units k as the budget leaves
(``tentnet.warp.warp_units``). Printed: their median test MSE, the shallow optimum of the
budget (``optimal_pwl`` with ``shallow_width(d) + 1`` pieces), and the free-knot limit of the
network's k 2^L pieces (``optimal_pwl`` with that many pieces; above 64 pieces its knots are
equidistributed, not optimised, so a network can come out a little below it).

    python benchmarks/scaled_levels.py --targets 'exp(x);1/(1+x)' --depths 8,10,12 --levels 3,5,6

Setting: 500 uniform random training points on [0, 1] (or the target's domain) per seed, seeds
0..n-1, test MSE on the uniform grid of 10,001 points, float64, one torch thread.
"""

from __future__ import annotations

import argparse
import time

import torch
from auto_general import median_fit, target_items  # benchmarks/ is on the path as a script

from tentnet import TentnetError, TrainConfig, optimal_pwl
from tentnet.mlp import weight_count
from tentnet.train import shallow_width
from tentnet.warp import warp_units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="x**3;exp(x);1/(1+x)", help="';'-separated expr[@lo,hi]")
    ap.add_argument("--depths", default="8,10,12")
    ap.add_argument("--levels", default="3,4,5,6")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        "| target [domain] | d (weights) | L (k) | tent-warp | tent-scaled | warp / scaled | "
        "shallow optimum | optimum / scaled | limit of k 2^L pieces | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    try:
        items = target_items(args.targets)
    except ValueError as err:
        ap.error(str(err))
    for target, (lo, hi) in items:
        for d in (int(v) for v in args.depths.split(",")):
            budget = weight_count(4, d)
            shallow = optimal_pwl(target, shallow_width(d) + 1, (lo, hi)).mse
            for levels in (int(v) for v in args.levels.split(",")):
                units = warp_units(budget, levels)
                if units < 4:
                    continue
                start = time.perf_counter()
                shape = TrainConfig(depth=levels + 1, width=units)
                warp, scaled = (
                    median_fit(target, m, levels + 1, (lo, hi), seeds, shape)[0]
                    for m in ("tent-warp", "tent-scaled")
                )
                limit = optimal_pwl(target, units * 2**levels, (lo, hi)).mse
                print(
                    f"| {target} [{lo:g}, {hi:g}] | {d} ({budget}) | {levels} ({units}) | "
                    f"{warp:.2g} | {scaled:.2g} | {warp / scaled:.3g}x | {shallow:.2g} | "
                    f"{shallow / scaled:.3g}x | {limit:.2g} | "
                    f"{time.perf_counter() - start:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    try:
        main()
    except TentnetError as err:
        raise SystemExit(f"error: {err}") from None
