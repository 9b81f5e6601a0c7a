"""Exact linear-region counting for any ReLU MLP with one input.

On an interval the input-to-layer map of a ReLU network is piecewise affine. Starting from the
single piece ``[lo, hi]`` we carry, for every piece, the affine map ``z = A x + B`` of every
neuron; a Linear layer transforms the maps, a ReLU splits each piece where a neuron's ``z``
changes sign inside it and zeroes the inactive neurons. Everything is vectorised over pieces in
float64, so hundreds of thousands of regions take a second or so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from .errors import TentnetError
from .tent import check_domain


@dataclass(frozen=True)
class Regions:
    """The exact region structure of a 1-D-input ReLU MLP on a domain.

    Attributes:
        linear_regions: number of linear pieces of the output (adjacent pieces with the same
            affine map merged).
        activation_regions: number of maximal runs of one activation pattern.
        breakpoints: ``(linear_regions - 1,)`` inputs where the output's slope changes.
        activation_breakpoints: ``(activation_regions - 1,)`` inputs where the pattern changes.
        slopes: ``(linear_regions, out_features)`` slope of the output on each linear piece.
    """

    linear_regions: int
    activation_regions: int
    breakpoints: np.ndarray
    activation_breakpoints: np.ndarray
    slopes: np.ndarray


def _flatten(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [m for child in module for m in _flatten(child)]
    if isinstance(module, (nn.Linear, nn.ReLU, nn.Identity)):
        return [module]
    raise TentnetError(
        f"count_linear_regions supports nn.Sequential of Linear, ReLU and Identity layers, "
        f"got {type(module).__name__}"
    )


def _layers(
    mlp: nn.Module | list[nn.Module],
) -> list[tuple[str, np.ndarray | None, np.ndarray | None]]:
    modules = (
        [m for item in mlp for m in _flatten(item)] if isinstance(mlp, list) else _flatten(mlp)
    )
    ops = []
    for m in modules:
        if isinstance(m, nn.Linear):
            w = m.weight.detach().cpu().double().numpy()
            b = (
                m.bias.detach().cpu().double().numpy()
                if m.bias is not None
                else np.zeros(w.shape[0])
            )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise TentnetError("the network has non-finite weights")
            ops.append(("linear", w, b))
        elif isinstance(m, nn.ReLU):
            ops.append(("relu", None, None))
    first = next((w for kind, w, _ in ops if kind == "linear"), None)
    if first is None or first.shape[1] != 1:
        raise TentnetError("count_linear_regions needs a network whose first Linear has 1 input")
    return ops


MAX_PIECES = 2**21
"""Region counting stops with an error beyond this many pieces (memory stays bounded: about
40 bytes a piece per neuron of the widest layer); a tent network of depth 21 has exactly this
many."""
MAX_COUNT_DEPTH = 21


def count_linear_regions(
    mlp: nn.Module | list[nn.Module],
    domain: tuple[float, float] = (0.0, 1.0),
    rtol: float = 1e-12,
    xtol: float = 1e-13,
    max_pieces: int = MAX_PIECES,
) -> Regions:
    """Count the linear pieces and activation regions of a ReLU MLP on ``domain``, exactly.

    Args:
        mlp: ``nn.Sequential`` (possibly nested) of ``nn.Linear`` / ``nn.ReLU`` layers of any
            widths; the first Linear takes 1 input. Computation is in float64.
        domain: ``(lo, hi)`` input interval.
        rtol: two adjacent pieces count as one linear piece when their output slopes differ by
            at most ``rtol`` times the largest output slope on the domain (the function is
            continuous, so equal slopes mean equal affine maps).
        xtol: relative to the domain width, the distance below which a neuron's zero counts as
            lying on an existing edge (rounding); pieces narrower than this are not resolved.
        max_pieces: raise TentnetError instead of holding more pieces than this (times 4
            neurons of width; the default holds a width-4 network of 2^21 pieces in about
            0.5 GB).

    Returns:
        :class:`Regions`.
    """
    lo, hi = check_domain(domain)
    ops = _layers(mlp)
    xtol = xtol * (hi - lo)
    # Pieces: edges (n + 1,); per piece the affine maps A, B of shape (n, width).
    edges = np.array([lo, hi])
    amap = np.ones((1, 1))
    bmap = np.zeros((1, 1))
    changed = np.zeros(0, dtype=bool)  # per interior edge: does the activation pattern change?
    for kind, w, b in ops:
        if kind == "linear":
            amap = amap @ w.T
            bmap = bmap @ w.T + b
            continue
        left, right = edges[:-1, None], edges[1:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            root = -bmap / amap
        # A root within xtol of an edge is the same point up to rounding (a neuron that touches
        # zero exactly where an earlier layer already kinks): it splits nothing.
        inside = (amap != 0) & (root > left + xtol) & (root < right - xtol)
        roots = root[inside]
        budget = max_pieces * 4 // max(4, amap.shape[1])  # memory grows with the width
        if len(edges) - 1 + roots.size > budget:
            raise TentnetError(
                f"the network has more than {budget:,} linear pieces on the domain; region "
                f"counting stops there to bound memory (a tent network of depth "
                f"{MAX_COUNT_DEPTH} has {MAX_PIECES:,})"
            )
        if roots.size:
            pos = np.concatenate([edges[1:-1], roots])
            is_old = np.concatenate([np.ones(len(edges) - 2, bool), np.zeros(roots.size, bool)])
            flags = np.concatenate([changed, np.zeros(roots.size, bool)])
            order = np.argsort(pos, kind="stable")
            pos, is_old, flags = pos[order], is_old[order], flags[order]
            keep = np.ones(pos.size, bool)
            keep[1:] = (pos[1:] - pos[:-1] > xtol) | is_old[1:]  # roots of two neurons at once
            pos, is_old, changed = pos[keep], is_old[keep], flags[keep]
            edges = np.concatenate([[lo], pos, [hi]])
            # Each new piece inherits the affine maps of the old piece that contains it.
            owner = np.concatenate([[0], np.cumsum(is_old)])
            amap, bmap = amap[owner], bmap[owner]
        mid = 0.5 * (edges[:-1] + edges[1:])
        active = (amap * mid[:, None] + bmap) > 0
        changed = changed | (active[1:] != active[:-1]).any(axis=1)
        amap = np.where(active, amap, 0.0)
        bmap = np.where(active, bmap, 0.0)
    interior = edges[1:-1]
    act_breaks = interior[changed]
    slope_jump = np.abs(amap[1:] - amap[:-1]).max(axis=1) if amap.shape[0] > 1 else np.zeros(0)
    scale = max(float(np.abs(amap).max()), np.finfo(float).tiny)
    kink = slope_jump > rtol * scale
    lin_breaks = interior[kink]
    starts = np.concatenate([[0], np.nonzero(kink)[0] + 1])
    return Regions(
        linear_regions=int(lin_breaks.size + 1),
        activation_regions=int(act_breaks.size + 1),
        breakpoints=lin_breaks,
        activation_breakpoints=act_breaks,
        slopes=amap[starts],
    )
