"""Run reproduce batches on a Ray cluster (optional extra ``ray``).

Each batch is one Ray task that calls :func:`tentnet.experiments.run_job`; results stream back
as tasks finish and are saved at once, so ``--resume`` works exactly as with the local backend.
Workers need tentnet installed (same version) and are given one CPU and one torch thread per
task.
"""

from __future__ import annotations

from ..errors import TentnetError
from .specs import Job
from .store import Store


def _run_job_single_thread(job: Job) -> dict:
    import torch

    from .. import keep_freed_memory
    from . import run_job

    keep_freed_memory()
    torch.set_num_threads(1)
    return run_job(job)


def make_ray_runner(address: str | None = None, num_cpus: int | None = None):
    """A runner for :func:`tentnet.experiments.reproduce` that sends every batch to Ray.

    Args:
        address: a running cluster (``ray://host:10001`` or ``host:6379``, or ``auto``); None
            starts a local Ray instance on this machine for the duration of the sweep.
        num_cpus: CPUs of a local instance (default: all).
    """
    try:
        import ray
    except ImportError:
        raise TentnetError("the ray backend needs Ray: pip install 'tentnet[ray]'") from None

    def runner(jobs: list[Job], store: Store, log) -> None:
        if not jobs:
            return
        started_here = not ray.is_initialized()
        if started_here:
            kwargs = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = num_cpus
            ray.init(address=address, **kwargs)
        try:
            task = ray.remote(num_cpus=1)(_run_job_single_thread)
            pending = {task.remote(job): job for job in jobs}
            log(
                f"ray: {len(pending)} batches submitted to "
                f"{int(ray.cluster_resources().get('CPU', 0))} CPUs"
            )
            finished = 0
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    record = ray.get(ref)
                    store.save(job.key, record)
                    finished += 1
                    log(
                        f"[{finished}/{len(jobs)}] {job.experiment}: {job.label}, depth "
                        f"{job.depth} done in {record['seconds']:.1f} s (ray)"
                    )
        finally:
            if started_here:
                ray.shutdown()

    return runner
