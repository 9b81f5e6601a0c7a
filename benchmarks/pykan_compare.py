"""tentnet against pykan's KANs at equal trainable-parameter counts (needs ``tentnet[kan]``).

Every model is trained one at a time on one torch thread, in float64, on the same 500 uniform
random training points per seed (tentnet's own draw for that seed) and tested on the uniform
grid of 10,001 points of [0, 1]. Models:

- ``tent d5`` / ``tent-lm d5``: tentnet, width 4 x depth 5 (93 weights), default budgets.
- ``tent d10`` / ``tent-lm d10``: width 4 x depth 10 (193 weights).
- ``kaiming d5`` / ``kaiming d10``: the same MLPs from PyTorch's default init, 12,000 Adam steps.
- ``KAN k=1`` (piecewise-linear splines: the function class of a ReLU network) and ``KAN k=3``
  (cubic splines), shapes [1, 1] and [1, 2, 1], the grid size chosen so that the trainable
  spline parameters (coefficients, ``scale_base`` and ``scale_sp`` of every edge) match 93 and
  193. Trained with pykan's own ``fit``: LBFGS (history 10, strong Wolfe), ``lamb=0``,
  ``--kan-steps`` steps (default 100, pykan's), on a fixed uniform grid over [0, 1]
  (``update_grid=False``). pykan's default grid updates move the knots to sample percentiles;
  measured on x^11 with [1, 1], G=90, k=1 (20 steps) they gave a test MSE of 3.5e-3 from a
  training MSE of 1e-7, against 1.6e-8 on the uniform grid. ``--kan-update-grid`` turns them on.

Time to 1e-5 / 1e-6: wall seconds from the start of the run (initialisation included) until the
training MSE of the model that would be returned first reaches the level (tentnet: sampled
every 1% of each phase; KAN: every LBFGS step); a run whose final test MSE is above the level
counts as not reaching it (fine spline grids can fit the 500 points and miss between them).

Usage: ``python benchmarks/pykan_compare.py [--seeds 3] [--out results/pykan]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from tentnet import TrainConfig, fit
from tentnet.io import atomic_write_text
from tentnet.targets import evaluate_checked, parse_expression, sample_points, uniform_grid

TARGETS = ("x**11", "exp(3*x)", "cosh(5*x - 2.5)", "sqrt(x + 0.01)")
LEVELS = (1e-5, 1e-6)


def kan_grid(shape: list[int], k: int, params: int) -> int:
    """The grid size whose KAN of ``shape`` has about ``params`` spline parameters."""
    edges = sum(a * b for a, b in itertools.pairwise(shape))
    return max(1, round(params / edges) - k - 2)


def data(target: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    expr = parse_expression(target)
    x = sample_points((0.0, 1.0), 500, torch.Generator().manual_seed(seed), torch.float64)
    grid = uniform_grid((0.0, 1.0))
    y = evaluate_checked(expr, x[:, None]).reshape(-1)
    return x, y, grid, evaluate_checked(expr, grid[:, None]).reshape(-1)


def first_time(trace: list[tuple[float, float]], level: float) -> float | None:
    return next((t for t, mse in trace if mse <= level), None)


def run_tentnet(target: str, seed: int, method: str, depth: int) -> dict:
    _, y, _, _ = data(target, seed)
    scale = float(y.std(correction=0)) ** 2
    trace: list[tuple[float, float]] = []
    start = time.perf_counter()

    def progress(phase: str, step: int, steps: int, loss: float) -> None:
        trace.append((time.perf_counter() - start, loss * scale))

    (res,) = fit(
        target,
        depth=depth,
        method=method,
        seeds=[seed],
        config=TrainConfig(depth=depth),
        progress=progress,
        count_regions=False,
    )
    seconds = time.perf_counter() - start
    trace.append((seconds, res.train_mse))
    return {
        "params": res.metrics()["parameters"],
        "test_mse": res.test_mse,
        "train_mse": res.train_mse,
        "seconds": seconds,
        "trace": trace,
    }


def run_kan(
    target: str, seed: int, shape: list[int], k: int, grid: int, steps: int, update_grid: bool
) -> dict:
    from kan import KAN

    x, y, xg, yg = data(target, seed)
    stamps: list[float] = []
    start = time.perf_counter()
    model = KAN(
        width=shape,
        grid=grid,
        k=k,
        grid_range=[0.0, 1.0],
        seed=seed,
        auto_save=False,
        symbolic_enabled=False,
        device="cpu",
    )
    params = sum(
        p.numel() for n, p in model.named_parameters() if p.requires_grad and "act_fun" in n
    )

    def stamp() -> torch.Tensor:
        stamps.append(time.perf_counter() - start)
        return torch.tensor(0.0)

    dataset = {
        "train_input": x[:, None],
        "train_label": y[:, None],
        "test_input": x[:, None],  # pykan evaluates this every step; the grid is used at the end
        "test_label": y[:, None],
    }
    with contextlib.redirect_stderr(io.StringIO()):
        out = model.fit(
            dataset,
            opt="LBFGS",
            steps=steps,
            lamb=0.0,
            update_grid=update_grid,
            metrics=[stamp],
            log=steps,
        )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        test = float(((model(xg[:, None]) - yg[:, None]) ** 2).mean())
        train = float(((model(x[:, None]) - y[:, None]) ** 2).mean())
    trace = [(t, float(r) ** 2) for t, r in zip(stamps, out["train_loss"], strict=True)]
    return {
        "params": params,
        "test_mse": test if math.isfinite(test) else float("inf"),
        "train_mse": train,
        "seconds": seconds,
        "trace": trace,
    }


def models() -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for depth, params in ((5, 93), (10, 193)):
        for method in ("tent", "tent-lm", "kaiming"):
            spec = {"kind": "tentnet", "method": method, "depth": depth}
            out.append((f"{method} d{depth}", spec))
        for k in (1, 3):
            for shape in ([1, 1], [1, 2, 1]):
                g = kan_grid(shape, k, params)
                name = f"KAN k={k} {shape} G={g}"
                out.append((name, {"kind": "kan", "shape": shape, "k": k, "grid": g}))
    return out


def _reached(r: dict, level: float) -> float | None:
    """When the run's training MSE reached ``level``; None if it never did or if the final
    model is above ``level`` on the test grid (an overfitted run has not reached it)."""
    return r[f"t_{level:g}"] if r["test_mse"] <= level else None


def fmt_time(values: list[float | None]) -> str:
    reached = sorted(v for v in values if v is not None)
    if len(reached) * 2 <= len(values):
        return f"never ({len(reached)}/{len(values)})" if reached else "never"
    return f"{statistics.median(values if len(reached) == len(values) else reached):.1f} s" + (
        "" if len(reached) == len(values) else f" ({len(reached)}/{len(values)})"
    )


def table(rows: list[dict]) -> str:
    lines = []
    for target in dict.fromkeys(r["target"] for r in rows):
        lines += [
            f"\n### {target} on [0, 1]\n",
            "| model | params | median test MSE | min | mean | median run time | "
            "time to 1e-5 | time to 1e-6 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in dict.fromkeys(r["model"] for r in rows if r["target"] == target):
            rs = [r for r in rows if r["target"] == target and r["model"] == name]
            mses = [r["test_mse"] for r in rs]
            lines.append(
                f"| {name} | {rs[0]['params']} | {statistics.median(mses):.2e} | "
                f"{min(mses):.2e} | {statistics.mean(mses):.2e} | "
                f"{statistics.median(r['seconds'] for r in rs):.1f} s | "
                + " | ".join(fmt_time([_reached(r, lv) for r in rs]) for lv in LEVELS)
                + " |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--kan-steps", type=int, default=200)
    ap.add_argument(
        "--kan-update-grid",
        action="store_true",
        help="pykan's default grid updates from the samples (default: fixed uniform grid)",
    )
    ap.add_argument(
        "--only", default=None, help="model-name prefixes separated by ';' (e.g. 'tent-lm;KAN k=1')"
    )
    ap.add_argument("--out", type=Path, default=Path("results/pykan"))
    args = ap.parse_args(argv)
    try:
        import kan  # noqa: F401
    except ImportError:
        print("pykan_compare: needs pykan: pip install 'tentnet[kan]'", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / "runs.jsonl"
    done = {}
    if raw.is_file():  # resume: keep finished runs
        for line in raw.read_text().splitlines():
            r = json.loads(line)
            done[(r["target"], r["model"], r["seed"])] = r
    prefixes = [p.strip() for p in args.only.split(";") if p.strip()] if args.only else None
    rows = []
    for target in [t.strip() for t in args.targets.split(",")]:
        for name, spec in models():
            if prefixes and not any(name.startswith(p) for p in prefixes):
                continue
            for seed in range(args.seeds):
                key = (target, name, seed)
                if key not in done:
                    if spec["kind"] == "tentnet":
                        r = run_tentnet(target, seed, spec["method"], spec["depth"])
                    else:
                        r = run_kan(
                            target,
                            seed,
                            spec["shape"],
                            spec["k"],
                            spec["grid"],
                            args.kan_steps,
                            args.kan_update_grid,
                        )
                    for lv in LEVELS:
                        r[f"t_{lv:g}"] = first_time(r["trace"], lv)
                    del r["trace"]
                    r.update(target=target, model=name, seed=seed)
                    with raw.open("a") as f:
                        f.write(json.dumps(r) + "\n")
                    done[key] = r
                    print(
                        f"{target:18s} {name:24s} seed {seed}: test {r['test_mse']:.2e} "
                        f"({r['seconds']:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
                rows.append(done[key])
    text = (
        "# tentnet vs pykan at equal parameter counts\n\n"
        f"Seeds 0-{args.seeds - 1}, 500 uniform random training points per seed, test grid of "
        "10,001 points on [0, 1], float64, one torch thread, one model at a time. KAN: pykan "
        f"fit, LBFGS, {args.kan_steps} steps, lamb 0, grid_range [0, 1], "
        + ("grid updates from the samples" if args.kan_update_grid else "fixed uniform grid")
        + ". Time to a level: training MSE at or below it, and the final test MSE too; medians "
        "over the seeds that reached it (count shown when not all did).\n" + table(rows)
    )
    atomic_write_text(args.out / "pykan.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
