"""The reconstruction: a smooth function read from its samples, on a uniform grid.

The fitters that reconstruct (``knots``, ``tent-warp``, ``tent-scaled``, ``tent-lm`` on an
expression) fit local cubics through the samples on a grid (:func:`reconstruction`), and judge
their fits halfway between its points. Next to a kink or cusp the cubics come from the
smoothest stencil (ENO) and the interval the kink lies in is cut where the cubics from either
side cross (subcell resolution).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

RESAMPLE_POINTS = 2048  # the smooth reconstruction's uniform grid (or the data's size, if larger)
GRID_PER_POINT = 8  # ... and never more than this many grid points per sample
# Where the centred stencil spans a kink or cusp: its third divided difference exceeds the
# smoothest neighbouring stencil's this many times, and its cubic term over the stencil is
# this large a fraction of the local slope. At 500 points it never fires on 22 smooth targets
# x 30 seeds; on |x - 0.3|, |x|, |x - 0.3|^0.7 and sqrt(|x|) it does, next to the kink
# (benchmarks/README.md). With 0.01 for the size it also fired on sin(3x) at 100 points.
KINK_RATIO = 10.0
KINK_SIZE = 0.1
# ... and below this many points it is not checked (at 10, x^11 looks kinked on 13 of 30 seeds).
KINK_MIN_POINTS = 64


def _kinks(ts: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """Per interval ``[ts_j, ts_j+1]`` of the sorted points ``(N, P)``: whether it is next to
    a kink or cusp (its centred stencil's third divided difference over :data:`KINK_RATIO`
    times the smallest of the three 4-point stencils around it, and its cubic term over
    :data:`KINK_SIZE` of the local slope), and the first of the 4 points its local cubic goes
    through: centred (``j - 1``, clamped to the points), or next to a kink the smoothest of
    the three (ENO). Returns ``(kink, start)``, each ``(N, P - 1)``; never a kink with fewer
    than :data:`KINK_MIN_POINTS` points."""
    n, p = ts.shape
    j = torch.arange(p - 1, device=ts.device)
    centred = (j - 1).clamp(0, p - 4).expand(n, -1)
    if p < KINK_MIN_POINTS:
        return torch.zeros_like(centred, dtype=torch.bool), centred
    d1 = torch.diff(ys, dim=1) / torch.diff(ts, dim=1)
    d2 = torch.diff(d1, dim=1) / (ts[:, 2:] - ts[:, :-2])
    d3 = (torch.diff(d2, dim=1) / (ts[:, 3:] - ts[:, :-3])).abs()  # (N, P - 3) per stencil
    cands = torch.stack([(j - 2), (j - 1), j], -1).clamp(0, p - 4).expand(n, -1, -1)
    rough = torch.gather(d3, 1, cands.reshape(n, -1)).view(n, p - 1, 3)
    smooth, pick = rough.min(-1)
    cen = rough[..., 1]
    span = torch.gather(ts[:, 3:] - ts[:, :-3], 1, centred)
    slope = d1.abs() + d1.abs().mean(1, keepdim=True)
    kink = (cen > KINK_RATIO * smooth) & (cen * span**2 > KINK_SIZE * slope)
    return kink, torch.where(kink, torch.gather(cands, 2, pick.unsqueeze(-1))[..., 0], centred)


# The flags of one kink span at most the 5 intervals around it, and its cut needs no other
# kink's flags within twice that: where kinks are a few points apart (a sawtooth of 64-256
# teeth on 500 points) the cubics beside one cross the next, and cutting made the
# reconstruction up to 4x worse instead of 100x better (benchmarks/README.md).
SUBCELL_SPAN = 4


def _cubic(xs: list, ys: list, u):
    """The cubic through 4 points ``(xs[k], ys[k])`` at ``u`` (Lagrange form), for numbers or
    for tensors of one shape."""
    out = 0.0
    for a in range(4):
        term = ys[a]
        for b in range(4):
            if b != a:
                term = term * (u - xs[b]) / (xs[a] - xs[b])
        out = out + term
    return out


def _straddled(ts: list[float], ys: list[float], cluster: list[int]) -> tuple[int, float] | None:
    """Among the intervals of one cluster of kink flags (and their neighbours), the one a
    kink lies in, and where: the cubic through the 4 points left of it and the one through
    the 4 right of it cross inside it (each ends at the other side's point with a gap of
    opposite sign, the smaller at least 1% of the larger), the largest such crossing."""
    best = None
    for j in sorted({k for i in cluster for k in (i - 1, i, i + 1)}):
        if j < 3 or j + 4 >= len(ts):
            continue
        left, right = (ts[j - 3 : j + 1], ys[j - 3 : j + 1]), (ts[j + 1 : j + 5], ys[j + 1 : j + 5])
        ga = ys[j] - _cubic(*right, ts[j])
        gb = _cubic(*left, ts[j + 1]) - ys[j + 1]
        small = min(abs(ga), abs(gb))
        if ga * gb < 0 and small >= 0.01 * max(abs(ga), abs(gb)):
            if best is None or small > best[0]:
                best = (small, j, ga, left, right)
    if best is None:
        return None
    _, j, ga, left, right = best
    lo, hi = ts[j], ts[j + 1]
    for _ in range(60):  # bisection on the difference of the two cubics
        mid = 0.5 * (lo + hi)
        if (_cubic(*left, mid) - _cubic(*right, mid) > 0) == (ga > 0):
            lo = mid
        else:
            hi = mid
    return j, 0.5 * (lo + hi)


def _subcell(ts: Tensor, ys: Tensor, kink: Tensor, u: Tensor, out: Tensor) -> None:
    """In place: on the interval a kink lies in (:func:`_straddled`; a lone kink, see
    :data:`SUBCELL_SPAN`), the reconstruction
    ``out`` at ``u`` (each ``(N, G)``) follows the cubic from the left up to the crossing and
    the one from the right after it, instead of one cubic across the kink (subcell
    resolution)."""
    for r in torch.nonzero(kink.any(1)).flatten().tolist():
        t_r, y_r = ts[r].tolist(), ys[r].tolist()
        clusters: list[list[int]] = []
        for j in torch.nonzero(kink[r]).flatten().tolist():
            if clusters and j <= clusters[-1][-1] + 2:
                clusters[-1].append(j)
            else:
                clusters.append([j])
        for c, cluster in enumerate(clusters):
            if cluster[-1] - cluster[0] > SUBCELL_SPAN:
                continue  # kinks a few points apart: the stencils beside one cross another
            found = _straddled(t_r, y_r, cluster)
            if found is None:
                continue
            j, at = found
            before = clusters[c - 1][-1] if c else -math.inf
            after = clusters[c + 1][0] if c + 1 < len(clusters) else math.inf
            if min(j - before, after - j) <= 2 * SUBCELL_SPAN:
                continue  # another kink's flags within reach of this one's stencils
            inside = torch.nonzero((u[r] >= t_r[j]) & (u[r] <= t_r[j + 1])).flatten()
            for g in inside.tolist():
                side = slice(j - 3, j + 1) if u[r, g] < at else slice(j + 1, j + 5)
                out[r, g] = _cubic(t_r[side], y_r[side], float(u[r, g]))


def grid_size(points: int, samples: int, per_point: int | None = GRID_PER_POINT) -> int:
    """The reconstruction's grid for ``points`` asked of ``samples`` samples: at least
    ``samples``, at most ``per_point`` per sample (ten do not say enough for a thousand; None:
    no cap, for a network whose pieces need the points)."""
    return max(samples, points if per_point is None else min(points, per_point * samples))


def reconstruction(
    t: Tensor,
    y: Tensor,
    points: int = RESAMPLE_POINTS,
    between: bool = True,
    per_point: int | None = GRID_PER_POINT,
) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    """The samples of a smooth function, read as that function: each network's points
    ``t (N, P)`` in [0, 1], ``y (N, P)`` interpolated by local cubics (through the 4 nearest
    points, one-sided at the ends; error O(h^4) for a smooth f) on a uniform grid of
    :func:`grid_size` points over [0, 1], which the fitters then fit. With ~10 random points
    per piece a fit to the points themselves over-fits their clumps and gaps; a fit to the
    reconstruction approaches the best fit to f (measured in benchmarks/README.md). Next to a
    kink or cusp the cubic comes from the smoothest stencil around the interval (ENO,
    :func:`_kinks`), so that a stencil across the kink does not round it off; on the interval
    the kink lies in, from either side up to where the two cross (:func:`_subcell`).

    Returns ``(t_grid, y_grid, judge)``: ``judge`` is the reconstruction halfway between the
    grid's points (``(t, y)``, each ``(N, points - 1)``), to judge fits to the grid by points
    they were not fitted to; None without ``between``. With fewer than 8 points or repeated x
    the samples themselves: ``(t, y, None)``."""
    n, p = t.shape
    ts, order = torch.sort(t, 1)
    ys = torch.gather(y, 1, order)
    if p < 8 or not bool((torch.diff(ts, dim=1) > 0).all()):
        return t, y, None
    size = grid_size(points, p, per_point)
    u = torch.linspace(0.0, 1.0, size, dtype=t.dtype, device=t.device)
    if between:  # one pass for the grid and its midpoints
        u = torch.cat([u, 0.5 * (u[1:] + u[:-1])])
    u = u.expand(n, -1).contiguous()
    interval = (torch.searchsorted(ts.contiguous(), u) - 1).clamp(0, p - 2)
    kink, start = _kinks(ts, ys)
    i = torch.gather(start, 1, interval)
    out = _cubic(
        [torch.gather(ts, 1, i + k) for k in range(4)],
        [torch.gather(ys, 1, i + k) for k in range(4)],
        u,
    )
    if bool(kink.any()):
        _subcell(ts, ys, kink, u, out)
    if not between:
        return u, out, None
    judge = (u[:, size:].contiguous(), out[:, size:].contiguous())
    return u[:, :size].contiguous(), out[:, :size].contiguous(), judge


def resampled(t: Tensor, y: Tensor, points: int = RESAMPLE_POINTS) -> tuple[Tensor, Tensor]:
    """:func:`reconstruction` on its grid alone: ``(t_grid, y_grid)``, or ``(t, y)`` itself."""
    t_grid, y_grid, _ = reconstruction(t, y, points, between=False)
    return t_grid, y_grid
