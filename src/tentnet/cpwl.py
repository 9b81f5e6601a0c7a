"""Continuous piecewise-linear (CPWL) functions of one variable as one-hidden-layer ReLU
networks, and the CPWL that points lie on, if they lie on one.

Points sampled from a CPWL of a few pieces (a ReLU network's own outputs, ``abs(x - 0.3)``, sums
of hinges) are fitted by that CPWL exactly (:func:`exact_cpwl`): between two points its lines
are known, and its knots are where they meet. A fit by optimisation ends near 1e-11 on such a
kink (several knots around it, none on it); this is exact to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mlp import Stack, stack_forward


def hat_basis(t: Tensor, knots: Tensor) -> Tensor:
    """Hat functions ``(N, P, m + 1)`` on ``knots (N, m + 1)`` (increasing) at ``t (N, P)``."""
    m = knots.shape[1] - 1
    idx = (torch.searchsorted(knots.contiguous(), t.contiguous(), right=True) - 1).clamp(0, m - 1)
    left = torch.gather(knots, 1, idx)
    right = torch.gather(knots, 1, idx + 1)
    w = ((t - left) / (right - left)).clamp(0.0, 1.0)
    basis = torch.zeros(*t.shape, m + 1, dtype=t.dtype, device=t.device)
    basis.scatter_(2, idx.unsqueeze(-1), (1.0 - w).unsqueeze(-1))
    basis.scatter_add_(2, (idx + 1).unsqueeze(-1), w.unsqueeze(-1))
    return basis


def free_units(knots: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The CPWL with ``values (N, m + 1)`` at ``knots (N, m + 1)`` (ends 0 and 1) as ``m``
    right-pointing units: ``(kappa, v, c)`` with ``F(t) = c + sum_j v_j relu(t - kappa_j)`` on
    [0, 1]. Unit 0 is the linear term (its knot at -1: ``t + 1`` on the domain)."""
    slopes = torch.diff(values, dim=1) / torch.diff(knots, dim=1)  # (N, m)
    v = torch.cat([slopes[:, :1], torch.diff(slopes, dim=1)], dim=1)
    kappa = torch.cat([torch.full_like(knots[:, :1], -1.0), knots[:, 1:-1]], dim=1)
    return kappa, v, values[:, 0] - slopes[:, 0]


def as_stack(kappa: Tensor, sigma: Tensor, v: Tensor, c: Tensor) -> Stack:
    """``F(t) = c + sum_j v_j relu(sigma_j (t - kappa_j))`` as a one-hidden-layer stack.

    ``v_j`` is the slope jump at ``kappa_j`` (left to right) for either direction: a left unit
    ``relu(kappa - t)`` has slope ``-v`` left of its knot and 0 right of it.
    """
    w0 = sigma.unsqueeze(-1)  # (N, k, 1)
    b0 = -sigma * kappa
    w1 = v.unsqueeze(1)  # (N, 1, k)
    return [(w0, b0), (w1, c.unsqueeze(-1))]


EXACT_TOL = 1e3  # "on a line": within this many machine epsilons of the data's scale


def exact_tol(y: Tensor) -> float:
    """How far from a line ``y``'s points may be and still count as on it."""
    return EXACT_TOL * torch.finfo(y.dtype).eps * (1.0 + float(y.abs().max()))


def cpwl_knots(ts: Tensor, ys: Tensor, most: int) -> tuple[Tensor, Tensor] | None:
    """The knots (ends 0 and 1 included) and values of a CPWL with at most ``most`` pieces
    that sorted points ``ts, ys (P,)`` lie on to rounding. Points off the chord of their two
    neighbours come in runs: one point is a kink on it (the knot goes there); two, a kink
    between them (the knot goes where the lines on either side meet); four, two kinks around
    a piece of two points (the same, twice). If the lines meet outside their gap (two kinks
    in it, which the points cannot place) the knots go on the gap's two points. None with
    more pieces or any other run: kinks closer than that."""
    p = ts.numel()
    if p < 3 or not bool((torch.diff(ts) > 0).all()):
        return None
    lam = (ts[1:-1] - ts[:-2]) / (ts[2:] - ts[:-2])
    off = (ys[1:-1] - ys[:-2] - lam * (ys[2:] - ys[:-2])).abs()  # off the neighbours' chord
    off_chord = off > exact_tol(ys)  # points next to a kink
    if int(off_chord.sum()) > 2 * most:
        return None
    bent = (torch.nonzero(off_chord).flatten() + 1).tolist()

    def line(i: int, t: Tensor | float) -> Tensor:  # the line through points i and i + 1
        return ys[i] + (ys[i + 1] - ys[i]) / (ts[i + 1] - ts[i]) * (t - ts[i])

    knots, values = [ts.new_zeros(())], [line(0, 0.0)]

    def meet(i: int) -> None:  # the kink in gap (i, i + 1), lines through i - 1 and i + 1
        left = (ys[i] - ys[i - 1]) / (ts[i] - ts[i - 1])
        right = (ys[i + 2] - ys[i + 1]) / (ts[i + 2] - ts[i + 1])
        at = ts[i + 1] + (line(i - 1, ts[i + 1]) - ys[i + 1]) / (right - left)
        if bool(ts[i] < at) and bool(at < ts[i + 1]):
            knots.append(at)
            values.append(line(i - 1, at))
        else:
            knots.extend([ts[i], ts[i + 1]])
            values.extend([ys[i], ys[i + 1]])

    k = 0
    while k < len(bent):
        i, run = bent[k], 1
        while k + run < len(bent) and bent[k + run] == i + run:
            run += 1
        if run == 1:
            knots.append(ts[i])
            values.append(ys[i])
        elif run in (2, 4):
            meet(i)
            if run == 4:
                meet(i + 2)
        else:
            return None
        k += run
    knots.append(ts.new_ones(()))
    values.append(line(p - 2, 1.0))
    kn, va = torch.stack(knots), torch.stack(values)
    if kn.numel() - 1 > most or not bool((torch.diff(kn) > 0).all()):
        return None
    return kn, va


def exact_cpwl(
    t: Tensor, y: Tensor, units: int, flat_piece: bool = True
) -> tuple[Stack, Tensor] | None:
    """For N networks' points ``t, y (N, P)``, the networks of ``units`` units that are the
    CPWL the points lie on to rounding, where there is one that ``units`` units can be
    (:func:`cpwl_knots`; ``units`` pieces, or with ``flat_piece`` ``units + 1`` with one of
    them flat, as in the two layouts): ``(stack, found (N,))``, the rows not found all zero;
    None if no row has one. Units beyond the pieces get a knot left of the domain and output
    weight 0."""
    ts, order = torch.sort(t, 1)
    ys = torch.gather(y, 1, order)
    n = t.shape[0]
    kappa = torch.full((n, units), -1.0, dtype=t.dtype, device=t.device)
    sigma, v = torch.ones_like(kappa), torch.zeros_like(kappa)
    c = torch.zeros(n, dtype=t.dtype, device=t.device)
    found = torch.zeros(n, dtype=torch.bool, device=t.device)
    for r in range(n):
        cpwl = cpwl_knots(ts[r], ys[r], units + int(flat_piece))
        if cpwl is None:
            continue
        kn, va = cpwl
        if kn.numel() - 1 <= units:  # the free layout: unit 0 is the linear term
            kap, vr, cr = free_units(kn[None], va[None])
            m = kap.shape[1]
            kappa[r, :m], v[r, :m], c[r] = kap[0], vr[0], cr[0]
        else:  # the pivot layout, if a piece is flat: units left of it point left
            slopes = torch.diff(va) / torch.diff(kn)
            pivot = int(slopes.abs().argmin())
            if float(slopes[pivot].abs()) > exact_tol(ys[r]):
                continue
            slopes[pivot] = 0.0
            kappa[r], v[r], c[r] = kn[1:-1], torch.diff(slopes), va[pivot]
            sigma[r, :pivot] = -1.0
        found[r] = True
    return through_points(as_stack(kappa, sigma, v, c), ts, ys, found)


def through_points(
    layers: Stack, ts: Tensor, ys: Tensor, found: Tensor
) -> tuple[Stack, Tensor] | None:
    """``(layers, found)`` with ``found (N,)`` kept only where the network passes through
    every one of its points ``ts, ys (N, P)`` to rounding (:func:`exact_tol`); None if no
    network is left."""
    if not bool(found.any()):
        return None
    err = (stack_forward(layers, ts.unsqueeze(-1)).squeeze(-1) - ys).abs().amax(1)
    tol = [exact_tol(ys[r]) for r in range(ys.shape[0])]
    found = found & (err <= torch.tensor(tol, dtype=ys.dtype, device=ys.device))
    return (layers, found) if bool(found.any()) else None
