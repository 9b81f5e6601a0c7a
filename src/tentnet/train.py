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
- ``tent+``: a short phase 1 (``phase1_steps``, default 500), then phase 2 as nonlinear least
  squares: Levenberg-Marquardt on all weights (``lm_iterations``, default 300) instead of Adam,
  from ``restarts`` (default 16) initialisations per seed with successive halving, keeping the
  lowest training loss. The first initialisation of every seed has all peaks 1/2 (a uniform
  grid: Yarotsky's construction, exact for x^2 up to the grid), the others random peaks. It
  spends ``phase1_steps`` Adam steps plus the LM iterations, not ``steps``; compare it by
  wall time too.
- ``knots``: the best shallow network, for comparisons at equal weight count: one hidden
  layer of ``width`` units fitted as a free-knot piecewise-linear function (knots
  equidistributed by the data's curvature, values by least squares, then LM on all weights;
  :mod:`tentnet.knots`). Depth must be 1.
- ``tent-warp``: a first hidden layer of ``width`` units places that many pieces by the
  data's curvature and maps every piece onto [0, 1] (a zigzag); ``depth - 1`` width-4 tent
  levels then refine all pieces at once; least-squares start, then LM on all weights
  (:mod:`tentnet.warp`). Depth must be 2 or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from .errors import TentnetError
from .lm import levenberg_marquardt
from .methods import REGISTRY, get_method
from .mlp import (
    FlatAdam,
    Stack,
    random_stack,
    rows_to_stack,
    stack_loss_and_grad,
    stack_mse,
    stack_to_rows,
    weight_count,
)
from .tent import (
    DEFAULT_MARGIN,
    check_depth,
    logits_from_peaks,
    parallel_layers,
    peaks_from_logits,
    smooth_scales,
    smooth_scales_backward,
    tent_levels,
    tent_loss_and_grad,
    tent_mlp_layers,
)

LM_SCREEN_ITERATIONS = 40  # with restarts: LM iterations every candidate gets before the cut
TENT_PLUS_REFIT_ITERATIONS = 100
MIN_SELECT_POINTS = 50  # fewer training points per seed: judge candidates by training loss


def shallow_width(depth: int, width: int = 4) -> int:
    """Units of the one-hidden-layer network with at most the weights of a ``width`` x
    ``depth`` MLP with one input and one output (a shallow net of k units has 3k + 1)."""
    return max(1, (weight_count(width, depth) - 1) // 3)


def screen_survivors(restarts: int) -> int:
    """How many of a seed's ``restarts`` candidates get the LM iterations after the screen."""
    return max(1, restarts // 4)


Progress = Callable[[str, int, int, float], None]
"""Called as ``progress(phase, step, steps, loss)`` now and then; ``loss`` is the mean over
seeds of the normalised training MSE (with restarts, of each seed's best candidate so far)."""

_NetProgress = Callable[[str, int, int, Tensor], None]  # the same with per-network losses


def _per_seed(progress: Progress | None, seeds: int) -> _NetProgress | None:
    """Turn per-network losses (seed-major, candidates of a seed side by side) into the
    number ``progress`` reports: the mean over seeds of each seed's best candidate."""
    if progress is None:
        return None

    def report(phase: str, step: int, steps: int, per_net: Tensor) -> None:
        progress(phase, step, steps, float(per_net.reshape(seeds, -1).amin(1).mean()))

    return report


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults are the project's default budget.

    Attributes:
        depth: hidden layers d.
        width: hidden width; None means the method's own (tent methods build width 4,
            tent-dc width 8; the random baselines default to 4).
        steps: total full-batch gradient steps, the same for every method.
        phase1_steps: of ``steps``, how many go to phase 1 (tent and tent-free-scales);
            default ``steps // 6`` (2,000 of the default 12,000).
        lr: Adam learning rate on the raw weights in phase 2 of the tent methods, cosine-decayed
            to zero. The tent start is already a good fit, and large steps undo it (measured:
            1e-3 collapses the 32 pieces of a depth-5 net to about 10 and ends 30x worse).
        random_lr: the same for the random baselines (PyTorch's usual 1e-3; 1e-4 measured worse).
        phase1_lr: Adam learning rate in phase 1 (on peak logits, scales, linear part).
        peak_range: random initial peaks are uniform in this range.
        margin: peaks stay in (margin, 1 - margin).
        record_every: how often the training loss is recorded in the history.
        restarts: candidates per seed, each from its own initialisation on the seed's data; the
            one with the lowest final training loss is kept (selection never sees test data).
        lm_iterations: after the gradient steps, this many Levenberg-Marquardt iterations on
            all weights (:mod:`tentnet.lm`); 0 for the published methods.
        select_holdout: with restarts and LM, the fraction of each seed's training points held
            out to judge the candidates (never the test data); 0 judges by training loss.
        refit_iterations: LM iterations on all the points for the winner after a selection on
            held-out points (tent+: 100 when ``select_holdout`` is set).
        uniform_start: tent+ with restarts: the first candidate of every seed is the tent
            network with all peaks 1/2 (linear part by least squares) instead of random peaks.
        quadrature: knots: weight each training point by the length of the domain nearest to
            it, so the loss measures the error over the whole domain rather than at the points
            (measured: 2%-18% lower test MSE on the grid on all 24 target and width pairs
            tried; benchmarks/knots_quadrature.py). :func:`tentnet.fit.fit` turns it off for
            data files, whose test points follow the data's own distribution.
    """

    depth: int = 5
    width: int | None = None
    steps: int = 12_000
    phase1_steps: int | None = None
    lr: float = 1e-4
    random_lr: float = 1e-3
    phase1_lr: float = 1e-2
    peak_range: tuple[float, float] = (0.25, 0.75)
    margin: float = DEFAULT_MARGIN
    record_every: int = 100
    lm_iterations: int = 0
    restarts: int = 1
    select_holdout: float = 0.0
    refit_iterations: int = 0
    uniform_start: bool = True
    quadrature: bool = True

    def check(self, method: str) -> None:
        """Raise TentnetError if the configuration cannot be trained with ``method``."""
        spec = get_method(method)
        check_depth(self.depth)
        if spec.max_depth == 1 and self.depth != 1:
            raise TentnetError(
                f"method {method} builds one hidden layer (depth 1) of --width units; got depth "
                f"{self.depth} (for the weights of a width-4 depth-d network use width "
                f"{shallow_width(self.depth)} for d = {self.depth})"
            )
        if self.depth < spec.min_depth:
            raise TentnetError(
                f"method {method} needs depth {spec.min_depth} or more ({spec.summary}); got "
                f"depth {self.depth}"
            )
        if spec.fixed_width and self.width not in (None, spec.width):
            raise TentnetError(
                f"method {method!r} builds width-{spec.width} networks; got width {self.width}"
            )
        if not 0.0 <= self.select_holdout < 1.0:
            raise TentnetError(f"select_holdout must be in [0, 1), got {self.select_holdout}")
        if not 1 <= self.restarts <= 1000:
            raise TentnetError(f"restarts must be from 1 to 1000, got {self.restarts}")
        if self.width is not None and not 1 <= self.width <= 4096:
            raise TentnetError(f"width must be from 1 to 4096, got {self.width}")
        if self.steps < 1 or not 0 <= self.phase1 <= self.steps:
            raise TentnetError(
                f"need steps >= 1 and 0 <= phase1_steps <= steps, got steps {self.steps} and "
                f"phase1_steps {self.phase1}"
            )
        rates = (self.lr, self.random_lr, self.phase1_lr)
        if not all(r > 0 and math.isfinite(r) for r in rates):
            raise TentnetError("learning rates must be positive and finite")

    def width_for(self, method: str) -> int:
        """The hidden width ``method`` trains."""
        return self.width if self.width is not None else get_method(method).width

    @property
    def phase1(self) -> int:
        """Phase-1 steps of the pre-training tent methods."""
        return self.steps // 6 if self.phase1_steps is None else self.phase1_steps

    def phase_steps(self, method: str) -> tuple[int, int]:
        """``(phase1, phase2)`` step counts for ``method``; they add up to ``steps``."""
        spec = get_method(method)
        if spec.kind == "direct":
            return 0, 0
        p1 = self.phase1 if spec.pretrain else 0
        return p1, (self.steps - p1 if spec.adam_phase2 else 0)

    def resolved(self, method: str) -> TrainConfig:
        """The configuration ``method`` really trains with (the method's defaults fill in a
        zero ``lm_iterations``, one restart and no ``phase1_steps``); ``auto``, which picks a
        method per fit, resolves to the configuration itself."""
        if method not in REGISTRY:
            return self
        spec = REGISTRY[method]
        if spec.kind == "direct":
            return replace(self, lm_iterations=self.lm_iterations or spec.lm_iterations, restarts=1)
        if not spec.lm_iterations:
            return self
        return replace(
            self,
            phase1_steps=self.phase1_steps
            if self.phase1_steps is not None or spec.phase1_steps is None
            else min(spec.phase1_steps, self.steps),
            lm_iterations=self.lm_iterations or spec.lm_iterations,
            restarts=self.restarts if self.restarts > 1 else spec.restarts,
            refit_iterations=self.refit_iterations
            or (TENT_PLUS_REFIT_ITERATIONS if self.select_holdout else 0),
        )


@dataclass
class TrainOutput:
    """What training returns, in normalised units.

    Attributes:
        layers: the trained plain MLPs as a stack.
        phase1_layers: the MLPs right after phase 1 (tent methods), else None.
        tent_params: phase-1 tent parameters (``peaks, scales, c0, c1``), tent methods only.
        history: ``(records, N)`` training MSE; ``history_steps`` the step of each record.
    """

    layers: Stack
    phase1_layers: Stack | None = None
    tent_params: dict[str, Tensor] | None = None
    history: Tensor | None = None
    history_steps: list[int] = field(default_factory=list)

    def select(self, index: Tensor) -> TrainOutput:
        """The networks ``index`` (1-D) of this output, in that order."""

        def take(stack: Stack | None) -> Stack | None:
            return None if stack is None else [(w[index], b[index]) for w, b in stack]

        return TrainOutput(
            layers=take(self.layers),
            phase1_layers=take(self.phase1_layers),
            tent_params=None
            if self.tent_params is None
            else {k: v[index] for k, v in self.tent_params.items()},
            history=None if self.history is None else self.history[:, index],
            history_steps=list(self.history_steps),
        )

    def to(self, device: str | torch.device) -> TrainOutput:
        """The same output with every tensor on ``device``."""

        def move(stack: Stack | None) -> Stack | None:
            return None if stack is None else [(w.to(device), b.to(device)) for w, b in stack]

        return TrainOutput(
            layers=move(self.layers),
            phase1_layers=move(self.phase1_layers),
            tent_params=None
            if self.tent_params is None
            else {k: v.to(device) for k, v in self.tent_params.items()},
            history=None if self.history is None else self.history.to(device),
            history_steps=list(self.history_steps),
        )


def _least_squares(features: Tensor, y: Tensor) -> Tensor:
    """Batched least squares: features ``(N, P, k)``, y ``(N, P)`` -> ``(N, k)``.

    Normal equations with unit-scaled columns and a ridge of 1e-13 (the columns here are
    bounded tent levels, so they are well conditioned). Built from element-wise sums and a
    small ``solve`` because ``torch.linalg.lstsq`` on CPU gives results that change in the last
    bits with memory alignment, which would make training irreproducible.
    """
    scale = features.abs().amax(dim=1).clamp_min(1e-300)  # (N, k)
    f = features / scale[:, None, :]
    gram = (f.unsqueeze(-1) * f.unsqueeze(-2)).sum(1)
    rhs = (f * y.unsqueeze(-1)).sum(1)
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + 1e-13 * eye, rhs) / scale


def convexifying_curvature(t: Tensor, y: Tensor, bins: int = 16) -> Tensor:
    """``k (N,)`` such that ``y + k t^2`` is convex, estimated from the data.

    A quadratic is fitted by least squares in each of ``bins`` equal parts of [0, 1] (fewer
    when there are few points); ``k`` is half the most negative second derivative found, with a
    10% margin, and 0 for data that look convex.
    """
    n, p = t.shape
    bins = max(1, min(bins, p // 6))
    edges = torch.linspace(0, 1, bins + 1, dtype=t.dtype, device=t.device)
    worst = torch.zeros(n, dtype=t.dtype, device=t.device)
    for b in range(bins):
        inside = (t >= edges[b]) & (t <= edges[b + 1])
        w = inside.to(t.dtype)
        mid = 0.5 * (edges[b] + edges[b + 1])
        u = (t - mid) / (edges[b + 1] - edges[b])
        feats = torch.stack([w, w * u, w * u * u], dim=-1)
        enough = inside.sum(1) >= 4
        coef = _least_squares(feats, y * w)
        second = 2 * coef[:, 2] / (edges[b + 1] - edges[b]) ** 2
        worst = torch.where(enough, torch.minimum(worst, second), worst)
    return 0.55 * (-worst).clamp_min(0.0)


def _sum_linear_fit(t: Tensor, y: Tensor, peaks: list[Tensor]) -> tuple[Tensor, ...]:
    """Start a difference-of-convex pair: ``y = (y + k t^2) - k t^2`` with ``k`` from the data.

    The first network is fitted (least squares for ``c0, c1, s_1``) to the convex part
    ``y + k t^2``, the second to ``-k t^2``; returns ``c0, c1`` (summed) and each ``s_1``.
    """
    k = convexifying_curvature(t, y)
    bend = k[:, None] * t * t
    c0a, c1a, sa = _one_linear_fit(t, y + bend, peaks[0])
    c0b, c1b, sb = _one_linear_fit(t, -bend, peaks[1])
    return c0a + c0b, c1a + c1b, [sa, sb]


def _one_linear_fit(t: Tensor, y: Tensor, peaks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    _, c0, c1, free = tent_linear_fit(t, y, peaks, True)
    return c0, c1, free[:, None]


def tent_linear_fit(t: Tensor, y: Tensor, peaks: Tensor, smooth: bool) -> tuple[Tensor, ...]:
    """The linear parameters that fit ``y`` best for fixed peaks (exact least squares).

    Returns ``(scales (N, d), c0 (N,), c1 (N,), free)`` where ``free`` is ``s_1`` ``(N,)`` if
    smooth else the scales ``(N, d)``.
    """
    d = peaks.shape[1] - 1 if smooth else peaks.shape[1]
    levels = tent_levels(t, peaks[:, :d])
    ones = torch.ones_like(t)
    if smooth:
        ratios = smooth_scales(peaks, torch.ones_like(peaks[:, 0]))
        feats = torch.stack([ones, t, (levels * ratios[:, None, :]).sum(-1)], dim=-1)
        sol = _least_squares(feats, y)
        free = sol[:, 2]
        scales = free[:, None] * ratios
    else:
        feats = torch.cat([ones[..., None], t[..., None], levels], dim=-1)
        sol = _least_squares(feats, y)
        free = sol[:, 2:]
        scales = free
    return scales, sol[:, 0], sol[:, 1], free


def _cosine(step: int, steps: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def _check_finite(loss: Tensor, phase: str, seeds: list[int] | None) -> None:
    if not bool(torch.isfinite(loss).all()):
        bad = torch.nonzero(~torch.isfinite(loss)).flatten().tolist()
        who = f"seed(s) {[seeds[i] for i in bad]}" if seeds else f"network(s) {bad}"
        raise TentnetError(
            f"training diverged in {phase} (non-finite loss for {who}); try a smaller learning "
            f"rate or check the target's scale"
        )


def _optimise(
    flat: Tensor,
    loss_and_grad: Callable[[], tuple[Tensor, Tensor]],
    steps: int,
    lr: float,
    phase: str,
    record: Callable[[Tensor], None],
    progress: _NetProgress | None,
    seeds: list[int],
) -> None:
    """Adam with a cosine-decayed rate on the flat tensor ``flat``, updated in place."""
    adam = FlatAdam(flat)
    report_every = max(1, steps // 100)
    for step in range(steps):
        per_net, grad = loss_and_grad()
        # A non-finite loss poisons the weights for good, so checking now and then (a check
        # waits for the device) still catches divergence, just a few steps later.
        if step % 25 == 0 or step == steps - 1:
            _check_finite(per_net, phase, seeds)
        record(per_net)
        adam.step(grad, lr * _cosine(step, steps))
        if progress is not None and (step % report_every == 0 or step == steps - 1):
            progress(phase, step + 1, steps, per_net)


def init_generators(seeds: list[int], restarts: int = 1) -> list[torch.Generator]:
    # Independent of the generator that drew the training points (seeded by `seed` itself);
    # candidate r of a seed (restarts > 1) gets its own stream. torch's CPU generator keeps
    # only 32 bits of a seed, so the streams are derived by numpy's SeedSequence.
    return [
        torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, 1, r]).generate_state(1)[0])
        )
        for seed in seeds
        for r in range(restarts)
    ]


def random_peaks(
    n_peaks: int, generators: list[torch.Generator], peak_range: tuple[float, float], dtype
) -> Tensor:
    """``(N, n_peaks)`` peaks uniform in ``peak_range``, one row per generator."""
    lo, hi = peak_range
    rows = [lo + (hi - lo) * torch.rand(n_peaks, generator=g, dtype=dtype) for g in generators]
    return torch.stack(rows)


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
        layers, loss = spec.fitter(
            t, y, config.width_for(method), config.depth, config.lm_iterations, config.quadrature
        )
        return TrainOutput(layers=layers, history=loss[None], history_steps=[0])
    r = config.restarts
    n = len(seeds)
    net_progress = _per_seed(progress, n)
    if r == 1:
        return _train_core(method, t, y, config, seeds, net_progress)
    if config.lm_iterations <= LM_SCREEN_ITERATIONS:
        out = _train_core(method, t, y, config, seeds, net_progress)
        best = out.history[-1].reshape(n, r).argmin(1) + torch.arange(n, device=t.device) * r
    else:
        return _halving(method, t, y, config, seeds, net_progress)
    return out.select(best)


def holdout_size(points: int, fraction: float) -> int:
    """How many of ``points`` :func:`holdout_split` holds out (at least one)."""
    return max(1, round(fraction * points))


def holdout_split(
    t: Tensor, y: Tensor, seeds: list[int], fraction: float, stream: int = 2
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each seed's points split at random into a fitting part and ``fraction`` held out, by a
    random stream of its own (derived from ``(seed, stream)``; independent of the data, the
    test split and the initialisation): ``(t_fit, y_fit, t_val, y_val)``."""
    p = t.shape[1]
    n_val = holdout_size(p, fraction)
    perms = torch.stack(
        [
            torch.randperm(
                p,
                generator=torch.Generator().manual_seed(
                    int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
                ),
            )
            for seed in seeds
        ]
    ).to(t.device)
    val, fit_idx = perms[:, :n_val], perms[:, n_val:]
    return t.gather(1, fit_idx), y.gather(1, fit_idx), t.gather(1, val), y.gather(1, val)


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
    progress: _NetProgress | None,
) -> TrainOutput:
    """Restarts by successive halving, the candidates judged on their training points (or on
    held-out points with ``config.select_holdout``).

    Every candidate gets phase 1 and a short LM run on the fitting part of its seed's points;
    the quarter with the lowest MSE on the held-out part (``config.select_holdout`` of the
    points; the training points themselves when 0 or with fewer than
    :data:`MIN_SELECT_POINTS`) gets the remaining LM iterations; the one with the lowest
    held-out MSE wins and, when points were held out, gets ``config.refit_iterations`` LM
    iterations on all the points. Judging by training loss can pick networks that fit the
    points better and the function worse (x^2, depth 8, 500 points: training MSE 3e-13 with
    test MSE 1e-11 to 2e-10, against 1.1e-12 and 1.6e-12 for the uniform start), but holding
    20% out measured worse overall (x^2, exp(x), x^3 at depths 8 and 10, seeds 0-4: better on
    x^2 at depth 8, 3x-10x worse on exp(x) at depth 8), so tent+ judges by training loss.
    """
    n, r = len(seeds), config.restarts
    holdout = config.select_holdout if t.shape[1] >= MIN_SELECT_POINTS else 0.0
    if holdout:
        t_fit, y_fit, t_val, y_val = holdout_split(t, y, seeds, holdout)
    else:
        t_fit, y_fit, t_val, y_val = t, y, t, y
    screen = replace(config, lm_iterations=LM_SCREEN_ITERATIONS)
    out = _train_core(method, t_fit, y_fit, screen, seeds, progress)
    keep = screen_survivors(r)
    score = _losses(out.layers, t_val, y_val, r)
    top = score.reshape(n, r).topk(keep, dim=1, largest=False).indices
    chosen = (top + torch.arange(n, device=t.device)[:, None] * r).flatten()
    like = [(w[chosen], b[chosen]) for w, b in out.layers]
    rows = levenberg_marquardt(
        stack_to_rows(like),
        lambda v: rows_to_stack(v, like),
        t_fit.repeat_interleave(keep, 0).unsqueeze(-1),
        y_fit.repeat_interleave(keep, 0),
        config.lm_iterations - LM_SCREEN_ITERATIONS,
        None,
        progress,
    )
    refined = rows_to_stack(rows, like)
    pick = _losses(refined, t_val, y_val, keep).reshape(n, keep).argmin(1)
    pick = pick + torch.arange(n, device=t.device) * keep
    winners = out.select(chosen[pick])  # each seed's winner, as it was after the screen
    layers = [(w[pick], b[pick]) for w, b in refined]
    steps = config.lm_iterations - LM_SCREEN_ITERATIONS
    if holdout and config.refit_iterations:
        rows = levenberg_marquardt(
            stack_to_rows(layers),
            lambda v: rows_to_stack(v, layers),
            t.unsqueeze(-1),
            y,
            config.refit_iterations,
            None,
            progress,
        )
        layers = [(w.clone(), b.clone()) for w, b in rows_to_stack(rows, layers)]
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
    progress: _NetProgress | None = None,
) -> TrainOutput:
    """Train ``len(seeds) * config.restarts`` networks; see :func:`train_networks`."""
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
            c0, c1, frees = _sum_linear_fit(t, y, peaks0)
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

        _optimise(
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
    # All weights live in one flat tensor: Adam then does a few large operations per step, and
    # the gradient comes from an explicit backward pass (the per-step cost of a small network
    # is otherwise all framework overhead).
    shapes = [p.shape for layer in layers for p in layer]
    sizes = [s.numel() for s in shapes]
    flat = torch.cat([p.detach().reshape(-1) for layer in layers for p in layer])
    tt = t.unsqueeze(-1)
    yy = y.unsqueeze(-1)

    def unflatten(v: Tensor) -> Stack:
        views = [part.view(s) for part, s in zip(torch.split(v, sizes), shapes, strict=True)]
        return [(views[2 * k], views[2 * k + 1]) for k in range(len(layers))]

    def phase2_loss() -> Tensor:
        return stack_loss_and_grad(unflatten(flat), tt, yy)[0]

    # Adam updates ``flat`` in place, so its views stay valid for the whole phase; the
    # gradient is written straight into views of one flat buffer.
    weights = unflatten(flat)
    grad_flat = torch.empty_like(flat)
    grad_views = [g for layer in unflatten(grad_flat) for g in layer]

    def phase2_step() -> tuple[Tensor, Tensor]:
        per_net, _ = stack_loss_and_grad(weights, tt, yy, out=grad_views)
        return per_net, grad_flat

    phase = "phase 2" if spec.is_tent else "training"
    lr = config.lr if spec.is_tent else config.random_lr
    _optimise(flat, phase2_step, p2_steps, lr, phase, record, progress, seeds)
    if config.lm_iterations:
        like = unflatten(flat)
        rows = levenberg_marquardt(
            stack_to_rows(like),
            lambda v: rows_to_stack(v, like),
            tt,
            y,
            config.lm_iterations,
            record,
            progress,
        )
        flat = torch.cat([p.reshape(-1) for layer in rows_to_stack(rows, like) for p in layer])
    out.layers = [(w.detach().clone(), b.detach().clone()) for w, b in unflatten(flat.detach())]
    with torch.no_grad():
        final = phase2_loss()
    records.append(final)
    history_steps.append(steps_seen[0])
    out.history = torch.stack(records)
    out.history_steps = history_steps
    return out
