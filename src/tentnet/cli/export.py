"""``tentnet export``: ONNX, TorchScript, JSON and mixed-integer programs of a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import TentnetError
from .common import EXIT_OK


def add_parser(sub) -> None:
    """Add the command to the subparsers ``sub``."""
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


def run(args: argparse.Namespace) -> int:
    from ..export import export
    from ..io import load

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
        from ..milp import formulate

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
