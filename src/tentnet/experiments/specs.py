"""The experiments of ``tentnet reproduce`` as data: every batch of runs is a :class:`Job`."""

from __future__ import annotations

from .jobs import EXTRA_STEPS as EXTRA_STEPS
from .jobs import REGION_MAPS, reference_jobs
from .jobs import Job as Job
from .jobs import Plan as Plan

EXPERIMENTS = (
    "dense",
    "sparse",
    "depth",
    "regions",
    "ablation",
    "budget",
    "general",
    "nonconvex",
    "multid",
    "digits",
    "diabetes",
)
DENSE_TARGETS = ("x**3", "x**11")
DENSE_METHODS = ("kaiming", "xavier", "tent-no-pretrain", "tent-free-scales", "tent", "tent-lm")
SPARSE_TARGETS = ("x**3", "x**11", "sin(x)", "tanh(3*x)")
SPARSE_METHODS = ("kaiming", "tent", "tent-lm")
DEPTH_TARGETS = ("x**3", "x**11", "exp(x)")
DEPTH_METHODS = ("kaiming", "tent", "tent-lm")
SHARED_WITH_BUDGET = ("tent", "tent-lm")  # sweep methods whose runs the budget batches hold

NONCONVEX_TARGETS = (
    ("x**3 - x", (-1.0, 1.0)),
    ("sin(3*x)", (0.0, 3.0)),
    ("tanh(5*x)", (-1.0, 1.0)),
)
# Equal parameter counts: tent-dc is a width-8 MLP, so the baseline is Kaiming at width 8.
NONCONVEX_METHODS = (
    ("kaiming (width 8)", "kaiming", {"width": 8}),
    ("tent-dc", "tent-dc", {}),
    ("tent-dc, LM phase 2", "tent-dc", {"steps": 2000, "phase1_steps": 2000, "lm_iterations": 300}),
)

# Published figures (DESIGN.md section 4): dense means and minima at 4 x 5, 30 runs.
PUBLISHED_DENSE = {
    ("x**3", "kaiming"): {"min": 2.11e-5, "mean": 7.20e-2},
    ("x**11", "kaiming"): {"min": 2.19e-5, "mean": 2.82e-2},
    ("x**3", "tent-no-pretrain"): {"min": 7.63e-7, "mean": 3.89e-5},
    ("x**11", "tent-no-pretrain"): {"min": 1.86e-5, "mean": 3.56e-4},
    ("x**3", "tent-free-scales"): {"min": 1.64e-7, "mean": 1.02e-5},
    ("x**11", "tent-free-scales"): {"min": 3.20e-6, "mean": 3.73e-5},
    ("x**3", "tent"): {"min": 7.86e-8, "mean": 5.27e-7},
    ("x**11", "tent"): {"min": 8.86e-7, "mean": 7.87e-6},
}
PUBLISHED_SPARSE = {  # min test MSE over runs
    ("x**3", "kaiming"): 2.41e-4,
    ("x**3", "tent"): 5.65e-6,
    ("x**11", "kaiming"): 2.14e-3,
    ("x**11", "tent"): 6.53e-4,
    ("sin(x)", "kaiming"): 2.27e-5,
    ("sin(x)", "tent"): 7.92e-7,
    ("tanh(3*x)", "kaiming"): 1.60e-4,
    ("tanh(3*x)", "tent"): 5.09e-6,
}

# Ablation of tent-lm: each idea alone and together (config overrides on top of the budget).
ABLATION = (
    ("tent (Adam phase 2)", "tent", {}),
    ("tent, LM phase 2", "tent", {"steps": 2000, "phase1_steps": 2000, "lm_iterations": 300}),
    ("tent, Adam then LM", "tent", {"lm_iterations": 300}),
    ("tent, Adam phase 2, best of 8", "tent", {"restarts": 8}),
    (
        "tent, 500 phase-1 steps, LM",
        "tent",
        {"steps": 500, "phase1_steps": 500, "lm_iterations": 300},
    ),
    (
        "tent-lm v1 (2,000 phase-1 steps, LM, best of 8)",
        "tent-lm",
        {"phase1_steps": 2000, "restarts": 8},
    ),
    ("500 phase-1 steps, LM, best of 8", "tent-lm", {"phase1_steps": 500, "restarts": 8}),
    ("tent-lm without the uniform start", "tent-lm", {"uniform_start": False}),
    ("tent-lm, candidates judged on 20% held out", "tent-lm", {"select_holdout": 0.2}),
    ("tent-lm on the points, not their reconstruction", "tent-lm", {"resample": 0}),
    ("tent-lm (500 phase-1 steps, LM, best of 16, uniform start)", "tent-lm", {}),
    ("kaiming, Adam then LM", "kaiming", {"lm_iterations": 300}),
)


def make_plan(quick: bool, seeds: int | None) -> Plan:
    """The default sizes (``quick``: a few minutes on 2 cores)."""
    if quick:
        n = seeds or 3
        return Plan(
            tuple(range(n)),
            tuple(range(min(n, 2))),
            (2, 4, 6),
            1500,
            tuple(range(min(n, 2))),
            steps=2500,
            nonconvex_seeds=tuple(range(min(n, 2))),
            extra_steps_scale=0.1,
            budget_depths=(4, 6),
            budget_seeds=tuple(range(min(n, 2))),
            general_depths=(6,),
            general_seeds=tuple(range(min(n, 2))),
            # at depth 6 the full run gives sin(3x) to a knot method, tanh(5x) to knots
            general_targets=("sin(3*x)", "tanh(5*x)", "data:sunspots"),
        )
    n = seeds or 30
    return Plan(
        tuple(range(n)),
        tuple(range(min(n, 5))),
        tuple(range(1, 13)),
        4000,
        tuple(range(min(n, 10))),
        nonconvex_seeds=tuple(range(min(n, 5))),
        budget_seeds=tuple(range(min(n, 5))),
        general_seeds=tuple(range(min(n, 5))),
    )


def _budget(plan: Plan, overrides: dict | None = None, steps: int | None = None) -> dict:
    steps = steps or plan.steps
    cfg = {} if steps is None else {"steps": steps}
    cfg.update(overrides or {})
    if plan.lm_iterations is not None:
        cfg["lm_iterations"] = min(cfg.get("lm_iterations", plan.lm_iterations), plan.lm_iterations)
    if "phase1_steps" in cfg and "steps" in cfg:
        cfg["phase1_steps"] = min(cfg["phase1_steps"], cfg["steps"])
    return cfg


def _variant_budget(plan: Plan, overrides: dict) -> dict:
    """A variant's config: variants that fix their own step count keep it (an LM phase 2
    replaces Adam), capped by the plan's budget."""
    steps = overrides.get("steps")
    if steps is not None and plan.steps is not None:
        steps = min(steps, plan.steps)
    return _budget(plan, {k: v for k, v in overrides.items() if k != "steps"}, steps)


def shared_with_budget(plan: Plan) -> dict[tuple[str, int], Job]:
    """The budget experiment's batches that hold depth-sweep runs, by ``(method, depth)``: those
    of :data:`SHARED_WITH_BUDGET` whose seeds, points and configuration are the sweep's and
    whose targets include the sweep's, so the same networks are trained once (kaiming stays
    apart: the sweep also counts its regions at initialisation)."""
    from .budget import jobs as budget_jobs

    config = _budget(plan, steps=plan.depth_steps)
    return {
        (j.method, j.depth): j
        for j in budget_jobs(plan, _budget)
        if j.method in SHARED_WITH_BUDGET
        and j.label == j.method
        and j.seeds == plan.depth_seeds
        and j.config == config
        and set(DEPTH_TARGETS) <= set(j.targets)
    }


def jobs_for(name: str, plan: Plan) -> list[Job]:
    """The batches of one experiment."""
    unit = (0.0, 1.0)
    if name == "dense":
        return [
            Job("dense", m, m, (t,), 5, plan.seeds, config=_budget(plan))
            for t in DENSE_TARGETS
            for m in DENSE_METHODS
        ] + reference_jobs("dense", {(t, unit): {2**5} for t in DENSE_TARGETS})
    if name == "sparse":
        return [
            Job(
                "sparse",
                m,
                m,
                SPARSE_TARGETS,
                5,
                plan.seeds,
                points=10,
                test_points=10,
                config=_budget(plan),
            )
            for m in SPARSE_METHODS
        ]
    if name in ("depth", "regions"):
        shared = shared_with_budget(plan)
        return [
            shared.get((m, d))
            or Job(
                "depth",
                m,
                m,
                DEPTH_TARGETS,
                d,
                plan.depth_seeds,
                config=_budget(plan, steps=plan.depth_steps),
                init_regions=m == "kaiming",  # for the region table: random nets at init
            )
            for d in plan.depths
            for m in DEPTH_METHODS
        ] + reference_jobs("depth", {(t, unit): {2**d for d in plan.depths} for t in DEPTH_TARGETS})
    if name == "ablation":
        jobs = []
        for label, method, overrides in ABLATION:
            jobs.append(
                Job(
                    "ablation",
                    label,
                    method,
                    DENSE_TARGETS,
                    5,
                    plan.ablation_seeds,
                    config=_variant_budget(plan, overrides),
                )
            )
        return jobs + reference_jobs("ablation", {(t, unit): {2**5} for t in DENSE_TARGETS})
    if name == "budget":
        from .budget import jobs as budget_jobs

        return budget_jobs(plan, _budget)
    if name == "general":
        from .general import jobs as general_jobs

        return general_jobs(plan, _budget)
    if name == "nonconvex":
        jobs = []
        for target, domain in NONCONVEX_TARGETS:
            for label, method, overrides in NONCONVEX_METHODS:
                jobs.append(
                    Job(
                        "nonconvex",
                        label,
                        method,
                        (target,),
                        5,
                        plan.nonconvex_seeds,
                        config=_variant_budget(plan, overrides),
                        domain=domain,
                    )
                )
        # tent-dc: a width-8 network, 2^(d+1) = 64 pieces at depth 5
        return jobs + reference_jobs("nonconvex", {t: {64} for t in NONCONVEX_TARGETS})
    if name in EXTRA_STEPS:
        steps = max(10, int(EXTRA_STEPS[name] * plan.extra_steps_scale))
        jobs = [
            Job(name, kind, kind, (), 0, (seed,), config={"steps": steps})
            for kind in ("tent", "dense")
            for seed in plan.nonconvex_seeds
        ]
        if name == "multid":  # the 2-D region maps drawn in its section (no training)
            jobs.append(Job(name, REGION_MAPS, REGION_MAPS, (), 0, (0,), config={"steps": 0}))
        return jobs
    raise ValueError(name)
