"""Find a pole of a 1-D function inside its domain (:func:`tentnet.targets.check_bounded`
refuses a target with one).

A ReLU network is continuous and bounded on the domain, so a target that is unbounded there
(1/x on [-1, 1], tan(x) on [0, 2]) cannot be fitted, and no test error of such a fit means
anything. The test grid alone does not show a pole: it is refused only where a grid point
lands on it (the grid of [-1, 1] has -4.8e-17, not 0, as its middle point, so 1/x there is
2e16, finite). :func:`pole_growth` searches every interval of a grid of the domain for the
largest |f| in it (a ternary search of :data:`SEARCH_STEPS` steps, all intervals at once, each
shrunk 1e35-fold or to the spacing of floats). Near a pole |f| then grows far past its values
at the interval's ends (1/x on [-1, 1]: from 2e16 to 2e39); a bounded target cannot, unless
it spikes far above the grid between two of its points, which a network could not follow
either. A bounded jump (a step) and a logarithm's singularity grow little and are accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

SEARCH_STEPS = 200  # each keeps 2/3 of the interval: a grid step of 2e-4 down to 5e-39
# How far the search may take |f| above the larger of its interval's end values (plus a
# thousandth of the largest |f| on the grid, so that a function that swings about 0 counts
# as bounded): sin(1/x) and log|x| on [-1, 1] rise at most 3.1x and 2.4x; |x|^-0.25 there
# rises 5.6e5x, 1/x 9.7e22x, tan(x) on [-1, 2] 1.6e12x (or the search lands on the pole).
POLE_GROWTH = 1e4
GRID_POINTS = 10_001


def pole_growth(f: Callable[[Tensor], Tensor], domain: tuple[float, float]) -> tuple[float, float]:
    """How far |f| rises above a grid of ``domain`` ``(lo, hi)`` between its points, at worst,
    and where: ``(growth, x)``. ``f`` maps float64 points ``(P,)`` to values ``(P,)`` (and
    raises where they are not finite: :func:`tentnet.targets.check_bounded` passes
    ``evaluate_checked``). Growth above :data:`POLE_GROWTH` means a pole."""
    lo, hi = domain
    grid = torch.linspace(lo, hi, GRID_POINTS, dtype=torch.float64)
    y = f(grid)
    a, b = grid[:-1], grid[1:]
    ref = torch.maximum(y[:-1].abs(), y[1:].abs()) + 1e-3 * float(y.abs().max()) + 1e-300
    for _ in range(SEARCH_STEPS):
        third = (b - a) / 3
        m1, m2 = a + third, b - third
        fm = f(torch.cat([m1, m2])).abs()
        right = fm[m1.numel() :] > fm[: m1.numel()]  # the larger |f| lies in [m1, b]
        a, b = torch.where(right, m1, a), torch.where(right, b, m2)
    ends = f(torch.cat([a, b])).abs()
    growth = torch.maximum(ends[: a.numel()], ends[a.numel() :]) / ref
    worst = int(growth.argmax())
    return float(growth[worst]), float(a[worst])
