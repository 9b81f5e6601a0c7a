"""Memory estimates before work: a run that cannot fit is refused at once, with its estimate.

The estimate counts the large tensors of batched training (activations of every network at
every training point, the optimiser state, the Levenberg-Marquardt Jacobian and normal
equations, the test-grid evaluation), with a safety factor for temporaries. It errs on the
large side; a refused run states what it would need and what this machine has available.
"""

from __future__ import annotations

import os

from .errors import TentnetError
from .mlp import weight_count

SAFETY = 2.0  # temporaries and allocator slack
TEST_GRID = 10_001


def available_bytes() -> int:
    """Memory available to this process now (``MemAvailable``), or physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 2**62  # unknown: do not refuse


def training_bytes(
    networks: int,
    points: int,
    width: int,
    depth: int,
    lm_iterations: int = 0,
    test_points: int = TEST_GRID,
    itemsize: int = 8,
    weights: int | None = None,
) -> int:
    """Estimated peak bytes to train ``networks`` MLPs (1 -> width x depth -> 1) batched on
    ``points`` points each, then evaluate them on ``test_points`` points. ``weights``: the
    network's weight count where it is not the dense ``width x depth`` one (tent-warp)."""
    weights = weights or weight_count(width, max(depth, 1))
    neurons = width * depth + 1
    activations = networks * points * neurons * itemsize * 4  # forward cache, backward, temps
    adam = networks * weights * itemsize * 6
    lm = 0
    if lm_iterations:
        lm = networks * (points * weights + 2 * weights * weights) * itemsize * 2
    grid = networks * test_points * neurons * itemsize * 2
    return int(SAFETY * (max(activations + adam, grid) + lm))


def check_memory(needed: int, what: str) -> None:
    """Raise TentnetError if ``needed`` bytes exceed what this machine has available."""
    have = available_bytes()
    if needed > 0.8 * have:
        raise TentnetError(
            f"{what} would need about {_gib(needed)} of memory; this machine has "
            f"{_gib(have)} available (ask for fewer seeds, points, restarts or a smaller width "
            "or depth)"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"
