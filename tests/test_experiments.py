import csv
import importlib.util
import json

import pytest

from tentnet import TentnetError
from tentnet.experiments import reproduce, run_local
from tentnet.experiments.specs import Plan

TINY = Plan(
    seeds=(0, 1),
    depth_seeds=(0,),
    depths=(2, 3),
    depth_steps=40,
    ablation_seeds=(0,),
    steps=60,
    lm_iterations=3,
    nonconvex_seeds=(0,),
    extra_steps_scale=0.01,
    budget_depths=(2, 3),
    budget_seeds=(0,),
    general_depths=(2,),
    general_seeds=(0,),
)


# Enough for a sparse sweep of 12 (target, method) rows in seconds.
SMALL = Plan(
    seeds=(0, 1),
    depth_seeds=(0,),
    depths=(2,),
    depth_steps=30,
    ablation_seeds=(0,),
    steps=40,
    lm_iterations=3,
)


def quiet(msg):
    pass


def _assert_same_sparse_results(first, second):
    a = {(r["target"], r["method"]): r for r in _rows(first / "sparse.csv")}
    b = {(r["target"], r["method"]): r for r in _rows(second / "sparse.csv")}
    assert a.keys() == b.keys() and len(a) == 12
    for key in a:  # one torch thread per task: equal up to floating-point rounding
        assert float(b[key]["median_test_mse"]) == pytest.approx(
            float(a[key]["median_test_mse"]), rel=1e-6
        )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("reproduce")
    report = reproduce(out, plan=TINY, log=quiet)
    return out, report


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_report_tables_and_figures(full_run):
    out, report = full_run
    text = report.read_text()
    for heading in (
        "Dense data",
        "Sparse data",
        "Error against depth",
        "Linear regions",
        "ablation",
    ):
        assert heading in text
    dense = _rows(out / "dense.csv")
    assert {
        "target",
        "method",
        "seeds",
        "min_mse",
        "median_mse",
        "mean_mse",
        "max_mse",
        "median_linear_regions",
        "published_mean",
        "limit_32_pieces",
    } <= set(dense[0])
    assert {r["method"] for r in dense} == {
        "kaiming",
        "xavier",
        "tent-no-pretrain",
        "tent-free-scales",
        "tent",
        "tent-lm",
    }
    assert all(float(r["min_mse"]) <= float(r["median_mse"]) <= float(r["max_mse"]) for r in dense)
    sparse = _rows(out / "sparse.csv")
    assert {"min_test_mse", "median_test_mse"} <= set(sparse[0]) and len(sparse) == 12
    depth = _rows(out / "depth.csv")
    assert {int(r["depth"]) for r in depth} == {2, 3}
    regions = _rows(out / "regions.csv")
    phase1 = [r for r in regions if r["stage"] == "after phase 1"]
    assert phase1 and all(float(r["median_linear_regions"]) == 2 ** int(r["depth"]) for r in phase1)
    assert (out / "depth.png").exists() and (out / "regions.png").exists()


def test_budget_table_compares_equal_weights(full_run):
    out, report = full_run
    rows = _rows(out / "budget.csv")
    # 5 targets x 2 depths, every method present at each budget.
    assert len(rows) == 10
    for r in rows:
        d, k = int(r["depth"]), int(r["units"])
        assert int(r["weights"]) == 20 * d - 7
        assert 3 * k + 1 <= int(r["weights"]) < 3 * (k + 1) + 1  # the largest shallow net
        for col in ("tent-lm_median", "tent_median", "kaiming_median", "knots_median"):
            assert float(r[col]) > 0
        # The optimum with more pieces is lower (a sanity check of the limit columns).
        assert float(r["limit_2^d"]) > 0 and float(r["best_shallow"]) > 0
    text = report.read_text()
    assert "Deep against shallow at equal weights" in text and "budget.png" in text
    assert (out / "budget.png").exists()


def test_general_table_has_every_target_method_and_auto_choice(full_run):
    from tentnet.experiments.general import METHODS, TARGETS

    out, report = full_run
    rows = _rows(out / "general.csv")
    assert [r["target"] for r in rows] == [t for t, _ in TARGETS]  # one depth
    for r in rows:
        assert int(r["weights"]) == 20 * int(r["depth"]) - 7
        for m in METHODS:
            assert float(r[f"{m}_median"]) > 0
        assert r["auto_chose"] in ("tent-lm", "knots")
        # The auto run is the chosen candidate trained on all points with the same seeds.
        assert float(r["auto_median"]) == pytest.approx(float(r[f"{r['auto_chose']}_median"]))
        assert float(r["kaiming/auto"]) == pytest.approx(
            float(r["kaiming_median"]) / float(r["auto_median"])
        )
        if r["target"].startswith("data:"):
            assert r["shallow_optimum"] == "" and r["auto/optimum"] == ""
        else:
            assert float(r["shallow_optimum"]) > 0
    text = report.read_text()
    assert "Any 1-D target at equal weights" in text and "general.png" in text
    assert (out / "general.png").exists()


def test_general_keeps_to_the_plans_targets():
    """A plan may name some of the general experiment's targets (the quick plan does): only
    those are trained and tabulated; a plan that names none takes them all."""
    from dataclasses import replace

    from tentnet.experiments.general import TARGETS, rows
    from tentnet.experiments.specs import jobs_for, make_plan

    names = [t for t, _ in TARGETS]
    quick = make_plan(quick=True, seeds=None)
    assert quick.general_targets and set(quick.general_targets) < set(names)
    assert {j.targets[0] for j in jobs_for("general", quick)} == set(quick.general_targets)
    assert {j.targets[0] for j in jobs_for("general", make_plan(False, None))} == set(names)
    some = replace(TINY, general_targets=(names[1], names[-1]))
    table = rows([], some, lambda *args: 1.0)
    assert [r["target"] for r in table] == [names[1], names[-1]]

    # A folder of the full plan written before the field existed stays resumable.
    from tentnet.experiments import plan_settings

    assert "general_targets" not in plan_settings(make_plan(False, None))
    assert '"general_targets": ["sin(3*x)"' in plan_settings(quick)


def test_resume_skips_finished_batches(full_run, monkeypatch):
    """From stored runs alone: nothing trains, the report computes no reference fit, and
    every table comes out byte-identical."""
    import tentnet.limit

    out, _ = full_run
    tables = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    assert len(tables) >= 8

    def must_not_run(jobs, store, log):
        assert jobs == []

    def must_not_compute(*args, **kwargs):
        raise AssertionError("the report computed an optimal_pwl reference")

    monkeypatch.setattr(tentnet.limit, "optimal_pwl", must_not_compute)
    reproduce(out, plan=TINY, resume=True, log=quiet, runner=must_not_run)
    assert {p.name: p.read_bytes() for p in out.glob("*.csv")} == tables


def test_interrupted_sweep_keeps_finished_batches(tmp_path):
    done = []

    def interrupt_after_one(jobs, store, log):
        run_local(jobs[:1], store, log)
        done.append(jobs[0].key)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path, plan=TINY, only=["sparse"], log=quiet, runner=interrupt_after_one)
    assert (tmp_path / "runs" / f"{done[0]}.json").exists()
    assert not (tmp_path / "report.md").exists()
    left = []

    def remaining(jobs, store, log):
        left.extend(jobs)
        run_local(jobs, store, log)

    reproduce(tmp_path, plan=TINY, only=["sparse"], resume=True, log=quiet, runner=remaining)
    assert done[0] not in [j.key for j in left] and len(left) == 2
    assert (tmp_path / "report.md").exists()


def test_unknown_experiment(tmp_path):
    with pytest.raises(TentnetError, match="unknown experiment"):
        reproduce(tmp_path, only=["dense", "bogus"], log=quiet)


def test_ray_backend_matches_local(tmp_path):
    pytest.importorskip("ray")
    import ray

    from tentnet.experiments.ray_backend import make_ray_runner

    local = tmp_path / "local"
    remote = tmp_path / "ray"
    reproduce(local, plan=SMALL, only=["sparse"], log=quiet)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        reproduce(remote, plan=SMALL, only=["sparse"], log=quiet, runner=make_ray_runner())
    finally:
        ray.shutdown()
    _assert_same_sparse_results(local, remote)


def test_extra_experiments_tiny(tmp_path):
    pytest.importorskip("sklearn")
    plan = Plan(
        seeds=(0,),
        depth_seeds=(0,),
        depths=(2,),
        depth_steps=10,
        ablation_seeds=(0,),
        steps=20,
        lm_iterations=2,
        nonconvex_seeds=(0,),
        extra_steps_scale=0.01,
    )
    report = reproduce(
        tmp_path, plan=plan, only=["digits", "diabetes", "multid", "nonconvex"], log=quiet
    )
    text = report.read_text()
    assert "digits" in text and "diabetes" in text and "Non-convex" in text
    digits = _rows(tmp_path / "digits.csv")
    assert {"head", "seed", "test_accuracy"} <= set(digits[0])
    assert {r["head"] for r in digits} == {"tent", "dense"}
    diabetes = _rows(tmp_path / "diabetes.csv")
    assert {"head", "seed", "test_mse"} <= set(diabetes[0])
    assert (tmp_path / "multid.csv").exists() and (tmp_path / "nonconvex.csv").exists()
    # the 2-D region maps are a stored batch; the report draws them from the record
    stored = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("multid-region*")]
    assert len(stored) == 1 and len(stored[0]["region_maps"]["maps"]) == 2
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "regions_2d.png").exists() and "regions_2d.png" in text


def test_region_maps_are_labels_of_distinct_patterns():
    import base64
    import zlib

    import numpy as np

    from tentnet.experiments.regions import compute_region_maps

    stored = compute_region_maps(size=60)
    assert stored["size"] == 60
    for m in stored["maps"]:
        labels = np.frombuffer(zlib.decompress(base64.b64decode(m["labels"])), dtype="<u4")
        assert labels.shape == (60 * 60,)
        # every label from 0 to regions - 1 is used: the count is of distinct patterns seen
        assert set(np.unique(labels).tolist()) == set(range(m["regions"]))
    tent, kaiming = stored["maps"]
    assert tent["regions"] > 1 and kaiming["regions"] > 1


def test_parallel_runner_matches_local(tmp_path):
    from tentnet.experiments import make_parallel_runner

    local, parallel = tmp_path / "local", tmp_path / "parallel"
    reproduce(local, plan=SMALL, only=["sparse"], log=quiet)
    messages = []
    reproduce(
        parallel, plan=SMALL, only=["sparse"], log=messages.append, runner=make_parallel_runner(2)
    )
    assert any("2 worker processes" in m for m in messages)
    _assert_same_sparse_results(local, parallel)


def test_parallel_runner_needs_a_worker():
    from tentnet.experiments import make_parallel_runner

    with pytest.raises(TentnetError, match="workers"):
        make_parallel_runner(0)


def test_longest_batches_are_estimated_longest():
    from tentnet.experiments import estimated_cost
    from tentnet.experiments.specs import jobs_for, make_plan

    plan = make_plan(quick=False, seeds=None)
    dense = {j.method: estimated_cost(j) for j in jobs_for("dense", plan)}
    assert dense["tent-lm"] > dense["tent"]  # eight candidates per seed, then LM
    depth = [j for j in jobs_for("depth", plan) if j.method == "kaiming"]
    costs = [estimated_cost(j) for j in depth]
    assert costs == sorted(costs)  # deeper is dearer


def test_tent_warp_batches_cost_every_start_in_full(monkeypatch):
    """tent-warp trains all its starts to the end (no successive halving, unlike tent-lm)."""
    from dataclasses import replace

    from tentnet.experiments import estimated_cost
    from tentnet.experiments.specs import jobs_for, make_plan
    from tentnet.methods import REGISTRY

    plan = make_plan(quick=False, seeds=None)
    job = next(j for j in jobs_for("budget", plan) if j.method == "tent-warp")
    several = estimated_cost(job)
    starts = REGISTRY["tent-warp"].restarts
    monkeypatch.setitem(REGISTRY, "tent-warp", replace(REGISTRY["tent-warp"], restarts=1))
    assert several == pytest.approx(starts * estimated_cost(job))


def test_depth_sweep_shares_its_tent_batches_with_the_budget_experiment():
    """tent and tent-lm at the budget depths are the same networks in both experiments: one batch
    (the budget's, whose targets include the sweep's), trained once; kaiming stays separate (the
    sweep also counts its regions at initialisation)."""
    from tentnet.experiments.specs import DEPTH_TARGETS, jobs_for, make_plan

    plan = make_plan(quick=False, seeds=None)
    budget = jobs_for("budget", plan)
    depth = [j for j in jobs_for("depth", plan) if j.method != "optimal-pwl"]
    shared = [j for j in depth if j in budget]
    assert {(j.method, j.depth) for j in shared} == {
        (m, d) for m in ("tent", "tent-lm") for d in plan.budget_depths
    }
    assert all(set(DEPTH_TARGETS) <= set(j.targets) for j in shared)
    own = [j for j in depth if j not in budget]
    assert {j.depth for j in own if j.method == "tent-lm"} == set(plan.depths) - set(
        plan.budget_depths
    )
    assert all(j.experiment == "depth" for j in own)


def test_batch_key_changes_when_a_method_default_changes(monkeypatch):
    from dataclasses import replace

    from tentnet import methods
    from tentnet.experiments.specs import Job

    job = Job("dense", "tent-lm", "tent-lm", ("x**3",), 5, (0, 1))
    before = job.key
    assert job.key == before  # stable
    changed = replace(methods.REGISTRY["tent-lm"], phase1_steps=700)
    monkeypatch.setitem(methods.REGISTRY, "tent-lm", changed)
    assert job.key != before  # a stored batch of the old default is not reused


def test_reproduce_help_lists_every_experiment():
    from tentnet.cli import build_parser
    from tentnet.experiments.specs import EXPERIMENTS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["reproduce"].format_help().replace("\n", "").replace(" ", "")
    assert all(name in text for name in EXPERIMENTS)


def test_a_reproduce_folder_never_mixes_settings_or_reports(tmp_path):
    out = tmp_path / "rep"
    reproduce(out, plan=SMALL, only=["sparse", "dense"], log=quiet)
    assert (out / "dense.csv").exists() and (out / "sparse.csv").exists()
    # An emptied record (a crash while it was copied, say) is run again, not a KeyError.
    victim = next((out / "runs").glob("sparse-*.json"))
    victim.write_text("")
    messages = []
    reproduce(out, plan=SMALL, only=["sparse"], resume=True, log=messages.append)
    assert any("2 of 3 batches already finished" in m for m in messages)
    assert victim.read_text().startswith("{")
    # This report covers sparse alone: the older dense table goes.
    assert (out / "sparse.csv").exists() and not (out / "dense.csv").exists()
    # Runs of other settings are refused before any work, unless --overwrite empties the folder.
    with pytest.raises(TentnetError, match="other settings"):
        reproduce(out, plan=TINY, only=["sparse"], log=quiet)
    reproduce(out, plan=TINY, only=["regions"], log=quiet, overwrite=True)
    assert not list((out / "runs").glob("sparse-*.json"))


def test_reproduce_refuses_an_unusable_folder_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TentnetError, match="not a folder"):
        reproduce(tmp_path / "file", plan=SMALL, only=["sparse"], log=quiet)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(TentnetError, match="other files"):
        reproduce(tmp_path / "other", plan=SMALL, only=["sparse"], log=quiet)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_a_job_can_store_its_networks_region_counts_at_initialisation():
    from dataclasses import replace

    from tentnet.experiments import run_job
    from tentnet.experiments.specs import Job

    job = Job("depth", "kaiming", "kaiming", ("x**3",), 3, (0, 1), config={"steps": 5})
    with_init = replace(job, init_regions=True)
    assert with_init.key != job.key and "init_regions" not in run_job(job)
    stored = run_job(with_init)["init_regions"]
    assert [r["seed"] for r in stored] == [0, 1]
    # One input, three layers of 4 ReLUs: each layer splits a piece into at most 5.
    assert all(1 <= r["linear_regions"] <= 5**3 for r in stored)
