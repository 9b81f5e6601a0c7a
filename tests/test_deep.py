"""``tent+``: the width-4 chain and the first-layer-of-knots shapes, judged per seed on the
reconstruction of the points."""

import json
import sys

import numpy as np
import pytest
import torch

from tentnet import TentnetError, fit, optimal_pwl
from tentnet.mlp import stack_errors, weight_count
from tentnet.train import TrainConfig

from .conftest import line_networks, run

DEEP = sys.modules["tentnet.deep"]


def test_each_seed_keeps_the_finalist_closest_to_its_reconstruction(monkeypatch):
    """Two finalists, stand-ins: the chain and a knot shape. The one with the lower median
    error on the reconstruction comes first, and each seed takes whichever fits it closer."""
    t = torch.linspace(0, 1, 100, dtype=torch.float64).expand(3, -1).contiguous()
    y = 2 * t  # the reconstruction of a line is the line
    shape = TrainConfig(depth=4, width=7)
    seen = {}

    def judge_shapes(t_, y_, cfg, depth, seeds, dev, progress, judge, hop_kept_only):
        seen.update(judge=judge, cfg=cfg, hop_kept_only=hop_kept_only)
        out = line_networks([2.0, 1.0, 2.5])
        errors = stack_errors(out.layers, *judge)[0]
        found = {"method": "tent-warp", "depth": 4, "width": 7, "reconstruction_mse": 1.0}
        found["all_starts_mse"] = float(errors.median())
        return [found], [("tent-warp", shape, out, errors)]

    def train_networks(method, t_, y_, cfg, seeds, progress=None):
        seen["chain"] = cfg
        assert method == "tent-lm"
        return line_networks([1.0, 1.9, 2.0])

    monkeypatch.setattr(DEEP, "judge_shapes", judge_shapes)
    monkeypatch.setattr(DEEP, "train_networks", train_networks)
    method, cfg, info, _out, swaps = DEEP.choose_deep(
        5, TrainConfig(), t, y, [0, 1, 2], torch.device("cpu"), None
    )
    # the judge: points between the reconstruction's grid points, on the line
    jt, jy = seen["judge"]
    assert jt.shape[0] == 3 and torch.allclose(jy, 2 * jt)
    assert (seen["cfg"].depth, seen["cfg"].width) == (4, 7)  # 3 levels, the knots that fit
    assert (seen["chain"].depth, seen["chain"].width, seen["hop_kept_only"]) == (5, None, True)
    assert (method, cfg.depth) == ("tent-lm", 5)  # median error 0.01c against 0.25c
    ((other, other_cfg, _other_out, taken),) = swaps
    assert (other, other_cfg) == ("tent-warp", shape)
    assert taken.tolist() == [True, False, False]  # seed 0: the finalist's slope 2 is exact
    assert info["selector"] == "tent+" and info["chose"] == "tent-lm"
    assert [c["method"] for c in info["candidates"]] == ["tent-lm", "tent-warp"]
    assert info["seeds_swapped"] == [{"method": "tent-warp", "depth": 4, "width": 7, "seeds": [0]}]
    assert "tent-warp 4 x 7 where it fitted the reconstruction closest (seeds 0)" in info["why"]


def test_a_data_file_and_a_small_budget_get_the_chain(tmp_path):
    x = np.linspace(0, 1, 60)
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "".join(f"{float(a)!r},{float(a) ** 3!r}\n" for a in x))
    config = TrainConfig(lm_iterations=5, restarts=2, phase1_steps=20)
    (r,) = fit(str(path), depth=4, method="tent+", config=config, count_regions=False)
    assert (r.method, r.depth, r.width) == ("tent-lm", 4, 4)
    assert r.auto["chose"] == "tent-lm" and "a data file" in r.auto["why"]
    assert r.metrics()["tent+"] == r.auto and "auto" not in r.metrics()
    # depth 3 (53 weights): no first layer of knots with 3 levels fits
    (r,) = fit("x**2", depth=3, method="tent+", config=config, count_regions=False)
    assert r.method == "tent-lm" and "no first layer of knots fits" in r.auto["why"]


def test_tent_plus_beats_the_shallow_optimum_on_a_cubic():
    """A loose sanity bound: at the weights of depth 5 (93), x^3 on [0, 1] from 500 points
    (measured 2.4e-11-3.1e-11 at depth 6, and 4.6e-10 for auto at depth 5) against the best
    one-hidden-layer network of no more weights (30 units: 1.0e-8)."""
    (r,) = fit("x**3", depth=5, method="tent+", seeds=[0], count_regions=False)
    assert r.method in ("tent-lm", "tent-warp", "tent-scaled")
    assert sum(p.numel() for p in r.mlp.parameters()) <= weight_count(4, 5)
    assert r.test_mse < optimal_pwl("x**3", 31).mse / 3
    judged = r.auto["candidates"]
    assert judged[0]["method"] == "tent-lm" and len(judged) > 2
    assert sum("all_starts_mse" in c for c in judged) == 3  # the chain, two knot finalists
    assert [c.get("hops") for c in judged if "all_starts_mse" in c].count(6) == 1


def test_width_is_refused_for_tent_plus(tmp_path, capsys):
    with pytest.raises(TentnetError, match="--width does not apply to --method tent\\+"):
        fit("x**2", method="tent+", config=TrainConfig(width=6))
    code, _out, err = run(["fit", "--method", "tent+", "--width", "6", "--quiet"], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_cli_says_what_tent_plus_chose(tmp_path, capsys):
    argv = ["fit", "--method", "tent+", "--depth", "4", "--lm-iterations", "10"]
    argv += ["--out", str(tmp_path / "o"), "--no-plot", "--quiet"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert out.startswith("method tent+: the width-4 chain and the first-layer-of-knots shapes")
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["tent+"]["chose"] == metrics["method"]
    assert metrics["parameters"] <= weight_count(4, 4)
