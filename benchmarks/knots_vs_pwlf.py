"""The shallow baseline against pwlf: free-knot piecewise-linear fits at equal pieces.

For each target, piece count and seed, both fit the same 500 uniform random training points
(tentnet's draw for that seed) on [0, 1]; test MSE on the uniform grid of 10,001 points;
float64; wall time of the fit alone, one thread.

- tentnet ``knots`` (:func:`tentnet.knots.fit_knots`) with ``pieces`` units in the layout with
  exactly ``pieces`` pieces (one unit is the linear term), on the same standardised data that
  ``tentnet fit --method knots`` uses;
- ``pwlf.PiecewiseLinFit.fit(pieces)`` (differential evolution over the breakpoints, pwlf's
  default global search) and ``fitfast(pieces, pop=2)`` (multi-start L-BFGS);
- ``tentnet.optimal_pwl(target, pieces)``: the reference optimum fitted to the function itself.

Usage: ``python benchmarks/knots_vs_pwlf.py [--pieces 8,16,32] [--seeds 3] [--no-de]
[--targets 'x**2;x**3'] [--json OUT]``.
Needs ``pip install pwlf``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from tentnet import optimal_pwl
from tentnet.knots import fit_knots
from tentnet.mlp import stack_forward
from tentnet.targets import evaluate_checked, parse_expression, sample_points, uniform_grid

TARGETS = ("x**2", "x**3", "x**11", "exp(x)", "sqrt(x + 0.01)")


def run(pieces_list: list[int], seeds: int, with_de: bool, targets=TARGETS) -> list[dict]:
    import pwlf

    torch.set_num_threads(1)
    rows = []
    grid = uniform_grid((0.0, 1.0), 10_001)
    for target in targets:
        expr = parse_expression(target)
        y_grid = evaluate_checked(expr, grid[:, None]).numpy()
        for pieces in pieces_list:
            limit = optimal_pwl(target, pieces).mse
            for seed in range(seeds):
                g = torch.Generator().manual_seed(seed)
                xt = sample_points((0.0, 1.0), 500, g, torch.float64)
                yt = evaluate_checked(expr, xt[:, None])
                start = time.perf_counter()
                mean, std = yt.mean(), yt.std(correction=0)
                layers, _ = fit_knots(xt[None], ((yt - mean) / std)[None], pieces, flat_piece=False)
                with torch.no_grad():
                    pred = stack_forward(layers, grid[None, :, None])[0, :, 0] * std + mean
                t_knots = time.perf_counter() - start
                x, y = xt.numpy(), yt.numpy()
                row = {
                    "target": target,
                    "pieces": pieces,
                    "seed": seed,
                    "limit": limit,
                    "knots_mse": float(np.mean((pred.numpy() - y_grid) ** 2)),
                    "knots_seconds": t_knots,
                }
                variants = [("fitfast", lambda m, p=pieces: m.fitfast(p, pop=2))]
                if with_de:
                    variants.append(("de", lambda m, p=pieces: m.fit(p)))
                for name, call in variants:
                    model = pwlf.PiecewiseLinFit(x, y, seed=seed)
                    start = time.perf_counter()
                    call(model)
                    row[f"pwlf_{name}_seconds"] = time.perf_counter() - start
                    pred = model.predict(grid.numpy())
                    row[f"pwlf_{name}_mse"] = float(np.mean((pred - y_grid) ** 2))
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def table(rows: list[dict], with_de: bool) -> str:
    cols = ["knots", "pwlf_fitfast"] + (["pwlf_de"] if with_de else [])
    head = "| target | pieces | limit | " + " | ".join(
        f"{c} MSE (median) | {c} s (median)" for c in cols
    )
    lines = [head + " |", "|" + "---|" * (3 + 2 * len(cols))]
    keys = sorted({(r["target"], r["pieces"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for target, pieces in keys:
        sel = [r for r in rows if r["target"] == target and r["pieces"] == pieces]
        cells = [target, str(pieces), f"{sel[0]['limit']:.2e}"]
        for c in cols:
            cells.append(f"{statistics.median(r[c + '_mse'] for r in sel):.2e}")
            cells.append(f"{statistics.median(r[c + '_seconds'] for r in sel):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", default="8,16,32")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-de", action="store_true", help="skip pwlf's slow global fit")
    ap.add_argument("--targets", default=";".join(TARGETS), help="';'-separated expressions")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args()
    pieces = [int(p) for p in args.pieces.split(",")]
    targets = [t.strip() for t in args.targets.split(";") if t.strip()]
    rows = run(pieces, args.seeds, not args.no_de, targets)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    print(table(rows, not args.no_de))


if __name__ == "__main__":
    main()
