"""Fit a 1-D target (expression or data file) with any method, for several seeds at once.

The points a fit trains and is tested on (:class:`Problem`): for expressions, uniform random
training points per seed and the test grid (or random test points); for data, a random
held-out split per seed. Drawn on the CPU, from the seed alone."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from .auto import auto_candidates, choose_by_validation
from .deep import DEEP, FINALIST_STARTS, choose_deep
from .errors import TentnetError
from .methods import get_method
from .mlp import scaled_std
from .multi import fit_several
from .resources import check_memory, training_bytes
from .result import FitResult as FitResult
from .result import fit_results
from .targets import (
    Dataset,
    Expression,
    check_bounded,
    curvature,
    evaluate_checked,
    sample_points,
    uniform_grid,
)
from .targets import resolve_target as resolve_target
from .tent import check_depth, check_domain
from .train import (
    Progress,
    TrainConfig,
    train_networks,
)

TEST_POINTS = 10_001


@dataclass(frozen=True)
class Problem:
    """The training and test points of every row (seed, or target and seed) of a fit."""

    names: list[str]  # one per row
    domain: tuple[float, float]
    x_train: torch.Tensor  # (N, P)
    y_train: torch.Tensor  # (N, P)
    x_test: torch.Tensor  # (N, G)
    y_test: torch.Tensor  # (N, G)
    test_set: str


def _expression_problem(
    target: Expression,
    seeds: list[int],
    points: int,
    dom: tuple[float, float],
    test_points: int | None,
    dtype: torch.dtype,
) -> Problem:
    if target.n_inputs != 1:
        raise TentnetError(f"target {target.text!r} has {target.n_inputs} inputs; fit is 1-D")
    if not 2 <= points <= 10_000_000:
        raise TentnetError(f"points must be from 2 to 10000000, got {points}")
    check_bounded(target, dom)
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
    return Problem([target.text] * n, dom, x, y, xt, yt, test_set)


def _data_problem(
    target: Dataset,
    seeds: list[int],
    domain: tuple[float, float] | None,
    holdout: float,
    dtype: torch.dtype,
) -> Problem:
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
    return Problem(
        [target.source] * len(seeds), dom, stack(xs), stack(ys), stack(xt), stack(yt), test_set
    )


def build_problem(
    targets: list[Expression | Dataset],
    seeds: list[int],
    points: int,
    domain: tuple[float, float] | None,
    holdout: float,
    test_points: int | None,
    dtype: torch.dtype,
) -> Problem:
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
    return Problem(
        [name for p in parts for name in p.names],
        dom,
        cat([p.x_train for p in parts]),
        cat([p.y_train for p in parts]),
        cat([p.x_test for p in parts]),
        cat([p.y_test for p in parts]),
        parts[0].test_set,
    )


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
    ``auto`` and ``tent+``, the largest of the candidates they would train)."""
    if isinstance(parsed[0], Dataset):
        points = test_points = parsed[0].x.shape[0]
    if method == "auto":
        shapes = auto_candidates(depth, points)
    elif method == DEEP:
        shapes = [c for c in auto_candidates(depth, points) if c[0] != "knots"]
    else:
        shapes = [(method, config)]
    need = 0
    for name, cfg in shapes:
        used = replace(config, depth=cfg.depth, width=cfg.width)
        if method in ("auto", DEEP) and name == "tent-warp" and config.restarts is None:
            used = replace(used, restarts=FINALIST_STARTS)  # as its knot finalists train
        used = used.resolved(name)
        starts = used.restarts + (get_method(name).added_starts if used.restarts > 1 else 0)
        need = max(
            need,
            training_bytes(
                n_seeds * len(parsed) * starts,
                used.fitted_points(name, points),
                used.width_for(name),
                used.depth,
                used.lm_iterations,
                test_points or TEST_POINTS,
                torch.finfo(dtype).bits // 8,
                get_method(name).weight_count(used.depth, used.width_for(name)),
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
    """Fit a target with ``method`` once per seed (all seeds trained as one batch); a target
    of several inputs (``x0, x1, ...``) is fitted by a TentLayer network instead
    (:func:`tentnet.multi.fit_several`: one seed, ``auto`` or ``tent``, settings it cannot use
    refused).

    Args:
        target: an expression in ``x`` (see :func:`tentnet.targets.parse_expression`), a data
            file (``.csv`` with header ``x,y``, ``.npy`` of shape ``(n, 2)``, ``.npz`` with ``x``
            and ``y``), or a parsed :class:`Expression` / :class:`Dataset`. A list of
            expressions trains every (target, seed) pair in one batch.
        depth: hidden layers d (tent networks then have 2^d pieces).
        method: one of :data:`tentnet.train.METHODS`, or ``"auto"``: choose between the deep
            tent method for the target's shape and ``knots`` (the best shallow network of no
            more weights) by a validation split of the training points, then train the winner
            on all of them (see :mod:`tentnet.auto`; ``FitResult.auto`` records the candidates),
            or ``"tent+"``: the best deep network of the weights of a width-4 ``depth`` one,
            judged on the reconstruction of the points (see :mod:`tentnet.deep`; recorded the
            same way).
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
    targets = target if isinstance(target, list) else [target]
    if not targets:
        raise TentnetError("give at least one target")
    parsed = [resolve_target(t) for t in targets]
    if any(isinstance(p, Expression) and p.n_inputs > 1 for p in parsed):
        if len(parsed) > 1:
            raise TentnetError("a target of several inputs is fitted on its own, not in a list")
        return fit_several(
            parsed[0],
            depth=depth,
            method=method,
            seeds=seeds,
            points=points,
            domain=domain,
            config=config,
            holdout=holdout,
            test_points=test_points,
            dtype=dtype,
            device=device,
        )
    if method not in ("auto", DEEP):
        config.check(method)
    else:
        check_depth(depth)
        if config.width is not None:
            raise TentnetError(
                f"--width does not apply to --method {method} (it weighs networks of the "
                "weights of a width-4 one of --depth); name a method to set the width (tent-lm: "
                "the width-4 tent chain)"
            )
    if isinstance(parsed[0], Dataset):  # tested on points drawn like the training points
        config = replace(config, quadrature=False, resample=0)
    _check_resources(parsed, method, depth, config, len(seeds), points, test_points, dtype)
    prob = build_problem(parsed, seeds, points, domain, holdout, test_points, dtype)
    row_seeds = seeds * len(parsed)
    lo, hi = prob.domain
    y_mean = prob.y_train.mean(1)
    y_std = scaled_std(prob.y_train)
    y_std = torch.where(y_std > 0, y_std, torch.ones_like(y_std))
    t = (prob.x_train - lo) / (hi - lo)
    y_norm = (prob.y_train - y_mean[:, None]) / y_std[:, None]

    dev = resolve_device(device)
    start = time.perf_counter()
    auto, trained, swaps = None, None, []
    if method == "auto":
        shape = curvature(parsed[0], prob.domain) if len(parsed) == 1 else "several targets"
        method, config, auto, trained, swaps = choose_by_validation(
            shape, depth, config, t, y_norm, row_seeds, dev, progress
        )
    elif method == DEEP:
        method, config, auto, trained, swaps = choose_deep(
            depth, config, t, y_norm, row_seeds, dev, progress
        )
    if trained is None:  # auto returns its winner trained when it already is
        trained = train_networks(method, t.to(dev), y_norm.to(dev), config, row_seeds, progress)
    seconds = time.perf_counter() - start
    rows = torch.arange(len(row_seeds))
    kept = torch.ones(len(row_seeds), dtype=torch.bool)
    parts = []
    for other, other_cfg, other_out, taken in swaps:  # auto: rows that take another shape
        parts.append((other, other_cfg, other_out, rows[taken]))
        kept &= ~taken
    parts.insert(0, (method, config, trained, rows[kept]))
    shared = {"seconds": seconds, "batch_size": len(row_seeds), "auto": auto}
    done: list[tuple[int, FitResult]] = []
    for name, cfg, part, idx in parts:
        if not len(idx):  # every seed took another shape
            continue
        part = part.to("cpu").select(idx)
        done += fit_results(
            prob, idx, name, cfg, part, y_mean, y_std, row_seeds, count_regions, shared
        )
    return [r for _, r in sorted(done, key=lambda d: d[0])]
