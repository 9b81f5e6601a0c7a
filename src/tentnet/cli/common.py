"""What every command shares: the one-line-error parser, argument types, the progress line
and the exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from ..errors import TentnetError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise TentnetError(f"{message} (see '{self.prog} --help')")


def domain_arg(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LO,HI such as 0,1 or -1,1; got {text!r}"
        ) from None


def seeds_arg(text: str) -> list[int]:
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


def count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def folder_arg(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty one")
    return Path(text)


def float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


# What the number on the progress line is, by phase (else the training loss): a basin hop is
# kept by its error between the reconstruction's grid points, not by its training loss.
MEASURED = {"hops": "judged MSE"}


class ProgressLine:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, phase: str, step: int, steps: int, loss: float) -> None:
        if self.enabled:
            what = MEASURED.get(phase, "train loss")
            sys.stderr.write(f"\r{phase:>8}: {step:>7}/{steps}  {what} {loss:.3e}   ")
            sys.stderr.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
