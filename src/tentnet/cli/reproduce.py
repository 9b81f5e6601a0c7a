"""``tentnet reproduce``: the experiments, their report, and where batches run."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

from ..errors import TentnetError
from .common import EXIT_INTERRUPTED, EXIT_OK, count_arg


def add_parser(sub) -> None:
    """Add the command to the subparsers ``sub``."""
    from ..experiments.specs import EXPERIMENTS

    rep = sub.add_parser(
        "reproduce",
        help="rerun the paper's experiments and write a report",
        description="Rerun the paper's experiments (dense, sparse, depth, regions) and the "
        "tent-lm ablation; writes report.md, CSVs and figures.",
    )
    rep.add_argument(
        "--quick",
        action="store_true",
        help="fewer seeds, depths, steps and targets (under 3 minutes on 2 cores)",
    )
    rep.add_argument(
        "--seeds",
        type=count_arg,
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
        type=count_arg,
        default=None,
        help="local backend: batches trained at once, one process and one torch thread each "
        "(default: the number of CPUs available)",
    )


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    from ..experiments import reproduce

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    log = (lambda msg: None) if args.quiet else None
    runner = None
    if args.backend == "ray":
        from ..experiments.ray_backend import make_ray_runner

        if args.workers is not None:
            raise TentnetError("--workers goes with the local backend (Ray schedules by CPUs)")
        if args.device != "cpu":
            raise TentnetError("--device goes with the local backend")
        runner = make_ray_runner(args.address)
    elif args.address is not None:
        raise TentnetError("--address goes with --backend ray")
    else:
        from ..experiments import make_parallel_runner, run_local
        from ..fit import resolve_device

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
