"""Tables, figures and ``report.md`` from the finished batches of a reproduce run."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..io import atomic_write_text
from .depth import depth_section
from .extra_report import extra_section
from .nonconvex import nonconvex_section
from .paper import ablation_section, dense_section, sparse_section
from .regions import regions_section
from .specs import SHARED_WITH_BUDGET, Plan
from .tables import Limits

SETTINGS = (
    "domain [0, 1]; width 4; float64; training points uniform random per seed; test "
    "MSE on a uniform grid of 10,001 points (sparse: 10 random test points per seed)"
)


def write_report(out: Path, names: list[str], plan: Plan, records: list[dict], log) -> Path:
    """Write the CSVs, figures and report.md; returns the report path."""
    import time

    started = time.time_ns() - 1_000_000  # files written from now on belong to this report
    by_exp: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        if "references" not in rec:  # those are read through `limits`
            by_exp[rec["job"]["experiment"]].append(rec)
    limits = Limits(records)
    sections = [
        "# tentnet reproduce",
        "",
        f"Settings: {SETTINGS}. Seeds per experiment: {len(plan.seeds)} (depth sweep "
        f"{len(plan.depth_seeds)}, ablation {len(plan.ablation_seeds)}). Gradient steps per run "
        f"of the published methods: {plan.steps or 12000} (depth sweep {plan.depth_steps}). "
        "Published figures are "
        "those of DESIGN.md section 4. The limit is the best continuous piecewise-linear L2 fit "
        "with as many free knots as the network has pieces (`tentnet.optimal_pwl`, same grid).",
        "",
    ]
    total = sum(r["seconds"] for r in records)
    if "dense" in names:
        sections += dense_section(out, by_exp["dense"], limits)
    if "ablation" in names:
        sections += ablation_section(out, by_exp["ablation"], limits)
    if "sparse" in names:
        sections += sparse_section(out, by_exp["sparse"])
    # The depth sweep's tent and tent-lm runs at the budget depths live in the budget batches.
    sweep = by_exp["depth"] + [
        r for r in by_exp["budget"] if r["job"]["label"] in SHARED_WITH_BUDGET
    ]
    if "depth" in names:
        sections += depth_section(out, sweep, limits, plan)
    if "regions" in names:
        sections += regions_section(out, sweep, plan)
    if "budget" in names:
        from .budget import section

        sections += section(out, by_exp["budget"], plan, limits.get)
    if "general" in names:
        from .general import section as general_section

        sections += general_section(out, by_exp["general"], plan, limits.get)
    if "nonconvex" in names:
        sections += nonconvex_section(out, by_exp["nonconvex"], limits)
    for name in ("multid", "digits", "diabetes"):
        if name in names:
            sections += extra_section(out, name, by_exp[name])
    sections += ["", f"Training time summed over batches: {total / 60:.1f} min."]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(sections) + "\n")
    _forget_stale(out, started)
    log(f"wrote {path}")
    return path


REPORT_FILES = "report-files.json"


def _forget_stale(out: Path, started: int) -> None:
    """Remove the tables and figures of an earlier report that this one did not write again
    (an experiment left out by ``--only``), so the folder never mixes two reports."""
    previous = out / REPORT_FILES
    try:
        old = set(json.loads(previous.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        old = set()
    kept = {"settings.json", REPORT_FILES}
    written = {
        p.name
        for p in out.iterdir()
        if p.is_file() and p.name not in kept and p.stat().st_mtime_ns >= started
    }
    for name in old - written:
        if "/" not in name and name not in kept:
            (out / name).unlink(missing_ok=True)
    atomic_write_text(previous, json.dumps(sorted(written)) + "\n")
