"""The width-4 depth-d network itself, started from curvature-following knots.

`tent-warp` and `tent-scaled` with 4 knot units and d - 1 tent levels build a plain ReLU MLP
1 -> 4 -> 4 -> ... -> 4 -> 1 with d hidden layers: the very architecture of `tent-lm` at depth d
(20d - 7 weights), started differently (a first layer whose 4 units place knots by the
target's curvature, a zigzag onto every piece, Yarotsky's chain on it; then LM on all
weights). This script measures both beside `tent-lm` and the shallow optimum of no more weights,
in one run: does the width-4 network beat the best shallow one, and does it keep improving
with depth, when its start follows the curvature?

    python benchmarks/width4_knot_starts.py                                # x^3, x^11, exp(x)
    python benchmarks/width4_knot_starts.py --targets 'x**4' --depths 5,8 --methods tent-scaled

Setting: 500 uniform random training points on [0, 1] per seed, seeds 0..n-1 in one batch per
(method, depth) (`tent-lm`: every target in one batch), test MSE on the uniform grid of 10,001
points, float64, one torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet import TrainConfig, fit, optimal_pwl
from tentnet.mlp import weight_count
from tentnet.train import shallow_width

TARGETS = "x**3,x**11,exp(x)"
METHODS = "tent-lm,tent-warp,tent-scaled"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help="comma-separated expressions in x")
    ap.add_argument("--depths", default="5,8,10,12")
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    targets = args.targets.split(",")
    methods = args.methods.split(",")
    depths = [int(d) for d in args.depths.split(",")]
    seeds = list(range(args.seeds))
    cells: dict[tuple[str, int, str], tuple[list[float], float]] = {}
    for d in depths:
        for m in methods:
            batches = [targets] if m == "tent-lm" else [[t] for t in targets]
            for batch in batches:
                cfg = None if m == "tent-lm" else TrainConfig(depth=d, width=4)
                start = time.perf_counter()
                runs = fit(batch, depth=d, method=m, seeds=seeds, config=cfg, count_regions=False)
                seconds = (time.perf_counter() - start) / len(runs)
                for run in runs:
                    assert sum(p.numel() for p in run.mlp.parameters()) == weight_count(4, d)
                for t in batch:
                    mse = [r.test_mse for r in runs if r.target == t]
                    cells[(t, d, m)] = (mse, seconds)
                    print(
                        f"{t} d{d} {m}: median {statistics.median(mse):.3g} "
                        f"({seconds:.1f} s per seed)",
                        flush=True,
                    )
    cols = " | ".join(f"{m} median (min)" for m in methods)
    ratios = " | ".join(f"optimum / {m}" for m in methods)
    print(f"\n| target | d (weights) | {cols} | shallow optimum | {ratios} |")
    print("|---|---|" + "---|" * (2 * len(methods) + 1))
    for t in targets:
        for d in depths:
            opt = optimal_pwl(t, shallow_width(d) + 1, (0.0, 1.0)).mse
            meds = [statistics.median(cells[(t, d, m)][0]) for m in methods]
            mins = [min(cells[(t, d, m)][0]) for m in methods]
            vals = " | ".join(f"{a:.2g} ({b:.2g})" for a, b in zip(meds, mins, strict=True))
            rs = " | ".join(f"{opt / a:.3g}x" for a in meds)
            print(f"| {t} | {d} ({weight_count(4, d)}) | {vals} | {opt:.2g} | {rs} |")
    print("\nseconds per seed (batch time / runs):")
    for (t, d, m), (_, s) in sorted(cells.items()):
        print(f"  {t} d{d} {m}: {s:.1f}")


if __name__ == "__main__":
    main()
