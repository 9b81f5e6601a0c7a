"""Training: the two tent phases and the random baselines, batched over N networks.

Every function here trains N independent networks as one tensor program: stacked weights, one
loss that is the sum of the per-network mean squared errors (so each network's gradient is its
own), and element-wise Adam (so the optimiser state is per network). Inputs are in normalised
units: ``t`` in [0, 1] and standardised targets; :mod:`tentnet.fit` maps back to raw units.

Methods (every one spends the same total number of gradient steps):

- ``tent``: phase 1 on the peaks, overall scale and linear part with the smoothness condition,
  then phase 2 on the raw weights of the plain MLP.
- ``tent-free-scales``: phase 1 with free per-level scales, then phase 2.
- ``tent-no-pretrain``: tent weights at random peaks (linear part by least squares), all steps in
  phase 2.
- ``kaiming`` (PyTorch's default Linear init) and ``xavier``: random init, all steps on weights.

Beyond the paper:

- ``tent-dc``: for targets that are neither convex nor concave, the sum of two tent networks
  with their own peaks and scales (a difference of convex parts when the scales differ in
  sign), phase 1 on both, then phase 2 on the width-8 plain MLP (two width-4 blocks side by
  side).
- ``tent-lm`` (the width-4 tent chain; called ``tent+`` until the twenty-sixth session): a
  short phase 1 (``phase1_steps``, default 500), then phase 2 as nonlinear least squares:
  Levenberg-Marquardt on all weights (``lm_iterations``, default 300) instead of Adam, from
  ``restarts`` (default 16) initialisations per seed with successive halving. The first
  initialisation of every seed has all peaks 1/2 (a uniform grid: Yarotsky's construction,
  exact for x^2 up to the grid), the others random peaks. For an expression it fits the
  local-cubic reconstruction of the points on a uniform grid (``resample``) and judges its
  candidates, and stops LM, on the reconstruction halfway between the grid's points. It spends
  ``phase1_steps`` Adam steps plus the LM iterations, not ``steps``. Points that lie on a
  tent network of the depth, to rounding (a sawtooth), get that network
  (:func:`tentnet.tentfit.exact_tent`).
- ``knots`` (the best shallow network; depth 1) and ``tent-warp`` (a first layer of knots,
  then ``depth - 1`` tent levels on its zigzag): built by least squares, then LM on all
  weights (:mod:`tentnet.knots`, :mod:`tentnet.warp`).

``tent+`` and ``auto`` are not trained here: they pick among these per fit
(:mod:`tentnet.deep`, :mod:`tentnet.auto`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from .config import LM_SCREEN_ITERATIONS as LM_SCREEN_ITERATIONS
from .config import MIN_SELECT_POINTS, holdout_split, per_seed_progress
from .config import Progress as Progress
from .config import TrainConfig as TrainConfig
from .config import TrainOutput as TrainOutput
from .config import screen_survivors as screen_survivors
from .config import shallow_width as shallow_width
from .errors import TentnetError
from .methods import get_method
from .mlp import (
    Stack,
    parallel_layers,
    random_stack,
    rows_to_stack,
    rows_where,
    stack_loss_and_grad,
    stack_mse,
    stack_to_rows,
)
from .optim import (
    NetProgress,
    adam_steps,
    init_generators,
    levenberg_marquardt,
    lm_on_stack,
    random_peaks,
)
from .reconstruct import reconstruction
from .tent import (
    logits_from_peaks,
    peaks_from_logits,
    smooth_scales,
    smooth_scales_backward,
    tent_loss_and_grad,
    tent_mlp_layers,
)
from .tentfit import convexifying_curvature as convexifying_curvature
from .tentfit import exact_tent, sum_linear_fit, tent_linear_fit


def train_networks(
    method: str,
    t: Tensor,
    y: Tensor,
    config: TrainConfig,
    seeds: list[int],
    progress: Progress | None = None,
) -> TrainOutput:
    """Train N networks with ``method`` on normalised data.

    Args:
        method: one of :data:`METHODS`.
        t: ``(N, P)`` inputs in [0, 1] (each network may have its own points).
        y: ``(N, P)`` targets, standardised.
        config: :class:`TrainConfig`.
        seeds: ``N`` seeds; network i is initialised from ``seeds[i]`` alone, so a network's
            result does not depend on what else is in the batch.
        progress: optional callback.

    Returns:
        :class:`TrainOutput` in normalised units, one network per seed (with
        ``config.restarts > 1``, the candidate of each seed with the lowest training loss).
    """
    config.check(method)
    if t.shape != y.shape or t.dim() != 2 or t.shape[0] != len(seeds):
        raise TentnetError("t and y must both be (N, P) with N = len(seeds)")
    config = config.resolved(method)
    spec = get_method(method)
    if spec.fitter is not None:
        found = spec.fitter(
            t,
            y,
            config.width_for(method),
            config.depth,
            config.lm_iterations,
            config.quadrature,
            config.resample,
            init_generators(seeds, config.restarts),
        )
        layers, loss = found[:2]
        starts = found[2] if len(found) == 3 else None  # a fitter that adds starts says so
        return TrainOutput(layers=layers, history=loss[None], history_steps=[0], starts=starts)
    out = _train_starts(method, t, y, config, seeds, progress)
    exact = exact_tent(t, y, config.depth) if spec.exact else None
    if exact is not None:  # the phase-1 networks and history stay what training did
        out.layers = rows_where(exact[1], exact[0], out.layers)
    return out


def _train_starts(
    method: str,
    t: Tensor,
    y: Tensor,
    config: TrainConfig,
    seeds: list[int],
    progress: Progress | None,
) -> TrainOutput:
    """:func:`train_networks` for the trained kinds, with ``config`` resolved: every start,
    one kept per seed."""
    spec = get_method(method)
    judge = None
    if spec.reconstruct and config.quadrature and config.resample:
        t, y, judge = reconstruction(t, y, config.resample)
    r = config.restarts
    n = len(seeds)
    net_progress = per_seed_progress(progress, n)
    if r == 1:
        return _train_core(method, t, y, config, seeds, net_progress, judge)
    if config.lm_iterations <= LM_SCREEN_ITERATIONS:
        out = _train_core(method, t, y, config, seeds, net_progress, judge)
        score = out.history[-1] if judge is None else _losses(out.layers, *judge, r)
        best = score.reshape(n, r).argmin(1) + torch.arange(n, device=t.device) * r
    else:
        return _halving(method, t, y, config, seeds, net_progress, judge)
    return out.select(best)


def _losses(layers: Stack, t: Tensor, y: Tensor, copies: int) -> Tensor:
    """MSE of each network of ``layers`` on its seed's points (``copies`` networks a seed)."""
    x = t.repeat_interleave(copies, 0).unsqueeze(-1)
    return stack_mse(layers, x, y.repeat_interleave(copies, 0))


def _halving(
    method: str,
    t: Tensor,
    y: Tensor,
    config: TrainConfig,
    seeds: list[int],
    progress: NetProgress | None,
    judge: tuple[Tensor, Tensor] | None = None,
) -> TrainOutput:
    """Restarts by successive halving, the candidates judged on their training points (or on
    held-out points with ``config.select_holdout``, or on ``judge``: the reconstruction of the
    points between the points of the grid they were fitted to).

    Every candidate gets phase 1 and a short LM run on the fitting part of its seed's points;
    the quarter with the lowest MSE on the held-out part (``config.select_holdout`` of the
    points; the training points themselves when 0 or with fewer than
    :data:`MIN_SELECT_POINTS`) gets the remaining LM iterations; the one with the lowest
    held-out MSE wins and, when points were held out, gets ``config.refit_iterations`` LM
    iterations on all the points. Judging by training loss can pick networks that fit the
    points better and the function worse (x^2, depth 8, 500 points: training MSE 3e-13 with
    test MSE 1e-11 to 2e-10, against 1.1e-12 and 1.6e-12 for the uniform start), but holding
    20% out measured worse overall (x^2, exp(x), x^3 at depths 8 and 10, seeds 0-4: better on
    x^2 at depth 8, 3x-10x worse on exp(x) at depth 8), so tent-lm judges by training loss.
    """
    n, r = len(seeds), config.restarts
    holdout = config.select_holdout if t.shape[1] >= MIN_SELECT_POINTS else 0.0
    if holdout:
        t_fit, y_fit, t_val, y_val = holdout_split(t, y, seeds, holdout)
    elif judge is not None:
        t_fit, y_fit, (t_val, y_val) = t, y, judge
    else:
        t_fit, y_fit, t_val, y_val = t, y, t, y
    screen = replace(config, lm_iterations=LM_SCREEN_ITERATIONS)
    out = _train_core(method, t_fit, y_fit, screen, seeds, progress, None if holdout else judge)
    keep = screen_survivors(r)
    score = _losses(out.layers, t_val, y_val, r)
    top = score.reshape(n, r).topk(keep, dim=1, largest=False).indices
    chosen = (top + torch.arange(n, device=t.device)[:, None] * r).flatten()
    like = [(w[chosen], b[chosen]) for w, b in out.layers]
    stop_on = None
    if judge is not None and not holdout:  # the iterate that fits the reconstruction best
        stop_on = (t_val.repeat_interleave(keep, 0).unsqueeze(-1), y_val.repeat_interleave(keep, 0))
    refined = lm_on_stack(
        like,
        t_fit.repeat_interleave(keep, 0).unsqueeze(-1),
        y_fit.repeat_interleave(keep, 0),
        config.lm_iterations - LM_SCREEN_ITERATIONS,
        progress,
        judge=stop_on,
    )
    pick = _losses(refined, t_val, y_val, keep).reshape(n, keep).argmin(1)
    pick = pick + torch.arange(n, device=t.device) * keep
    winners = out.select(chosen[pick])  # each seed's winner, as it was after the screen
    layers = [(w[pick], b[pick]) for w, b in refined]
    steps = config.lm_iterations - LM_SCREEN_ITERATIONS
    if holdout and config.refit_iterations:
        layers = lm_on_stack(layers, t.unsqueeze(-1), y, config.refit_iterations, progress)
        steps += config.refit_iterations
    final = _losses(layers, t, y, 1)
    return replace(
        winners,
        layers=layers,
        history=torch.cat([winners.history, final[None]]),
        history_steps=[*out.history_steps, out.history_steps[-1] + steps],
    )


def _train_core(
    method: str,
    t: Tensor,
    y: Tensor,
    config: TrainConfig,
    seeds: list[int],
    progress: NetProgress | None = None,
    judge: tuple[Tensor, Tensor] | None = None,
) -> TrainOutput:
    """Train ``len(seeds) * config.restarts`` networks; see :func:`train_networks`. With
    ``judge`` (points not fitted, ``(N, Q)`` each), LM stops every network at its iterate with
    the lowest MSE there."""
    dtype = t.dtype
    d = config.depth
    gens = init_generators(seeds, config.restarts)
    if config.restarts > 1:
        t = t.repeat_interleave(config.restarts, 0)
        y = y.repeat_interleave(config.restarts, 0)
        seeds = [s for s in seeds for _ in range(config.restarts)]
    p1_steps, p2_steps = config.phase_steps(method)
    records: list[Tensor] = []
    steps_seen = [0]
    history_steps: list[int] = []

    def record(per_net: Tensor) -> None:
        if steps_seen[0] % config.record_every == 0:
            records.append(per_net.clone())
            history_steps.append(steps_seen[0])
        steps_seen[0] += 1

    out = TrainOutput(layers=[])
    spec = get_method(method)
    if spec.is_tent:
        smooth = spec.smooth
        n_parts = spec.parts  # tent-dc: a sum of two tent networks
        # Initial values are drawn on the CPU (the same on every device), then moved.
        peaks0 = [
            random_peaks(d + 1 if smooth else d, gens, config.peak_range, dtype).to(t.device)
            for _ in range(n_parts)
        ]
        uniform = spec.uniform_start and config.restarts > 1 and config.uniform_start
        if uniform:
            # The first candidate of every seed starts from uniform peaks (Yarotsky's
            # construction: a uniform grid, the best start for a nearly constant curvature).
            peaks0[0][:: config.restarts] = 0.5
        if n_parts == 1:
            _, c0, c1, free = tent_linear_fit(t, y, peaks0[0], smooth)
            frees = [free.reshape(len(seeds), -1)]
        else:
            c0, c1, frees = sum_linear_fit(t, y, peaks0)
        n_logits, n_free = peaks0[0].shape[1], frees[0].shape[1]
        flat1 = torch.cat(
            [
                v
                for k in range(n_parts)
                for v in (logits_from_peaks(peaks0[k], config.margin), frees[k])
            ]
            + [c0[:, None], c1[:, None]],
            dim=1,
        )
        split = [n_logits, n_free] * n_parts + [1, 1]

        def current(v: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor, Tensor, list[Tensor]]:
            chunks = torch.split(v, split, dim=1)
            peaks = [peaks_from_logits(chunks[2 * k], config.margin) for k in range(n_parts)]
            frs = [chunks[2 * k + 1] for k in range(n_parts)]
            scales = [
                smooth_scales(p, f[:, 0]) if smooth else f for p, f in zip(peaks, frs, strict=True)
            ]
            return peaks, scales, chunks[-2][:, 0], chunks[-1][:, 0], frs

        def phase1_step() -> tuple[Tensor, Tensor]:
            # Every gradient here is explicit (autograd costs more than the arithmetic).
            peaks, scales, a0, a1, frs = current(flat1)
            per_net, (gps, gss, g0, g1) = tent_loss_and_grad(t, y, peaks, scales, a0, a1)
            grads = []
            for p, f, gp, gs in zip(peaks, frs, gps, gss, strict=True):
                if smooth:
                    gp_extra, g_free = smooth_scales_backward(p, f[:, 0], gs)
                    gp = torch.cat([gp, torch.zeros_like(p[:, d:])], dim=1) + gp_extra
                    g_free = g_free[:, None]
                else:
                    g_free = gs
                sig = (p - config.margin) / (1.0 - 2.0 * config.margin)
                grads += [gp * (1.0 - 2.0 * config.margin) * sig * (1.0 - sig), g_free]
            return per_net, torch.cat([*grads, g0[:, None], g1[:, None]], dim=1)

        adam_steps(
            flat1, phase1_step, p1_steps, config.phase1_lr, "phase 1", record, progress, seeds
        )
        with torch.no_grad():
            peaks, scales, c0, c1, _ = current(flat1)
            if uniform:
                # ... and goes to phase 2 with exactly uniform peaks, its linear part
                # solved by least squares (phase 1 would drift them on sampled data).
                rows = slice(None, None, config.restarts)
                p_u = torch.full_like(peaks[0][rows], 0.5)
                s_u, c0_u, c1_u, _ = tent_linear_fit(t[rows], y[rows], p_u, smooth)
                peaks[0][rows], scales[0][rows], c0[rows], c1[rows] = p_u, s_u, c0_u, c1_u
            out.tent_params = {
                "peaks": torch.cat(peaks, 1),
                "scales": torch.cat(scales, 1),
                "c0": c0,
                "c1": c1,
            }
            zero = torch.zeros_like(c0)
            layers = tent_mlp_layers(peaks[0], scales[0], c0, c1, (0.0, 1.0), smooth)
            for k in range(1, n_parts):
                other = tent_mlp_layers(peaks[k], scales[k], zero, zero, (0.0, 1.0), smooth)
                layers = parallel_layers(layers, other)
        out.phase1_layers = [(w.clone(), b.clone()) for w, b in layers]
    else:
        sizes = [1] + [config.width_for(method)] * d + [1]
        layers = [
            (w.to(t.device), b.to(t.device)) for w, b in random_stack(method, sizes, gens, dtype)
        ]
    # All weights live in one ``(N, K)`` tensor, a row per network in the order w0, b0, w1,
    # b1, ... (the layout LM works on too): Adam then does a few large operations per step,
    # and the gradient comes from an explicit backward pass (the per-step cost of a small
    # network is otherwise all framework overhead).
    flat = stack_to_rows([(w.detach(), b.detach()) for w, b in layers])
    tt = t.unsqueeze(-1)
    yy = y.unsqueeze(-1)

    def unflatten(v: Tensor) -> Stack:
        return rows_to_stack(v, layers)

    def phase2_loss() -> Tensor:
        return stack_loss_and_grad(unflatten(flat), tt, yy)[0]

    # Adam updates ``flat`` in place, so its views stay valid for the whole phase.
    weights = unflatten(flat)

    def phase2_step() -> tuple[Tensor, Tensor]:
        per_net, grads = stack_loss_and_grad(weights, tt, yy)
        return per_net, stack_to_rows(list(zip(grads[::2], grads[1::2], strict=True)))

    phase = "phase 2" if spec.is_tent else "training"
    lr = config.lr if spec.is_tent else config.random_lr
    adam_steps(flat, phase2_step, p2_steps, lr, phase, record, progress, seeds)
    if config.lm_iterations:
        if judge is not None:
            judge = tuple(v.repeat_interleave(config.restarts, 0) for v in judge)
            judge = (judge[0].unsqueeze(-1), judge[1])
        flat = levenberg_marquardt(
            flat, unflatten, tt, y, config.lm_iterations, record, progress, judge=judge
        )
    out.layers = [(w.detach().clone(), b.detach().clone()) for w, b in unflatten(flat.detach())]
    with torch.no_grad():
        final = phase2_loss()
    records.append(final)
    history_steps.append(steps_seen[0])
    out.history = torch.stack(records)
    out.history_steps = history_steps
    return out
