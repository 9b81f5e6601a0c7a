"""What `tentnet fit` (method `auto`, the default, or `tent+`) gives at the depth issue's budgets.

For each convex target and weight budget (named by the width-4 network of depth d, 20d - 7
weights): the method's median test MSE, what it picked (method and shape; where seeds took
different shapes, each with its number of seeds),
the shallow optimum of no more weights (``optimal_pwl`` with ``shallow_width(d) + 1``
pieces), the ratio, the fall of the median per two layers of budget, and the seconds per
seed (the batch's wall time over its seeds).

    python benchmarks/auto_budget.py                          # the five budget targets
    python benchmarks/auto_budget.py --targets '1/(1+x)' --depths 5,8,10 --seeds 3
    python benchmarks/auto_budget.py --method tent+     # the deep method alone (no shallow)

Setting: 500 uniform random training points on [0, 1] per seed, test MSE on the uniform grid
of 10,001 points, float64, one torch thread; seeds 0..n-1 in one batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import torch

from tentnet import fit, optimal_pwl
from tentnet.train import shallow_width

TARGETS = "x**2,x**3,x**11,exp(x),sqrt(x + 0.01)"


def picks(runs) -> str:
    """The shapes ``auto`` kept, each with its number of seeds where they differ."""
    shapes = Counter(f"{r.method} {r.depth} x {r.width}" for r in runs)
    if len(shapes) == 1:
        return next(iter(shapes))
    return ", ".join(f"{shape} ({n})" for shape, n in shapes.most_common())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help="comma-separated expressions in x")
    ap.add_argument("--depths", default="5,6,7,8,9,10,11,12")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--method", default="auto", choices=("auto", "tent+"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    depths = [int(d) for d in args.depths.split(",")]
    seeds = list(range(args.seeds))
    print(
        f"| target | d (weights) | {args.method} median (min) | picked | shallow optimum | "
        f"optimum / {args.method} | fall per 2 layers | s per seed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        medians: dict[int, float] = {}
        for d in depths:
            start = time.perf_counter()
            runs = fit(target, depth=d, method=args.method, seeds=seeds, count_regions=False)
            seconds = time.perf_counter() - start
            mse = [r.test_mse for r in runs]
            medians[d] = statistics.median(mse)
            picked = picks(runs)
            best = optimal_pwl(target, shallow_width(d) + 1).mse
            fall = f"{medians[d - 2] / medians[d]:.2g}x" if d - 2 in medians else "-"
            print(
                f"| {target} | {d} ({20 * d - 7}) | {medians[d]:.2g} ({min(mse):.2g}) | "
                f"{picked} | {best:.2g} | {best / medians[d]:.3g}x | {fall} | "
                f"{seconds / len(seeds):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
