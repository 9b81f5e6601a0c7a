"""Run the CLI on bad inputs and tabulate what each got (exit code, message, leftovers, time).

Usage: python benchmarks/bad_inputs.py   (prints a markdown table; writes only under a temp dir)

Every case says which exit it should get: 2 (one line, before any expensive work) or 0 (a
correct result, e.g. a data file with a byte-order mark). ``tests/test_reliability.py`` runs
the same cases in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

FAST = ["--steps", "50", "--points", "50", "--quiet"]


def _model_files(tmp: Path) -> None:
    """Models made with the public API (a small tent network, a depth-30 one, a 1e308 one),
    and files that lie about their sizes or nest too deeply."""
    import torch

    from tentnet import TentNet
    from tentnet.io import model_bytes, save_model

    small = TentNet(depth=3, dtype=torch.float64).to_mlp()
    save_model(tmp / "m.safetensors", small, {"domain": [0.0, 1.0], "depth": 3, "method": "tent"})
    deep = TentNet(depth=30, dtype=torch.float64).to_mlp()
    save_model(tmp / "d30.safetensors", deep, {"domain": [0.0, 1.0], "depth": 30})
    huge = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    huge = huge.double()
    with torch.no_grad():
        for p in huge.parameters():
            p.fill_(1e308)
    save_model(tmp / "huge.safetensors", huge, {"domain": [0.0, 1.0]})
    raw = model_bytes(small, {"depth": 3, "domain": [0.0, 1.0]})
    (n,) = struct.unpack("<Q", raw[:8])
    for name, change in (
        ("wide", {"sizes": "[1, 20000, 20000, 1]"}),
        ("digits", {"depth": "9" * 100_000}),
        ("bigdepth", {"depth": "9" * 4000, "method": '"tent"'}),
        ("bigdomain", {"domain": "[0, " + "9" * 400 + "]"}),
    ):
        header = json.loads(raw[8 : 8 + n])
        header["__metadata__"].update(change)
        text = json.dumps(header).encode()
        (tmp / f"{name}.safetensors").write_bytes(
            struct.pack("<Q", len(text)) + text + raw[8 + n :]
        )
    (tmp / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    doc = {
        "format": "tentnet.mlp.json",
        "format_version": 1,
        "dtype": "float64",
        "metadata": {"domain": "0,1"},
        "layers": [
            {"weight": [[1.0]], "bias": [0.0], "relu": True},
            {"weight": [[1.0]], "bias": [0.0], "relu": False},
        ],
    }
    (tmp / "strdomain.json").write_text(json.dumps(doc))


def _data_files(tmp: Path) -> None:
    (tmp / "nan.csv").write_text("x,y\n0,1\n0.5,nan\n1,2\n")
    (tmp / "inf.csv").write_text("x,y\n0,1\ninf,1\n1,2\n")
    (tmp / "cols.csv").write_text("x,y\n0,1\n0.5\n")
    (tmp / "empty.csv").write_text("")
    (tmp / "one.csv").write_text("x,y\n0,1\n")
    (tmp / "header.csv").write_text("a,b\n0,1\n1,2\n")
    (tmp / "words.csv").write_text("x,y\n0,one\n1,2\n")
    (tmp / "bad.npy").write_bytes(b"not numpy")
    (tmp / "short.safetensors").write_bytes(b"\x01\x02")
    (tmp / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    (tmp / "bad.json").write_text("{")
    rows = "".join(f"{i / 59},{(i / 59) ** 3}\n" for i in range(60))
    (tmp / "bom.csv").write_text("x,y\n" + rows, encoding="utf-8-sig")
    np.save(tmp / "complex.npy", np.array([[1 + 1j, 2], [2, 3], [3, 4]]))
    with open(tmp / "liar.npy", "wb") as fh:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**10, 2)}
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with zipfile.ZipFile(tmp / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", b"\0" * (1100 * 2**20))
    (tmp / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp / "folder.csv").mkdir()
    os.mkfifo(tmp / "fifo.csv")
    (tmp / "afile").write_text("not a folder")
    (tmp / "dsub").mkdir()
    (tmp / "dsub" / "data.csv").write_text("x,y\n" + rows)
    (tmp / "full").mkdir()
    (tmp / "full" / "notes.txt").write_text("another run's files")


def cases(tmp: Path) -> list[tuple[str, list[str], int]]:
    """``(name, argv, expected exit)``; makes the files the cases read under ``tmp``."""
    _data_files(tmp)
    _model_files(tmp)
    out = str(tmp / "out")
    fit = ["fit", "--out", out, *FAST]
    knots = ["fit", "--method", "knots", "--width", "4", "--quiet", "--no-plot"]
    m = str(tmp / "m.safetensors")
    bad = [
        ("unknown function", [*fit, "--target", "foo(x)"]),
        ("code injection", [*fit, "--target", "__import__('os').system('touch PWNED')"]),
        ("attribute access", [*fit, "--target", "x.__class__"]),
        ("lambda", [*fit, "--target", "(lambda: 1)()"]),
        ("unknown name", [*fit, "--target", "y**2"]),
        ("syntax error", [*fit, "--target", "x**"]),
        ("huge exponent", [*fit, "--target", "10**10**10*x"]),
        ("deep nesting", [*fit, "--target", "sin(" * 60 + "x" + ")" * 60]),
        ("very long input", [*fit, "--target", "x" + "+x" * 2000]),
        ("not finite on domain", [*fit, "--target", "log(x)"]),
        ("pole on domain", [*fit, "--target", "1/(x-0.5)", "--points", "5000"]),
        ("two inputs, several seeds", [*fit, "--target", "x0*x1", "--seeds", "0-2"]),
        ("CSV with NaN", [*fit, "--target", str(tmp / "nan.csv")]),
        ("CSV with inf", [*fit, "--target", str(tmp / "inf.csv")]),
        ("CSV wrong column count", [*fit, "--target", str(tmp / "cols.csv")]),
        ("empty CSV", [*fit, "--target", str(tmp / "empty.csv")]),
        ("CSV with one point", [*fit, "--target", str(tmp / "one.csv")]),
        ("CSV without header", [*fit, "--target", str(tmp / "header.csv")]),
        ("CSV with words", [*fit, "--target", str(tmp / "words.csv")]),
        ("corrupt .npy", [*fit, "--target", str(tmp / "bad.npy")]),
        ("holdout for expression", [*fit, "--holdout", "0.2"]),
        ("truncated model", ["regions", str(tmp / "short.safetensors")]),
        ("corrupt model header", ["regions", str(tmp / "junk.safetensors")]),
        ("corrupt JSON model", ["regions", str(tmp / "bad.json")]),
        ("missing model", ["export", str(tmp / "none.safetensors"), "--onnx", out + ".onnx"]),
        ("export with no format", ["export", str(tmp / "short.safetensors")]),
        ("unknown experiment", ["reproduce", "--only", "nope", "--out", out]),
        ("unknown device", ["fit", "--device", "tpu", "--out", out]),
        ("cuda without a GPU", ["fit", "--device", "cuda", "--out", out]),
        ("no workers", ["reproduce", "--workers", "0", "--out", out]),
        ("workers with ray", ["reproduce", "--backend", "ray", "--workers", "2", "--out", out]),
        ("unknown command", ["frobnicate"]),
        ("unknown option", ["fit", "--bogus"]),
        ("tent with width 8", [*fit, "--method", "tent", "--width", "8"]),
        ("auto with a width", [*fit, "--width", "8"]),
        ("knots deeper than one layer", [*fit, "--method", "knots", "--depth", "3"]),
        # Issue 14: outputs
        ("export JSON over its input", ["export", m, "--json", m]),
        ("export ONNX over its input", ["export", m, "--onnx", m]),
        ("two exports to one file", ["export", m, "--onnx", out + ".x", "--json", out + ".x"]),
        ("--out ''", [*knots, "--out", ""]),
        ("--out an existing file", [*knots, "--out", str(tmp / "afile")]),
        ("--out under a file", [*knots, "--out", str(tmp / "afile" / "sub")]),
        ("--out holds another run", [*knots, "--out", str(tmp / "full")]),
        (
            "--out holds the data file",
            [*knots, "--out", str(tmp), "--target", str(tmp / "bom.csv"), "--overwrite"],
        ),
        ("reproduce --out a file", ["reproduce", "--only", "sparse", "--out", str(tmp / "afile")]),
        (
            "reproduce --out another folder",
            ["reproduce", "--only", "sparse", "--out", str(tmp / "full")],
        ),
        # Issue 14: sizes checked before work
        ("100,001 seeds", ["fit", "--seeds", "0-100000", "--method", "tent-lm", "--quiet"]),
        (
            "10 million points, tent-lm",
            ["fit", "--points", "10000000", "--method", "tent-lm", "--quiet"],
        ),
        (
            "width 4096 with LM",
            ["fit", "--method", "kaiming", "--width", "4096", "--lm-iterations", "10", "--quiet"],
        ),
        (
            "1000 restarts x 100 seeds",
            ["fit", "--method", "tent-lm", "--restarts", "1000", "--seeds", "0-99", "--quiet"],
        ),
        (
            "many inputs, 10 million points",
            ["fit", "--target", "x0*x1", "--points", "10000000", "--quiet"],
        ),
        ("bench 10,000 models of depth 60", ["bench", "--models", "10000", "--depth", "60"]),
        ("regions of a depth-30 tent network", ["regions", str(tmp / "d30.safetensors")]),
        (".npy declaring 1e10 rows", [*knots, "--target", str(tmp / "liar.npy")]),
        (".npz zip bomb", [*knots, "--target", str(tmp / "bomb.npz")]),
        ("corrupt .npz", [*knots, "--target", str(tmp / "corrupt.npz")]),
        ("model declaring 20000-wide layers", ["regions", str(tmp / "wide.safetensors")]),
        ("deeply nested JSON model", ["regions", str(tmp / "deep.json")]),
        ("JSON model with a string domain", ["regions", str(tmp / "strdomain.json")]),
        ("model domain past float range", ["regions", str(tmp / "bigdomain.safetensors")]),
        # Issue 14: wrong or misleading
        ("complex .npy", [*knots, "--target", str(tmp / "complex.npy")]),
        ("regions on -1e308,1e308", ["regions", m, "--domain", "-1e308,1e308"]),
        (
            "export of 1e308 weights",
            ["export", str(tmp / "huge.safetensors"), "--json", out + ".json"],
        ),
        ("folder named data.csv", [*knots, "--target", str(tmp / "folder.csv")]),
        ("FIFO named data.csv", [*knots, "--target", str(tmp / "fifo.csv")]),
    ]
    good = [
        (
            "depth 26 fit (regions not counted)",
            ["fit", "--method", "tent", "--depth", "26", "--steps", "20", "--quiet"],
        ),
        ("metadata depth of 100,000 digits", ["regions", str(tmp / "digits.safetensors")]),
        ("metadata depth of 4,000 digits", ["regions", str(tmp / "bigdepth.safetensors")]),
        ("target 1e-300*x**3 (relative error)", [*knots, "--target", "1e-300*x**3"]),
        ("--domain 0,1e39", [*knots, "--domain", "0,1e39"]),
        ("CSV with a byte-order mark", [*knots, "--target", str(tmp / "bom.csv")]),
    ]
    return [(n, a, 2) for n, a in bad] + [(n, a, 0) for n, a in good]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("| input | exit (expected) | message | traceback | files left | seconds |")
        print("|---|---|---|---|---|---|")
        for name, argv, expected in cases(tmp):
            shutil.rmtree(tmp / "out", ignore_errors=True)
            before = {p.name for p in tmp.iterdir()}
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "tentnet.cli", *argv],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            seconds = time.perf_counter() - start
            err = proc.stderr.strip().splitlines()
            msg = err[-1] if err else proc.stdout.strip().splitlines()[-1][:60]
            left = sorted(p.name for p in tmp.iterdir() if p.name not in before)
            pwned = (tmp / "PWNED").exists()
            print(
                f"| {name} | {proc.returncode} ({expected}) | {msg[:110].replace('|', '/')} | "
                f"{'YES' if 'Traceback' in proc.stderr else 'no'} | "
                f"{', '.join(left) or 'none'}{' PWNED!' if pwned else ''} | {seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
