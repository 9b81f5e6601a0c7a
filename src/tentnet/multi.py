"""Many inputs: TentLayer networks against dense ReLU MLPs of equal parameter count.

``tent_regressor(n_in, channels, depth)`` is ``TentLayer(n_in, channels, depth)`` followed by a
linear read-out (each channel's learned 1-D function, combined linearly); as one plain MLP it
has block-diagonal hidden weights. ``train_model`` runs the two phases for any model that
contains TentLayers (phase 1 on peaks and scales, then :func:`free_tent_layers` and phase 2 on
the raw weights) and plain training for any other model, full batch with Adam.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .errors import TentnetError
from .layers import TentLayer, free_tent_layers


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (a FreeTentLayer counts its block weights, not the zeros between)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def tent_regressor(
    n_in: int,
    channels: int,
    depth: int,
    generator: torch.Generator,
    n_out: int = 1,
    dtype=torch.float64,
) -> nn.Sequential:
    """``TentLayer(n_in, channels, depth)`` then ``Linear(channels, n_out)``."""
    head = nn.Linear(channels, n_out, dtype=dtype)
    with torch.no_grad():
        bound = 1.0 / channels**0.5
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.zero_()
    return nn.Sequential(TentLayer(n_in, channels, depth, generator=generator, dtype=dtype), head)


def dense_mlp(sizes: list[int], generator: torch.Generator, dtype=torch.float64) -> nn.Sequential:
    """A ReLU MLP with PyTorch's default (Kaiming-uniform) init drawn from ``generator``."""
    mods: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        lin = nn.Linear(sizes[k], sizes[k + 1], dtype=dtype)
        with torch.no_grad():
            bound = 1.0 / sizes[k] ** 0.5
            lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.uniform_(-bound, bound, generator=generator)
        mods.append(lin)
        if k < len(sizes) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def matching_dense(n_in: int, n_out: int, hidden_layers: int, params: int) -> list[int]:
    """Layer sizes of a dense MLP with ``hidden_layers`` equal widths and about ``params``
    parameters (the width with the closest count)."""
    best = None
    for w in range(1, 4097):
        sizes = [n_in] + [w] * hidden_layers + [n_out]
        count = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
        if best is None or abs(count - params) < abs(best[1] - params):
            best = (sizes, count)
        if count > params:
            break
    return best[0]


def train_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    steps: int,
    lr: float = 1e-3,
    phase1_steps: int = 0,
    phase1_lr: float = 1e-2,
    evaluate: Callable[[nn.Module], float] | None = None,
    every: int = 100,
) -> tuple[nn.Module, list[tuple[int, float, float]]]:
    """Full-batch Adam with cosine decay; TentLayers get ``phase1_steps`` on their derived
    parameters first (calibrated on ``x``), then are freed for the remaining steps.

    Returns:
        The trained model (TentLayers replaced by FreeTentLayers) and a learning curve of
        ``(step, train_loss, evaluate(model))`` every ``every`` steps.
    """
    has_tent = any(isinstance(m, TentLayer) for m in model.modules())
    curve: list[tuple[int, float, float]] = []
    if has_tent:
        _calibrate(model, x)

    def run(n: int, rate: float, offset: int) -> None:
        if n == 0:
            return
        opt = torch.optim.Adam(model.parameters(), lr=rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n)
        for i in range(n):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            if not bool(torch.isfinite(loss)):
                raise TentnetError("training diverged (non-finite loss); lower the learning rate")
            loss.backward()
            opt.step()
            sched.step()
            step = offset + i
            if step % every == 0 or step == steps - 1:
                with torch.no_grad():
                    score = evaluate(model) if evaluate else float("nan")
                curve.append((step, float(loss.detach()), score))

    p1 = phase1_steps if has_tent else 0
    run(p1, phase1_lr, 0)
    if has_tent:
        free_tent_layers(model)
    run(steps - p1, lr, p1)
    return model, curve


def fit_multi(
    target,
    *,
    domain: tuple[float, float] = (0.0, 1.0),
    channels: int = 8,
    depth: int = 4,
    points: int = 2000,
    test_points: int = 5000,
    steps: int = 3000,
    phase1_steps: int = 1000,
    seed: int = 0,
    dtype=torch.float64,
) -> tuple[nn.Sequential, dict]:
    """Fit an expression in ``x0, x1, ...`` on the cube ``domain^n`` with a TentLayer network.

    Training and test points are uniform random in the cube (seeded); returns the plain MLP
    and metrics (test MSE on the held-out sample).
    """
    from .errors import TentnetError
    from .resources import check_memory, training_bytes
    from .targets import evaluate_checked, parse_expression
    from .tent import check_depth, check_domain

    expr = parse_expression(target) if isinstance(target, str) else target
    lo, hi = check_domain(domain)
    n = expr.n_inputs
    check_depth(depth)
    if not 2 <= points <= 10_000_000:
        raise TentnetError(f"points must be from 2 to 10000000, got {points}")
    # Autograd keeps every layer's activations: about 8 neurons per channel and tent level.
    check_memory(3 * training_bytes(1, points + test_points, 8 * channels, depth + 2), "this fit")
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(points, n, generator=g, dtype=dtype)
    xt = lo + (hi - lo) * torch.rand(test_points, n, generator=g, dtype=dtype)
    y = evaluate_checked(expr, x)[:, None]
    yt = evaluate_checked(expr, xt)[:, None]
    start = time.perf_counter()
    model = tent_regressor(n, channels, depth, g, dtype=dtype)
    model, _ = train_model(model, x, y, _mse, steps, phase1_steps=phase1_steps)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = model(xt)
        test = float(_mse(pred, yt))
        train = float(_mse(model(x), y))
        max_err = float((pred - yt).abs().max())
        var = float(yt.var(correction=0))
    mlp = append_linear(model[0].to_mlp(), model[1])
    metrics = {
        "target": expr.text,
        "method": "tentlayer",
        "inputs": n,
        "channels": channels,
        "depth": depth,
        "points": points,
        "seed": seed,
        "domain": [lo, hi],
        "dtype": str(dtype).removeprefix("torch."),
        "steps": steps,
        "phase1_steps": phase1_steps,
        "seconds": round(seconds, 3),
        "train_mse": train,
        "test_mse": test,
        "relative_test_mse": test / var if var > 0 else None,
        "max_abs_error": max_err,
        "test_set": f"{test_points} uniform random points in the cube",
        "parameters": count_parameters(model),
    }
    return mlp, metrics


@torch.no_grad()
def append_linear(mlp: nn.Sequential, head: nn.Linear) -> nn.Sequential:
    """``head`` after ``mlp`` (which ends in a Linear), merged into one last Linear."""
    last = mlp[-1]
    merged = nn.Linear(last.in_features, head.out_features, dtype=last.weight.dtype)
    merged.weight.copy_(head.weight @ last.weight)
    merged.bias.copy_(head.weight @ last.bias + head.bias)
    return nn.Sequential(*list(mlp)[:-1], merged)


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return ((a - b) ** 2).mean()


@torch.no_grad()
def _calibrate(model: nn.Module, x: Tensor) -> None:
    """Calibrate every TentLayer on the inputs it sees when ``x`` goes through the model."""
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp: mod.calibrate(inp[0]))
        for m in model.modules()
        if isinstance(m, TentLayer)
    ]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()


SEVERAL_INPUT_STEPS = 3000  # Adam steps when the configuration keeps the 1-D default
SEVERAL_INPUT_TEST_POINTS = 5000


def fit_several(
    expr,
    *,
    depth: int,
    method: str,
    seeds: list[int],
    points: int,
    domain: tuple[float, float] | None,
    config,
    holdout: float,
    test_points: int | None,
    dtype: torch.dtype,
    device,
) -> list:
    """:func:`tentnet.fit.fit` for an expression of several inputs: a TentLayer network of 8
    channels (:func:`fit_multi`), as a one-element list of :class:`tentnet.result.FitResult`.
    Settings it cannot use are refused, naming their command-line flags."""
    import numpy as np

    from .config import TrainConfig
    from .result import FitResult

    if method not in ("auto", "tent"):
        raise TentnetError(
            "targets of several inputs are fitted with TentLayer networks (--method auto or tent)"
        )
    if len(seeds) > 1:
        raise TentnetError("targets of several inputs take one --seed at a time")
    if torch.device(device).type != "cpu":
        raise TentnetError("--device is for 1-D fits; many-input fits run on the CPU")
    default = TrainConfig()
    rates = (config.lr, config.random_lr) != (default.lr, default.random_lr)
    unused = [
        flag
        for flag, used in (
            ("--width", config.width is not None),
            ("--lr", rates),
            ("--lm-iterations", config.lm_iterations != 0),
            ("--restarts", config.restarts is not None),
            ("--holdout", bool(holdout)),
        )
        if used
    ]
    if unused:
        raise TentnetError(
            f"{', '.join(unused)} do(es) not apply to targets of several inputs (a TentLayer "
            "network of 8 channels, trained by Adam on fresh random points)"
        )
    steps = config.steps if config.steps != default.steps else SEVERAL_INPUT_STEPS
    phase1 = config.phase1_steps if config.phase1_steps is not None else steps // 3
    mlp, m = fit_multi(
        expr,
        domain=domain or (0.0, 1.0),
        depth=depth,
        points=max(points, 2),
        test_points=test_points or SEVERAL_INPUT_TEST_POINTS,
        steps=steps,
        phase1_steps=phase1,
        seed=seeds[0],
        dtype=dtype,
    )
    return [
        FitResult(
            target=m["target"],
            method=m["method"],
            depth=depth,
            width=m["channels"],
            points=m["points"],
            seed=m["seed"],
            domain=tuple(m["domain"]),
            dtype=m["dtype"],
            steps=steps,
            phase1_steps=phase1,
            lm_iterations=0,
            restarts=1,
            seconds=m["seconds"],
            batch_size=1,
            train_mse=m["train_mse"],
            test_mse=m["test_mse"],
            max_abs_error=m["max_abs_error"],
            test_set=m["test_set"],
            linear_regions=-1,
            activation_regions=-1,
            breakpoints=np.zeros(0),
            mlp=mlp,
            relative_test_mse=m["relative_test_mse"],
            inputs=m["inputs"],
        )
    ]
