"""`auto` (the default method) on 1-D targets of your choosing, against the two baselines.

The general experiment (`tentnet reproduce --only general`) fixes its targets; this checks any
others: per target and depth, `auto`'s median test MSE and pick, a Kaiming MLP of the same
shape (width 4, depth d), the shallow optimum of no more weights (``optimal_pwl`` with
``shallow_width(d) + 1`` pieces on the target's domain) and the two ratios the general-targets
issue asks for (Kaiming / auto at least 30x, auto / optimum at most 1.5x).

    python benchmarks/auto_general.py '1/(1+25*x**2)@-1,1;x*sin(6*x)@0,2' --depths 5,8

Setting: 500 uniform random training points per seed on the domain, seeds 0..n-1, test MSE on
the uniform grid of 10,001 points, float64, one torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tentnet import TentnetError, fit, optimal_pwl
from tentnet.train import shallow_width

TARGETS = (
    "1/(1+25*x**2)@-1,1;exp(-20*(x-0.3)**2)@0,1;x*sin(6*x)@0,2;"
    "sin(2*pi*x)+0.3*x@0,1;1/(1+exp(-15*x))@-1,1;abs(x-0.3)@0,1"
)


def target_items(text: str) -> list[tuple[str, tuple[float, float]]]:
    """``'expr@lo,hi;expr'`` as ``[(expr, (lo, hi)), ...]`` (no domain: [0, 1]); ValueError
    names a malformed item."""
    items = []
    for item in text.split(";"):
        target, _, dom_text = item.partition("@")
        try:
            lo, hi = (float(v) for v in (dom_text or "0,1").split(","))
        except ValueError:
            raise ValueError(f"{item!r}: expected 'expression@lo,hi'") from None
        items.append((target, (lo, hi)))
    return items


def median_fit(target: str, method: str, depth: int, domain, seeds, config=None):
    """The median test MSE over ``seeds`` of ``method`` at ``depth`` (``config``: its shape and
    settings), and seed 0's result."""
    runs = fit(
        target,
        method=method,
        depth=depth,
        seeds=seeds,
        domain=domain,
        config=config,
        count_regions=False,
    )
    return statistics.median(r.test_mse for r in runs), runs[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "targets", nargs="?", default=TARGETS, help="';'-separated 'expression@lo,hi' items"
    )
    ap.add_argument("--depths", default="5,8")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        "| target [domain] | d (weights) | auto [pick] | Kaiming | shallow optimum | "
        "Kaiming / auto | auto / optimum | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        items = target_items(args.targets)
    except ValueError as err:
        ap.error(str(err))
    for target, (lo, hi) in items:
        for d in (int(v) for v in args.depths.split(",")):
            start = time.perf_counter()
            auto, first = median_fit(target, "auto", d, (lo, hi), seeds)
            seconds = time.perf_counter() - start
            kaiming, _ = median_fit(target, "kaiming", d, (lo, hi), seeds)
            best = optimal_pwl(target, shallow_width(d) + 1, (lo, hi)).mse
            print(
                f"| {target} [{lo:g}, {hi:g}] | {d} ({20 * d - 7}) | {auto:.2g} "
                f"[{first.method} {first.depth} x {first.width}] | {kaiming:.2g} | {best:.2g} | "
                f"{kaiming / auto:.3g}x | {auto / best:.3g}x | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    try:
        main()
    except TentnetError as err:
        raise SystemExit(f"error: {err}") from None
