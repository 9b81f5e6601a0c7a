"""``tentnet fit``: parse, call :func:`tentnet.fit.fit` (or the several-input fit), print
and save."""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

from ..methods import SELECTORS, get_method
from .common import EXIT_OK, ProgressLine, count_arg, domain_arg, float_arg, folder_arg, seeds_arg


def add_parser(sub) -> None:
    """Add the command to the subparsers ``sub``."""
    from ..deep import FINALIST_STARTS
    from ..hops import DEEP_HOPS_FROM, HOPS, hops_for
    from ..methods import (
        METHODS,
        SELECTORS,
        TENT_LM_LM_ITERATIONS,
        TENT_LM_PHASE1_STEPS,
        TENT_LM_RESTARTS,
    )
    from ..train import TrainConfig
    from ..warp import WARP_STARTS

    defaults = TrainConfig()
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
        type=count_arg,
        default=None,
        help="hidden layers (default 5; 1 for knots)",
    )
    fit.add_argument(
        "--width",
        type=count_arg,
        default=None,
        help="hidden width (default: the method's own, 4; 8 for tent-dc; 30 units for knots; "
        "16 first-layer units for tent-warp and tent-scaled)",
    )
    fit.add_argument(
        "--method",
        default="auto",
        choices=(*SELECTORS, *METHODS),
        metavar="METHOD",
        help=f"auto, tent+ or one of {', '.join(METHODS)}; knots is the best shallow network (one "
        "hidden layer of --width units, free knots); tent-warp is --width knot units, then "
        "depth - 1 tent levels; tent-scaled is tent-warp with its chain scaled per knot (knots "
        "by |f''|^(2/3)), for targets whose curvature stays away from 0. auto (default) "
        "trains tent-lm at --depth, and tent-warp or tent-scaled (from depth 4; for an "
        "expression the one and the level count that fit the reconstruction best) and knots "
        "with no more weights, on 80%% of the training points, keeps the one with the lower "
        "error on the other 20%%, and trains it on all of them; with several seeds each seed "
        "keeps the knot shape (of the two best) that fits its reconstruction closest. tent+ "
        "is the best deep network of the weights of a width-4 --depth one: tent-lm (the "
        "width-4 tent chain) and the judged tent-warp and tent-scaled shapes, all trained on "
        "all the points; each seed keeps the one that fits its reconstruction closest (a data "
        "file: tent-lm)",
    )
    fit.add_argument(
        "--points",
        type=count_arg,
        default=500,
        help="training points for an expression (default 500)",
    )
    fit.add_argument(
        "--domain",
        type=domain_arg,
        default=None,
        help="LO,HI (default 0,1 for expressions, the data's range for files)",
    )
    seeds = fit.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=count_arg, default=None, help="seed (default 0)")
    seeds.add_argument(
        "--seeds",
        type=seeds_arg,
        default=None,
        help="several seeds trained as one batch: 0-29 or 1,5,9",
    )
    fit.add_argument(
        "--steps",
        type=count_arg,
        default=None,
        help=f"total gradient steps, the same for every method (default {defaults.steps}; "
        "3000 for several inputs)",
    )
    fit.add_argument(
        "--phase1-steps",
        type=count_arg,
        default=None,
        help="of those, phase-1 steps for tent methods (default steps // 6; "
        f"{TENT_LM_PHASE1_STEPS} for tent-lm)",
    )
    fit.add_argument(
        "--lr",
        type=float_arg,
        default=None,
        help=f"Adam rate on raw weights (default {defaults.lr} for tent phase 2, "
        f"{defaults.random_lr} for kaiming/xavier)",
    )
    fit.add_argument(
        "--lm-iterations",
        type=count_arg,
        default=None,
        help="Levenberg-Marquardt iterations on all weights after the gradient steps "
        f"(default 0; {TENT_LM_LM_ITERATIONS} for tent-lm)",
    )
    fit.add_argument(
        "--restarts",
        type=count_arg,
        default=None,
        help="initialisations per seed, keeping the lowest training loss or, on a "
        "reconstruction, the lowest error between its grid points "
        f"(default 1; {TENT_LM_RESTARTS} for tent-lm, {WARP_STARTS} for tent-warp and "
        f"tent-scaled, {FINALIST_STARTS} and {HOPS} basin hops "
        f"({hops_for(DEEP_HOPS_FROM)} from depth {DEEP_HOPS_FROM}) for the two knot "
        "finalists of auto and tent+, where a set value means no hops; knots: always 1)",
    )
    fit.add_argument(
        "--holdout",
        type=float_arg,
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
        type=folder_arg,
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


def run(args: argparse.Namespace) -> int:
    from ..targets import looks_like_file, parse_expression

    if args.depth is None:
        args.depth = 5 if args.method in SELECTORS else get_method(args.method).default_depth
    expr = None if looks_like_file(args.target) else parse_expression(args.target)
    outset = None
    if args.out is not None:
        from ..outdir import OutputSet

        # Checked (and its hidden working folder made) before any training.
        inputs = (args.target,) if expr is None else ()
        outset = OutputSet(args.out, overwrite=args.overwrite, inputs=inputs)
    with outset or contextlib.nullcontext():
        return _fit(args, args.target if expr is None else expr, outset)


def _fit(args: argparse.Namespace, target, outset) -> int:
    """``target`` is the parsed expression (parsed once, in :func:`run`; one input or several)
    or the data file's path (read once, by :func:`tentnet.fit.fit`)."""
    import torch

    from ..fit import fit
    from ..io import atomic_write_text
    from ..train import TrainConfig

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
    several = not isinstance(target, str) and target.n_inputs > 1  # no figure for those
    plot = args.out is not None and not args.no_plot and not several
    if plot:
        from ..plot import optional_pyplot

        if optional_pyplot() is None:  # said before training; the fit itself goes on
            plot = False
            print(
                "tentnet: no fit.png: matplotlib is not installed (pip install 'tentnet[plot]'); "
                "the model and metrics are written",
                file=sys.stderr,
            )
    progress = ProgressLine(not args.quiet and sys.stderr.isatty())
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    try:
        results = fit(
            target,
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
    if auto:
        note = f"method {auto.get('selector', 'auto')}: {auto['why']}; using {auto['chose']}"
    else:
        note = None
    if outset is not None:
        for r in results:
            folder = "" if len(results) == 1 else f"seed-{r.seed}/"
            where = outset.path(folder + "metrics.json").parent  # the set's working folder
            for name in r.save(where, plot=plot):
                outset.path(folder + name)  # the manifest lists every file written
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
    if r.inputs > 1:
        where = f"[{lo:g}, {hi:g}]^{r.inputs}"
        shape = f"TentLayer network: {r.width} channels of depth {r.depth}"
    else:
        where = f"[{lo:g}, {hi:g}]"
        shape = f"method {r.method}; {get_method(r.method).shape(r.depth, r.width)}"
    shapes = {(x.method, x.depth, x.width) for x in results}
    # auto or tent+ kept another shape for some seeds: each seed's line names its own
    mixed = "; some seeds another shape (on their lines)" if len(shapes) > 1 else ""
    print(
        f"target {r.target} on {where}; {shape} ({params} parameters){mixed}; {r.points} points; "
        f"{r.dtype}; {r.steps} steps"
    )
    print(f"test set: {r.test_set}")
    for r in results:
        p1 = ""
        if r.phase1_test_mse is not None:
            n1 = r.phase1_linear_regions if r.phase1_linear_regions is not None else "uncounted"
            p1 = f"  phase 1: test MSE {r.phase1_test_mse:.3e}, {n1} pieces;"
        if r.linear_regions >= 0:
            counts = f"{r.linear_regions} linear pieces, {r.activation_regions} activation regions"
        elif r.inputs > 1:
            counts = "regions not counted (several inputs)"
        else:
            counts = "regions not counted (over 2^21 pieces)"
        rel = r.relative_test_mse
        rel = f" (relative {rel:.2e})" if rel is not None else ""
        own = f" [{r.method} {r.depth} x {r.width}]" if len(shapes) > 1 else ""
        print(
            f"seed {r.seed}{own}:{p1}  test MSE {r.test_mse:.3e}{rel}  max |err| "
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
        if r.inputs > 1:
            files += " (no figure for several inputs)"
        where = out if len(results) == 1 else f"{out}/seed-*/ and {out}/summary.json"
        print(f"wrote {files} to {where}; {out}/manifest.json lists them")
