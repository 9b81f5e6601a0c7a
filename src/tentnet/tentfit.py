"""Least-squares parts of tent networks: for fixed peaks the output is linear in the scales
and the linear part, so those are solved exactly (the start of phase 1 and tent-lm's uniform
start); the curvature that makes a target convex (tent-dc's split); and the tent network that
points lie on exactly, if they lie on one (tent-lm then takes it)."""

from __future__ import annotations

import torch
from torch import Tensor

from .cpwl import cpwl_knots, through_points
from .mlp import Stack
from .optim import solve_spd
from .tent import smooth_scales, tent_levels, tent_mlp_layers


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
    return solve_spd(gram + 1e-13 * eye, rhs)[0] / scale


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


def sum_linear_fit(t: Tensor, y: Tensor, peaks: list[Tensor]) -> tuple[Tensor, ...]:
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


def exact_tent(t: Tensor, y: Tensor, depth: int) -> tuple[Stack, Tensor] | None:
    """For N networks' points ``t, y (N, P)`` in normalised units, the width-4 tent networks
    of ``depth`` levels that compute the function the points lie on, to rounding, where
    there is one: ``(stack, found (N,))``, the rows not found all zero; None if no row has one.

    Points on a tent network of k <= depth levels (free scales) lie on a CPWL with 2^k pieces
    (:func:`tentnet.cpwl.cpwl_knots`) whose knots give the peaks one level at a time: level
    i's first knot is where ``W_{i-1}`` reaches ``a_i`` on its first (rising) piece, and the
    knots sorted put it at index ``2^(k-i) - 1``. The scales and the linear part are then a
    least-squares fit, the levels beyond k get peak 1/2 and scale 0, and the network must pass
    through every point to rounding. (A sawtooth of 2^depth teeth is such a function; tent-lm's
    training from random peaks ends near the target's own variance on it.)"""
    ts, order = torch.sort(t, 1)
    ys = torch.gather(y, 1, order)
    n = t.shape[0]
    peaks = torch.full((n, depth), 0.5, dtype=t.dtype, device=t.device)
    scales = torch.zeros_like(peaks)
    c0 = torch.zeros(n, dtype=t.dtype, device=t.device)
    c1 = torch.zeros_like(c0)
    found = torch.zeros(n, dtype=torch.bool, device=t.device)
    for r in range(n):
        cpwl = cpwl_knots(ts[r], ys[r], 2**depth)
        if cpwl is None:
            continue
        inner = cpwl[0][1:-1]
        k = (inner.numel() + 1).bit_length() - 1
        if k < 1 or inner.numel() + 1 != 2**k:
            continue
        for i in range(k):
            at = inner[2 ** (k - 1 - i) - 1].reshape(1, 1)
            peaks[r, i] = tent_levels(at, peaks[r : r + 1, :i])[0, 0, -1] if i else at[0, 0]
        if not bool(((peaks[r] > 0) & (peaks[r] < 1)).all()):
            continue
        s, c0[r : r + 1], c1[r : r + 1], _ = tent_linear_fit(
            ts[r : r + 1], ys[r : r + 1], peaks[r : r + 1, :k], False
        )
        scales[r, :k] = s[0]
        found[r] = True
    if not bool(found.any()):  # (the network is not worth building)
        return None
    layers = tent_mlp_layers(peaks, scales, c0, c1, (0.0, 1.0), smooth=False)
    return through_points(layers, ts, ys, found)
