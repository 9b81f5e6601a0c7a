"""`knots` against a knot-space optimisation of the same start (a lead, not yet in `knots`).

`knots` places its knots by the data's |f''|^(2/5), solves the knot values by least squares and
then runs Levenberg-Marquardt on all 3k + 1 weights of the network. `optimal_pwl` instead
optimises the knot positions themselves by L-BFGS, with the values solved by least squares
for every trial (variable projection), on the function. This script runs that variable
projection on `knots`' own data (the reconstruction of the training points on a uniform grid)
from `knots`' start for a free CPWL of k pieces (what k units can be with no tied slope) and
reports, per seed, the test MSE on the 10,001-point grid of: `knots` (the method, which also
tries k + 1 pieces with one of them flat), that start, the start after variable projection,
and the optimum of the experiments (`optimal_pwl` with k + 1 pieces, fitted to the function; a
lower bound for k units) and with k pieces. Everything in float64.

    python benchmarks/knots_varpro.py 'exp(-x**2)*sin(6*x)@-2,2' --units 30 --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tentnet import TrainConfig, fit, optimal_pwl
from tentnet.knots import RESAMPLED_FINE_PIECES, curvature_cdf, curvature_knots
from tentnet.reconstruct import RESAMPLE_POINTS, resampled
from tentnet.targets import parse_expression, sample_points, uniform_grid


def hat_basis(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """``(P, m + 1)`` hat functions on ``knots`` at ``x``, differentiable in the knots."""
    m = knots.numel() - 1
    idx = torch.searchsorted(knots.detach(), x.detach(), right=True).clamp(1, m) - 1
    w = (x - knots[idx]) / (knots[idx + 1] - knots[idx])
    rows = torch.arange(x.numel())
    basis = torch.zeros(x.numel(), m + 1, dtype=x.dtype)
    basis = basis.index_put((rows, idx), 1.0 - w)
    return basis.index_put((rows, idx + 1), w, accumulate=True)


def values_for(basis: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    normal = basis.T @ basis
    ridge = 1e-14 * normal.diagonal().mean() * torch.eye(normal.shape[0], dtype=y.dtype)
    return torch.linalg.solve(normal + ridge, basis.T @ y)


def variable_projection(t: torch.Tensor, y: torch.Tensor, knots0: torch.Tensor) -> torch.Tensor:
    """Knots on [0, 1] (ends fixed) minimising the least-squares error of ``y`` at ``t``, by
    L-BFGS on the logarithms of the gaps (as `optimal_pwl` does), from ``knots0``."""

    def error(knots: torch.Tensor) -> torch.Tensor:
        basis = hat_basis(t, knots)
        return ((basis @ values_for(basis, y) - y) ** 2).mean()

    def knots_of(logits: torch.Tensor) -> torch.Tensor:
        inner = torch.cumsum(torch.softmax(logits, 0), 0)[:-1]
        return torch.cat([inner.new_zeros(1), inner, inner.new_ones(1)])

    scale = float(error(knots0))
    logits = torch.log(torch.diff(knots0)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [logits],
        lr=1.0,
        max_iter=100,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-16,
        tolerance_change=1e-22,
        history_size=20,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = error(knots_of(logits)) / scale
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return knots_of(logits)


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
            moved = variable_projection(t_grid[0], y_rec[0], start)
            seconds = time.perf_counter() - began
            row = []
            for knots in (start, moved):
                values = values_for(hat_basis(t_grid[0], knots), y_rec[0])
                at = np.interp(((grid - lo) / (hi - lo)).numpy(), knots.numpy(), values.numpy())
                pred = torch.from_numpy(at) * sd + mu
                row.append(float(((pred - y_grid) ** 2).mean()))
            print(
                f"| {text} [{lo:g}, {hi:g}] | {seed} | {res.test_mse:.3g} | {row[0]:.3g} | "
                f"{row[1]:.3g} ({seconds:.2f} s) | {optimum:.3g} | {same:.3g} |"
            )


if __name__ == "__main__":
    main()
