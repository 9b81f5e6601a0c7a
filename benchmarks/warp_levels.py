"""Where `tent-warp`'s fall with depth stops: level counts, starts and how `auto` picks.

At each budget (the weights of a width-4 depth-d network) `tent-warp` is trained with 3, 4
and 5 tent levels (as many first-layer knots as the budget leaves) from ``--starts`` starts
per seed (the equidistributed knots, then copies moved as `tent-warp` moves them), and every
start's test MSE and its error against the reconstruction halfway between its grid points
(the judge `tent-warp` and `auto` use; no test data) is kept. From those one run prints the
median over seeds of several ways to spend the budget:

- ``L=3, 3 starts``: the budget experiment's `tent-warp`; ``L=3, S starts``: more starts;
- ``auto now``: the level count whose first start judges best (median over seeds), then the
  best of 3 starts (what ``auto`` does);
- ``judge 3``: the count judged on the best of 3 starts each; ``judge 3, S``: then best of S;
- ``best L``: the count with the lowest median test MSE (an oracle: it looks at the test set).

    python benchmarks/warp_levels.py --targets 'x**3' --depths 8,10,12 --starts 6

Setting: 500 uniform random points on [0, 1] per seed, seeds 0-4, test MSE on the uniform grid
of 10,001 points, float64, one torch thread. The starts are `tent-warp`'s own
(:func:`tentnet.warp.warp_starts`, which :func:`tentnet.warp.fit_warp` picks from), one batch
per level count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet.fit import build_problem, resolve_target
from tentnet.mlp import scaled_std, stack_mse, weight_count
from tentnet.optim import init_generators
from tentnet.warp import warp_fits, warp_starts, warp_units

TARGETS = "x**3,x**11,exp(x),sqrt(x + 0.01)"
LEVELS = (3, 4, 5)


def _starts(target: str, depth: int, levels: int, seeds: list[int], starts: int):
    """Per seed and start: (judged MSE, test MSE), in the target's units; None if no fit."""
    prob = build_problem([resolve_target(target)], seeds, 500, (0.0, 1.0), 0.0, None, torch.float64)
    mean, std = prob.y_train.mean(1), scaled_std(prob.y_train)
    y = (prob.y_train - mean[:, None]) / std[:, None]
    y_test = (prob.y_test - mean[:, None]) / std[:, None]
    units = warp_units(weight_count(4, depth), levels)
    if not warp_fits(units, prob.x_train.shape[1]):
        return None
    layers, _, judged = warp_starts(
        prob.x_train, y, units, levels, generators=init_generators(seeds, starts)
    )
    rep = lambda v: v.repeat_interleave(starts, 0)  # noqa: E731
    scale = rep(std**2)
    judged = (judged * scale).view(len(seeds), starts)
    test = (stack_mse(layers, rep(prob.x_test).unsqueeze(-1), rep(y_test)) * scale).view(
        len(seeds), starts
    )
    return judged.tolist(), test.tolist()


def _pick(cell, among: int) -> list[float]:
    """Per seed: the test MSE of the start, among the first ``among``, that judges best."""
    judged, test = cell
    return [t[min(range(among), key=lambda i: j[i])] for j, t in zip(judged, test, strict=True)]


def _best_judged(cell, among: int) -> float:
    return statistics.median(min(j[:among]) for j in cell[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help="comma-separated expressions in x")
    ap.add_argument("--depths", default="5,6,7,8,9,10,11,12")
    ap.add_argument("--starts", type=int, default=6, help="starts per seed and level count")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    if args.starts < 3:
        ap.error("--starts must be 3 or more")
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    s = args.starts
    ways = {
        "L=3, 3 starts": lambda c: _pick(c[3], 3),
        f"L=3, {s} starts": lambda c: _pick(c[3], s),
        "auto now": lambda c: _pick(c[min(c, key=lambda v: _best_judged(c[v], 1))], 3),
        "judge 3": lambda c: _pick(c[min(c, key=lambda v: _best_judged(c[v], 3))], 3),
        f"judge 3, {s}": lambda c: _pick(c[min(c, key=lambda v: _best_judged(c[v], 3))], s),
        "best L (oracle)": lambda c: min(
            (_pick(c[v], 3) for v in c), key=lambda m: statistics.median(m)
        ),
    }
    depths = [int(v) for v in args.depths.split(",")]
    for target in args.targets.split(","):
        medians: dict[str, dict[int, float]] = {name: {} for name in ways}
        for d in depths:
            start = time.perf_counter()
            cells = {v: _starts(target, d, v, seeds, s) for v in LEVELS}
            cells = {v: c for v, c in cells.items() if c is not None}
            for name, way in ways.items():
                medians[name][d] = statistics.median(way(cells))
            print(f"# {target} depth {d}: {time.perf_counter() - start:.0f} s", flush=True)
        print(f"\n{target}: median test MSE (fall per two layers)\n")
        print("| way | " + " | ".join(f"d={d}" for d in depths) + " |")
        print("|---|" + "---|" * len(depths))
        for name, m in medians.items():
            cells_text = [
                f"{m[d]:.2g}" + (f" ({m[d - 2] / m[d]:.2g}x)" if d - 2 in m else "") for d in depths
            ]
            print(f"| {name} | " + " | ".join(cells_text) + " |", flush=True)
        print()


if __name__ == "__main__":
    main()
