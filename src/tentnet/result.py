"""What a fit returns: one trained network with its metrics, and how it is saved."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig, TrainOutput
from .errors import TentnetError
from .methods import get_method
from .mlp import fold_affine, sequential_from_layers, stack_errors
from .regions import MAX_COUNT_DEPTH, count_linear_regions


@dataclass
class FitResult:
    """One trained network and its measured metrics (raw units, the test grid of the domain).

    ``mlp`` is the plain ``nn.Sequential``; ``metrics()`` gives the JSON-ready summary and
    ``save(folder)`` writes model, metrics and figure. ``inputs`` > 1: a TentLayer network for
    a target of several inputs (``width`` is then its channels; regions are not counted, -1).
    ``relative_test_mse`` is the test MSE over the variance of the test targets (scale-free,
    computed without underflow; None for constant targets): 1 means no better than their mean.
    ``restarts`` is the configured starts per seed, ``starts`` how many were trained (more for
    ``tent-warp`` where it adds floored starts; None: ``restarts``).
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
    starts: int | None = None
    inputs: int = 1
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
            "starts": self.restarts if self.starts is None else self.starts,
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
        if self.inputs > 1:
            out["inputs"] = self.inputs
        elif get_method(self.method).is_tent:
            out["phase1_test_mse"] = self.phase1_test_mse
            out["phase1_linear_regions"] = self.phase1_linear_regions
        if self.auto is not None:  # what auto or tent+ weighed and chose
            out[self.auto.get("selector", "auto")] = self.auto
        return out

    def save(self, folder: str | Path, plot: bool = True) -> list[str]:
        """Write ``model.safetensors`` (the MLP with its metadata and metrics), ``metrics.json``
        and, with ``plot`` and matplotlib installed, ``fit.png`` into ``folder`` (made if
        missing; every file written atomically). Returns the names written."""
        from .io import ModelMeta, atomic_write_text, save_model
        from .plot import optional_pyplot, plot_fit

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        metrics = self.metrics()
        meta = ModelMeta(
            domain=self.domain,
            method=self.method,
            depth=self.depth,
            width=self.width,
            target=self.target,
            seed=self.seed,
            dtype=self.dtype,
            metrics=metrics,
            inputs=self.inputs,
        )
        save_model(folder / "model.safetensors", self.mlp, meta.to_dict())
        written = ["model.safetensors"]
        if plot and self.inputs == 1 and optional_pyplot() is not None:
            plot_fit(self, folder / "fit.png")
            written.append("fit.png")
        atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        return [*written, "metrics.json"]


def fit_results(
    prob: Any,
    rows: torch.Tensor,
    method: str,
    config: TrainConfig,
    out: TrainOutput,
    y_mean: torch.Tensor,
    y_std: torch.Tensor,
    row_seeds: list[int],
    count_regions: bool,
    shared: dict,
) -> list[tuple[int, FitResult]]:
    """The results of the rows ``rows`` (1-D) of a fit's ``prob`` (a
    :class:`tentnet.fit.Problem`), trained as ``out`` (their networks, in that order) by
    ``method`` with ``config``, each with its row; ``shared``: the fit's seconds, batch size
    and ``auto`` record, the same for every row."""
    lo, hi = prob.domain
    x_train, y_train = prob.x_train[rows], prob.y_train[rows]
    x_test, y_test = prob.x_test[rows], prob.y_test[rows]
    layers = fold_affine(out.layers, lo, hi - lo, y_mean[rows], y_std[rows])
    train_mse = stack_errors(layers, x_train, y_train)[0]
    test_mse, max_err, rel_mse = stack_errors(layers, x_test, y_test)
    bad = ~torch.isfinite(max_err)  # the MSE of a huge target may overflow; the error not
    if bool(bad.any()):
        raise TentnetError(
            f"training produced a non-finite network for seed(s) "
            f"{[row_seeds[int(rows[i])] for i in torch.nonzero(bad).flatten().tolist()]}"
        )
    p1_mse = None
    p1_layers = None
    if out.phase1_layers is not None:
        p1_layers = fold_affine(out.phase1_layers, lo, hi - lo, y_mean[rows], y_std[rows])
        p1_mse = stack_errors(p1_layers, x_test, y_test)[0]
    history_scale = (y_std[rows] ** 2).tolist()
    results = []
    used = config.resolved(method)
    p1_steps, _ = used.phase_steps(method)
    # Beyond MAX_COUNT_DEPTH a tent network has too many pieces to hold (not counted: -1).
    count_regions = count_regions and config.depth <= MAX_COUNT_DEPTH
    for i, row in enumerate(rows.tolist()):
        mlp = sequential_from_layers(layers, i)
        regions = count_linear_regions(mlp, prob.domain) if count_regions else None
        p1_regions = None
        if p1_layers is not None and count_regions:
            p1_regions = count_linear_regions(sequential_from_layers(p1_layers, i), prob.domain)
        history = [
            (step, float(v[i]) * history_scale[i])
            for step, v in zip(out.history_steps, out.history, strict=True)
        ]
        result = FitResult(
            target=prob.names[row],
            method=method,
            depth=config.depth,
            width=config.width_for(method),
            points=int(prob.x_train.shape[1]),
            seed=row_seeds[row],
            domain=prob.domain,
            dtype=str(x_train.dtype).removeprefix("torch."),
            steps=sum(used.phase_steps(method)),
            phase1_steps=p1_steps,
            lm_iterations=used.lm_iterations,
            restarts=used.restarts,
            starts=out.starts,
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
            history=history,
            x_train=x_train[i].numpy(),
            y_train=y_train[i].numpy(),
            x_test=x_test[i].numpy(),
            y_test=y_test[i].numpy(),
            **shared,
        )
        results.append((row, result))
    return results
