"""A deep knot network fitted from few points: test MSE and the largest error between grid points.

The warp methods fit the reconstruction of the points on a grid of at least 4 points per network
piece (``tentnet.warp.GRID_PER_PIECE``); a piece that falls between two grid points has nothing
to hold its slope and can leave a narrow spike, which the test grid of 10,001 points may miss.
This fits one shape from several point counts and reports, per count, the median over seeds of
the test MSE and of the largest error on a uniform grid of 200,001 points (every seed's too).

    python benchmarks/warp_sparse.py                     # x^2, tent-scaled 7 x 20, 100-500 points
    python benchmarks/warp_sparse.py --target 'exp(x)' --method tent-warp --depth 5 --width 30

Setting: uniform random training points on [0, 1] per seed, seeds 0..n-1 in one batch, float64,
one torch thread; the method's own starts and LM budget.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet import TrainConfig, fit
from tentnet.targets import parse_expression

FINE = 200_001


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="x**2")
    ap.add_argument("--method", default="tent-scaled", choices=("tent-scaled", "tent-warp"))
    ap.add_argument("--depth", type=int, default=7, help="tent levels + 1")
    ap.add_argument("--width", type=int, default=20, help="first-layer knot units")
    ap.add_argument("--points", default="100,200,500")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    x = torch.linspace(0.0, 1.0, FINE, dtype=torch.float64)
    truth = parse_expression(args.target)(x)
    cfg = TrainConfig(depth=args.depth, width=args.width)
    pieces = args.width * 2 ** (args.depth - 1)
    print(f"{args.target}, {args.method} {args.depth} x {args.width} ({pieces} pieces)")
    print("| points | test MSE median (per seed) | largest error median (per seed) | s |")
    print("|---|---|---|---|")
    for points in (int(p) for p in args.points.split(",")):
        start = time.perf_counter()
        runs = fit(
            args.target,
            method=args.method,
            depth=args.depth,
            seeds=seeds,
            points=points,
            config=cfg,
            count_regions=False,
        )
        seconds = time.perf_counter() - start
        mse = [r.test_mse for r in runs]
        largest = []
        for r in runs:
            with torch.no_grad():
                out = r.mlp(x.unsqueeze(-1).to(next(r.mlp.parameters()).dtype)).squeeze(-1)
            largest.append(float((out.double() - truth).abs().max()))
        each = lambda v: ", ".join(f"{e:.1e}" for e in v)  # noqa: E731
        print(
            f"| {points} | {statistics.median(mse):.2e} ({each(mse)}) | "
            f"{statistics.median(largest):.1e} ({each(largest)}) | {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
