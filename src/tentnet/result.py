"""What a fit returns: one trained network with its metrics, and how it is saved."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .methods import get_method


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
        if self.auto is not None:
            out["auto"] = self.auto
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
