"""Acceptance figures for the core issue: tent vs Kaiming at 4 x 5, seeds 0-4, default budget.

Usage: python benchmarks/core_acceptance.py [--seeds 0-4] [--json OUT]

Prints, for x**3 and x**11 on [0, 1] (500 random training points per seed, test grid of 10,001
points, float64), the min/median/mean/max test MSE over seeds for each method, the ratio of
medians in the same run, the linear-region counts and the wall time of each batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from tentnet.fit import fit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--targets", default="x**3,x**11")
    parser.add_argument("--methods", default="tent,kaiming")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    a, b = args.seeds.split("-")
    seeds = list(range(int(a), int(b) + 1))
    rows = []
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| target | method | seeds | min | median | mean | max | pieces (median) | batch s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        medians = {}
        for method in args.methods.split(","):
            start = time.perf_counter()
            res = fit(target, depth=args.depth, method=method, seeds=seeds, points=500)
            wall = time.perf_counter() - start
            mse = [r.test_mse for r in res]
            row = {
                "target": target,
                "method": method,
                "depth": args.depth,
                "width": 4,
                "points": 500,
                "seeds": seeds,
                "dtype": "float64",
                "test_grid": "10001 uniform points on [0, 1]",
                "min": min(mse),
                "median": statistics.median(mse),
                "mean": statistics.fmean(mse),
                "max": max(mse),
                "per_seed": mse,
                "linear_regions": [r.linear_regions for r in res],
                "phase1_linear_regions": [r.phase1_linear_regions for r in res],
                "phase1_test_mse": [r.phase1_test_mse for r in res],
                "seconds": wall,
            }
            rows.append(row)
            medians[method] = row["median"]
            print(
                f"| {target} | {method} | {len(seeds)} | {row['min']:.3g} | {row['median']:.3g}"
                f" | {row['mean']:.3g} | {row['max']:.3g} | "
                f"{statistics.median(row['linear_regions']):g} | {wall:.1f} |",
                flush=True,
            )
        if "tent" in medians and "kaiming" in medians:
            print(
                f"| {target} | kaiming/tent median ratio | | | "
                f"{medians['kaiming'] / medians['tent']:.3g} | | | | |"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
