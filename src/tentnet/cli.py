"""Command-line interface: argument parsing only; every command calls the public API.

Exit codes: 0 success, 2 bad input (one-line message), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
from functools import partial
from pathlib import Path
from typing import NoReturn

from ._malloc import keep_freed_memory
from .errors import TentnetError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise TentnetError(f"{message} (see '{self.prog} --help')")


def _domain(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LO,HI such as 0,1 or -1,1; got {text!r}"
        ) from None


def _seeds(text: str) -> list[int]:
    """'3' -> [3]; '0-4' -> [0..4]; '1,5,9' -> [1, 5, 9]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.rsplit("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo or hi - lo > 100_000:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seeds like 0, 0-29 or 1,5,9; got {text!r}"
        ) from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct and non-negative: {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty one")
    return Path(text)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from .experiments.specs import EXPERIMENTS
    from .train import (
        METHODS,
        TENT_PLUS_LM_ITERATIONS,
        TENT_PLUS_PHASE1_STEPS,
        TENT_PLUS_RESTARTS,
        TrainConfig,
    )

    defaults = TrainConfig()
    parser = _Parser(
        prog="tentnet",
        description="ReLU networks with exactly 2^depth linear pieces: fit, count regions.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    fit = sub.add_parser(
        "fit",
        help="fit a 1-D target and save the plain ReLU MLP",
        description="Fit a 1-D target (expression in x, a .csv/.npy/.npz data file, or a "
        "built-in data set data:sunspots / data:co2) with a small ReLU network.",
    )
    fit.add_argument(
        "--target",
        default="x**3",
        help="expression in x (e.g. 'x**3', 'exp(-x)*sin(3*x)'), a data file, or data:sunspots "
        "/ data:co2 (statsmodels' bundled series; pip install 'tentnet[data]') (default: x**3)",
    )
    fit.add_argument(
        "--depth",
        type=_positive_int,
        default=None,
        help="hidden layers (default 5; 1 for knots)",
    )
    fit.add_argument(
        "--width",
        type=_positive_int,
        default=None,
        help="hidden width (default: the method's own, 4; 8 for tent-dc; 30 units for knots)",
    )
    fit.add_argument(
        "--method",
        default="auto",
        choices=("auto", *METHODS),
        metavar="METHOD",
        help=f"auto or one of {', '.join(METHODS)}; knots is the best shallow network (one "
        "hidden layer of --width units, free knots). auto (default) trains tent+ at --depth "
        "and knots with no more weights on 80%% "
        "of the training points, keeps the one with the lower error on the other 20%%, and "
        "trains it on all of them",
    )
    fit.add_argument(
        "--points",
        type=_positive_int,
        default=500,
        help="training points for an expression (default 500)",
    )
    fit.add_argument(
        "--domain",
        type=_domain,
        default=None,
        help="LO,HI (default 0,1 for expressions, the data's range for files)",
    )
    seeds = fit.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_positive_int, default=None, help="seed (default 0)")
    seeds.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="several seeds trained as one batch: 0-29 or 1,5,9",
    )
    fit.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help=f"total gradient steps, the same for every method (default {defaults.steps}; "
        "3000 for several inputs)",
    )
    fit.add_argument(
        "--phase1-steps",
        type=_positive_int,
        default=None,
        help="of those, phase-1 steps for tent methods (default steps // 6; "
        f"{TENT_PLUS_PHASE1_STEPS} for tent+)",
    )
    fit.add_argument(
        "--lr",
        type=_float,
        default=None,
        help=f"Adam rate on raw weights (default {defaults.lr} for tent phase 2, "
        f"{defaults.random_lr} for kaiming/xavier)",
    )
    fit.add_argument(
        "--lm-iterations",
        type=_positive_int,
        default=None,
        help="Levenberg-Marquardt iterations on all weights after the gradient steps "
        f"(default 0; {TENT_PLUS_LM_ITERATIONS} for tent+)",
    )
    fit.add_argument(
        "--restarts",
        type=_positive_int,
        default=None,
        help="initialisations per seed, keeping the lowest training loss "
        f"(default 1; {TENT_PLUS_RESTARTS} for tent+)",
    )
    fit.add_argument(
        "--holdout",
        type=_float,
        default=0.0,
        help="fraction of a data file's points held out for test_mse (default 0)",
    )
    fit.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="default float64 (errors below 1e-7 need it)",
    )
    fit.add_argument(
        "--out",
        type=_folder,
        default=None,
        help="folder for metrics.json, model.safetensors and fit.png "
        "(nothing is written without it)",
    )
    fit.add_argument(
        "--device",
        default="cpu",
        help="where the batched training runs: cpu (default) or cuda",
    )
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an --out folder that already holds files (whole; default: refuse)",
    )
    fit.add_argument("--no-plot", action="store_true", help="do not draw fit.png")
    fit.add_argument("--json", action="store_true", help="print the metrics as JSON")
    fit.add_argument("--quiet", action="store_true", help="no progress display")

    reg = sub.add_parser(
        "regions",
        help="exact region counts of a saved model",
        description="Count the linear pieces and activation regions of a "
        "saved model exactly, on its domain.",
    )
    reg.add_argument("model", type=Path, help="a model.safetensors written by tentnet")
    reg.add_argument(
        "--domain",
        type=_domain,
        default=None,
        help="LO,HI (default: the domain saved with the model)",
    )
    reg.add_argument("--breakpoints", action="store_true", help="also list the breakpoints")
    reg.add_argument("--json", action="store_true", help="print the counts as JSON")

    ben = sub.add_parser(
        "bench",
        help="time batched against one-by-one training on this machine",
        description="Train the same networks batched and one by one (and with a plain PyTorch "
        "loop), in one run; print both times and the ratio.",
    )
    ben.add_argument("--models", type=_positive_int, default=30, help="networks (default 30)")
    ben.add_argument("--depth", type=_positive_int, default=5, help="hidden layers (default 5)")
    ben.add_argument("--steps", type=_positive_int, default=2000, help="steps (default 2000)")
    ben.add_argument(
        "--method",
        default="kaiming",
        choices=METHODS,
        metavar="METHOD",
        help="training method (default kaiming)",
    )
    ben.add_argument("--no-plain", action="store_true", help="skip the plain PyTorch loop")
    ben.add_argument(
        "--device",
        default="cpu",
        help="where the batched run goes: cpu (default) or cuda; one-by-one runs stay on the CPU",
    )
    ben.add_argument("--json", action="store_true", help="print the timings as JSON")

    rep = sub.add_parser(
        "reproduce",
        help="rerun the paper's experiments and write a report",
        description="Rerun the paper's experiments (dense, sparse, depth, regions) and the "
        "tent+ ablation; writes report.md, CSVs and figures.",
    )
    rep.add_argument(
        "--quick",
        action="store_true",
        help="fewer seeds, depths and steps (a few minutes on 2 cores)",
    )
    rep.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="seeds per experiment (default 30, 3 with --quick)",
    )
    rep.add_argument(
        "--only",
        default=None,
        help=f"comma-separated experiments (default all): {','.join(EXPERIMENTS)}",
    )
    rep.add_argument(
        "--out",
        type=Path,
        default=Path("tentnet-reproduce"),
        help="output folder (default ./tentnet-reproduce)",
    )
    rep.add_argument(
        "--resume",
        action="store_true",
        help="keep the batches already finished in OUT/runs and skip them",
    )
    rep.add_argument(
        "--overwrite",
        action="store_true",
        help="empty an OUT that holds runs of other settings (or other files) first; "
        "default: refuse it",
    )
    rep.add_argument("--quiet", action="store_true", help="no progress messages")
    rep.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where batches run: here (default) or on a Ray cluster",
    )
    rep.add_argument(
        "--address", default=None, help="Ray cluster address (default: start a local Ray instance)"
    )
    rep.add_argument(
        "--device",
        default="cpu",
        help="local backend: train on cpu (default) or cuda (then one batch at a time)",
    )
    rep.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="local backend: batches trained at once, one process and one torch thread each "
        "(default: the number of CPUs available)",
    )

    exp = sub.add_parser(
        "export",
        help="export a saved model to ONNX, TorchScript or JSON",
        description="Export a saved model; each export is checked against "
        "torch on 10,001 points of the model's domain.",
    )
    exp.add_argument("model", type=Path, help="a model.safetensors (or .json) written by tentnet")
    exp.add_argument("--onnx", type=Path, default=None, help="write an ONNX model here")
    exp.add_argument("--torchscript", type=Path, default=None, help="write TorchScript here")
    exp.add_argument(
        "--json",
        dest="json_out",
        type=Path,
        default=None,
        help="write plain weight arrays and metadata as JSON here",
    )
    exp.add_argument(
        "--mps",
        type=Path,
        default=None,
        help="write the network on its domain as a mixed-integer program (MPS) whose "
        "objective is its output (see --formulation)",
    )
    exp.add_argument("--lp", type=Path, default=None, help="the same program in LP format")
    exp.add_argument(
        "--sense",
        choices=("min", "max"),
        default="min",
        help="objective sense of --mps/--lp (default min)",
    )
    exp.add_argument(
        "--formulation",
        choices=("relu", "log"),
        default="relu",
        help="--mps/--lp: relu (default) writes the network unit by unit, one binary per unit "
        "that changes sign; log writes its exact piecewise-linear function with "
        "ceil(log2 pieces) binaries (smaller after training; larger with thousands of pieces)",
    )
    exp.add_argument(
        "--print-json",
        action="store_true",
        help="print what was written and the differences as JSON",
    )
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--domain -1,1`` work: argparse would read ``-1,1`` as an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--domain":
            value = next(it, None)
            out.append(arg if value is None else f"--domain={value}")
        else:
            out.append(arg)
    return out


class _ProgressLine:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, phase: str, step: int, steps: int, loss: float) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{phase:>8}: {step:>7}/{steps}  train loss {loss:.3e}   ")
            sys.stderr.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _cmd_fit(args: argparse.Namespace) -> int:
    from .targets import looks_like_file, parse_expression

    if args.depth is None:
        args.depth = 1 if args.method == "knots" else 5
    expr = None if looks_like_file(args.target) else parse_expression(args.target)
    if expr is not None and expr.n_inputs > 1 and args.device != "cpu":
        raise TentnetError("--device is for 1-D fits; many-input fits run on the CPU")
    outset = None
    if args.out is not None:
        from .outdir import OutputSet

        # Checked (and its hidden working folder made) before any training.
        inputs = (args.target,) if expr is None else ()
        outset = OutputSet(args.out, overwrite=args.overwrite, inputs=inputs)
    many = expr is not None and expr.n_inputs > 1
    with outset or contextlib.nullcontext():
        return _fit_many_inputs(args, expr, outset) if many else _fit_one_input(args, outset)


def _fit_one_input(args: argparse.Namespace, outset) -> int:
    import torch

    from . import __version__
    from .fit import fit
    from .io import atomic_write_text, save_model
    from .train import TrainConfig

    overrides = {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.lr is not None:
        overrides.update(lr=args.lr, random_lr=args.lr)
    if args.lm_iterations is not None:
        overrides["lm_iterations"] = args.lm_iterations
    if args.restarts is not None:
        overrides["restarts"] = args.restarts
    config = TrainConfig(
        depth=args.depth,
        width=args.width,
        phase1_steps=args.phase1_steps,
        **overrides,
    )
    seeds = args.seeds if args.seeds is not None else [args.seed or 0]
    method = args.method
    plot = args.out is not None and not args.no_plot
    if plot:
        from .plot import optional_pyplot

        if optional_pyplot() is None:  # said before training; the fit itself goes on
            plot = False
            print(
                "tentnet: no fit.png: matplotlib is not installed (pip install 'tentnet[plot]'); "
                "the model and metrics are written",
                file=sys.stderr,
            )
    progress = _ProgressLine(not args.quiet and sys.stderr.isatty())
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    try:
        results = fit(
            args.target,
            depth=args.depth,
            method=method,
            seeds=seeds,
            points=args.points,
            domain=args.domain,
            config=config,
            holdout=args.holdout,
            dtype=dtype,
            progress=progress,
            device=args.device,
        )
    finally:
        progress.done()
    metrics = [r.metrics() for r in results]
    summary = _summary(metrics) if len(results) > 1 else None
    auto = results[0].auto
    note = f"method auto: {auto['why']}; using {auto['chose']}" if auto else None
    if outset is not None:
        from .plot import plot_fit

        for r, m in zip(results, metrics, strict=True):
            folder = "" if len(results) == 1 else f"seed-{r.seed}/"
            meta = {
                "tentnet_version": __version__,
                "domain": list(r.domain),
                "depth": r.depth,
                "width": r.width,
                "method": r.method,
                "target": r.target,
                "seed": r.seed,
                "dtype": r.dtype,
                "metrics": m,
            }
            save_model(outset.path(folder + "model.safetensors"), r.mlp, meta)
            if plot:
                plot_fit(r, outset.path(folder + "fit.png"))
            atomic_write_text(outset.path(folder + "metrics.json"), json.dumps(m, indent=2) + "\n")
        if summary is not None:
            atomic_write_text(
                outset.path("summary.json"),
                json.dumps({"summary": summary, "runs": metrics}, indent=2) + "\n",
            )
        outset.commit()
    if args.json:
        doc = metrics[0] if summary is None else {"summary": summary, "runs": metrics}
        print(json.dumps(doc, indent=2))
    else:
        if note:
            print(note)
        _print_fit(results, summary, args.out, plot)
    return EXIT_OK


def _fit_many_inputs(args: argparse.Namespace, expr, outset) -> int:
    """Several inputs: a TentLayer network (linear map, per-channel tent functions, read-out)."""
    import torch

    from . import __version__
    from .io import atomic_write_text, save_model
    from .multi import fit_multi

    if args.method not in ("auto", "tent"):
        raise TentnetError(
            "targets of several inputs are fitted with TentLayer networks (--method auto or tent)"
        )
    if args.seeds is not None and len(args.seeds) > 1:
        raise TentnetError("targets of several inputs take one --seed at a time")
    unused = [
        flag
        for flag, value in (
            ("--width", args.width),
            ("--lr", args.lr),
            ("--lm-iterations", args.lm_iterations),
            ("--restarts", args.restarts),
            ("--holdout", args.holdout or None),
        )
        if value is not None
    ]
    if unused:
        raise TentnetError(
            f"{', '.join(unused)} do(es) not apply to targets of several inputs (a TentLayer "
            "network of 8 channels, trained by Adam on fresh random points)"
        )
    seed = args.seeds[0] if args.seeds else (args.seed or 0)
    steps = args.steps or 3000
    mlp, metrics = fit_multi(
        expr,
        domain=args.domain or (0.0, 1.0),
        depth=args.depth,
        points=max(args.points, 2),
        steps=steps,
        phase1_steps=args.phase1_steps if args.phase1_steps is not None else steps // 3,
        seed=seed,
        dtype=torch.float64 if args.dtype == "float64" else torch.float32,
    )
    if outset is not None:
        meta = {
            "tentnet_version": __version__,
            "domain": metrics["domain"],
            "depth": metrics["depth"],
            "method": "tentlayer",
            "target": metrics["target"],
            "seed": seed,
            "dtype": metrics["dtype"],
            "inputs": metrics["inputs"],
            "metrics": metrics,
        }
        save_model(outset.path("model.safetensors"), mlp, meta)
        atomic_write_text(outset.path("metrics.json"), json.dumps(metrics, indent=2) + "\n")
        outset.commit()
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(
            f"target {metrics['target']} on [{metrics['domain'][0]:g}, "
            f"{metrics['domain'][1]:g}]^{metrics['inputs']}; TentLayer network: "
            f"{metrics['channels']} channels of depth {metrics['depth']} "
            f"({metrics['parameters']} parameters); {metrics['points']} points"
        )
        print(
            f"test MSE {metrics['test_mse']:.3e} ({metrics['test_set']}), train MSE "
            f"{metrics['train_mse']:.3e}; time {metrics['seconds']:.1f} s"
        )
        if args.out is not None:
            print(
                f"wrote metrics.json, model.safetensors and manifest.json to {args.out} (no "
                f"figure for several inputs)"
            )
    return EXIT_OK


def _summary(metrics: list[dict]) -> dict:
    out = {"seeds": [m["seed"] for m in metrics]}
    for key in ("test_mse", "train_mse", "max_abs_error", "linear_regions"):
        vals = [m[key] for m in metrics]
        out[key] = {
            "min": min(vals),
            "median": statistics.median(vals),
            "mean": statistics.fmean(vals),
            "max": max(vals),
        }
    return out


def _print_fit(results, summary, out: Path | None, plot: bool) -> None:
    r = results[0]
    lo, hi = r.domain
    params = sum(p.numel() for p in r.mlp.parameters())
    shape = f"depth {r.depth} x width {r.width}"
    if r.method == "tent-warp":
        shape = f"depth {r.depth} ({r.width} knot units, then {r.depth - 1} width-4 tent levels)"
    print(
        f"target {r.target} on [{lo:g}, {hi:g}]; method {r.method}; {shape} "
        f"({params} parameters); {r.points} points; {r.dtype}; {r.steps} steps"
    )
    print(f"test set: {r.test_set}")
    for r in results:
        p1 = ""
        if r.phase1_test_mse is not None:
            n1 = r.phase1_linear_regions if r.phase1_linear_regions is not None else "uncounted"
            p1 = f"  phase 1: test MSE {r.phase1_test_mse:.3e}, {n1} pieces;"
        counts = (
            f"{r.linear_regions} linear pieces, {r.activation_regions} activation regions"
            if r.linear_regions >= 0
            else "regions not counted (over 2^21 pieces)"
        )
        rel = r.relative_test_mse
        rel = f" (relative {rel:.2e})" if rel is not None else ""
        print(
            f"seed {r.seed}:{p1}  test MSE {r.test_mse:.3e}{rel}  max |err| "
            f"{r.max_abs_error:.2e}  train MSE {r.train_mse:.3e}  {counts}"
        )
    if summary is not None:
        t = summary["test_mse"]
        print(
            f"test MSE over {len(results)} seeds: min {t['min']:.3e}  median "
            f"{t['median']:.3e}  mean {t['mean']:.3e}  max {t['max']:.3e}"
        )
    print(
        f"time {r.seconds:.1f} s"
        + (f" ({len(results)} networks in one batch)" if len(results) > 1 else "")
    )
    if out is not None:
        files = "metrics.json, model.safetensors" + (", fit.png" if plot else "")
        where = out if len(results) == 1 else f"{out}/seed-*/ and {out}/summary.json"
        print(f"wrote {files} to {where}; {out}/manifest.json lists them")


def _cmd_regions(args: argparse.Namespace) -> int:
    from .io import load
    from .regions import count_linear_regions

    mlp, meta = load(args.model)
    domain = args.domain or meta.get("domain")
    if domain is None:
        raise TentnetError(f"{args.model}: no domain saved with the model; pass --domain LO,HI")
    reg = count_linear_regions(mlp, domain)
    if args.json:
        doc = {
            "model": str(args.model),
            "domain": list(domain),
            "linear_regions": reg.linear_regions,
            "activation_regions": reg.activation_regions,
        }
        if args.breakpoints:
            doc["breakpoints"] = reg.breakpoints.tolist()
        print(json.dumps(doc, indent=2))
    else:
        depth, method = meta.get("depth"), meta.get("method")
        # Only tent networks have 2^depth pieces by construction (a shallow one has width + 1).
        tent = isinstance(method, str) and method.startswith("tent")
        sane = isinstance(depth, int) and not isinstance(depth, bool) and 1 <= depth <= 64
        ref = f" (2^depth = {2**depth})" if sane and tent else ""
        print(
            f"{args.model}: on [{domain[0]:g}, {domain[1]:g}] {reg.linear_regions} linear "
            f"pieces{ref}, {reg.activation_regions} activation regions"
        )
        if args.breakpoints:
            print("breakpoints: " + " ".join(f"{b:.12g}" for b in reg.breakpoints))
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench

    res = bench(
        args.models,
        args.depth,
        args.steps,
        args.method,
        plain=not args.no_plain,
        device=args.device,
    )
    if args.json:
        print(json.dumps(res.as_dict(), indent=2))
        return EXIT_OK
    print(
        f"{res.models} networks of width 4 x depth {res.depth}, {res.steps} steps each, "
        f"method {res.method}, {res.threads} torch threads"
    )
    print(f"batched:                 {res.batched_s:8.2f} s")
    print(f"one by one (tentnet):    {res.sequential_s:8.2f} s   speedup {res.speedup:.1f}x")
    if res.plain_s is not None:
        print(
            f"one by one (plain loop): {res.plain_s:8.2f} s   speedup {res.speedup_vs_plain:.1f}x"
        )
    print(f"batched vs one by one, max weight difference: {res.max_weight_difference:.1e}")
    return EXIT_OK


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .experiments import reproduce

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    log = (lambda msg: None) if args.quiet else None
    runner = None
    if args.backend == "ray":
        from .experiments.ray_backend import make_ray_runner

        if args.workers is not None:
            raise TentnetError("--workers goes with the local backend (Ray schedules by CPUs)")
        if args.device != "cpu":
            raise TentnetError("--device goes with the local backend")
        runner = make_ray_runner(args.address)
    elif args.address is not None:
        raise TentnetError("--address goes with --backend ray")
    else:
        from .experiments import make_parallel_runner, run_local
        from .fit import resolve_device

        if resolve_device(args.device).type != "cpu":
            if args.workers not in (None, 1):
                raise TentnetError("with --device cuda batches run one at a time; drop --workers")
            runner = partial(run_local, device=args.device)
        else:
            workers = args.workers if args.workers is not None else _available_cpus()
            runner = make_parallel_runner(workers)
    try:
        path = reproduce(
            args.out,
            quick=args.quick,
            seeds=args.seeds,
            only=only,
            resume=args.resume,
            log=log,
            runner=runner,
            overwrite=args.overwrite,
        )
    except KeyboardInterrupt:
        print(
            f"tentnet: interrupted; finished batches are kept in {args.out / 'runs'}; rerun "
            f"with --resume to continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"report: {path}")
    return EXIT_OK


def _check_export_paths(model: Path, outputs: dict[str, Path | None]) -> None:
    """Refuse an output that is the model being read, or a file two outputs share (before any
    work, so nothing is overwritten)."""
    source = Path(model).resolve()
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        target = Path(path).resolve()
        if target == source:
            raise TentnetError(f"{flag} {path} is the model being exported; choose another file")
        if target in seen:
            raise TentnetError(f"{seen[target]} and {flag} name the same file {path}")
        seen[target] = flag


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .io import load

    outputs = {
        "--onnx": args.onnx,
        "--torchscript": args.torchscript,
        "--json": args.json_out,
        "--mps": args.mps,
        "--lp": args.lp,
    }
    if all(v is None for v in outputs.values()):
        raise TentnetError(
            "say what to export: --onnx, --torchscript, --json, --mps and/or --lp OUT"
        )
    _check_export_paths(args.model, outputs)
    mlp, meta = load(args.model)
    meta.pop("format", None)
    meta.pop("format_version", None)
    meta.pop("sizes", None)
    if "domain" in meta:
        meta["domain"] = list(meta["domain"])
    program = None
    if args.mps is not None or args.lp is not None:
        from .milp import formulate

        domain = meta.get("domain", (0.0, 1.0))
        program = formulate(mlp, domain, args.sense, args.formulation)
    diffs = export(
        mlp,
        meta,
        onnx_path=args.onnx,
        torchscript_path=args.torchscript,
        json_path=args.json_out,
        mps_path=args.mps,
        lp_path=args.lp,
        program=program,
    )
    paths = {k.removeprefix("--"): v for k, v in outputs.items()}
    if args.print_json:
        print(
            json.dumps(
                {k: {"path": str(paths[k]), "max_abs_difference": v} for k, v in diffs.items()},
                indent=2,
            )
        )
    else:
        for k, v in diffs.items():
            if k in ("mps", "lp"):
                check = (
                    "optimum not checked: highspy is not installed or the solve took over 30 s"
                    if v is None
                    else f"HiGHS optimum vs the network's exact {args.sense} on the domain: "
                    f"|difference| {v:.2e}"
                )
            elif v is None:
                check = "not checked: onnxruntime is not installed"
            else:
                check = f"max |difference| vs torch on the domain {v:.2e}"
            print(f"wrote {k} to {paths[k]} ({check})")
        if program is not None:
            counts = program.counts
            print(
                f"mixed-integer program ({args.formulation}): {counts['binaries']} binaries, "
                f"{counts['continuous']} continuous variables, {counts['constraints']} "
                "constraints"
            )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used as the console script's status)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()  # steady training steps (tentnet._malloc); the CLI owns its process
    previous = _terminate_as_interrupt()
    try:
        parser = build_parser()
        args = parser.parse_args(_join_negative_values(argv))
        if args.version:
            from . import __version__

            print(f"tentnet {__version__}")
            return EXIT_OK
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        handler = {
            "fit": _cmd_fit,
            "regions": _cmd_regions,
            "export": _cmd_export,
            "reproduce": _cmd_reproduce,
            "bench": _cmd_bench,
        }[args.command]
        return handler(args)
    except TentnetError as exc:
        print(f"tentnet: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("tentnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of standard output went away (`tentnet ... | head`): not an error of ours.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # The machine said no (disk full, file too large, permissions): the user's to fix.
        if os.environ.get("TENTNET_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tentnet: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if os.environ.get("TENTNET_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"tentnet: internal error: {type(exc).__name__}: {msg} (rerun with "
            f"TENTNET_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_interrupt():
    """SIGTERM ends the command like Ctrl-C (unfinished output folders are removed); returns
    the previous handler, or None where handlers cannot be set (not the main thread)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
