"""Four measurements behind the general-targets section of the README.

1. The deep tent methods on non-convex targets: `tent-lm` and `tent-dc` at depths 5 and 8
   against the shallow optimum of equal weights (``optimal_pwl`` with units + 1 pieces).
2. How far `knots` is from that optimum as the number of training points grows (500, 2,000,
   8,000): whether a gap is the fit or the data.
3. Steep and singular targets not used anywhere else (tanh(20x), exp(-30x), 1/(1 + 25x^2),
   |x - 0.3|^0.7) at the budgets of depths 5 and 8, 500 points: `knots` (test and training
   MSE), `auto` and a Kaiming MLP of equal weights, against the optimum.
4. sqrt(|x|) on [-1, 1], where `auto` misses the optimum: `auto` with 500, 2,000 and 10,000
   points at depths 5 and 8, and what the interval between the two points around the cusp
   costs by itself (a straight line across it, the function itself everywhere else).

    python benchmarks/general_limits.py            # all parts, seeds 0-2
    python benchmarks/general_limits.py --part 4 --seeds 5

Setting: uniform random training points per seed, test MSE on the grid of 10,001 points,
float64, medians over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from tentnet import TrainConfig, fit, optimal_pwl
from tentnet.targets import sample_points, uniform_grid
from tentnet.train import shallow_width

TARGETS = (
    ("sin(3*x)", (0.0, 3.0)),
    ("tanh(5*x)", (-1.0, 1.0)),
    ("exp(-x)*sin(4*x)", (0.0, 3.0)),
    ("x**3 - x", (-1.0, 1.0)),
    ("sqrt(abs(x))", (-1.0, 1.0)),
)


def _median(target, dom, method, depth, seeds, points=500):
    cfg = TrainConfig(width=shallow_width(depth)) if method == "knots" else None
    runs = fit(
        target,
        method=method,
        depth=1 if method == "knots" else depth,
        seeds=seeds,
        domain=dom,
        points=points,
        config=cfg,
        count_regions=False,
    )
    return (
        statistics.median(r.test_mse for r in runs),
        statistics.median(r.train_mse for r in runs),
    )


def deep_methods(seeds) -> None:
    print(
        "| target | depth | optimum | tent-lm (x optimum) | tent-dc (x optimum) | "
        "tent-dc / tent-lm |"
    )
    print("|---|---|---|---|---|---|")
    for depth in (5, 8):
        for target, dom in TARGETS:
            opt = optimal_pwl(target, shallow_width(depth) + 1, dom).mse
            plus = _median(target, dom, "tent-lm", depth, seeds)[0]
            dc = _median(target, dom, "tent-dc", depth, seeds)[0]
            print(
                f"| {target} | {depth} | {opt:.3g} | {plus:.3g} ({plus / opt:.3g}x) | "
                f"{dc:.3g} ({dc / opt:.3g}x) | {dc / plus:.3g} |",
                flush=True,
            )


def knots_points(seeds) -> None:
    print("| target | units | optimum | points | knots test (x optimum) | knots train | s |")
    print("|---|---|---|---|---|---|---|")
    for target, dom in TARGETS[:3] + TARGETS[4:]:
        units = shallow_width(8)
        opt = optimal_pwl(target, units + 1, dom).mse
        for points in (500, 2000, 8000):
            start = time.perf_counter()
            test, train = _median(target, dom, "knots", 8, seeds, points)
            print(
                f"| {target} | {units} | {opt:.3g} | {points} | {test:.3g} ({test / opt:.2f}x)"
                f" | {train:.3g} | {time.perf_counter() - start:.1f} |",
                flush=True,
            )


STEEP = (
    ("tanh(20*x)", (-1.0, 1.0)),
    ("exp(-30*x)", (0.0, 1.0)),
    ("1/(1+25*x**2)", (-1.0, 1.0)),
    ("abs(x - 0.3)**0.7", (0.0, 1.0)),
)


def steep(seeds) -> None:
    print(
        "| target | depth (units) | optimum | knots test (x optimum) | knots train | auto "
        "(x optimum) | kaiming | kaiming / auto |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for target, dom in STEEP:
        for depth in (5, 8):
            units = shallow_width(depth)
            opt = optimal_pwl(target, units + 1, dom).mse
            test, train = _median(target, dom, "knots", depth, seeds)
            auto = _median(target, dom, "auto", depth, seeds)[0]
            kaiming = _median(target, dom, "kaiming", depth, seeds)[0]
            print(
                f"| {target} | {depth} ({units}) | {opt:.3g} | {test:.3g} ({test / opt:.3g}x) | "
                f"{train:.3g} | {auto:.3g} ({auto / opt:.3g}x) | {kaiming:.3g} | "
                f"{kaiming / auto:.3g} |",
                flush=True,
            )


def _cusp_gap(points: int, seed: int) -> float:
    """The test MSE of sqrt(|x|) on [-1, 1] that the interval between the two of ``seed``'s
    ``points`` training points around 0 costs when it is bridged by a straight line (as
    ``fit`` draws them; the test grid of 10,001 points)."""
    x = torch.sort(sample_points((-1.0, 1.0), points, torch.Generator().manual_seed(seed))).values
    j = int(torch.searchsorted(x, torch.tensor(0.0, dtype=x.dtype)))
    a, b = x[j - 1], x[j]
    grid = uniform_grid((-1.0, 1.0))
    inside = (grid >= a) & (grid <= b)
    chord = a.abs().sqrt() + (b.sqrt() - a.abs().sqrt()) * (grid - a) / (b - a)
    return float(((chord - grid.abs().sqrt()) ** 2 * inside).mean())


def cusp(seeds) -> None:
    target, dom = TARGETS[4]
    print("| depth (units) | optimum | points | cusp interval alone | auto (x optimum) | s |")
    print("|---|---|---|---|---|---|")
    for depth in (5, 8):
        units = shallow_width(depth)
        opt = optimal_pwl(target, units + 1, dom).mse
        for points in (500, 2000, 10_000):
            start = time.perf_counter()
            gap = statistics.median(_cusp_gap(points, s) for s in seeds)
            auto = _median(target, dom, "auto", depth, seeds, points)[0]
            print(
                f"| {depth} ({units}) | {opt:.3g} | {points} | {gap:.3g} ({gap / opt:.3g}x) | "
                f"{auto:.3g} ({auto / opt:.3g}x) | {time.perf_counter() - start:.0f} |",
                flush=True,
            )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", type=int, choices=(1, 2, 3, 4), default=None)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    if args.part in (None, 1):
        deep_methods(seeds)
        print()
    if args.part in (None, 2):
        knots_points(seeds)
        print()
    if args.part in (None, 3):
        steep(seeds)
        print()
    if args.part in (None, 4):
        cusp(seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
