"""The training methods: one frozen description each, the only place that knows them by name.

A method is one of three kinds:

- ``tent``: phase 1 on the tent parameters (peaks, scales, linear part; gradients through the
  weight construction), then phase 2 on the raw weights of the plain MLP (Adam for
  ``steps - phase1`` steps, then optional Levenberg-Marquardt);
- ``random``: a randomly initialised MLP, every step on the raw weights;
- ``direct``: the method's own fitter builds the network (least squares) and LM trains it;
  no gradient steps.

Everything else about a method (its width, the depths it accepts, its defaults, its phase-1
form, how many pieces it starts with) is a field here, so a new method is one new entry
(and, for a ``direct`` one, its fitter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import TentnetError
from .knots import fit_knots
from .mlp import Stack, weight_count
from .reconstruct import RESAMPLE_POINTS, grid_size
from .warp import (
    FLOOR_STARTS,
    WARP_LM_ITERATIONS,
    WARP_STARTS,
    WARP_UNITS,
    fit_warp,
    warp_grid,
    warp_weight_count,
)

TENT_LM_LM_ITERATIONS = 300
TENT_LM_RESTARTS = 16
# A short phase 1 for tent-lm: measured on x^3 (seeds 0-9, 16 starts) the LM finish reaches a
# mean test MSE of 2.9e-8 after 500 phase-1 steps against 4.6e-8 after 1,000 (and 5.8e-8 after
# 2,000 with 8 starts); long phase-1 runs settle every start into similar tent local minima.
TENT_LM_PHASE1_STEPS = 500
# tent-lm fits its 16 starts to a reconstruction grid of 1,024 points, half of knots' 2,048 (LM's
# cost grows with the points): measured at depths 10 and 12 (seeds 0-4) against 2,048, x^2
# 1.0e-14 against 6.0e-15 (limit 5.1e-15) and 4.0e-17 alike, exp(x) 2.8e-12 against 2.0e-12
# and 3.2e-12 against 2.7e-12, x^11 2.4e-8 against 2.6e-8, in about half the time.
TENT_LM_RESAMPLE = 1024
# knots: 30 units (91 weights), about the weight count of a width-4 depth-5 network (93).
KNOTS_WIDTH = 30
KNOTS_LM_ITERATIONS = 300

Fitter = Callable[
    [Tensor, Tensor, int, int, int, bool, int, list[torch.Generator]],
    tuple[Stack, Tensor] | tuple[Stack, Tensor, int],
]
"""``fitter(t, y, width, depth, lm_iterations, quadrature, resample, generators) -> (stack,
loss)``; ``generators``: the method's ``restarts`` random streams per network, seed-major. A
fitter that trains starts of its own beyond those returns ``(stack, loss, starts)``, with
``starts`` the number trained per network."""


@dataclass(frozen=True)
class Method:
    """How one method builds and trains its networks.

    Attributes:
        name: the name users pass (``--method``).
        kind: ``"tent"``, ``"random"`` or ``"direct"`` (see the module docstring).
        summary: one line for help texts.
        width: the hidden width it builds (tent kinds) or its default width.
        fixed_width: refuse any other width (the tent constructions are width 4 or 8).
        min_depth, max_depth: the depths it accepts (``max_depth`` None: any up to 64).
        default_depth: the CLI's depth when none is given.
        pretrain: a phase 1 of ``TrainConfig.phase1`` steps (tent kinds).
        smooth: phase 1 with the smoothness condition (else free per-level scales).
        parts: tent networks summed side by side (2 for tent-dc).
        uniform_start: with restarts, the first start of every seed has all peaks 1/2.
        adam_phase2: phase 2 spends the remaining steps with Adam (tent-lm: LM only).
        lm_iterations, restarts, phase1_steps: defaults that replace the config's zero, None
            and None.
        fitter: the ``direct`` kind's fitter.
        layout: ``"uniform"`` (every hidden layer ``width`` wide) or ``"warp"`` (a first
            layer of ``width`` units, then width-4 tent levels).
        reconstruct: fit the local-cubic reconstruction of an expression's training points on
            a uniform grid of this many points (the default of ``TrainConfig.resample``,
            :func:`tentnet.reconstruct.resampled`) instead of the points; 0: the points.
        exact: where the points lie on a tent network of the depth, to rounding, take that
            network instead of the trained one (:func:`tentnet.tentfit.exact_tent`).
        added_starts: starts per network a fit with restarts may add to them (tent-warp's
            floored starts near a zero of f''; what the memory estimate counts).
    """

    name: str
    kind: str
    summary: str
    width: int = 4
    fixed_width: bool = False
    min_depth: int = 1
    max_depth: int | None = None
    default_depth: int = 5
    pretrain: bool = False
    smooth: bool = True
    parts: int = 1
    uniform_start: bool = False
    adam_phase2: bool = True
    lm_iterations: int = 0
    restarts: int = 1
    phase1_steps: int | None = None
    fitter: Fitter | None = None
    layout: str = "uniform"
    reconstruct: int = 0
    exact: bool = False
    added_starts: int = 0

    @property
    def is_tent(self) -> bool:
        """Built by the tent construction (it has phase-1 results)."""
        return self.kind == "tent"

    def start_pieces(self, depth: int) -> int | None:
        """Linear pieces of the network as constructed (None where it depends on the draw or
        the target: the warp methods have fewer where their zigzag swings less, near a zero of
        f''; tent-warp where it keeps a floored start)."""
        if self.layout == "warp":
            return None
        if self.is_tent and self.parts == 1:
            return 2**depth
        return None

    def grid(self, resample: int, depth: int, width: int, points: int) -> int:
        """The reconstruction grid it fits with ``resample`` set, from ``points`` samples:
        more points for a warp network with many pieces (:func:`tentnet.warp.warp_grid`, however
        few the samples; the others up to :data:`tentnet.reconstruct.GRID_PER_POINT` per
        sample)."""
        if self.layout == "warp":
            return grid_size(warp_grid(resample, width, depth - 1), points, None)
        return grid_size(resample, points)

    def weight_count(self, depth: int, width: int) -> int:
        """Weights and biases of its network with one input and one output."""
        if self.layout == "warp":
            return warp_weight_count(width, depth - 1)
        return weight_count(width, depth)

    def shape(self, depth: int, width: int) -> str:
        """The network's shape in words."""
        if self.layout == "warp":
            return f"depth {depth} ({width} knot units, then {depth - 1} width-4 tent levels)"
        return f"depth {depth} x width {width}"


def _knots(
    t: Tensor,
    y: Tensor,
    width: int,
    depth: int,
    lm: int,
    quadrature: bool,
    resample: int,
    generators: list[torch.Generator],
) -> tuple[Stack, Tensor]:  # deterministic: one start, no random streams
    if width + 1 > t.shape[1] // 2:
        raise TentnetError(
            f"method knots with {width} units needs at least {2 * (width + 1)} training "
            f"points (two per piece); got {t.shape[1]}"
        )
    return fit_knots(t, y, width, lm, quadrature=quadrature, resample=resample)


def _warp_fitter(scaled: bool) -> Fitter:
    """The fitter of ``tent-warp`` (``scaled``: ``tent-scaled``): depth - 1 tent levels."""

    def fitter(
        t: Tensor,
        y: Tensor,
        width: int,
        depth: int,
        lm: int,
        quadrature: bool,
        resample: int,
        generators: list[torch.Generator],
    ) -> tuple[Stack, Tensor, int]:
        return fit_warp(t, y, width, depth - 1, lm, quadrature, resample, generators, scaled)

    return fitter


_TENT = {"kind": "tent", "fixed_width": True, "pretrain": True}
REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "tent",
            summary="phase 1 on peaks with the smoothness condition, then raw weights",
            **_TENT,
        ),
        Method(
            "tent-free-scales",
            summary="phase 1 with free per-level scales, then raw weights",
            smooth=False,
            **_TENT,
        ),
        Method(
            "tent-no-pretrain",
            kind="tent",
            summary="tent weights at random peaks, straight to raw weights",
            fixed_width=True,
        ),
        Method("kaiming", kind="random", summary="PyTorch's default init"),
        Method("xavier", kind="random", summary="Glorot-uniform weights, zero biases"),
        Method(
            "tent-lm",
            summary="short phase 1, then Levenberg-Marquardt from 16 starts (uniform first)",
            uniform_start=True,
            adam_phase2=False,
            lm_iterations=TENT_LM_LM_ITERATIONS,
            restarts=TENT_LM_RESTARTS,
            phase1_steps=TENT_LM_PHASE1_STEPS,
            reconstruct=TENT_LM_RESAMPLE,
            exact=True,
            **_TENT,
        ),
        Method(
            "tent-dc",
            summary="two tent networks side by side (width 8), for non-convex targets",
            width=8,
            parts=2,
            **_TENT,
        ),
        Method(
            "knots",
            kind="direct",
            summary="the best shallow network: one hidden layer of free knots",
            width=KNOTS_WIDTH,
            max_depth=1,
            default_depth=1,
            lm_iterations=KNOTS_LM_ITERATIONS,
            fitter=_knots,
            reconstruct=RESAMPLE_POINTS,
        ),
        Method(
            "tent-warp",
            kind="direct",
            summary="a first layer of knots, then depth - 1 width-4 tent levels on its zigzag",
            width=WARP_UNITS,
            min_depth=2,
            lm_iterations=WARP_LM_ITERATIONS,
            restarts=WARP_STARTS,
            added_starts=len(FLOOR_STARTS),
            fitter=_warp_fitter(scaled=False),
            layout="warp",
            reconstruct=RESAMPLE_POINTS,
        ),
        Method(
            "tent-scaled",
            kind="direct",
            summary="tent-warp with its chain scaled per knot (a cubic term on every piece)",
            width=WARP_UNITS,
            min_depth=2,
            lm_iterations=WARP_LM_ITERATIONS,
            restarts=WARP_STARTS,
            fitter=_warp_fitter(scaled=True),
            layout="warp",
            reconstruct=RESAMPLE_POINTS,
        ),
    )
}
METHODS = tuple(REGISTRY)
# Not trained as such: each picks among the methods above, per fit (tentnet.auto, tentnet.deep).
SELECTORS = ("auto", "tent+")


def get_method(name: str) -> Method:
    """The registered method ``name``, or TentnetError naming the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise TentnetError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
