"""The reference limit: the best continuous piecewise-linear L2 fit with a given number of pieces.

A network with 2^d linear pieces can do no better than the best continuous piecewise-linear
function with 2^d pieces and free knots. :func:`optimal_pwl` approximates that optimum:

1. knots equidistributed by ``|f''|^(2/5)`` (the asymptotically optimal density for L2);
2. for given knots the values are solved exactly by least squares (variable projection);
3. the knots are then optimised by L-BFGS on the least-squares error, with the gaps
   parameterised by a softmax so the knots stay ordered.

Errors are mean squared errors over the same uniform test grid as the networks' ``test_mse``.
Knot optimisation can only lower the equidistributed start's error; both are returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .errors import TentnetError
from .optim import solve_spd
from .targets import Expression, check_bounded, evaluate_checked, parse_expression, uniform_grid
from .tent import check_domain

TEST_POINTS = 10_001


@dataclass(frozen=True)
class PWLFit:
    """A continuous piecewise-linear fit: ``knots (pieces + 1,)``, ``values (pieces + 1,)``.

    ``mse`` is on the uniform test grid after knot optimisation, ``mse_start`` with the
    equidistributed knots.
    """

    knots: np.ndarray
    values: np.ndarray
    mse: float
    mse_start: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.knots, self.values)


def _hat_basis(x: Tensor, knots: Tensor) -> Tensor:
    """``(P, m + 1)`` hat functions on ``knots`` evaluated at ``x`` (differentiable in knots)."""
    m = knots.numel() - 1
    idx = torch.searchsorted(knots.detach(), x.detach(), right=True).clamp(1, m) - 1
    left, right = knots[idx], knots[idx + 1]
    w = (x - left) / (right - left)
    basis = torch.zeros(x.numel(), m + 1, dtype=x.dtype, device=x.device)
    rows = torch.arange(x.numel(), device=x.device)
    basis = basis.index_put((rows, idx), 1.0 - w)
    return basis.index_put((rows, idx + 1), w, accumulate=True)


def _solve_values(basis: Tensor, y: Tensor) -> Tensor:
    gram = basis.T @ basis
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return solve_spd(gram + 1e-14 * gram.diagonal().mean() * eye, basis.T @ y)[0]


def least_squares_cpwl(x: Tensor, y: Tensor, knots: Tensor) -> tuple[Tensor, Tensor]:
    """The continuous piecewise-linear least-squares fit of ``y`` at ``x`` (each ``(P,)``) on
    ``knots``: its mean squared error and its values at the knots (differentiable in the
    knots)."""
    basis = _hat_basis(x, knots)
    values = _solve_values(basis, y)
    return ((basis @ values - y) ** 2).mean(), values


def optimise_knots(
    x: Tensor, y: Tensor, knots: Tensor, iterations: int, scale: float, tolerance: float = 1e-22
) -> Tensor:
    """The knots ``(m + 1,)`` (ends fixed) of the continuous piecewise-linear least-squares fit
    of ``y`` at ``x`` (each ``(P,)``), optimised from ``knots`` by up to ``iterations`` of
    L-BFGS on the logarithms of the gaps (a softmax keeps them ordered), the values solved by
    least squares at every trial (variable projection). ``scale``: the start's error, to which
    the loss is normalised (0: not normalised); ``tolerance``: L-BFGS stops when the loss
    changes by less (its ``tolerance_change``)."""
    lo, hi = float(knots[0]), float(knots[-1])
    logits = torch.log(torch.diff(knots) / (hi - lo)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [logits],
        lr=1.0,
        max_iter=iterations,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-16,
        tolerance_change=tolerance,
        history_size=20,
    )

    def knots_of(lg: Tensor) -> Tensor:
        inner = lo + (hi - lo) * torch.cumsum(torch.softmax(lg, 0), 0)[:-1]
        return torch.cat([inner.new_tensor([lo]), inner, inner.new_tensor([hi])])

    def closure() -> Tensor:
        opt.zero_grad()
        loss = least_squares_cpwl(x, y, knots_of(logits))[0]
        loss = loss / scale if scale > 0 else loss
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return knots_of(logits)


def _values_tridiagonal(x: np.ndarray, y: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Least-squares knot values for fixed knots: the hat-basis Gram matrix is tridiagonal,
    so the normal equations are solved by the Thomas algorithm in O(points + pieces)."""
    m = knots.size - 1
    idx = np.clip(np.searchsorted(knots, x, side="right"), 1, m) - 1
    w = (x - knots[idx]) / (knots[idx + 1] - knots[idx])
    diag = np.bincount(idx, (1 - w) ** 2, m + 1) + np.bincount(idx + 1, w**2, m + 1)
    off = np.bincount(idx, (1 - w) * w, m)
    rhs = np.bincount(idx, (1 - w) * y, m + 1) + np.bincount(idx + 1, w * y, m + 1)
    diag = diag + 1e-14 * diag.mean()  # a knot interval with no grid point stays solvable
    c = np.zeros(m)
    d = np.zeros(m + 1)
    c[0] = off[0] / diag[0] if m else 0.0
    d[0] = rhs[0] / diag[0]
    for i in range(1, m + 1):
        denom = diag[i] - off[i - 1] * c[i - 1]
        if i < m:
            c[i] = off[i] / denom
        d[i] = (rhs[i] - off[i - 1] * d[i - 1]) / denom
    v = np.zeros(m + 1)
    v[m] = d[m]
    for i in range(m - 1, -1, -1):
        v[i] = d[i] - c[i] * v[i + 1]
    return v


# Knot moves after variable projection (:func:`moved_knots`): at most this many, each kept only
# where it lowers the least-squares error by more than this fraction, the knot going to the
# midpoint of one of this many pieces with the largest squared residuals.
KNOT_MOVES = 10
MOVE_GAIN = 1e-3
MOVE_PIECES = 3


def _cpwl_error(x: np.ndarray, y: np.ndarray, knots: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean squared error of the least-squares CPWL on ``knots`` and its residuals."""
    residual = np.interp(x, knots, _values_tridiagonal(x, y, knots)) - y
    return float(np.mean(residual**2)), residual


def moved_knots(x: np.ndarray, y: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, int]:
    """Knots (ends included, increasing) of the least-squares CPWL fit of ``y`` at ``x``,
    with the ones that sit where they are not needed moved to where they are.

    Variable projection moves knots only downhill and never past one another, so a knot left
    where the target is straight (a flat stretch of ``max(sin(4x), 0.3)``) or beside a kink
    that another knot already took stays there. Up to :data:`KNOT_MOVES` times, the inner knot
    whose removal raises the error least is taken out and put at the midpoint of the piece,
    among the :data:`MOVE_PIECES` with the largest squared residuals after the removal, where
    the error ends lowest; kept while that lowers the error by more than :data:`MOVE_GAIN` of
    it (on a smooth target with well-spread knots no move is: the knots come back unchanged).
    Returns the knots and how many moved."""
    if not np.all(np.diff(knots) > 0):  # L-BFGS can end with a gap rounded to 0
        return knots, 0
    err = _cpwl_error(x, y, knots)[0]
    moved = 0
    for _ in range(KNOT_MOVES):
        if knots.size < 4:  # no inner knot to spare
            break
        fewer = min(
            (np.delete(knots, j) for j in range(1, knots.size - 1)),
            key=lambda k: _cpwl_error(x, y, k)[0],
        )
        residual = _cpwl_error(x, y, fewer)[1]
        piece = np.clip(np.searchsorted(fewer, x, side="right") - 1, 0, fewer.size - 2)
        sse = np.bincount(piece, residual**2, fewer.size - 1)
        mids = 0.5 * (fewer[1:] + fewer[:-1])
        tried = [
            np.insert(fewer, p + 1, mids[p])
            for p in np.argsort(sse)[::-1][:MOVE_PIECES]
            if fewer[p] < mids[p] < fewer[p + 1]
        ]
        if not tried:
            break
        best_err, best = min(((_cpwl_error(x, y, k)[0], k) for k in tried), key=lambda e: e[0])
        if not best_err < err * (1.0 - MOVE_GAIN):
            break
        err, knots, moved = best_err, best, moved + 1
    return knots, moved


def _equidistributed(f, lo: float, hi: float, pieces: int) -> Tensor:
    x = torch.linspace(lo, hi, 20 * pieces + 4001, dtype=torch.float64)
    y = evaluate_checked(f, x[:, None])
    h = float(x[1] - x[0])
    d2 = torch.zeros_like(y)
    d2[1:-1] = (y[2:] - 2 * y[1:-1] + y[:-2]) / h**2
    d2[0], d2[-1] = d2[1], d2[-2]
    dens = d2.abs() ** 0.4
    dens = dens + 1e-3 * float(dens.mean()) + 1e-300  # keep flat parts from getting no knots
    cum = torch.cat(
        [torch.zeros(1, dtype=torch.float64), torch.cumsum(0.5 * (dens[1:] + dens[:-1]) * h, 0)]
    )
    targets = torch.linspace(0, float(cum[-1]), pieces + 1, dtype=torch.float64)
    knots = torch.from_numpy(np.interp(targets.numpy(), cum.numpy(), x.numpy()))
    knots[0], knots[-1] = lo, hi
    return knots


def optimal_pwl(
    target: str | Expression,
    pieces: int,
    domain: tuple[float, float] = (0.0, 1.0),
    iterations: int = 100,
    optimise_up_to: int = 128,
) -> PWLFit:
    """Best continuous piecewise-linear L2 fit of ``target`` with ``pieces`` free knots.

    Args:
        target: an expression in ``x``.
        pieces: number of linear pieces (e.g. ``2**depth``), 1 to 65,536.
        domain: ``(lo, hi)``.
        iterations: L-BFGS iterations of the knot optimisation (0: equidistribution only).
        optimise_up_to: optimise the knots only up to this many pieces; beyond it the
            equidistributed start is used (measured on x^3: optimisation lowers the error by
            0.3% at 32 pieces, 0.2% at 64 and 0.5% at 256, at a cost growing with pieces: 2.4 s
            at 78 pieces, 4.1 s at 129; on a kinked target the start is far off: 1,220x the
            optimised error for max(sin(4x), 0.3) on [0, 3] at 65 pieces, 8x at 257). 128
            covers the shallow networks of every budget up to depth 19.

    Returns:
        :class:`PWLFit` with the MSE on the uniform grid of 10,001 points.
    """
    expr = parse_expression(target) if isinstance(target, str) else target
    if expr.n_inputs != 1:
        raise TentnetError("optimal_pwl is for targets of one input")
    if not 1 <= pieces <= 65_536:
        raise TentnetError(f"pieces must be from 1 to 65536, got {pieces}")
    lo, hi = check_domain(domain)
    check_bounded(expr, (lo, hi))
    grid = uniform_grid((lo, hi), TEST_POINTS)
    y = evaluate_checked(expr, grid[:, None])
    knots0 = _equidistributed(expr, lo, hi, pieces)

    gx, gy = grid.numpy(), y.numpy()
    values0 = _values_tridiagonal(gx, gy, knots0.numpy())
    start = float(np.mean((np.interp(gx, knots0.numpy(), values0) - gy) ** 2))
    best = (start, knots0, torch.from_numpy(values0))
    if iterations > 0 and 1 < pieces <= optimise_up_to:
        knots = optimise_knots(grid, y, knots0, iterations, start)
        shifted, moves = moved_knots(gx, gy, knots.numpy())
        tried = [knots]
        if moves:  # knots left on a flat stretch or beside a kink: moved, then optimised again
            tried.append(optimise_knots(grid, y, torch.from_numpy(shifted), iterations, start))
        for knots in tried:
            with torch.no_grad():
                mse, values = least_squares_cpwl(grid, y, knots)
            if float(mse) < best[0] and bool(torch.all(torch.diff(knots) > 0)):
                best = (float(mse), knots, values)
    mse, knots, values = best
    return PWLFit(
        knots=knots.detach().numpy(), values=values.detach().numpy(), mse=mse, mse_start=start
    )
