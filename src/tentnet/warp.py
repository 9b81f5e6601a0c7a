"""``tent-warp``: a tent chain that runs on a free-knot zigzag of the input.

The tent cascade splits every piece of a level at the same fraction (mirrored on falling
pieces), so its 2^d breakpoints cannot follow a curvature that changes along the domain: on
x^3 or x^11 the error of ``tent-lm`` stops falling with depth. Here the first hidden layer places
the pieces and the tent chain refines all of them at once:

1. ``k`` knots (``k`` pieces) equidistributed by ``|f''|^(1/2)`` estimated from the data. With
   that density the error of interpolating f is the same parabola on every piece, measured in
   the piece's own coordinate.
2. The first hidden layer (``k`` units, one per knot) gives two CPWL functions of those knots:
   ``P(t)``, the fit by the ``k`` pieces, and the zigzag ``z(t)``, 0 at even knots and 1 at odd
   ones, which maps every piece onto [0, 1].
3. A width-4 tent chain with all peaks 1/2 takes ``z`` as its input: ``W_0 = z``,
   ``W_i = T(W_{i-1})``. ``sum_i 4^-i W_i(z)`` is the parabola ``z (1 - z)`` on every piece up
   to a grid of 2^levels (Yarotsky's construction), so the chain cancels the bump that ``P``
   leaves on each piece, on all pieces at once.

The network is ``F(t) = P(t) + sum_i s_i W_i(z(t))`` with exactly ``k 2^levels`` linear pieces.
For fixed knots and peaks it is linear in P's knot values and the scales ``s_i``, which are
solved together by least squares; Levenberg-Marquardt then trains every weight of the plain
MLP ``1 -> k -> 4 x levels -> 1`` (``levels + 1`` hidden layers, ``6k + 20 levels - 11``
weights). All in normalised units (``t`` in [0, 1], standardised targets), N networks at once.

LM from nearly the same start lands in very different minima (seeds whose points differ only
by their draw end up to 20x apart), so every seed trains :data:`WARP_STARTS` starts: the
equidistributed knots, and copies of them each moved at random by up to
:data:`START_JITTER` of its nearer gap. Near a zero of f'' ``tent-warp`` adds a start per
:data:`FLOOR_STARTS` fraction, its density held at that floor (as ``tent-scaled``'s below)
and its zigzag swinging by ``sqrt(|f''| / floor)`` there. The start with the lowest error
against the reconstruction halfway between its grid points is kept.

``tent-scaled`` (``scaled=True``) gives every piece its own chain amplitude and tilt. The chain
is positively homogeneous once its constants come from its carried unit, so feeding it
``(A, B)`` instead of ``(z, 1)``, with ``B`` a positive CPWL on the same knots and ``A`` the CPWL
whose knot values are ``B`` times the zigzag's, makes it output ``B(t) sum_i s_i W_i(A/B)``.
Where the chain adds the parabola ``z (1 - z)``, that is ``s (1 - s) b0 b1 / (b0 + s (b1 - b0))``
in the piece's own coordinate ``s`` (on rising and falling pieces alike): an amplitude per
piece and, to first order, the cubic term ``(s - 1/2) s (1 - s)``, which one chain of the
zigzag cannot add (its sign flips with the zigzag's direction). Interpolation leaves
``-h^2 s (1 - s) (f2/2 + f3 h (s - 1/2)/6 + ...)`` on a piece of width ``h`` (``f2``, ``f3`` the
second and third derivatives); both terms match with ``B ~ |f2|^(-1/3)`` and knots of density
``|f2|^(2/3)``, that is ``B ~ sqrt(h)``. Then the levels pay again where ``f2`` keeps away from
0 (exp(x), 1/(1 + x), x^3 on [1, 2]; ``benchmarks/README.md``). It is the same MLP with the same
weight count; only the start differs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cpwl import free_units, hat_basis
from .errors import TentnetError
from .knots import (
    curvature_cdf,
    curvature_cdfs,
    curvature_knots,
    floored_density,
    least_squares,
    quadrature_weights,
)
from .mlp import Stack, stack_mse, weight_count
from .optim import lm_on_stack
from .reconstruct import RESAMPLE_POINTS, reconstruction
from .tent import tent_levels, tent_mlp_layers

WARP_DENSITY_EXPONENT = 0.5  # |f''|^(1/2): the same interpolation bump on every piece
SCALED_DENSITY_EXPONENT = 2 / 3  # tent-scaled: |f''|^(2/3), its chain scaled by |f''|^(-1/3)
# tent-scaled near a zero of f'': below this fraction of the largest |f''| the knot density
# stays at the floor's, B keeps its tilt |f''|^(-1/3) (down to TILT_RATIO of the floor) and the
# zigzag's swing on a piece, (|f''| / floor)^(2/3), gives the smaller amplitude: eta^2 B ~ h^2
# |f''| (before: B flat there, swing sqrt(|f''| / floor), floor 5%; one start, 6 levels, 14 and
# 20 knots, seeds 0-2: x^3 32x-37x lower, x^4 17x-270x, x^11 3.2x-11x, tan(x) 40x-77x;
# benchmarks/README.md). Where the zigzag swings less, the chain adds fewer pieces.
ZERO_FLOOR = 0.2
TILT_RATIO = 0.01
WARP_UNITS = 16  # the default first-layer width
WARP_LM_ITERATIONS = 300
# Starts per seed and how far the knots of starts after the first move, as a fraction of each
# knot's nearer gap. Prototype (x^3, x^11, exp(x), depths 8-12, seeds 0-4): 4 starts lowered
# the median test MSE by 1x-28x; moves of 1%-10% did about equally well, 20% often found
# nothing better than the first start. 3, not 4, keeps the full reproduce within 30 minutes
# (benchmarks/README.md).
WARP_STARTS = 3
START_JITTER = 0.05
# tent-warp near a zero of f'' (x^3 at 0, an inflection): where the estimated |f''| falls
# below the first of these fractions of its largest value, every seed trains one more start per
# fraction, its knots held at that floor (as tent-scaled's at ZERO_FLOOR), the zigzag swinging
# by sqrt(|f''| / floor), unmoved. The wide first pieces of |f''|^(1/2) leave a cubic term the
# chain cannot cancel; which floor ends best after LM varies from seed to seed, so the judge picks
# among them (x^3, seeds 0-4, 4 levels: 1.7x-4.6x lower medians at the weights of depths 8-12;
# benchmarks/README.md).
FLOOR_STARTS = (0.1, 0.2, 0.4)
# ... but only where that low stretch is short (under this share of the domain), as near an
# isolated zero (x^3: 9%, x^4: 31%), not where |f''| decays over most of it (x^5 45%, x^11 75%,
# sqrt(x + 0.01) 89%), where a floor flattens the density and the floored starts paid little
# or nothing at 2x-3x the time (benchmarks/README.md, thirteenth session).
DIP_SHARE = 0.375
# The reconstruction's grid has at least this many points per network piece, however few the
# samples (the other methods stop at GRID_PER_POINT per sample). With 6 levels and 20 knots
# (1,280 pieces) on exp(x) the fit sat at its free-knot limit on 2,048 points, and 7 levels
# (2,176 pieces) fell below it only on a finer grid. With 2 points per piece a piece can still
# fall between two grid points, where nothing holds its slope: narrow spikes, about 50x the RMS
# error (x^2 with 6 levels and 20 knots, 500 points, medians of 5 seeds: largest error 7.2e-6,
# test MSE 2.8e-14); 4 per piece: 5.4e-7 and 1.2e-14, at twice the time. A cap of 16 per sample
# brought them back with fewer samples (200 points: the worst seed's largest error 8.1e-6 with
# it, 2.5e-6 without; benchmarks/README.md).
GRID_PER_PIECE = 4
# Tent levels when tent-warp spends the weights of a width-4 network (the budget experiment
# and auto): measured best or near it on x^3 and x^11 (benchmarks/README.md).
BUDGET_LEVELS = 3


def warp_weight_count(units: int, levels: int) -> int:
    """Weights and biases of ``1 -> units -> 4 x levels -> 1``: ``6 units + 20 levels - 11``."""
    return 6 * units + 20 * levels - 11


def warp_units(weights: int, levels: int) -> int:
    """The most first-layer units with at most ``weights`` weights and ``levels`` levels (0 if
    none fit)."""
    return max(0, (weights + 11 - 20 * levels) // 6)


def units_within(depth: int, levels: int = BUDGET_LEVELS) -> int:
    """First-layer units of the largest tent-warp network with ``levels`` levels and no more
    weights than a width-4 network of ``depth`` hidden layers (0 if none fits)."""
    return warp_units(weight_count(4, depth), levels)


def warp_fits(units: int, points: int) -> bool:
    """Whether a first layer of ``units`` knots can be fitted to ``points`` points (what
    :func:`check_warp` demands of the width)."""
    return units >= 2 and 2 * (units + 1) <= points


def warp_grid(resample: int, units: int, levels: int) -> int:
    """The reconstruction grid asked for: ``resample`` points, or :data:`GRID_PER_PIECE` per
    piece of a network of ``units`` knots and ``levels`` levels if that is more (0 stays 0: no
    reconstruction); :func:`warp_starts` builds it with at least one point per sample."""
    return max(resample, GRID_PER_PIECE * units * 2**levels) if resample else 0


def check_warp(units: int, levels: int, points: int) -> None:
    """Raise TentnetError unless ``units`` pieces and ``levels`` tent levels can be fitted to
    ``points`` points per network."""
    if levels < 1:
        raise TentnetError(
            "methods tent-warp and tent-scaled need depth 2 or more (one hidden layer of knots, "
            f"then at least one tent level); got depth {levels + 1}"
        )
    if units < 2:
        raise TentnetError(
            f"methods tent-warp and tent-scaled need width 2 or more (the knots); got {units}"
        )
    if 2 * (units + 1) > points:
        raise TentnetError(
            f"a first layer of {units} knot units needs at least {2 * (units + 1)} training "
            f"points (two per piece); got {points}"
        )


def warp_layout(
    t: Tensor,
    y: Tensor,
    units: int,
    levels: int,
    w: Tensor | None = None,
    shift: Tensor | None = None,
    scaled: bool = False,
    floor: Tensor | None = None,
) -> Stack:
    """The starting networks (see the module docstring): knots, zigzag, uniform tent chain,
    P's values and the scales by (``w``-weighted) least squares. ``t, y`` are ``(N, P)``;
    ``shift`` (``(N, units - 1)`` in [-1, 1]) moves each inner knot by that fraction of
    :data:`START_JITTER` times its nearer gap; ``scaled``: the chain scaled per knot
    (``tent-scaled``, with its floor at :data:`ZERO_FLOOR`); ``floor`` (``(N,)``, without
    ``scaled``): each network's floor as a fraction of its largest ``|f''|`` (0: none, the
    same start as without it)."""
    n = t.shape[0]
    if scaled:
        fraction = torch.full((n,), ZERO_FLOOR, dtype=t.dtype, device=t.device)
        cum, below = floored_density(t, y, fraction, SCALED_DENSITY_EXPONENT)
    elif floor is not None:
        cum, below = floored_density(t, y, floor, WARP_DENSITY_EXPONENT)
    else:
        cum, below = curvature_cdf(t, y, WARP_DENSITY_EXPONENT), None
    knots = curvature_knots(t, cum, units - 1)
    if shift is not None:
        gaps = torch.diff(knots, dim=1)
        knots = knots.clone()
        knots[:, 1:-1] += START_JITTER * shift * torch.minimum(gaps[:, :-1], gaps[:, 1:])
    hats = hat_basis(t, knots)  # (N, P, units + 1)
    parity = torch.arange(units + 1, device=t.device) % 2
    zig = parity.to(t.dtype).expand(n, -1)  # the zigzag's value at every knot
    scale = torch.ones_like(knots)  # B at every knot
    if below is not None:  # swings of eta about 1/2 (0 and 1 where eta = 1)
        ratio = below(knots)  # min(1, |f''| / floor)
        if scaled:  # B keeps its tilt |f''|^(-1/3) below the floor; eta^2 B ~ |f''|
            scale = _chain_scale(knots, ratio.clamp_min(TILT_RATIO) ** (-1 / 3))
        zig = 0.5 - (1.0 - 2.0 * zig) * (ratio ** (2 / 3) if scaled else ratio.sqrt()) / 2
    a = (hats * (scale * zig)[:, None, :]).sum(-1)  # the zigzag z when B = 1
    peaks = torch.full((n, levels), 0.5, dtype=t.dtype, device=t.device)
    if scaled:
        b = (hats * scale[:, None, :]).sum(-1)
        feats = b.unsqueeze(-1) * tent_levels((a / b).clamp(0.0, 1.0), peaks)
    else:
        feats = tent_levels(a, peaks)
    coef = least_squares(torch.cat([hats, feats], -1), y, w)
    values, scales = coef[:, : units + 1], coef[:, units + 1 :]

    # P, A and B are CPWLs on the same knots: one first layer of units serves all three.
    kappa, v_p, c_p = free_units(knots, values)
    _, v_a, c_a = free_units(knots, scale * zig)
    first = (torch.ones_like(kappa).unsqueeze(-1), -kappa)
    zero = torch.zeros_like(c_p)
    chain = tent_mlp_layers(peaks, scales, zero, zero, (0.0, 1.0), smooth=False)
    # The chain's first layer reads z: its input column takes A, and its constants (the
    # tent's offset, the carried unit) take B, so that the chain computes B W(A/B) (W(z) when
    # B = 1). P joins the running-sum neuron (row 0), lifted by `lift` so that the neuron
    # stays non-negative (P is smallest at a knot; the chain's own lift covers its levels up
    # to B = 1, the rest covers larger B), and the output bias takes the lift off again.
    w_in, b_in = chain[0]  # (N, 4, 1), (N, 4)
    own = b_in[:, 0]  # the chain's lift of its running sum
    lift = (-values.amin(1)).clamp_min(0.0) + 1.0 + own * (scale.amax(1) - 1.0)
    w2 = w_in @ v_a.unsqueeze(1)
    if scaled:  # the chain's constants read B
        _, v_b, c_b = free_units(knots, scale)
        w2 = w2 + b_in.unsqueeze(-1) * v_b.unsqueeze(1)
        b2 = w_in[:, :, 0] * c_a[:, None] + b_in * c_b[:, None]
    else:  # B = 1: they stay constants
        b2 = b_in + w_in[:, :, 0] * c_a[:, None]
    w2[:, 0, :] = v_p
    b2[:, 0] = own + (c_p + lift)
    w_out, b_out = chain[-1]
    return [first, (w2, b2), *chain[1:-1], (w_out, b_out - lift[:, None])]


def curvature_dips(t: Tensor, y: Tensor, fraction: float, share: float = DIP_SHARE) -> bool:
    """Whether the estimated ``|f''|`` of any of the ``(N, P)`` data sets falls below
    ``fraction`` of its largest value somewhere, but on less than ``share`` of the domain (a
    dip near a zero of f'', not a long decay)."""
    (linear,) = curvature_cdfs(t, y, (1.0,))
    curv = torch.diff(linear, dim=1)
    low = (curv < fraction * curv.amax(1, keepdim=True)).double().mean(1)
    return bool(((low > 0) & (low < share)).any())


def _chain_scale(knots: Tensor, tilt: Tensor) -> Tensor:
    """``B`` at every knot for ``tent-scaled``: ``|f''|^(-1/3)``, which with knots of density
    ``|f''|^(2/3)`` is the square root of the local gap (the mean of the two gaps at an inner
    knot, the one gap at an end), times ``tilt`` (``(|f''| / floor)^(-1/3)`` where the gaps
    keep the floor's width, else 1), normalised to mean 1."""
    gaps = torch.diff(knots, dim=1)
    local = torch.cat([gaps[:, :1], 0.5 * (gaps[:, 1:] + gaps[:, :-1]), gaps[:, -1:]], 1)
    scale = local.sqrt() * tilt
    return scale / scale.mean(1, keepdim=True)


def fit_warp(
    t: Tensor,
    y: Tensor,
    units: int,
    levels: int,
    lm_iterations: int = WARP_LM_ITERATIONS,
    quadrature: bool = True,
    resample: int = RESAMPLE_POINTS,
    generators: list[torch.Generator] | None = None,
    scaled: bool = False,
    floor: float = 0.0,
    known: dict[float, Stack] | None = None,
) -> tuple[Stack, Tensor, int]:
    """Fit N ``tent-warp`` networks (``scaled``: ``tent-scaled``): least-squares starts, then LM
    on all weights.

    Args:
        t: ``(N, P)`` inputs in [0, 1]; y: ``(N, P)`` targets (standardised).
        units: first-layer units k (k pieces, before the chain multiplies them by 2^levels).
        levels: tent levels after the first layer (depth ``levels + 1``).
        lm_iterations: Levenberg-Marquardt iterations on all weights.
        quadrature: weight the points by :func:`tentnet.knots.quadrature_weights`.
        resample: with ``quadrature``, fit :func:`tentnet.reconstruct.reconstruction` on this
            many points (0: the points themselves).
        generators: ``S N`` random streams, seed-major (``S`` each): ``S`` starts per network,
            the first with the equidistributed knots, the others with knots moved by their
            stream; without ``scaled``, where the data's ``|f''|`` dips near 0, one more start
            per :data:`FLOOR_STARTS` fraction. The start with the lowest error between the
            grid points (else the lowest training loss) is kept. None: one start.
        floor: with one start, ``tent-warp``'s knots and zigzag held at this fraction of the
            largest ``|f''|`` (what ``auto`` judges a level count by near a zero of f'').
        known: starts already trained (N networks each, by the same arguments and one start),
            by their floor: 0.0 the unmoved, unfloored start, a fraction of
            :data:`FLOOR_STARTS` that floored start. They take the place of those starts
            untrained; a network trains to the same bits in any batch, so the result is the
            same (``auto``'s finalists after its one-start judging).

    Returns:
        ``(stack, loss, starts)``: the networks, their training loss ``(N,)`` (weighted with
        ``quadrature``) and how many starts each was chosen from (the floored ones included).
    """
    n = t.shape[0]
    layers, loss, score = warp_starts(
        t, y, units, levels, lm_iterations, quadrature, resample, generators, scaled, floor, known
    )
    starts = loss.shape[0] // n
    if starts == 1:
        return layers, loss, 1
    best = score.view(n, starts).argmin(1) + torch.arange(n, device=loss.device) * starts
    return [(wt[best], b[best]) for wt, b in layers], loss[best], starts


def warp_data(
    t: Tensor, y: Tensor, units: int, levels: int, quadrature: bool, resample: int
) -> tuple[Tensor, Tensor, Tensor | None, tuple[Tensor, Tensor] | None]:
    """``(t, y, w, judge)`` that LM fits: the reconstruction on :func:`warp_grid`'s grid (with
    ``quadrature`` and ``resample``; else the points), their quadrature weights and the points
    halfway between the grid's points (each None where there is none)."""
    judge = None
    if quadrature and resample:  # LM stops where the fit is best between the grid's points
        t, y, between = reconstruction(t, y, warp_grid(resample, units, levels), per_point=None)
        judge = None if between is None else (between[0].unsqueeze(-1), between[1])
    return t, y, quadrature_weights(t) if quadrature else None, judge


def warp_starts(
    t: Tensor,
    y: Tensor,
    units: int,
    levels: int,
    lm_iterations: int = WARP_LM_ITERATIONS,
    quadrature: bool = True,
    resample: int = RESAMPLE_POINTS,
    generators: list[torch.Generator] | None = None,
    scaled: bool = False,
    floor: float = 0.0,
    known: dict[float, Stack] | None = None,
) -> tuple[Stack, Tensor, Tensor]:
    """Every start of :func:`fit_warp` (same arguments), before one is kept per network:
    ``(stack, loss, score)`` with ``S N`` networks, seed-major (``S`` counts the floored
    starts too); ``score`` is what picks among them: the MSE against the reconstruction halfway
    between its grid points (the training loss without a reconstruction, or with one start,
    where there is nothing to pick)."""
    check_warp(units, levels, t.shape[1])
    n = t.shape[0]
    starts = 1 if generators is None else len(generators) // n
    if starts < 1 or (generators is not None and len(generators) != starts * n):
        raise TentnetError(f"need a whole number of random streams per network, got {starts}")
    t, y, w, judge = warp_data(t, y, units, levels, quadrature, resample)
    shift = fractions = None
    keys: list[float | None] = [floor]  # each start's floor (None: moved knots)
    if starts == 1 and floor:
        if scaled:
            raise TentnetError("a floored start is tent-warp's; tent-scaled has its own floor")
        fractions = torch.full((n,), floor, dtype=t.dtype, device=t.device)
    if starts > 1:
        # tent-warp near a zero of f'': the floored starts after the jittered ones
        dips = bool(FLOOR_STARTS) and not scaled and curvature_dips(t, y, FLOOR_STARTS[0])
        floors = FLOOR_STARTS if dips else ()
        total = starts + len(floors)
        t, y = t.repeat_interleave(total, 0), y.repeat_interleave(total, 0)
        if judge is not None:
            judge = (judge[0].repeat_interleave(total, 0), judge[1].repeat_interleave(total, 0))
        w = None if w is None else w.repeat_interleave(total, 0)
        drawn = torch.stack(
            [2 * torch.rand(units - 1, generator=g, dtype=t.dtype) - 1 for g in generators]
        ).view(n, starts, units - 1)
        drawn[:, 0] = 0.0  # every seed's first start: the knots as equidistributed
        shift = torch.cat([drawn, drawn.new_zeros(n, len(floors), units - 1)], 1)
        shift = shift.view(n * total, units - 1).to(t.device)
        if floors:
            each = torch.tensor((0.0,) * starts + floors, dtype=t.dtype, device=t.device)
            fractions = each.repeat(n)
        keys = [0.0] + [None] * (starts - 1) + list(floors)
    layers = warp_layout(t, y, units, levels, w, shift, scaled, fractions)
    x = t.unsqueeze(-1)
    given = {j: known[k] for j, k in enumerate(keys) if known and k in known}
    rows = torch.arange(n * len(keys), device=t.device).view(n, len(keys))
    for j, stack in given.items():  # the starts trained before, in their rows
        layers = [
            (wt.index_copy(0, rows[:, j], a), b.index_copy(0, rows[:, j], c))
            for (wt, b), (a, c) in zip(layers, stack, strict=True)
        ]
    todo = rows[:, [j for j in range(len(keys)) if j not in given]].flatten()
    if lm_iterations and len(todo):
        trained = lm_on_stack(
            [(wt[todo], b[todo]) for wt, b in layers],
            x[todo],
            y[todo],
            lm_iterations,
            weights=None if w is None else w[todo],
            judge=None if judge is None else (judge[0][todo], judge[1][todo]),
        )
        layers = [
            (wt.index_copy(0, todo, a), b.index_copy(0, todo, c))
            for (wt, b), (a, c) in zip(layers, trained, strict=True)
        ]
    loss = stack_mse(layers, x, y, w)
    score = loss if judge is None or starts == 1 else stack_mse(layers, *judge)
    return layers, loss, score
