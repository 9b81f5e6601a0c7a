"""``tentnet regions``: exact region counts of a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import TentnetError
from .common import EXIT_OK, domain_arg


def add_parser(sub) -> None:
    """Add the command to the subparsers ``sub``."""
    reg = sub.add_parser(
        "regions",
        help="exact region counts of a saved model",
        description="Count the linear pieces and activation regions of a "
        "saved model exactly, on its domain.",
    )
    reg.add_argument("model", type=Path, help="a model.safetensors written by tentnet")
    reg.add_argument(
        "--domain",
        type=domain_arg,
        default=None,
        help="LO,HI (default: the domain saved with the model)",
    )
    reg.add_argument("--breakpoints", action="store_true", help="also list the breakpoints")
    reg.add_argument("--json", action="store_true", help="print the counts as JSON")


def run(args: argparse.Namespace) -> int:
    from ..io import load
    from ..regions import count_linear_regions

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
        ref = _constructed(meta)
        print(
            f"{args.model}: on [{domain[0]:g}, {domain[1]:g}] {reg.linear_regions} linear "
            f"pieces{ref}, {reg.activation_regions} activation regions"
        )
        if args.breakpoints:
            print("breakpoints: " + " ".join(f"{b:.12g}" for b in reg.breakpoints))
    return EXIT_OK


def _constructed(meta: dict) -> str:
    """`` (2^depth = N)`` (or the tent-warp count) where the saved method builds a known number
    of pieces and the metadata is sane; else empty (a shallow net has width + 1 at most)."""
    from ..methods import REGISTRY

    depth, width, name = meta.get("depth"), meta.get("width"), meta.get("method")

    def whole(v: object, hi: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= hi

    if not (isinstance(name, str) and name in REGISTRY and whole(depth, 64)):
        return ""
    spec = REGISTRY[name]
    if spec.layout == "warp":
        if not whole(width, 4096):
            return ""
        # fewer where the zigzag swings less (near a zero of f'')
        return f" (at most {width} x 2^{depth - 1} = {width * 2 ** (depth - 1)} at the start)"
    pieces = spec.start_pieces(depth)  # a tent chain's count does not depend on the width
    return f" (2^depth = {pieces})" if pieces else ""
