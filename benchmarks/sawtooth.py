"""Depth that pays by construction: the sawtooth of 2^d teeth, deep against shallow.

The function ``||...|x - 1/2| - 1/4| ...| - 1/2^d|`` on [0, 1] (d nested tents, 2^d linear
pieces) is a width-4 tent network of depth d with every peak 1/2 (Telgarsky's example). A
shallow ReLU network of the same weights has (20d - 8) // 3 units, far fewer than 2^d pieces
from d = 6 on. Per depth: `auto` (and its pick), `tent-lm` alone, a Kaiming MLP of the same
shape, `knots` of the same weights and the shallow optimum (``optimal_pwl``), on the sawtooth
and on the sawtooth plus ``0.01 x^2`` (no longer a tent network: what training does when
the points do not lie on one exactly).

    python benchmarks/sawtooth.py --depths 4,5,6,8 --seeds 3

Setting: 500 uniform random training points per seed on [0, 1], seeds 0..n-1, test MSE on
the uniform grid of 10,001 points, float64, medians over the seeds, one torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet import TentnetError, TrainConfig, fit, optimal_pwl
from tentnet.train import shallow_width


def sawtooth(depth: int) -> str:
    """The expression of the sawtooth with 2^depth teeth."""
    f = "x"
    for k in range(depth):
        f = f"abs({f} - {0.5 / 2**k})"
    return f


def _median(target: str, method: str, depth: int, seeds: list[int]):
    cfg = TrainConfig(width=shallow_width(depth)) if method == "knots" else None
    d = 1 if method == "knots" else depth
    runs = fit(target, method=method, depth=d, seeds=seeds, config=cfg, count_regions=False)
    return statistics.median(r.test_mse for r in runs), runs[0].method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="4,5,6,8")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        "| target | d (weights) | auto [pick] | tent-lm | Kaiming | knots | shallow optimum | "
        "optimum / auto | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for d in (int(v) for v in args.depths.split(",")):
        for name, target in ((f"sawtooth {d}", sawtooth(d)), (f"sawtooth {d} + 0.01x^2", None)):
            target = target or f"{sawtooth(d)} + 0.01*x**2"
            start = time.perf_counter()
            auto, pick = _median(target, "auto", d, seeds)
            plus, _ = _median(target, "tent-lm", d, seeds)
            kaiming, _ = _median(target, "kaiming", d, seeds)
            knots, _ = _median(target, "knots", d, seeds)
            best = optimal_pwl(target, shallow_width(d) + 1).mse
            print(
                f"| {name} | {d} ({20 * d - 7}) | {auto:.2g} [{pick}] | {plus:.2g} | "
                f"{kaiming:.2g} | {knots:.2g} | {best:.2g} | {best / auto:.3g}x | "
                f"{time.perf_counter() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    try:
        main()
    except TentnetError as err:
        raise SystemExit(f"error: {err}") from None
