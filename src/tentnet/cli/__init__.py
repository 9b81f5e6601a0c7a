"""Command-line interface: one module per command (``fit``, ``regions``, ``export``,
``reproduce``, ``bench``), each parsing its arguments, calling the public API and printing.

Exit codes: 0 success, 2 bad input (one-line message), 1 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from .._malloc import keep_freed_memory
from ..errors import TentnetError
from . import bench, export, fit, regions, reproduce
from .common import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, Parser

COMMANDS = {
    "fit": fit,
    "regions": regions,
    "bench": bench,
    "reproduce": reproduce,
    "export": export,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``tentnet`` parser with every command's subparser."""
    parser = Parser(
        prog="tentnet",
        description="ReLU networks with exactly 2^depth linear pieces: fit, count regions.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used as the console script's status)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()  # steady training steps (tentnet._malloc); the CLI owns its process
    previous = _terminate_as_interrupt()
    try:
        parser = build_parser()
        args = parser.parse_args(_join_negative_values(argv))
        if args.version:
            from ..version import __version__

            print(f"tentnet {__version__}")
            return EXIT_OK
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        return COMMANDS[args.command].run(args)
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
