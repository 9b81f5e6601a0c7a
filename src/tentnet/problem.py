"""The points a fit trains and is tested on: for expressions, uniform random training points
per seed and the test grid (or random test points); for data, a random held-out split per
seed. Drawn on the CPU, from the seed alone."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import TentnetError
from .targets import Dataset, Expression, evaluate_checked, sample_points, uniform_grid
from .tent import check_domain

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
