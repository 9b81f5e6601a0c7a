"""Run the CLI on bad inputs and tabulate what each got (exit code, message, leftovers).

Usage: python benchmarks/bad_inputs.py   (prints a markdown table; writes only under a temp dir)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FAST = ["--steps", "50", "--points", "50", "--quiet"]


def cases(tmp: Path) -> list[tuple[str, list[str]]]:
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
    out = str(tmp / "out")
    fit = ["fit", "--out", out, *FAST]
    return [
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
        ("depth 0", [*fit, "--depth", "0"]),
        ("depth 100", [*fit, "--depth", "100"]),
        ("depth not a number", [*fit, "--depth", "five"]),
        ("negative points", [*fit, "--points", "-3"]),
        ("one point", [*fit, "--points", "1"]),
        ("reversed domain", [*fit, "--domain", "1,0"]),
        ("NaN domain", [*fit, "--domain", "nan,1"]),
        ("unknown method", [*fit, "--method", "magic"]),
        ("tent with width 8", [*fit, "--method", "tent", "--width", "8"]),
        ("auto with a width", [*fit, "--width", "8"]),
        ("knots deeper than one layer", [*fit, "--method", "knots", "--depth", "3"]),
        ("zero steps", [*fit, "--steps", "0"]),
        ("negative learning rate", [*fit, "--lr", "-1"]),
        ("diverging learning rate", [*fit, "--method", "kaiming", "--lr", "1e200"]),
        ("missing data file", [*fit, "--target", str(tmp / "missing.csv")]),
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
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("| input | exit | message | traceback | files left |")
        print("|---|---|---|---|---|")
        for name, argv in cases(tmp):
            shutil.rmtree(tmp / "out", ignore_errors=True)
            proc = subprocess.run(
                [sys.executable, "-m", "tentnet.cli", *argv],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            err = proc.stderr.strip().splitlines()
            msg = err[-1] if err else ""
            left = (
                sorted(str(p.relative_to(tmp)) for p in (tmp / "out").rglob("*"))
                if (tmp / "out").exists()
                else []
            )
            pwned = (tmp / "PWNED").exists()
            print(
                f"| {name} | {proc.returncode} | {msg[:110].replace('|', '/')} | "
                f"{'YES' if 'Traceback' in proc.stderr else 'no'} | "
                f"{', '.join(left) or 'none'}{' PWNED!' if pwned else ''} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
