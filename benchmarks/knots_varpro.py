"""`knots`' free layout before and after variable projection of its knots, beside `knots`.

`knots` places its knots by the data's |f''|^(2/5). `optimal_pwl` optimises the knot positions
themselves by L-BFGS, with the values solved by least squares for every trial (variable
projection, `tentnet.limit.optimise_knots`), on the function. This script runs that variable
projection on `knots`' own data (the reconstruction of the training points on a uniform grid)
from `knots`' density start for a free CPWL of k pieces (what k units can be with no tied
slope), to 100 iterations, and reports, per seed, the test MSE on the 10,001-point grid of:
`knots` (the method: since the twenty-second session its free layout starts from projected
knots, stopped earlier, before LM on all weights; it also tries k + 1 pieces with one of them
flat), the density start, the start after variable projection, and the optimum of the
experiments (`optimal_pwl` with k + 1 pieces, fitted to the function; a lower bound for k
units) and with k pieces. Everything in float64.

    python benchmarks/knots_varpro.py 'exp(-x**2)*sin(6*x)@-2,2' --units 30 --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tentnet import TrainConfig, fit, optimal_pwl
from tentnet.knots import RESAMPLED_FINE_PIECES, curvature_cdf, curvature_knots
from tentnet.limit import least_squares_cpwl, optimise_knots
from tentnet.reconstruct import RESAMPLE_POINTS, resampled
from tentnet.targets import parse_expression, sample_points, uniform_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", help="';'-separated 'expression@lo,hi' items")
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| target [domain] | seed | knots | its start (k pieces) | start + variable projection "
        "| optimum, k + 1 pieces | optimum, k pieces |"
    )
    print("|---|---|---|---|---|---|---|")
    for item in args.targets.split(";"):
        text, dom = item.split("@")
        lo, hi = (float(v) for v in dom.split(","))
        f = parse_expression(text)
        grid = uniform_grid((lo, hi))
        y_grid = f(grid[:, None])
        optimum = optimal_pwl(f, args.units + 1, domain=(lo, hi)).mse
        same = optimal_pwl(f, args.units, domain=(lo, hi)).mse
        seeds = list(range(args.seeds))
        cfg = TrainConfig(depth=1, width=args.units)
        results = fit(f, depth=1, method="knots", seeds=seeds, points=args.points,
                      domain=(lo, hi), config=cfg, count_regions=False)  # fmt: skip
        for seed, res in zip(seeds, results, strict=True):
            # The points `fit` draws; any affine scaling of y gives the same knots.
            x = sample_points((lo, hi), args.points, torch.Generator().manual_seed(seed))
            y = f(x[:, None])
            mu, sd = y.mean(), y.std()
            t_grid, y_rec = resampled(((x - lo) / (hi - lo))[None], ((y - mu) / sd)[None],
                                      RESAMPLE_POINTS)  # fmt: skip
            cum = curvature_cdf(t_grid, y_rec, fine_pieces=RESAMPLED_FINE_PIECES)
            start = curvature_knots(t_grid, cum, args.units - 1)[0]  # k pieces: k units, free
            began = time.perf_counter()
            scale = float(least_squares_cpwl(t_grid[0], y_rec[0], start)[0])
            moved = optimise_knots(t_grid[0], y_rec[0], start, 100, scale)
            seconds = time.perf_counter() - began
            row = []
            for knots in (start, moved):
                values = least_squares_cpwl(t_grid[0], y_rec[0], knots)[1]
                at = np.interp(((grid - lo) / (hi - lo)).numpy(), knots.numpy(), values.numpy())
                pred = torch.from_numpy(at) * sd + mu
                row.append(float(((pred - y_grid) ** 2).mean()))
            print(
                f"| {text} [{lo:g}, {hi:g}] | {seed} | {res.test_mse:.3g} | {row[0]:.3g} | "
                f"{row[1]:.3g} ({seconds:.2f} s) | {optimum:.3g} | {same:.3g} |"
            )


if __name__ == "__main__":
    main()
