"""``tentnet reproduce``: the paper's experiments, the reference limit, and what goes beyond it.

Experiments are data (:mod:`.specs`), finished batches are kept on disk (:mod:`.store`), and
the report is rebuilt from them (:mod:`.report`). Only the public API is used.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from ..errors import TentnetError
from ..fit import fit
from ..methods import get_method
from ..outdir import inside
from ..train import LM_SCREEN_ITERATIONS, TrainConfig, screen_survivors
from .jobs import REFERENCE
from .specs import EXPERIMENTS as EXPERIMENTS
from .specs import EXTRA_STEPS, Job, Plan, jobs_for, make_plan
from .store import Store

Log = Callable[[str], None]


def run_job(job: Job, device: str = "cpu") -> dict:
    """Train one batch (on ``device``) and return its record (per-run metrics; no weights)."""
    if job.experiment in EXTRA_STEPS:
        from .extras import run_extra

        out = run_extra(job.experiment, job.method, job.seeds[0], job.config["steps"])
        return {"job": asdict(job), "key": job.key, "runs": []} | out
    start = time.perf_counter()
    if job.method == REFERENCE:
        from ..limit import optimal_pwl

        target, domain = job.targets[0], tuple(job.domain)
        refs = [
            {
                "target": target,
                "domain": list(domain),
                "pieces": k,
                "mse": optimal_pwl(target, k, domain).mse,
            }
            for k in job.config["pieces"]
        ]
        seconds = time.perf_counter() - start
        return {
            "job": asdict(job),
            "key": job.key,
            "seconds": seconds,
            "runs": [],
            "references": refs,
        }
    results = fit(
        list(job.targets),
        depth=job.depth,
        method=job.method,
        seeds=list(job.seeds),
        points=job.points,
        test_points=job.test_points,
        domain=job.domain,
        holdout=job.holdout,
        config=TrainConfig(**job.config),
        device=device,
    )
    runs = [
        {
            k: r.metrics()[k]
            for k in (
                "target",
                "seed",
                "test_mse",
                "train_mse",
                "max_abs_error",
                "linear_regions",
                "activation_regions",
                "steps",
                "lm_iterations",
                "restarts",
                "starts",
                "parameters",
            )
        }
        | {"phase1_test_mse": r.phase1_test_mse, "phase1_linear_regions": r.phase1_linear_regions}
        | ({"auto_chose": r.method} if r.auto else {})  # per seed: auto may swap the shape
        for r in results
    ]
    record = {
        "job": asdict(job),
        "key": job.key,
        "seconds": time.perf_counter() - start,
        "runs": runs,
    }
    if job.curve:
        record["curve"] = _curve(results[0])
    if job.init_regions:
        record["init_regions"] = _init_regions(job)
    return record


def _init_regions(job: Job) -> list[dict]:
    """Per seed, the exact linear pieces of the job's network at initialisation (the same
    draw training starts from: the seed's own stream)."""
    import torch

    from ..mlp import random_stack, sequential_from_layers
    from ..optim import init_generators
    from ..regions import count_linear_regions

    width = TrainConfig(**job.config).width_for(job.method)
    gens = init_generators(list(job.seeds))
    stack = random_stack(job.method, [1] + [width] * job.depth + [1], gens, torch.float64)
    return [
        {
            "seed": s,
            "linear_regions": count_linear_regions(
                sequential_from_layers(stack, i), (0.0, 1.0)
            ).linear_regions,
        }
        for i, s in enumerate(job.seeds)
    ]


def _curve(result, points: int = 1001) -> dict:
    """For figures drawn later: the fit on (a subsample of) the test set sorted by x, and on
    a uniform grid of ``points`` over the domain."""
    import numpy as np
    import torch

    def net(x: np.ndarray) -> list[float]:
        with torch.no_grad():
            return result.mlp(torch.as_tensor(x, dtype=torch.float64)[:, None]).squeeze(-1).tolist()

    order = np.argsort(result.x_test, kind="stable")
    order = order[np.unique(np.linspace(0, order.size - 1, points).round().astype(int))]
    x = result.x_test[order]
    grid = np.linspace(*result.domain, points)
    return {
        "method": result.method,
        "x": x.tolist(),
        "y": result.y_test[order].tolist(),
        "fit": net(x),
        "grid": grid.tolist(),
        "grid_fit": net(grid),
    }


def reproduce(
    out: str | Path,
    *,
    quick: bool = False,
    seeds: int | None = None,
    only: list[str] | None = None,
    resume: bool = False,
    log: Log | None = None,
    runner: Callable[[list[Job], Store, Log], None] | None = None,
    plan: Plan | None = None,
    overwrite: bool = False,
) -> Path:
    """Run the experiments and write ``out/report.md``, one CSV per experiment and figures.

    Args:
        out: output folder.
        quick: fewer seeds, depths and steps (minutes instead of half an hour on 2 cores).
        seeds: seeds per experiment (default 30, or 3 with ``quick``).
        only: experiment names (see :data:`EXPERIMENTS`); default all.
        resume: skip batches already finished in ``out/runs``.
        log: progress messages (default: standard error).
        runner: how batches are executed (default: here, one after another).
        plan: explicit sizes (overrides ``quick`` and ``seeds``).
        overwrite: empty a folder that holds another run (other settings, or not a reproduce
            folder) first; without it such a folder is refused before any work.

    Returns:
        The path of the report.
    """
    names = list(only or EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise TentnetError(
            f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}"
        )
    if seeds is not None and not 1 <= seeds <= 1000:
        raise TentnetError(f"seeds must be from 1 to 1000, got {seeds}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    plan = plan or make_plan(quick, seeds)
    _prepare_folder(Path(out), plan, overwrite)
    store = Store(Path(out))
    jobs: list[Job] = []
    for name in names:
        for job in jobs_for(name, plan):
            if job not in jobs:
                jobs.append(job)
    todo = [j for j in jobs if not (resume and store.has(j.key))]
    if len(todo) < len(jobs):
        log(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} batches already finished")
    (runner or run_local)(todo, store, log)
    from .report import write_report

    return write_report(Path(out), names, plan, [store.load(j.key) for j in jobs], log)


SETTINGS_FILE = "settings.json"


def plan_settings(plan: Plan) -> str:
    """The plan as the JSON text ``settings.json`` records (fields added later are left out
    while they hold their "not set" value, so folders written before stay resumable)."""
    import json

    fields = asdict(plan)
    if fields["general_targets"] is None:
        del fields["general_targets"]
    return json.dumps(fields, sort_keys=True)


def _prepare_folder(out: Path, plan: Plan, overwrite: bool) -> None:
    """Check ``out`` before any work and record the plan it holds runs of.

    A folder holds the runs of one plan (settings): finished batches of the same plan are
    reused with ``--resume`` and every experiment of it can be added later; a folder with runs
    of another plan, or with other files, is refused unless ``overwrite`` empties it first.
    """
    import shutil

    from ..io import atomic_write_text

    settings = plan_settings(plan)
    if out.exists() and not out.is_dir():
        raise TentnetError(f"--out {out} exists and is not a folder")
    if inside(Path.cwd().resolve(), out.resolve()) and overwrite:
        raise TentnetError(f"--out {out} is (or holds) the current folder; name a new folder")
    recorded = out / SETTINGS_FILE
    if out.is_dir() and any(out.iterdir()):
        same = recorded.is_file() and recorded.read_text(encoding="utf-8").strip() == settings
        if not same and not overwrite:
            why = "runs made with other settings" if recorded.is_file() else "other files"
            raise TentnetError(
                f"--out {out} holds {why}; pass --overwrite to empty it first, or choose "
                f"another folder"
            )
        if not same:
            shutil.rmtree(out)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
        atomic_write_text(recorded, settings + "\n")
    except OSError as exc:
        raise TentnetError(f"--out {out}: cannot write there ({exc.strerror})") from None


def run_local(jobs: list[Job], store: Store, log: Log, device: str = "cpu") -> None:
    """Run batches one after another here, saving each as soon as it finishes."""
    for i, job in enumerate(jobs, 1):
        log(
            f"[{i}/{len(jobs)}] {job.experiment}: {job.label}, depth {job.depth}, "
            f"{len(job.targets)} target(s) x {len(job.seeds)} seed(s) ..."
        )
        record = run_job(job, device)
        store.save(job.key, record)
        log(f"[{i}/{len(jobs)}] done in {record['seconds']:.1f} s")


def estimated_cost(job: Job) -> float:
    """A rough relative cost of a batch (used only to start the longest batches first)."""
    if job.experiment in EXTRA_STEPS:
        return 50.0 * job.config["steps"] * 10
    if job.method == REFERENCE:  # optimal_pwl: seconds for a hundred pieces
        return 1e6 * sum(job.config["pieces"])
    if job.method == "auto":  # tent-lm on 80% of the points, then the winner (often tent-lm)
        return 2 * estimated_cost(replace(job, method="tent-lm"))
    config = TrainConfig(**job.config).resolved(job.method)
    spec = get_method(job.method)
    nets = len(job.seeds) * max(1, len(job.targets)) * config.restarts
    steps = sum(config.phase_steps(job.method))
    lm = config.lm_iterations
    # Successive halving is the tent methods' (tent-warp trains all its starts to the end).
    if spec.kind != "direct" and config.restarts > 1 and lm > LM_SCREEN_ITERATIONS:
        survivors = screen_survivors(config.restarts) / config.restarts
        lm = LM_SCREEN_ITERATIONS + (lm - LM_SCREEN_ITERATIONS) * survivors
    fitted = config.fitted_points(job.method, job.points)
    per_step = spec.weight_count(job.depth, config.width_for(job.method)) * fitted
    if spec.kind == "direct":  # no gradient steps; LM only
        return nets * per_step * lm * 2
    return nets * per_step * (steps + lm * (job.depth + 1))  # LM: about d + 1 Adam steps


def _worker_init() -> None:
    import signal

    import torch

    from .. import keep_freed_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    keep_freed_memory()
    torch.set_num_threads(1)


def make_parallel_runner(workers: int) -> Callable[[list[Job], Store, Log], None]:
    """A runner that trains ``workers`` batches at a time in separate processes.

    Each worker uses one torch thread (for networks this small, two single-threaded batches
    side by side do more work per second than one batch on two threads); the longest batches
    start first, and each batch is saved as soon as it finishes.
    """
    if workers < 1:
        raise TentnetError(f"workers must be at least 1, got {workers}")

    def runner(jobs: list[Job], store: Store, log: Log) -> None:
        if workers == 1 or len(jobs) <= 1:
            return run_local(jobs, store, log)
        import multiprocessing

        ordered = sorted(jobs, key=estimated_cost, reverse=True)
        context = multiprocessing.get_context("spawn")
        n = min(workers, len(ordered))
        log(f"{len(ordered)} batches on {n} worker processes (one torch thread each)")
        pool = context.Pool(n, initializer=_worker_init)
        try:
            done = 0
            for record in pool.imap_unordered(run_job, ordered):
                store.save(record["key"], record)
                done += 1
                job = record["job"]
                log(
                    f"[{done}/{len(ordered)}] {job['experiment']}: {job['label']}, depth "
                    f"{job['depth']} done in {record['seconds']:.1f} s"
                )
            pool.close()
        finally:
            pool.terminate()
            pool.join()

    return runner
