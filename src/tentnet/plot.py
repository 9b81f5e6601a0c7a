"""Figures (matplotlib is an optional extra, imported only when a figure is drawn)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .errors import TentnetError
from .io import atomic_write_bytes


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TentnetError(
            "figures need matplotlib: pip install 'tentnet[plot]' (or pass --no-plot)"
        ) from None
    return plt


def optional_pyplot():
    """``matplotlib.pyplot``, or None when matplotlib is not installed (figures are skipped)."""
    try:
        return _pyplot()
    except TentnetError:
        return None


def save_figure(fig, path: str | Path) -> None:
    """Render ``fig`` to PNG in memory, then write it atomically; closes the figure."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_fit(result, path: str | Path) -> None:
    """Target and fit (top), absolute error on a log scale (bottom), breakpoints marked.

    ``result`` is a :class:`tentnet.fit.FitResult`.
    """
    plt = _pyplot()
    lo, hi = result.domain
    grid = torch.linspace(lo, hi, 4001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        fit_y = result.mlp.double()(grid).squeeze(-1).numpy()
    gx = grid.squeeze(-1).numpy()
    xt, yt = result.x_test, result.y_test
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    dense = xt.size > 200
    if dense:
        ax1.plot(xt, yt, color="0.55", lw=3, label="target")
    ax1.plot(gx, fit_y, color="C0", lw=1.2, label=f"{result.method} fit")
    ax1.plot(
        result.x_train,
        result.y_train,
        ".",
        ms=3,
        color="C1",
        alpha=0.6,
        label=f"training points ({result.x_train.size})",
    )
    if not dense:
        ax1.plot(xt, yt, "x", color="k", ms=4, label="test points")
    bp = result.breakpoints
    with torch.no_grad():
        bp_y = result.mlp.double()(torch.as_tensor(bp, dtype=torch.float64)[:, None])
    ax1.plot(
        bp,
        bp_y.squeeze(-1).numpy(),
        "|",
        color="C3",
        ms=8,
        label=f"breakpoints ({result.linear_regions} linear pieces)",
    )
    ax1.legend(loc="best", fontsize=8)
    ax1.set_ylabel("y")
    from .methods import REGISTRY

    spec = REGISTRY.get(result.method)
    shape = (
        spec.shape(result.depth, result.width)
        if spec is not None
        else f"depth {result.depth} x width {result.width}"
    )
    ax1.set_title(
        f"{result.target} on [{lo:g}, {hi:g}]: {result.method}, {shape}, seed {result.seed}\n"
        f"test MSE {result.test_mse:.3g}, max |error| {result.max_abs_error:.3g}",
        fontsize=9,
    )
    with torch.no_grad():
        pred = result.mlp.double()(torch.as_tensor(xt, dtype=torch.float64)[:, None])
    err = np.abs(pred.squeeze(-1).numpy() - yt)
    floor = max(float(err.max()) * 1e-6, 1e-18)
    ax2.semilogy(
        xt,
        np.maximum(err, floor),
        color="C0",
        lw=0.8 if dense else 0,
        marker=None if dense else "o",
        ms=3,
    )
    for b in bp:
        ax2.axvline(b, color="C3", lw=0.3, alpha=0.5)
    ax2.set_xlabel("x")
    ax2.set_ylabel("|fit - target|")
    ax2.set_title(f"absolute error on the test set ({result.test_set})", fontsize=8)
    save_figure(fig, path)
