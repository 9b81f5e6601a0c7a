"""Experiments beyond 1-D (issue: many inputs, real data): TentLayer networks against dense
ReLU MLPs of equal parameter count. Each batch is one (experiment, model kind, seed)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..multi import count_parameters, dense_mlp, matching_dense, tent_regressor, train_model
from ..targets import parse_expression
from .jobs import REGION_MAPS
from .regions import compute_region_maps

MULTID_TARGETS = (("(x0**2 + x1**2)**1.5", 2), ("(x0**2 + x1**2 + x2**2)**1.5", 3))
EXTRA_EXPERIMENTS = ("multid", "digits", "diabetes")
CHANNELS, TENT_DEPTH = 8, 4


def _threads():
    torch.set_num_threads(1)  # many tiny matrix products: one thread avoids oversubscription


def _tent_and_dense(
    n_in: int,
    n_out: int,
    channels: int,
    depth: int,
    g,
    base: nn.Module | None,
    hidden_layers: int = 3,
):
    """A TentLayer head and a dense ReLU head with (about) the same number of parameters."""
    tent_head = tent_regressor(n_in, channels, depth, g, n_out=n_out)
    params = count_parameters(tent_head[0].free()) + count_parameters(tent_head[1])
    sizes = matching_dense(n_in, n_out, hidden_layers, params)
    dense_head = dense_mlp(sizes, g)
    if base is None:
        return tent_head, dense_head
    base2 = dense_mlp([base[0].in_features, base[0].out_features], g)
    base2.load_state_dict(base.state_dict())
    return (nn.Sequential(base, nn.ReLU(), tent_head), nn.Sequential(base2, nn.ReLU(), dense_head))


def run_extra(experiment: str, kind: str, seed: int, steps: int) -> dict:
    """Train one model (``kind`` = ``tent`` or ``dense``) of one experiment for one seed, or
    (``kind`` = :data:`REGION_MAPS`) compute the 2-D region maps that the report draws."""
    _threads()
    start = time.perf_counter()
    if kind == REGION_MAPS:
        maps = compute_region_maps()
        return {"rows": [], "region_maps": maps, "seconds": time.perf_counter() - start}
    g = torch.Generator().manual_seed(seed)
    if experiment == "multid":
        rows = []
        for text, n in MULTID_TARGETS:
            expr = parse_expression(text)
            x = torch.rand(2000, n, generator=g, dtype=torch.float64)
            xt = torch.rand(5000, n, generator=g, dtype=torch.float64)
            y, yt = expr(x)[:, None], expr(xt)[:, None]
            tent, dense = _tent_and_dense(n, 1, CHANNELS, TENT_DEPTH, g, None)
            model = tent if kind == "tent" else dense
            mse = lambda a, b: ((a - b) ** 2).mean()  # noqa: E731
            model, curve = train_model(
                model,
                x,
                y,
                mse,
                steps,
                phase1_steps=steps // 3,
                evaluate=lambda m: float(mse(m(xt), yt)),  # noqa: B023
                every=max(1, steps // 20),
            )
            rows.append(
                {
                    "target": text,
                    "inputs": n,
                    "seed": seed,
                    "model": kind,
                    "parameters": count_parameters(model),
                    "test_mse": curve[-1][2],
                    "curve": curve,
                }
            )
        return {"rows": rows, "seconds": time.perf_counter() - start}
    x, y, classify = _real_data(experiment)
    perm = torch.randperm(x.shape[0], generator=g)
    n_test = x.shape[0] // 4
    te, tr = perm[:n_test], perm[n_test:]
    mean, std = x[tr].mean(0), x[tr].std(0).clamp_min(1e-8)
    x = (x - mean) / std
    if not classify:
        ym, ys = y[tr].mean(), y[tr].std()
        y = (y - ym) / ys
    n_in = x.shape[1]
    n_out = 10 if classify else 1
    if classify:
        base = dense_mlp([n_in, 16], g)
        tent, dense = _tent_and_dense(16, n_out, CHANNELS, 3, g, base, hidden_layers=2)
        loss = nn.functional.cross_entropy
        target = y.long()

        def score(m):
            return float((m(x[te]).argmax(1) == target[te]).double().mean())
    else:
        tent, dense = _tent_and_dense(n_in, n_out, 4, 3, g, None, hidden_layers=2)

        def loss(a, b):
            return ((a - b) ** 2).mean()

        target = y[:, None]

        def score(m):
            return float(((m(x[te]) - target[te]) ** 2).mean() * ys**2)

    model = tent if kind == "tent" else dense
    model, curve = train_model(
        model,
        x[tr],
        target[tr],
        loss,
        steps,
        phase1_steps=steps // 3,
        evaluate=score,
        every=max(1, steps // 20),
    )
    key = "test_accuracy" if classify else "test_mse"
    row = {
        "head": kind,
        "seed": seed,
        key: curve[-1][2],
        "parameters": count_parameters(model),
        "curve": curve,
    }
    return {"rows": [row], "seconds": time.perf_counter() - start}


def _real_data(name: str):
    try:
        from sklearn.datasets import load_diabetes, load_digits
    except ImportError:
        from ..errors import TentnetError

        raise TentnetError(
            "the digits and diabetes experiments need scikit-learn, which ships "
            "both data sets: pip install 'tentnet[data]'"
        ) from None
    data = load_digits() if name == "digits" else load_diabetes()
    x = torch.as_tensor(np.asarray(data.data, dtype=np.float64))
    y = torch.as_tensor(np.asarray(data.target, dtype=np.float64))
    return x, y, name == "digits"
