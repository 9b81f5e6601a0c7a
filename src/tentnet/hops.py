"""Basin hops for ``auto``'s knot finalists: a trained ``tent-warp`` / ``tent-scaled`` network,
kicked and trained again.

Levenberg-Marquardt on these networks is chaotic: one start on x^3 at the weights of depth 12,
its points' reconstruction differing only in rounding from seed to seed, ends anywhere from
2.2e-13 to 2.2e-11, and more starts stop paying (12 instead of 5: median 4.8e-13 against
4.7e-13). From the network a start ended with, small kicks (every weight times
``1 + 3e-4 N(0, 1)``) and 100 LM iterations find lower minima nearby, round after round:
1.8e-12 -> 3.0e-13 median over the 5 seeds after 12 hops; kicks of 1e-2 never helped, 1e-4
less often (benchmarks/README.md, sixteenth session). A hop costs a third of a start.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import Progress, TrainConfig, TrainOutput, per_seed_progress
from .mlp import Stack, stack_mse
from .optim import basin_hops, init_generators, stream_generator
from .warp import fit_warp, warp_data

HOPS = 6  # hops per finalist network (with the starts it trains; see auto.FINALIST_STARTS)
# From the budgets above 200 weights (width-4 depth 11 and 12), twice as many: there LM ends
# farther from the lowest nearby minimum, and 12 hops instead of 6 lowered `auto`'s median at
# depth 12 (seeds 0-2) 1.7x on x^3 and 1.4x on x^11 for 28% more time (benchmarks/README.md).
# The first 6 of 12 hops are those of 6 (each network draws its kicks from its own stream).
DEEP_HOPS_FROM = 11
HOP_NOISE = 3e-4  # each weight times 1 + HOP_NOISE N(0, 1)
HOP_LM_ITERATIONS = 100
HOP_STREAM = 3  # the random stream of every seed the kicks come from (1: starts, 2: holdout)


def hops_for(depth: int) -> int:
    """Basin hops per finalist network of ``auto`` at the budget of a width-4 ``depth``
    network: :data:`HOPS`, twice that from :data:`DEEP_HOPS_FROM`."""
    return HOPS if depth < DEEP_HOPS_FROM else 2 * HOPS


def hop_generators(seeds: list[int]) -> list[torch.Generator]:
    """One generator per seed for the kicks, derived from ``(seed, HOP_STREAM)``."""
    return [stream_generator(seed, HOP_STREAM) for seed in seeds]


def hop_warp(
    out: TrainOutput,
    t: Tensor,
    y: Tensor,
    units: int,
    levels: int,
    seeds: list[int],
    rounds: int = HOPS,
    quadrature: bool = True,
    resample: int = 0,
    progress: Progress | None = None,
) -> TrainOutput:
    """``out`` (``tent-warp`` or ``tent-scaled`` networks of ``units`` knots and ``levels``
    levels, one per seed, fitted to ``t, y``, ``(N, P)``) after ``rounds`` basin hops on what
    the fit trained on: the reconstruction of the points on the method's grid (``resample``
    > 0 with ``quadrature``), judged halfway between its points, else the points themselves.
    Each network's hop is kept only where it is closer there (``progress``: the mean of that
    measure after every hop, phase ``"hops"``)."""
    if rounds < 1:
        return out
    t, y, w, judge = warp_data(t, y, units, levels, quadrature, resample)
    x = t.unsqueeze(-1)
    layers = basin_hops(
        out.layers,
        x,
        y,
        rounds,
        HOP_LM_ITERATIONS,
        HOP_NOISE,
        hop_generators(seeds),
        weights=w,
        judge=judge,
        progress=per_seed_progress(progress, len(seeds)),
    )
    loss = stack_mse(layers, x, y, w)
    return TrainOutput(layers=layers, history=loss[None], history_steps=[0], starts=out.starts)


def train_finalist(
    method: str,
    shape: TrainConfig,
    t: Tensor,
    y: Tensor,
    seeds: list[int],
    known: dict[float, Stack],
    rounds: int,
    progress: Progress | None = None,
) -> TrainOutput:
    """One of ``auto``'s knot finalists: ``method`` (``tent-warp`` or ``tent-scaled``) in
    ``shape`` (its depth, width and starts) trained on ``t, y`` as ``train_networks`` would,
    but with the starts ``known`` already trained (see :func:`tentnet.warp.fit_warp`: the
    one-start networks ``auto`` judged the shape by, by their floor) not trained again; then
    ``rounds`` basin hops (:func:`hop_warp`)."""
    used = shape.resolved(method)
    levels = shape.depth - 1
    layers, loss, starts = fit_warp(
        t,
        y,
        shape.width,
        levels,
        used.lm_iterations,
        used.quadrature,
        used.resample,
        init_generators(seeds, used.restarts),
        scaled=method == "tent-scaled",
        known=known,
    )
    out = TrainOutput(layers=layers, history=loss[None], history_steps=[0], starts=starts)
    args = (shape.width, levels, seeds, rounds, used.quadrature, used.resample)
    return hop_warp(out, t, y, *args, progress=progress)
