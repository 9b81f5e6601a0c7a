"""Batched against one-by-one training of the same networks, timed in one run.

Three ways to do the same work (``models`` networks, each ``steps`` full-batch steps on its own
500 points of x^3):

- ``batched``: tentnet's engine, all networks as one tensor program;
- ``sequential``: tentnet's engine, one network at a time (same code with N = 1);
- ``plain``: what one would write by hand, one network at a time: ``nn.Sequential``,
  autograd and ``torch.optim.Adam`` (Kaiming init), the usual PyTorch loop.

The first two start from identical initial weights and must agree to floating-point tolerance;
the difference is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from .errors import TentnetError
from .fit import resolve_device
from .resources import check_memory, training_bytes
from .train import TrainConfig, train_networks


@dataclass(frozen=True)
class BenchResult:
    models: int
    depth: int
    steps: int
    method: str
    device: str
    threads: int
    batched_s: float
    sequential_s: float
    plain_s: float | None
    speedup: float
    speedup_vs_plain: float | None
    max_weight_difference: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _data(models: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.stack(
        [
            torch.rand(500, generator=torch.Generator().manual_seed(s), dtype=dtype)
            for s in range(models)
        ]
    )
    y = t**3
    return t, (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True)


def _plain(t: torch.Tensor, y: torch.Tensor, depth: int, steps: int, lr: float) -> None:
    for i in range(t.shape[0]):
        torch.manual_seed(i)
        layers: list[torch.nn.Module] = []
        for k in range(depth + 1):
            layers.append(
                torch.nn.Linear(1 if k == 0 else 4, 1 if k == depth else 4, dtype=t.dtype)
            )
            if k < depth:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        x, target = t[i][:, None], y[i][:, None]
        for _ in range(steps):
            opt.zero_grad()
            loss = ((net(x) - target) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()


def bench(
    models: int = 30,
    depth: int = 5,
    steps: int = 2000,
    method: str = "kaiming",
    plain: bool = True,
    device: str = "cpu",
) -> BenchResult:
    """Time ``models`` trainings batched (on ``device``), one by one, and (``plain``) by hand.

    The one-by-one runs are always on the CPU (where one small network is fastest)."""
    if not 1 <= models <= 10_000 or not 1 <= steps <= 10_000_000:
        raise TentnetError("models must be from 1 to 10000 and steps at least 1")
    config = TrainConfig(depth=depth, steps=steps)
    config.check(method)
    used = config.resolved(method)
    need = training_bytes(
        models * used.restarts, 500, used.width_for(method), depth, used.lm_iterations
    )
    check_memory(need, f"{models} networks")
    dev = resolve_device(device)
    t, y = _data(models)
    seeds = list(range(models))
    if dev.type == "cuda":  # warm up the GPU (context, kernels) outside the timing
        train_networks(method, t[:2].to(dev), y[:2].to(dev), replace(config, steps=10), [0, 1])
        torch.cuda.synchronize()
    start = time.perf_counter()
    batched = train_networks(method, t.to(dev), y.to(dev), config, seeds).to("cpu")
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    singles = [
        train_networks(method, t[i : i + 1], y[i : i + 1], config, [s]) for i, s in enumerate(seeds)
    ]
    sequential_s = time.perf_counter() - start
    diff = max(
        float((batched.layers[k][j][i] - single.layers[k][j][0]).abs().max())
        for i, single in enumerate(singles)
        for k in range(len(single.layers))
        for j in (0, 1)
    )
    plain_s = None
    if plain:
        start = time.perf_counter()
        _plain(t, y, depth, steps, config.random_lr)
        plain_s = time.perf_counter() - start
    return BenchResult(
        models=models,
        depth=depth,
        steps=steps,
        method=method,
        device=str(dev),
        threads=torch.get_num_threads(),
        batched_s=batched_s,
        sequential_s=sequential_s,
        plain_s=plain_s,
        speedup=sequential_s / batched_s,
        speedup_vs_plain=None if plain_s is None else plain_s / batched_s,
        max_weight_difference=diff,
    )
