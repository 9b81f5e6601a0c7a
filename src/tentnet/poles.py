"""Find where a 1-D function is unbounded inside its domain
(:func:`tentnet.targets.check_bounded` refuses such a target).

A ReLU network is continuous and bounded on the domain, so a target that is unbounded there
(1/x or log|x| on [-1, 1], tan(x) on [0, 2]) cannot be followed, and its test error is ruled by
the few grid points nearest the singularity. The test grid alone does not show it: a target is
refused as not finite only where a grid point lands on the singularity (the grid of [-1, 1]
has -4.8e-17, not 0, as its middle point, so 1/x there is -2e16 and log|x| -38, finite).
:func:`unbounded_at` searches every interval of a grid of the domain for the largest |f| in it
(a ternary search of :data:`SEARCH_STEPS` steps, all intervals at once, each shrunk about
1e35-fold or to the spacing of floats). Near a pole |f| then grows far past its values at the
interval's ends (1/x on [-1, 1]: from 2e16 to 2e39), and near a logarithm's singularity it
keeps growing from step to step; a bounded target settles within a few dozen steps (its
features are wider than 1e-20), unless it spikes far above the grid between two of its
points, which a network could not follow either. A bounded jump (a step) passes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

SEARCH_STEPS = 200  # each keeps 2/3 of the interval: a grid step of 2e-4 down to 1e-39
# How far the search may take |f| above the larger of its interval's end values (plus a
# thousandth of the largest |f| on the grid, so that a function that swings about 0 counts
# as bounded): sin(1/x) on [-1, 1] rises 3.1x; |x|^-0.25 there rises 5.6e5x, 1/x 9.7e22x,
# tan(x) on [-1, 2] 1.6e12x (or the search lands on the pole).
POLE_GROWTH = 1e4
# ... or how much |f| may still rise, in each of the search's last two quarters, as a fraction
# of the largest |f| on the grid: log|x| on [-1, 1] rises 0.5 and 0.56 there; sin(1/x),
# x sin(1/x), sin(1/x^2), sqrt(|x|), tanh(1000x) and a step rise 0 (to the last bit).
DRIFT = 1e-3


def unbounded_at(f: Callable[[Tensor], Tensor], grid: Tensor) -> float | None:
    """A point between those of the increasing float64 ``grid (G,)`` near which |f| is
    unbounded, or None where the search finds none. ``f`` maps points ``(P,)`` to values
    ``(P,)`` and raises where they are not finite (:func:`tentnet.targets.check_bounded` passes
    ``evaluate_checked`` and the test grid of the domain)."""
    y = f(grid)
    top = float(y.abs().max()) + 1e-300
    a, b = grid[:-1], grid[1:]
    ref = torch.maximum(y[:-1].abs(), y[1:].abs()) + 1e-3 * top
    marks = {SEARCH_STEPS // 2, 3 * SEARCH_STEPS // 4}
    seen = []  # the larger probe's |f| at those steps
    for step in range(1, SEARCH_STEPS + 1):
        third = (b - a) / 3
        m1, m2 = a + third, b - third
        fm = f(torch.cat([m1, m2])).abs()
        right = fm[m1.numel() :] > fm[: m1.numel()]  # the larger |f| lies in [m1, b]
        a, b = torch.where(right, m1, a), torch.where(right, b, m2)
        if step in marks:
            seen.append(torch.maximum(fm[: m1.numel()], fm[m1.numel() :]))
    ends = f(torch.cat([a, b])).abs()
    last = torch.maximum(ends[: a.numel()], ends[a.numel() :])
    rising = torch.minimum(seen[1] - seen[0], last - seen[1]) > DRIFT * top
    found = (last / ref > POLE_GROWTH) | rising
    if not bool(found.any()):
        return None
    return float(a[int(torch.nonzero(found)[0, 0])])
