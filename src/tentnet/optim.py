"""The gradient optimiser: Adam on one flat tensor (:class:`FlatAdam`) with a cosine-decayed
rate (phase 1 and phase 2), and the per-seed random streams that start every network
(Levenberg-Marquardt is :mod:`tentnet.lm`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from .config import NetProgress
from .errors import TentnetError


class FlatAdam:
    """Adam (as ``torch.optim.Adam``, no weight decay) on one flat tensor, in a few fused ops."""

    def __init__(self, param: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param = param
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def step(self, grad: Tensor, lr: float) -> None:
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1.0 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1.0 - self.b2)
        bc1 = 1.0 - self.b1**self.t
        bc2 = 1.0 - self.b2**self.t
        denom = (self.v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-lr / bc1)


def _cosine(step: int, steps: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def _check_finite(loss: Tensor, phase: str, seeds: list[int] | None) -> None:
    if not bool(torch.isfinite(loss).all()):
        bad = torch.nonzero(~torch.isfinite(loss)).flatten().tolist()
        who = f"seed(s) {[seeds[i] for i in bad]}" if seeds else f"network(s) {bad}"
        raise TentnetError(
            f"training diverged in {phase} (non-finite loss for {who}); try a smaller learning "
            f"rate or check the target's scale"
        )


def adam_steps(
    flat: Tensor,
    loss_and_grad: Callable[[], tuple[Tensor, Tensor]],
    steps: int,
    lr: float,
    phase: str,
    record: Callable[[Tensor], None],
    progress: NetProgress | None,
    seeds: list[int],
) -> None:
    """Adam with a cosine-decayed rate on the flat tensor ``flat``, updated in place."""
    adam = FlatAdam(flat)
    report_every = max(1, steps // 100)
    for step in range(steps):
        per_net, grad = loss_and_grad()
        # A non-finite loss poisons the weights for good, so checking now and then (a check
        # waits for the device) still catches divergence, just a few steps later.
        if step % 25 == 0 or step == steps - 1:
            _check_finite(per_net, phase, seeds)
        record(per_net)
        adam.step(grad, lr * _cosine(step, steps))
        if progress is not None and (step % report_every == 0 or step == steps - 1):
            progress(phase, step + 1, steps, per_net)


def init_generators(seeds: list[int], restarts: int = 1) -> list[torch.Generator]:
    # Independent of the generator that drew the training points (seeded by `seed` itself);
    # candidate r of a seed (restarts > 1) gets its own stream. torch's CPU generator keeps
    # only 32 bits of a seed, so the streams are derived by numpy's SeedSequence.
    return [
        torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, 1, r]).generate_state(1)[0])
        )
        for seed in seeds
        for r in range(restarts)
    ]


def random_peaks(
    n_peaks: int, generators: list[torch.Generator], peak_range: tuple[float, float], dtype
) -> Tensor:
    """``(N, n_peaks)`` peaks uniform in ``peak_range``, one row per generator."""
    lo, hi = peak_range
    rows = [lo + (hi - lo) * torch.rand(n_peaks, generator=g, dtype=dtype) for g in generators]
    return torch.stack(rows)
