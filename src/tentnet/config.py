"""How to train: :class:`TrainConfig` (depth, width, budget and rates, checked against the
method's registry entry), what training returns (:class:`TrainOutput`), and the progress
callback's type."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from .errors import TentnetError
from .methods import REGISTRY, SELECTORS, get_method
from .mlp import Stack, weight_count
from .optim import NetProgress as NetProgress
from .optim import stream_generator
from .reconstruct import RESAMPLE_POINTS
from .tent import DEFAULT_MARGIN, check_depth

LM_SCREEN_ITERATIONS = 40  # with restarts: LM iterations every candidate gets before the cut
TENT_LM_REFIT_ITERATIONS = 100
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


def per_seed_progress(progress: Progress | None, seeds: int) -> NetProgress | None:
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
        width: hidden width; None means the method's registry entry (tent methods build width
            4, tent-dc width 8; the random baselines default to 4; knots 30 units; tent-warp
            16 first-layer units).
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
            one with the lowest final training loss (or, with the reconstruction, the lowest
            error halfway between its grid points) is kept; selection never sees test data.
            None means the method's own default (tent-lm 16, tent-warp 3 starts with moved
            knots, 1 for the rest); knots is deterministic and always trains one. With more
            than one, tent-warp adds a start per :data:`tentnet.warp.FLOOR_STARTS` fraction
            where the data's |f''| dips near 0 (:func:`tentnet.warp.curvature_dips`).
        lm_iterations: after the gradient steps, this many Levenberg-Marquardt iterations on
            all weights (:mod:`tentnet.optim`); 0 for the published methods.
        select_holdout: with restarts and LM, the fraction of each seed's training points held
            out to judge the candidates (never the test data; tent-lm then fits the points, not
            their reconstruction); 0 judges by the training loss or the reconstruction.
        refit_iterations: LM iterations on all the points for the winner after a selection on
            held-out points (tent-lm: 100 when ``select_holdout`` is set).
        uniform_start: tent-lm with restarts: the first candidate of every seed is the tent
            network with all peaks 1/2 (linear part by least squares) instead of random peaks.
        quadrature: knots and tent-warp: weight each training point by the length of the
            domain nearest to it, so the loss measures the error over the whole domain rather
            than at the points
            (measured: 2%-18% lower test MSE on the grid on all 24 target and width pairs
            tried; benchmarks/knots_quadrature.py). :func:`tentnet.fit.fit` turns it off for
            data files, whose test points follow the data's own distribution.
        resample: tent-lm, knots and tent-warp, with ``quadrature``: fit the local-cubic
            reconstruction of the training points on a uniform grid of this many points instead
            of the points themselves (:func:`tentnet.reconstruct.resampled`; None: 2,048 for knots,
            tent-warp and ``auto``, 1,024 for tent-lm, which fits 16 starts; 0: off; the warp
            methods take 4 points per piece if that is more, :func:`tentnet.warp.warp_grid`,
            however few the training points; the others never more than 8 per training
            point). tent-lm
            judges its candidates, and stops LM, on the reconstruction halfway between the
            grid's points. Measured in the budget experiment: knots within 1.00x-1.23x of the
            free-knot optimum at every target and budget, instead of up to 28x; tent-lm 4x-130x
            lower test MSE on x^2 and exp(x) at depths 8-12 (benchmarks/README.md).
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
    restarts: int | None = None
    select_holdout: float = 0.0
    refit_iterations: int = 0
    uniform_start: bool = True
    quadrature: bool = True
    resample: int | None = None

    def check(self, method: str) -> None:
        """Raise TentnetError if the configuration cannot be trained with ``method``."""
        spec = get_method(method)
        check_depth(self.depth)
        if self.resample is not None and not 0 <= self.resample <= 1_000_000:
            raise TentnetError(f"resample must be from 0 to 1000000, got {self.resample}")
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
        if self.restarts is not None and not 1 <= self.restarts <= 1000:
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

    def fitted_points(self, method: str, points: int) -> int:
        """The points ``method``'s loss runs over for ``points`` training points: the methods
        that reconstruct fit the reconstruction's grid (with ``quadrature`` and ``resample``
        on)."""
        used, spec = self.resolved(method), get_method(method)
        if spec.reconstruct and used.quadrature and used.resample:
            return spec.grid(used.resample, used.depth, used.width_for(method), points)
        return points

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

    def _starts(self, default: int) -> int:
        return default if self.restarts is None else self.restarts

    def resolved(self, method: str) -> TrainConfig:
        """The configuration ``method`` really trains with (the method's defaults fill in a
        zero ``lm_iterations``, unset ``restarts`` and ``phase1_steps``, and for the direct
        methods and ``auto`` an unset ``resample``); ``auto``, which picks a method per fit,
        otherwise resolves to the configuration itself (its candidates resolve their own), as
        does ``tent+``."""
        if method not in REGISTRY:  # auto, tent+: their candidates include direct methods
            resample = RESAMPLE_POINTS if self.resample is None else self.resample
            return replace(self, resample=resample) if method in SELECTORS else self
        spec = REGISTRY[method]
        resample = (spec.reconstruct or None) if self.resample is None else self.resample
        if spec.kind == "direct":  # knots is deterministic: one start
            lm = self.lm_iterations or spec.lm_iterations
            starts = self._starts(spec.restarts) if spec.restarts > 1 else 1
            return replace(self, lm_iterations=lm, restarts=starts, resample=resample)
        if not spec.lm_iterations:
            return replace(self, restarts=self._starts(spec.restarts))
        return replace(
            self,
            # Judging candidates on held-out points is the other way: it fits the points.
            resample=self.resample if self.select_holdout else resample,
            phase1_steps=self.phase1_steps
            if self.phase1_steps is not None or spec.phase1_steps is None
            else min(spec.phase1_steps, self.steps),
            lm_iterations=self.lm_iterations or spec.lm_iterations,
            restarts=self._starts(spec.restarts),
            refit_iterations=self.refit_iterations
            or (TENT_LM_REFIT_ITERATIONS if self.select_holdout else 0),
        )


@dataclass
class TrainOutput:
    """What training returns, in normalised units.

    Attributes:
        layers: the trained plain MLPs as a stack.
        phase1_layers: the MLPs right after phase 1 (tent methods), else None.
        tent_params: phase-1 tent parameters (``peaks, scales, c0, c1``), tent methods only.
        history: ``(records, N)`` training MSE; ``history_steps`` the step of each record.
        starts: starts trained per network where the method adds its own to the configured
            restarts (tent-warp's floored starts), else None (then it is ``restarts``).
    """

    layers: Stack
    phase1_layers: Stack | None = None
    tent_params: dict[str, Tensor] | None = None
    history: Tensor | None = None
    history_steps: list[int] = field(default_factory=list)
    starts: int | None = None

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
            starts=self.starts,
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
            starts=self.starts,
        )


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
                generator=stream_generator(seed, stream),
            )
            for seed in seeds
        ]
    ).to(t.device)
    val, fit_idx = perms[:, :n_val], perms[:, n_val:]
    return t.gather(1, fit_idx), y.gather(1, fit_idx), t.gather(1, val), y.gather(1, val)
