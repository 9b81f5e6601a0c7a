"""Rows of results as CSV files (written atomically) and Markdown tables."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path

from ..errors import TentnetError
from ..io import atomic_write_text


def _fmt(v) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def markdown_table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` for a table, or None where either is missing or zero."""
    return a / b if a and b else None


def stats(values: list[float]) -> dict:
    return {
        "min_mse": min(values),
        "median_mse": statistics.median(values),
        "mean_mse": statistics.fmean(values),
        "max_mse": max(values),
    }


class Limits:
    """The ``optimal_pwl`` errors stored by the reference jobs of a run (the report computes
    none); asking for one that no job stored is an error."""

    def __init__(self, records: list[dict]) -> None:
        self.stored = {
            (r["target"], r["pieces"], tuple(r["domain"])): r["mse"]
            for rec in records
            for r in rec.get("references", [])
        }

    def get(self, target: str, pieces: int, domain: tuple[float, float] = (0.0, 1.0)) -> float:
        key = (target, pieces, (float(domain[0]), float(domain[1])))
        if key not in self.stored:
            raise TentnetError(
                f"no stored optimal_pwl reference for {target} with {pieces} pieces on "
                f"{key[2][0]},{key[2][1]} (an experiment's reference jobs miss it)"
            )
        return self.stored[key]


def runs_of(records: list[dict]):
    for rec in records:
        for run in rec["runs"]:
            yield rec["job"], run


def by_target(records: list[dict], *job_fields: str) -> dict[tuple, list[dict]]:
    """Runs grouped by ``(target, job[field], ...)``."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for job, run in runs_of(records):
        groups[(run["target"], *(job[f] for f in job_fields))].append(run)
    return groups
