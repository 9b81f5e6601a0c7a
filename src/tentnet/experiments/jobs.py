"""A batch of training (:class:`Job`, named on disk by its resolved configuration) and the
sizes of a reproduce run (:class:`Plan`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

EXTRA_STEPS = {"multid": 3000, "digits": 1500, "diabetes": 1500}
REGION_MAPS = "region-maps"  # the job of the multid experiment that stores 2-D region maps
REFERENCE = "optimal-pwl"  # a job storing optimal_pwl errors that an experiment's tables cite


@dataclass(frozen=True)
class Job:
    """One batch: every (target, seed) pair trained together with one method and depth."""

    experiment: str
    label: str
    method: str
    targets: tuple[str, ...]
    depth: int
    seeds: tuple[int, ...]
    points: int = 500
    test_points: int | None = None
    config: dict = field(default_factory=dict)
    domain: tuple[float, float] | None = (0.0, 1.0)  # None: a data set's own x range
    holdout: float = 0.0  # data sets: the fraction of points held out for testing
    curve: bool = False  # also store the first seed's fit on the test set (for figures)
    init_regions: bool = False  # also store each seed's region count at initialisation

    @property
    def key(self) -> str:
        """Names the batch on disk; it covers the training configuration the method really
        uses (defaults filled in), so a saved batch is never reused after a default changes."""
        fields = asdict(self)
        if not self.init_regions:  # a field added later: the keys of other batches stay
            del fields["init_regions"]
        if self.experiment not in EXTRA_STEPS and self.method != REFERENCE:
            from ..train import TrainConfig

            used = TrainConfig(depth=max(self.depth, 1), **self.config).resolved(self.method)
            fields["resolved"] = asdict(used)
            if used.resample is None:  # a field added later: the keys of other batches stay
                del fields["resolved"]["resample"]
            if used.restarts is None:  # auto: was 1 before None meant "the default"
                fields["resolved"]["restarts"] = 1
        text = json.dumps(fields, sort_keys=True)
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        return f"{self.experiment}-{self.method.replace('+', 'plus')}-d{self.depth}-{digest}"


@dataclass(frozen=True)
class Plan:
    """Sizes of a reproduce run.

    ``steps`` (None: the default 12,000) is the gradient-step budget of the dense, sparse and
    ablation runs; ``depth_steps`` that of the depth sweep; ``lm_iterations`` (None: tent-lm's
    default) caps the Levenberg-Marquardt iterations everywhere.
    """

    seeds: tuple[int, ...]
    depth_seeds: tuple[int, ...]
    depths: tuple[int, ...]
    depth_steps: int
    ablation_seeds: tuple[int, ...]
    steps: int | None = None
    lm_iterations: int | None = None
    nonconvex_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    extra_steps_scale: float = 1.0
    budget_depths: tuple[int, ...] = tuple(range(4, 13))
    budget_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    general_depths: tuple[int, ...] = (5, 6, 8)
    general_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    general_targets: tuple[str, ...] | None = None  # None: every target of the experiment


def reference_jobs(
    experiment: str, wanted: dict[tuple[str, tuple[float, float]], set[int]]
) -> list[Job]:
    """One job per (target, domain): the ``optimal_pwl`` errors at the given piece counts,
    which the experiment's tables cite (computed with the runs, not by the report)."""
    return [
        Job(
            experiment,
            REFERENCE,
            REFERENCE,
            (target,),
            0,
            (),
            config={"pieces": sorted(pieces)},
            domain=domain,
        )
        for (target, domain), pieces in wanted.items()
    ]
