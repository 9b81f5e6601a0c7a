"""``tentnet bench``: batched against one-by-one training, timed in one run."""

from __future__ import annotations

import argparse
import json

from .common import EXIT_OK, count_arg


def add_parser(sub) -> None:
    """Add the command to the subparsers ``sub``."""
    from ..methods import METHODS

    ben = sub.add_parser(
        "bench",
        help="time batched against one-by-one training on this machine",
        description="Train the same networks batched and one by one (and with a plain PyTorch "
        "loop), in one run; print both times and the ratio.",
    )
    ben.add_argument("--models", type=count_arg, default=30, help="networks (default 30)")
    ben.add_argument("--depth", type=count_arg, default=5, help="hidden layers (default 5)")
    ben.add_argument("--steps", type=count_arg, default=2000, help="steps (default 2000)")
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


def run(args: argparse.Namespace) -> int:
    from ..bench import bench

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
