"""Fit a 1-D target (expression or data file) with any method, for several seeds at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import TentnetError
from .methods import get_method
from .mlp import Stack, fold_affine, sequential_from_layers, stack_forward, weight_count
from .regions import MAX_COUNT_DEPTH, count_linear_regions
from .resources import check_memory, training_bytes
from .targets import (
    Dataset,
    Expression,
    evaluate_checked,
    load_data,
    looks_like_file,
    parse_expression,
    sample_points,
    uniform_grid,
)
from .tent import check_depth, check_domain
from .train import (
    Progress,
    TrainConfig,
    holdout_size,
    holdout_split,
    shallow_width,
    train_networks,
)
from .warp import warp_units

TEST_POINTS = 10_001


@dataclass
class FitResult:
    """One trained network and its measured metrics (raw units, the test grid of the domain).

    ``mlp`` is the plain ``nn.Sequential``; ``metrics()`` gives the JSON-ready summary.
    ``relative_test_mse`` is the test MSE over the variance of the test targets (scale-free,
    computed without underflow; None for constant targets): 1 means no better than their mean.
    """

    target: str
    method: str
    depth: int
    width: int
    points: int
    seed: int
    domain: tuple[float, float]
    dtype: str
    steps: int
    phase1_steps: int
    lm_iterations: int
    restarts: int
    seconds: float
    batch_size: int
    train_mse: float
    test_mse: float
    max_abs_error: float
    test_set: str
    linear_regions: int
    activation_regions: int
    breakpoints: np.ndarray
    mlp: nn.Sequential
    phase1_test_mse: float | None = None
    phase1_linear_regions: int | None = None
    relative_test_mse: float | None = None
    auto: dict[str, Any] | None = None
    history: list[tuple[int, float]] = field(default_factory=list)
    x_train: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_train: np.ndarray = field(default_factory=lambda: np.zeros(0))
    x_test: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_test: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def metrics(self) -> dict[str, Any]:
        """The summary written to ``metrics.json``."""
        out = {
            "target": self.target,
            "method": self.method,
            "depth": self.depth,
            "width": self.width,
            "points": self.points,
            "seed": self.seed,
            "domain": list(self.domain),
            "dtype": self.dtype,
            "steps": self.steps,
            "phase1_steps": self.phase1_steps,
            "lm_iterations": self.lm_iterations,
            "restarts": self.restarts,
            "seconds": round(self.seconds, 4),
            "batch_size": self.batch_size,
            "train_mse": self.train_mse,
            "test_mse": self.test_mse,
            "relative_test_mse": self.relative_test_mse,
            "max_abs_error": self.max_abs_error,
            "test_set": self.test_set,
            "linear_regions": self.linear_regions,
            "activation_regions": self.activation_regions,
            "parameters": sum(p.numel() for p in self.mlp.parameters()),
        }
        if get_method(self.method).is_tent:
            out["phase1_test_mse"] = self.phase1_test_mse
            out["phase1_linear_regions"] = self.phase1_linear_regions
        if self.auto is not None:
            out["auto"] = self.auto
        return out


@dataclass(frozen=True)
class _Problem:
    names: list[str]  # one per row
    domain: tuple[float, float]
    x_train: torch.Tensor  # (N, P)
    y_train: torch.Tensor  # (N, P)
    x_test: torch.Tensor  # (N, G)
    y_test: torch.Tensor  # (N, G)
    test_set: str


def resolve_target(target: str | Expression | Dataset) -> Expression | Dataset:
    """An expression string, a data-file path, or an already parsed target."""
    if isinstance(target, (Expression, Dataset)):
        return target
    if not isinstance(target, str):
        raise TentnetError(f"target must be an expression or a data file, got {target!r}")
    return load_data(target) if looks_like_file(target) else parse_expression(target)


def _expression_problem(
    target: Expression,
    seeds: list[int],
    points: int,
    dom: tuple[float, float],
    test_points: int | None,
    dtype: torch.dtype,
) -> _Problem:
    if target.n_inputs != 1:
        raise TentnetError(f"target {target.text!r} has {target.n_inputs} inputs; fit is 1-D")
    if not 2 <= points <= 10_000_000:
        raise TentnetError(f"points must be from 2 to 10000000, got {points}")
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x = torch.stack([sample_points(dom, points, g, dtype) for g in gens])
    y = evaluate_checked(target, x.reshape(-1, 1)).reshape(x.shape)
    n = len(seeds)
    if test_points is None:
        grid = uniform_grid(dom, TEST_POINTS, dtype)
        xt = grid.expand(n, -1)
        test_set = f"uniform grid of {TEST_POINTS} points over the domain"
    else:
        if not 1 <= test_points <= 10_000_000:
            raise TentnetError(f"test_points must be from 1 to 10000000, got {test_points}")
        # Drawn after the training points from the same seeded stream.
        xt = torch.stack([sample_points(dom, test_points, g, dtype) for g in gens])
        test_set = f"{test_points} uniform random test points per seed"
    yt = evaluate_checked(target, xt.reshape(-1, 1)).reshape(xt.shape)
    return _Problem([target.text] * n, dom, x, y, xt, yt, test_set)


def _data_problem(
    target: Dataset,
    seeds: list[int],
    domain: tuple[float, float] | None,
    holdout: float,
    dtype: torch.dtype,
) -> _Problem:
    if target.x.shape[1] != 1:
        raise TentnetError(f"{target.source}: has {target.x.shape[1]} input columns; fit is 1-D")
    x_all = torch.as_tensor(target.x[:, 0], dtype=dtype)
    y_all = torch.as_tensor(target.y, dtype=dtype)
    dom = check_domain(domain if domain is not None else (float(x_all.min()), float(x_all.max())))
    if bool(((x_all < dom[0]) | (x_all > dom[1])).any()):
        raise TentnetError(f"{target.source}: some x lie outside the domain {dom[0]},{dom[1]}")
    n_test = round(holdout * x_all.numel())
    if holdout > 0 and not 1 <= n_test <= x_all.numel() - 2:
        raise TentnetError(f"{target.source}: too few points to hold out {holdout:.0%}")
    xs, ys, xt, yt = [], [], [], []
    for s in seeds:
        perm = torch.randperm(x_all.numel(), generator=torch.Generator().manual_seed(s))
        test_idx, train_idx = perm[:n_test], perm[n_test:]
        if n_test == 0:
            test_idx = train_idx
        xs.append(x_all[train_idx])
        ys.append(y_all[train_idx])
        xt.append(x_all[test_idx])
        yt.append(y_all[test_idx])
    test_set = (
        f"{n_test} held-out data points"
        if n_test
        else "the data points themselves (no held-out set)"
    )
    stack = torch.stack
    return _Problem(
        [target.source] * len(seeds), dom, stack(xs), stack(ys), stack(xt), stack(yt), test_set
    )


def _problem(
    targets: list[Expression | Dataset],
    seeds: list[int],
    points: int,
    domain: tuple[float, float] | None,
    holdout: float,
    test_points: int | None,
    dtype: torch.dtype,
) -> _Problem:
    if not 0.0 <= holdout < 1.0:
        raise TentnetError(f"holdout must be in [0, 1), got {holdout}")
    if any(isinstance(t, Dataset) for t in targets):
        if len(targets) != 1:
            raise TentnetError("a data file is fitted on its own, not in a list of targets")
        if test_points is not None:
            raise TentnetError("test_points applies to expressions; use holdout for data")
        return _data_problem(targets[0], seeds, domain, holdout, dtype)
    if holdout:
        raise TentnetError("holdout applies to data files; expressions are tested on a grid")
    dom = check_domain(domain if domain is not None else (0.0, 1.0))
    parts = [_expression_problem(t, seeds, points, dom, test_points, dtype) for t in targets]
    if len(parts) == 1:
        return parts[0]
    cat = torch.cat
    return _Problem(
        [name for p in parts for name in p.names],
        dom,
        cat([p.x_train for p in parts]),
        cat([p.y_train for p in parts]),
        cat([p.x_test for p in parts]),
        cat([p.y_test for p in parts]),
        parts[0].test_set,
    )


def choose_method(target: str | Expression | Dataset, domain=None) -> tuple[str, str]:
    """``("tent", why)`` for a target that is convex or concave on the domain (or data),
    ``("tent-dc", why)`` otherwise; judged by second differences on 4,001 points."""
    parsed = resolve_target(target)
    if isinstance(parsed, Dataset):
        return "tent", "data file (curvature not judged)"
    if parsed.n_inputs != 1:
        return "tent", "several inputs"
    dom = check_domain(domain if domain is not None else (0.0, 1.0))
    x = uniform_grid(dom, 4001)
    y = evaluate_checked(parsed, x[:, None])
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    # Relative to the largest curvature, and above the rounding noise of a straight line.
    tol = max(1e-6 * float(d2.abs().max()), 1e-12 * float(y.abs().max()), 1e-300)
    if float(d2.min()) >= -tol:
        return "tent", "target is convex on the domain"
    if float(d2.max()) <= tol:
        return "tent", "target is concave on the domain"
    return "tent-dc", "target is neither convex nor concave on the domain"


VALIDATION_FRACTION = 0.2
MIN_POINTS_TO_VALIDATE = 50
AUTO_WARP_LEVELS = 3  # tent-warp's tent levels in auto (its first layer takes the rest)


def _auto_candidates(depth: int, points: int) -> list[tuple[str, TrainConfig]]:
    """The methods ``auto`` weighs, each with its configuration."""
    units = shallow_width(depth)
    fitted = points - holdout_size(points, VALIDATION_FRACTION)
    # tent+ for every shape: on non-convex targets it was 2.9x-4,450x more accurate than
    # tent-dc (benchmarks/general_limits.py), and the validation split decides anyway.
    found = [("tent+", TrainConfig(depth=depth))]
    # tent-warp within the same weights: ahead of tent+ wherever the curvature varies
    # (x^3, x^11, exp(x) in the budget experiment), behind it on x^2 from depth 9.
    knots_units = warp_units(weight_count(4, depth), AUTO_WARP_LEVELS)
    if knots_units >= 2 and 2 * (knots_units + 1) <= fitted:
        found.append(("tent-warp", TrainConfig(depth=AUTO_WARP_LEVELS + 1, width=knots_units)))
    if 2 * (units + 1) <= fitted:
        found.append(("knots", TrainConfig(depth=1, width=units)))
    return found


def _auto(
    parsed: list[Expression | Dataset],
    domain,
    depth: int,
    config: TrainConfig,
    t: torch.Tensor,
    y: torch.Tensor,
    seeds: list[int],
    dev: torch.device,
    progress: Progress | None,
) -> tuple[str, TrainConfig, dict[str, Any]]:
    """Pick the method for ``auto`` by a validation split of the training points.

    Candidates (no more weights than a width-4 ``depth`` network): ``tent+`` at ``depth`` (for
    every shape), ``tent-warp`` (a first layer of knots, then 3 tent levels; from depth 4) and
    ``knots``, the best shallow network. Each seed keeps a random 20% of
    its training points out; every candidate trains on the rest; the candidate with the lowest
    median validation MSE over seeds wins and is then trained on all the points. With fewer
    than 50 points per seed (or one candidate) nothing is held out and the deep method is used.
    """
    cands = _auto_candidates(depth, t.shape[1])
    why = choose_method(parsed[0], domain)[1] if len(parsed) == 1 else "several targets"

    def tuned(cfg: TrainConfig) -> TrainConfig:
        # The user's budget and rates apply to every candidate; shape stays the candidate's.
        return replace(config, depth=cfg.depth, width=cfg.width)

    if len(cands) == 1 or t.shape[1] < MIN_POINTS_TO_VALIDATE:
        method, cfg = cands[0]
        info = {"chose": method, "why": f"{why}; too few points to validate", "candidates": []}
        return method, tuned(cfg), info
    # A stream of its own per seed (not the one that drew the points or split off the test set).
    t_fit, y_fit, t_val, y_val = holdout_split(t, y, seeds, VALIDATION_FRACTION, stream=3)
    n_val = t_val.shape[1]
    table = []
    for method, cfg in cands:
        cfg = tuned(cfg)
        out = train_networks(method, t_fit.to(dev), y_fit.to(dev), cfg, seeds, progress)
        layers = [(w.cpu(), b.cpu()) for w, b in out.to("cpu").layers]
        val_mse = _errors(layers, t_val.cpu(), y_val.cpu())[0]
        weights = sum(w[0].numel() + b[0].numel() for w, b in layers)
        table.append(
            {
                "method": method,
                "depth": cfg.depth,
                "width": cfg.width_for(method),
                "weights": weights,
                "validation_mse": float(val_mse.median()),
            }
        )
    finite = [c for c in table if np.isfinite(c["validation_mse"])] or table
    best = min(finite, key=lambda c: c["validation_mse"])
    method = best["method"]
    cfg = tuned(next(c for m, c in cands if m == method))
    reason = (
        f"{why}; lowest validation MSE (normalised units, median over seeds, "
        f"{n_val} of {t.shape[1]} training points held out) among "
        + ", ".join(f"{c['method']} {c['validation_mse']:.3g}" for c in table)
    )
    return method, cfg, {"chose": method, "why": reason, "candidates": table}


def _scaled_std(y: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each row with its scale factored out first, so that targets of
    1e-300 (whose squares underflow) or 1e200 (whose squares overflow) keep their spread."""
    scale = y.abs().amax(1).clamp_min(torch.finfo(y.dtype).tiny)
    return (y / scale[:, None]).std(1, correction=0) * scale


def _errors(
    layers: Stack, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row, from one forward pass: the MSE, the largest |error|, and the MSE over the
    variance of ``y`` computed in units of the row's largest |y| (scale-free and free of
    underflow; NaN for constant targets)."""
    with torch.no_grad():
        err = stack_forward(layers, x.unsqueeze(-1)).squeeze(-1) - y
    scale = y.abs().amax(1, keepdim=True).clamp_min(torch.finfo(y.dtype).tiny)
    scaled = (err / scale).pow(2).mean(1)
    var = (y / scale).var(1, correction=0)
    relative = torch.where(var > 0, scaled / var, torch.full_like(scaled, float("nan")))
    return (err**2).mean(1), err.abs().amax(1), relative


def _check_resources(
    parsed: list[Expression | Dataset],
    method: str,
    depth: int,
    config: TrainConfig,
    n_seeds: int,
    points: int,
    test_points: int | None,
    dtype: torch.dtype,
) -> None:
    """Refuse, before any work, a fit whose estimated memory exceeds what is available (for
    ``auto``, the largest of the candidates it would train)."""
    if isinstance(parsed[0], Dataset):
        points = test_points = parsed[0].x.shape[0]
    if method == "auto":
        shapes = _auto_candidates(depth, points)
    else:
        shapes = [(method, config)]
    need = 0
    for name, cfg in shapes:
        used = replace(config, depth=cfg.depth, width=cfg.width).resolved(name)
        need = max(
            need,
            training_bytes(
                n_seeds * len(parsed) * used.restarts,
                points,
                used.width_for(name),
                used.depth,
                used.lm_iterations,
                test_points or TEST_POINTS,
                torch.finfo(dtype).bits // 8,
            ),
        )
    check_memory(need, f"training {n_seeds * len(parsed)} network(s) on {points:,} points")


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device, or TentnetError if this machine does not have it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise TentnetError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TentnetError("device cuda requested but no CUDA GPU is available here")
    if dev.type not in ("cpu", "cuda"):
        raise TentnetError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


def fit(
    target: str | Expression | Dataset | list[str | Expression],
    *,
    depth: int = 5,
    method: str = "tent",
    seeds: list[int] | tuple[int, ...] = (0,),
    points: int = 500,
    domain: tuple[float, float] | None = None,
    config: TrainConfig | None = None,
    holdout: float = 0.0,
    test_points: int | None = None,
    dtype: torch.dtype = torch.float64,
    progress: Progress | None = None,
    count_regions: bool = True,
    device: str | torch.device = "cpu",
) -> list[FitResult]:
    """Fit a 1-D target with ``method`` once per seed (all seeds trained as one batch).

    Args:
        target: an expression in ``x`` (see :func:`tentnet.targets.parse_expression`), a data
            file (``.csv`` with header ``x,y``, ``.npy`` of shape ``(n, 2)``, ``.npz`` with ``x``
            and ``y``), or a parsed :class:`Expression` / :class:`Dataset`. A list of
            expressions trains every (target, seed) pair in one batch.
        depth: hidden layers d (tent networks then have 2^d pieces).
        method: one of :data:`tentnet.train.METHODS`, or ``"auto"``: choose between the deep
            tent method for the target's shape and ``knots`` (the best shallow network of no
            more weights) by a validation split of the training points, then train the winner
            on all of them (see :func:`_auto`; ``FitResult.auto`` records the candidates).
        seeds: one network per seed; seed s draws the training points (expressions) or the
            held-out split (data) and, independently, the initialisation.
        points: training points per seed, uniform random in the domain (expressions only).
        domain: ``(lo, hi)``; default [0, 1] for expressions, the data's x range for files.
        config: training budget and rates (default :class:`TrainConfig` with this depth).
        holdout: fraction of a data file's points kept out of training for ``test_mse``.
        test_points: for expressions, test on this many uniform random points per seed (drawn
            after the training points) instead of the grid of 10,001 points.
        dtype: float64 by default (errors below 1e-7 need it).
        progress: optional callback ``(phase, step, steps, loss)``.
        count_regions: count the exact linear regions of every trained network.
        device: where the batched training runs (``"cuda"`` for a GPU). Data and initial
            values are drawn on the CPU, so a seed starts from the same network everywhere;
            results come back to the CPU.

    Returns:
        One :class:`FitResult` per seed (per target, then per seed, for a list of targets).
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise TentnetError("give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise TentnetError("seeds must be distinct")
    config = replace(config or TrainConfig(), depth=depth)
    if method != "auto":
        config.check(method)
    else:
        check_depth(depth)
        if config.width is not None:
            raise TentnetError(
                "--width does not apply to --method auto (it weighs a width-4 deep network "
                "against a shallow one of no more weights); name a method to set the width"
            )
    targets = target if isinstance(target, list) else [target]
    if not targets:
        raise TentnetError("give at least one target")
    parsed = [resolve_target(t) for t in targets]
    _check_resources(parsed, method, depth, config, len(seeds), points, test_points, dtype)
    prob = _problem(parsed, seeds, points, domain, holdout, test_points, dtype)
    if isinstance(parsed[0], Dataset):  # tested on points drawn like the training points
        config = replace(config, quadrature=False)
    row_seeds = seeds * len(parsed)
    lo, hi = prob.domain
    y_mean = prob.y_train.mean(1)
    y_std = _scaled_std(prob.y_train)
    y_std = torch.where(y_std > 0, y_std, torch.ones_like(y_std))
    t = (prob.x_train - lo) / (hi - lo)
    y_norm = (prob.y_train - y_mean[:, None]) / y_std[:, None]

    dev = resolve_device(device)
    start = time.perf_counter()
    auto = None
    if method == "auto":
        method, config, auto = _auto(
            parsed, prob.domain, depth, config, t, y_norm, row_seeds, dev, progress
        )
        depth = config.depth
    out = train_networks(method, t.to(dev), y_norm.to(dev), config, row_seeds, progress)
    seconds = time.perf_counter() - start
    out = out.to("cpu")

    layers = fold_affine(out.layers, lo, hi - lo, y_mean, y_std)
    train_mse = _errors(layers, prob.x_train, prob.y_train)[0]
    test_mse, max_err, rel_mse = _errors(layers, prob.x_test, prob.y_test)
    bad = ~torch.isfinite(max_err)  # the MSE of a huge target may overflow; the error not
    if bool(bad.any()):
        raise TentnetError(
            f"training produced a non-finite network for seed(s) "
            f"{[row_seeds[i] for i in torch.nonzero(bad).flatten().tolist()]}"
        )
    p1_mse = None
    p1_layers = None
    if out.phase1_layers is not None:
        p1_layers = fold_affine(out.phase1_layers, lo, hi - lo, y_mean, y_std)
        p1_mse = _errors(p1_layers, prob.x_test, prob.y_test)[0]
    history_scale = (y_std**2).tolist()
    results = []
    used = config.resolved(method)
    p1_steps, _ = used.phase_steps(method)
    # Beyond MAX_COUNT_DEPTH a tent network has too many pieces to hold (not counted: -1).
    count_regions = count_regions and depth <= MAX_COUNT_DEPTH
    for i, seed in enumerate(row_seeds):
        mlp = sequential_from_layers(layers, i)
        regions = count_linear_regions(mlp, prob.domain) if count_regions else None
        p1_regions = None
        if p1_layers is not None and count_regions:
            p1_regions = count_linear_regions(sequential_from_layers(p1_layers, i), prob.domain)
        history = [
            (step, float(v[i]) * history_scale[i])
            for step, v in zip(out.history_steps, out.history, strict=True)
        ]
        results.append(
            FitResult(
                target=prob.names[i],
                method=method,
                depth=depth,
                width=config.width_for(method),
                points=int(prob.x_train.shape[1]),
                seed=seed,
                domain=prob.domain,
                dtype=str(dtype).removeprefix("torch."),
                steps=sum(used.phase_steps(method)),
                phase1_steps=p1_steps,
                lm_iterations=used.lm_iterations,
                restarts=used.restarts,
                seconds=seconds,
                batch_size=len(row_seeds),
                train_mse=float(train_mse[i]),
                test_mse=float(test_mse[i]),
                max_abs_error=float(max_err[i]),
                test_set=prob.test_set,
                linear_regions=regions.linear_regions if regions else -1,
                activation_regions=regions.activation_regions if regions else -1,
                breakpoints=regions.breakpoints if regions else np.zeros(0),
                mlp=mlp,
                phase1_test_mse=float(p1_mse[i]) if p1_mse is not None else None,
                phase1_linear_regions=p1_regions.linear_regions if p1_regions else None,
                relative_test_mse=float(rel_mse[i]) if bool(torch.isfinite(rel_mse[i])) else None,
                auto=auto,
                history=history,
                x_train=prob.x_train[i].numpy(),
                y_train=prob.y_train[i].numpy(),
                x_test=prob.x_test[i].numpy(),
                y_test=prob.y_test[i].numpy(),
            )
        )
    return results
