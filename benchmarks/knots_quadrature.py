"""`knots` with and without quadrature weights, against the free-knot optimum.

With about ten random training points per piece, a least-squares fit that weighs every point
alike follows the points' clumps; weighting each point by the part of the domain nearest to it
makes the loss a quadrature of the squared error over the domain, which is what the test grid
measures. Both fits are run in one go on the same points, both on the points themselves
(``resample=0``; by default `knots` fits a reconstruction of the function from its points
instead, see benchmarks/README.md):

    python benchmarks/knots_quadrature.py            # 12 targets x widths 30, 50; seeds 0-4

Setting: 500 uniform random points per seed, test MSE on the uniform grid of 10,001 points,
float64, median over seeds; the optimum is ``tentnet.optimal_pwl`` with units + 1 pieces.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from tentnet import TrainConfig, fit, optimal_pwl

TARGETS = (
    ("x**2", (0.0, 1.0)),
    ("x**3", (0.0, 1.0)),
    ("x**11", (0.0, 1.0)),
    ("exp(x)", (0.0, 1.0)),
    ("sqrt(x + 0.01)", (0.0, 1.0)),
    ("1/(1+x)", (0.0, 1.0)),
    ("log(1+4*x)", (0.0, 1.0)),
    ("sin(3*x)", (0.0, 3.0)),
    ("tanh(5*x)", (-1.0, 1.0)),
    ("exp(-x)*sin(4*x)", (0.0, 3.0)),
    ("x**3 - x", (-1.0, 1.0)),
    ("sqrt(abs(x))", (-1.0, 1.0)),
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", default="30,50")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    seeds = list(range(args.seeds))
    print(
        "| target | domain | units | optimum | plain median | weighted median | plain / weighted |"
    )
    print("|---|---|---|---|---|---|---|")
    better = total = 0
    for units in (int(w) for w in args.widths.split(",")):
        for target, dom in TARGETS:
            opt = optimal_pwl(target, units + 1, dom).mse
            med = {}
            for q in (False, True):
                cfg = TrainConfig(width=units, quadrature=q, resample=0)  # the points themselves
                runs = fit(
                    target,
                    method="knots",
                    depth=1,
                    seeds=seeds,
                    domain=dom,
                    config=cfg,
                    count_regions=False,
                )
                med[q] = statistics.median(r.test_mse for r in runs)
            total += 1
            better += med[True] < med[False]
            print(
                f"| {target} | [{dom[0]:g}, {dom[1]:g}] | {units} | {opt:.3g} | "
                f"{med[False]:.3g} ({med[False] / opt:.2f}x) | {med[True]:.3g} "
                f"({med[True] / opt:.2f}x) | {med[False] / med[True]:.2f} |",
                flush=True,
            )
    print(f"\nweighted lower in {better} of {total} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
