"""``method="auto"``: weigh the deep methods against the best shallow network of no more
weights on a validation split of the training points, and say why."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .config import Progress, TrainConfig, shallow_width
from .mlp import stack_errors
from .train import holdout_size, holdout_split, train_networks
from .warp import BUDGET_LEVELS, units_within

VALIDATION_FRACTION = 0.2
MIN_POINTS_TO_VALIDATE = 50


def auto_candidates(depth: int, points: int) -> list[tuple[str, TrainConfig]]:
    """The methods ``auto`` weighs, each with its configuration."""
    units = shallow_width(depth)
    fitted = points - holdout_size(points, VALIDATION_FRACTION)
    # tent+ for every shape: on non-convex targets it was 2.9x-4,450x more accurate than
    # tent-dc (benchmarks/general_limits.py), and the validation split decides anyway.
    found = [("tent+", TrainConfig(depth=depth))]
    # tent-warp within the same weights: ahead of tent+ wherever the curvature varies
    # (x^3, x^11, exp(x) in the budget experiment), behind it on x^2 from depth 9.
    knots_units = units_within(depth)
    if knots_units >= 2 and 2 * (knots_units + 1) <= fitted:
        found.append(("tent-warp", TrainConfig(depth=BUDGET_LEVELS + 1, width=knots_units)))
    if 2 * (units + 1) <= fitted:
        found.append(("knots", TrainConfig(depth=1, width=units)))
    return found


def choose_by_validation(
    shape: str,
    depth: int,
    config: TrainConfig,
    t: torch.Tensor,
    y: torch.Tensor,
    seeds: list[int],
    dev: torch.device,
    progress: Progress | None,
) -> tuple[str, TrainConfig, dict[str, Any]]:
    """Pick the method for ``auto`` by a validation split of the training points.

    Candidates (no more weights than a width-4 ``depth`` network): ``tent+`` at ``depth`` (for
    every shape), ``tent-warp`` (a first layer of knots, then 3 tent levels; from depth 4) and
    ``knots``, the best shallow network. Each seed keeps a random 20% of
    its training points out; every candidate trains on the rest; the candidate with the lowest
    median validation MSE over seeds wins and is then trained on all the points. With fewer
    than 50 points per seed (or one candidate) nothing is held out and the deep method is used.
    ``shape`` (the target's curvature in words) starts the reason given.
    """
    cands = auto_candidates(depth, t.shape[1])

    def tuned(cfg: TrainConfig) -> TrainConfig:
        # The user's budget and rates apply to every candidate; shape stays the candidate's.
        return replace(config, depth=cfg.depth, width=cfg.width)

    if len(cands) == 1 or t.shape[1] < MIN_POINTS_TO_VALIDATE:
        method, cfg = cands[0]
        info = {"chose": method, "why": f"{shape}; too few points to validate", "candidates": []}
        return method, tuned(cfg), info
    # A stream of its own per seed (not the one that drew the points or split off the test set).
    t_fit, y_fit, t_val, y_val = holdout_split(t, y, seeds, VALIDATION_FRACTION, stream=3)
    n_val = t_val.shape[1]
    table = []
    for method, cfg in cands:
        cfg = tuned(cfg)
        out = train_networks(method, t_fit.to(dev), y_fit.to(dev), cfg, seeds, progress)
        layers = out.to("cpu").layers  # t and y are on the CPU; only training moves
        val_mse = stack_errors(layers, t_val, y_val)[0]
        weights = sum(w[0].numel() + b[0].numel() for w, b in layers)
        table.append(
            {
                "method": method,
                "depth": cfg.depth,
                "width": cfg.width_for(method),
                "weights": weights,
                "validation_mse": float(val_mse.median()),
            }
        )
    finite = [c for c in table if np.isfinite(c["validation_mse"])] or table
    best = min(finite, key=lambda c: c["validation_mse"])
    method = best["method"]
    cfg = tuned(next(c for m, c in cands if m == method))
    reason = (
        f"{shape}; lowest validation MSE (normalised units, median over seeds, "
        f"{n_val} of {t.shape[1]} training points held out) among "
        + ", ".join(f"{c['method']} {c['validation_mse']:.3g}" for c in table)
    )
    return method, cfg, {"chose": method, "why": reason, "candidates": table}
