"""The best shallow ReLU network: a free-knot piecewise-linear fit written as one hidden layer.

A one-hidden-layer ReLU network with k units, ``F(t) = c + sum_j v_j relu(sigma_j (t - kappa_j))``
(``sigma_j = +-1``), is a continuous piecewise-linear (CPWL) function with at most k knots. Two
layouts cover what k units can be:

- *k pieces, free*: one unit with its knot left of the domain is the linear term, the other
  k - 1 units are free knots inside it (any CPWL with k pieces);
- *k + 1 pieces, one of them flat*: all k knots inside the domain, the units left of a pivot
  piece point left (``sigma = -1``) and the others right, so on the pivot piece every unit is
  off and the slope there is 0. (A generic CPWL with k + 1 pieces needs k + 2 numbers besides
  its knots; k units give k + 1, so one slope is tied.)

Fitting, for N networks at once (each on its own points, in normalised units ``t`` in [0, 1]):

1. curvature from the data: a least-squares CPWL on a fine uniform grid (finer on the
   reconstruction than on raw points), whose slope jumps estimate ``|f''|``;
2. knots equidistributed by ``|f''|^(2/5)`` (the asymptotically optimal L2 density); the
   free layout's then moved by variable projection (:func:`projected_knots`);
3. knot values by least squares in the hat basis (well conditioned; the flat piece of the
   second layout is a merged pair of hats), converted exactly to the network's weights;
4. Levenberg-Marquardt on all ``3k + 1`` weights (:mod:`tentnet.optim`), which moves the knots;
   the layout with the lower training loss is kept.

Steps 3 and 4 weight each point by the length of [0, 1] nearest to it (a quadrature of the
squared error; optional): lower test MSE on all 24 (target, width) pairs measured.

Points that lie on a CPWL that k units can be, to rounding (a ReLU network's own samples,
``abs(x - 0.3)``, sums of hinges), are fitted by that CPWL instead
(:func:`tentnet.cpwl.exact_cpwl`), exact to rounding where LM on the reconstruction would
end near 1e-11, with several knots about the kink and none on it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .cpwl import as_stack, exact_cpwl, free_units, hat_basis
from .limit import moved_knots, optimise_knots
from .mlp import Stack, gram, matvec, rows_where, stack_mse
from .optim import lm_on_stack, solve_spd
from .reconstruct import RESAMPLE_POINTS, resampled

FINE_PIECES = 64  # the curvature estimate's uniform grid (fewer with few points)
# `knots` on a reconstruction: a grid fine enough for a steep front. tanh(40x) on [-1, 1] at depth
# 5 (30 units, seeds 0-4): 3.8x the optimum at 64 pieces, 1.16x at 256; on 7 other targets at
# depths 5 and 8 the ratio moved by -11% to +0.3% (benchmarks/README.md). tent-warp keeps 64: its
# LM ends went both ways (x^3 depth 10 2.1x worse, sqrt(x + 0.01) depth 10 2.5x better).
RESAMPLED_FINE_PIECES = 256


def least_squares(basis: Tensor, y: Tensor, w: Tensor | None = None) -> Tensor:
    """Least squares ``basis (N, P, q) @ c = y (N, P)`` (weighted by ``w (N, P)`` if given) by
    normal equations with a tiny ridge (hat bases are well conditioned as long as every piece
    holds points)."""
    basis_t = basis.transpose(1, 2)
    normal = gram(basis_t, w)
    rhs = matvec(basis_t, y if w is None else w * y)
    scale = normal.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-300)
    eye = torch.eye(normal.shape[1], dtype=y.dtype, device=y.device)
    return solve_spd(normal + 1e-12 * scale[:, None, None] * eye, rhs)[0]


def curvature_cdf(
    t: Tensor, y: Tensor, exponent: float = 0.4, fine_pieces: int = FINE_PIECES
) -> Tensor:
    """The cumulative ``|f''|^exponent`` density ``(N, fine + 1)`` on a uniform grid of [0, 1]
    of ``fine_pieces`` pieces (fewer than a sixth of the points), with ``|f''|`` estimated from
    a least-squares CPWL on that grid (the same for any number of knots, so it is estimated
    once per fit). 2/5 is the asymptotically L2-optimal knot density; 1/2 makes the
    interpolation error the same on every piece (the max-norm one)."""
    return curvature_cdfs(t, y, (exponent,), fine_pieces)[0]


def curvature_cdfs(
    t: Tensor, y: Tensor, exponents: tuple[float, ...], fine_pieces: int = FINE_PIECES
) -> list[Tensor]:
    """:func:`curvature_cdf` for each of ``exponents``, from one estimate of ``|f''|``."""
    n, p = t.shape
    fine = max(2, min(fine_pieces, p // 6))
    grid = torch.linspace(0.0, 1.0, fine + 1, dtype=t.dtype, device=t.device).expand(n, -1)
    values = least_squares(hat_basis(t, grid), y)
    h = 1.0 / fine
    jumps = (values[:, 2:] - 2 * values[:, 1:-1] + values[:, :-2]).abs() / h  # at inner nodes
    # |f''| per fine piece: the mean of the jumps at its ends, lightly smoothed.
    padded = torch.cat([jumps[:, :1], jumps, jumps[:, -1:]], dim=1)
    curv = 0.5 * (padded[:, 1:] + padded[:, :-1]) / h
    curv = torch.cat([curv[:, :1], curv, curv[:, -1:]], 1)
    curv = (curv[:, :-2] + 2 * curv[:, 1:-1] + curv[:, 2:]) / 4
    dens = torch.stack([curv.clamp_min(0.0) ** e for e in exponents])  # (E, N, fine)
    dens = dens + 1e-2 * dens.mean(-1, keepdim=True) + 1e-300  # flat parts still get knots
    return list(torch.cat([torch.zeros_like(dens[..., :1]), torch.cumsum(dens * h, -1)], -1))


def floored_density(
    t: Tensor, y: Tensor, fraction: Tensor, exponent: float
) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """For :mod:`tentnet.warp`'s floored starts and ``tent-scaled``: the cumulative
    ``|f''|^exponent`` knot density of :func:`curvature_cdf`, raised to that of ``fraction``
    (``(N,)``) times the largest ``|f''|`` where it is below; and, at given knots,
    ``min(1, |f''| / floor)`` (1 wherever ``|f''|`` is above the floor, and everywhere with a
    fraction of 0), from which :mod:`tentnet.warp` sets the zigzag's swing (and
    ``tent-scaled``'s tilt).

    Near a zero of f'' (x^3 and x^11 at 0, any inflection) the density leaves a wide first
    piece, where f'' changes by much of itself, and for tent-scaled ``B ~ |f''|^(-1/3)`` has no
    finite value. With the floor the pieces there keep the floor's width, and the smaller bump
    that interpolation leaves (``h^2 |f''|``) comes from the zigzag instead: on a piece where
    it swings by ``eta`` the chain's parabola is ``eta^2`` times as high. Where ``|f''|``
    stays above the floor the density is unchanged, and so is the start."""
    cum, linear = curvature_cdfs(t, y, (exponent, 1.0))  # one |f''| estimate
    fine = cum.shape[1] - 1
    curv = torch.diff(linear, dim=1) * fine  # |f''| per fine piece
    floor = fraction.unsqueeze(1) * curv.amax(1, keepdim=True)
    dens = torch.diff(cum, dim=1) * fine
    low = curv < floor
    dens = torch.where(low, torch.maximum(dens, floor**exponent), dens)
    raised = torch.cat([torch.zeros_like(cum[:, :1]), torch.cumsum(dens / fine, 1)], 1)
    cum = torch.where(low.any(1, keepdim=True), raised, cum)  # the others stay bit for bit

    def below(knots: Tensor) -> Tensor:
        idx = (knots * fine).long().clamp(0, fine - 1)
        ratio = torch.gather(curv, 1, idx) / floor.clamp_min(torch.finfo(curv.dtype).tiny)
        return ratio.clamp(max=1.0)

    return cum, below


def curvature_knots(t: Tensor, cum: Tensor, inner: int) -> Tensor:
    """``inner`` knots per network inside (0, 1), equidistributed by the cumulative density
    ``cum`` (from :func:`curvature_cdf`); returns ``(N, inner + 2)`` with the ends 0 and 1."""
    fine = cum.shape[1] - 1
    h = 1.0 / fine
    levels = torch.linspace(0.0, 1.0, inner + 2, dtype=t.dtype, device=t.device)
    levels = levels * cum[:, -1:]
    idx = torch.searchsorted(cum.contiguous(), levels.contiguous(), right=True).clamp(1, fine)
    c_lo, c_hi = torch.gather(cum, 1, idx - 1), torch.gather(cum, 1, idx)
    frac = ((levels - c_lo) / (c_hi - c_lo).clamp_min(1e-300)).clamp(0.0, 1.0)
    knots = (idx - 1 + frac) * h
    return _spread(t, knots[:, 1:-1])


def _spread(t: Tensor, inner: Tensor, gap: int = 2) -> Tensor:
    """Move inner knots ``(N, m)`` so that every piece holds at least ``gap`` points (a piece
    without points would leave its values undetermined); knots sit midway between points.
    Returns ``(N, m + 2)`` knots with the ends 0 and 1."""
    p = t.shape[1]
    m = inner.shape[1]
    if m == 0:  # one piece: the ends only
        return torch.stack([torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])], dim=1)
    ts = torch.sort(t, 1).values
    j = torch.arange(1, m + 1, device=t.device)
    rank = torch.searchsorted(ts.contiguous(), inner.contiguous())  # points left of each knot
    rank = torch.cummax((rank - gap * j).clamp_min(0), 1).values + gap * j  # `gap` apart, from 0
    rank = torch.minimum(rank, p - gap * (m + 1 - j))  # and from the right end
    rank = torch.flip(torch.cummin(torch.flip(rank - gap * j, [1]), 1).values, [1]) + gap * j
    rank = rank.clamp(1, p - 1)
    mid = 0.5 * (torch.gather(ts, 1, rank - 1) + torch.gather(ts, 1, rank))
    zero, one = torch.zeros_like(mid[:, :1]), torch.ones_like(mid[:, :1])
    return torch.cat([zero, mid, one], dim=1)


def quadrature_weights(t: Tensor) -> Tensor:
    """Per point, the length of [0, 1] nearer to it than to its neighbours, over the mean
    ``(N, P)``: the weighted mean of squared errors is then a quadrature of their integral
    over the domain, the quantity a uniform test grid measures."""
    ts, order = torch.sort(t, 1)
    zero, one = torch.zeros_like(ts[:, :1]), torch.ones_like(ts[:, :1])
    mids = 0.5 * (ts[:, 1:] + ts[:, :-1])
    cells = torch.diff(torch.cat([zero, mids, one], 1), dim=1)
    w = torch.empty_like(cells).scatter_(1, order, cells)
    return w / w.mean(1, keepdim=True).clamp_min(1e-300)


def _free_layout(t: Tensor, y: Tensor, cum: Tensor, units: int, w: Tensor | None) -> Stack:
    """``units`` units as a free CPWL with ``units`` pieces (one unit is the linear term), its
    knots moved by variable projection (:func:`projected_knots`)."""
    knots = projected_knots(t, y, curvature_knots(t, cum, units - 1))
    kappa, v, c = free_units(knots, least_squares(hat_basis(t, knots), y, w))
    return as_stack(kappa, torch.ones_like(kappa), v, c)


# L-BFGS iterations of variable projection on the free layout's knots (0: none). LM from the
# density's knots stopped in a local minimum on exp(-x^2) sin(6x) on [-2, 2] at 30 units
# (seeds 0-2: 2.0e-5-2.37e-5, the optimum 1.55e-5); from the projected knots at 1.77e-5. Of the
# budget (45) and general (15) experiments' `knots` medians (seeds 0-4), 49 stayed the same to
# three digits and 9 fell by 0.2%-1.8%; sqrt(|x|), whose error sits between the two points
# around its cusp, rose 1.2x-1.3x at depths 5 and 8 (its median seed; its min and mean hardly
# moved) (benchmarks/README.md, twenty-second session).
PROJECTION_ITERATIONS = 100
# ... stopped once an iteration changes the error by less than this fraction of the start's:
# the same ends as 1e-22 on four targets, in a third to a fifth of the time.
PROJECTION_TOLERANCE = 1e-9


def projected_knots(t: Tensor, y: Tensor, knots: Tensor) -> Tensor:
    """Each network's knots ``(N, m + 1)`` moved to lower the error of the least-squares CPWL
    on them (unweighted) by up to :data:`PROJECTION_ITERATIONS` of variable projection
    (:func:`tentnet.limit.optimise_knots`, as :func:`tentnet.optimal_pwl` does on the
    function; stopped when the error changes by less than :data:`PROJECTION_TOLERANCE` of the
    start's); where knots sit where they are not needed (:func:`tentnet.limit.moved_knots`:
    a flat stretch, a kink another knot took), they are moved and projected again; then kept
    apart by ``_spread`` (every piece holds points)."""
    if not PROJECTION_ITERATIONS or knots.shape[1] < 3:
        return knots
    basis = hat_basis(t, knots)
    fitted = matvec(basis, least_squares(basis, y))
    start = ((fitted - y) ** 2).mean(1).clamp_min(torch.finfo(y.dtype).tiny)

    def project(i: int, k: Tensor) -> Tensor:
        return optimise_knots(
            t[i], y[i], k, PROJECTION_ITERATIONS, float(start[i]), PROJECTION_TOLERANCE
        )

    out = []
    for i in range(len(t)):
        k = project(i, knots[i])
        shifted, moves = moved_knots(*(v.cpu().double().numpy() for v in (t[i], y[i], k)))
        out.append(project(i, torch.from_numpy(shifted).to(k)) if moves else k)
    return _spread(t, torch.stack(out)[:, 1:-1])


def _pivot_layout(t: Tensor, y: Tensor, cum: Tensor, units: int, w: Tensor | None) -> Stack:
    """``units`` units as a CPWL with ``units + 1`` pieces whose flattest piece has slope 0."""
    knots = projected_knots(t, y, curvature_knots(t, cum, units))
    basis = hat_basis(t, knots)
    free = least_squares(basis, y, w)
    slopes = torch.diff(free, dim=1) / torch.diff(knots, dim=1)  # (N, units + 1)
    pivot = slopes.abs().argmin(1)  # (N,)
    # Values with piece `pivot` flat: hats pivot and pivot + 1 share one coefficient.
    q = basis.shape[2]
    cols = torch.arange(q - 1, device=t.device)
    merge = torch.zeros(t.shape[0], q, q - 1, dtype=t.dtype, device=t.device)
    src = cols[None, :] + (cols[None, :] > pivot[:, None]).long()  # hat index per column
    merge.scatter_(1, src.unsqueeze(1), 1.0)
    merge[torch.arange(t.shape[0]), pivot + 1, pivot] = 1.0
    values = matvec(merge, least_squares(basis @ merge, y, w))
    slopes = torch.diff(values, dim=1) / torch.diff(knots, dim=1)
    v = torch.diff(slopes, dim=1)  # (N, units): the slope jump at every inner knot
    kappa = knots[:, 1:-1]
    left = torch.arange(units, device=t.device)[None, :] < pivot[:, None]
    sigma = torch.where(left, -1.0, 1.0).to(t.dtype)
    c = torch.gather(values, 1, pivot[:, None])[:, 0]
    return as_stack(kappa, sigma, v, c)


def fit_knots(
    t: Tensor,
    y: Tensor,
    units: int,
    lm_iterations: int = 300,
    flat_piece: bool = True,
    quadrature: bool = True,
    resample: int = RESAMPLE_POINTS,
) -> tuple[Stack, Tensor]:
    """Fit N one-hidden-layer ReLU networks of ``units`` units as free-knot CPWL functions.

    Args:
        t: ``(N, P)`` inputs in [0, 1]; y: ``(N, P)`` targets (standardised).
        units: hidden units k (k or k + 1 pieces, see the module docstring).
        lm_iterations: Levenberg-Marquardt iterations on all weights after the start.
        flat_piece: also try the layout with ``units + 1`` pieces (one of them flat); False
            keeps every network at ``units`` pieces at most.
        quadrature: weight the points by :func:`quadrature_weights` (the loss then estimates
            the mean squared error over [0, 1]); False weighs every point alike.
        resample: with ``quadrature``, fit :func:`resampled` on this many points (0: the
            points themselves).

    Returns:
        ``(stack, loss)``: the networks (the layout with the lower training loss of each, or
        the CPWL that the points lie on: :func:`tentnet.cpwl.exact_cpwl`) and their training
        loss ``(N,)`` (weighted with ``quadrature``).
    """
    exact = exact_cpwl(t, y, units, flat_piece)
    fine = FINE_PIECES
    if quadrature and resample:
        t, y = resampled(t, y, resample)
        fine = RESAMPLED_FINE_PIECES  # a smooth grid: its second differences are not noise
    cum = curvature_cdf(t, y, fine_pieces=fine)
    w = quadrature_weights(t) if quadrature else None
    candidates = [_free_layout(t, y, cum, units, w)]
    if flat_piece:
        candidates.append(_pivot_layout(t, y, cum, units, w))
    x = t.unsqueeze(-1)
    best: Stack | None = None
    best_loss = None
    for layers in candidates:
        if lm_iterations:
            layers = lm_on_stack(layers, x, y, lm_iterations, weights=w)
        loss = stack_mse(layers, x, y, w)
        if best is None:
            best, best_loss = layers, loss
            continue
        take = loss < best_loss
        best = rows_where(take, layers, best)
        best_loss = torch.minimum(loss, best_loss)
    assert best is not None and best_loss is not None
    if exact is not None:  # no LM: it would pull the knots towards the reconstruction
        layers, found = exact
        best = rows_where(found, layers, best)
        best_loss = torch.where(found, stack_mse(layers, x, y, w), best_loss)
    return best, best_loss
