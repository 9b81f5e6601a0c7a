"""``auto`` seed by seed: each seed keeps the finalist closer to its reconstruction."""

import json
import sys
from dataclasses import replace

import numpy as np
import torch

from tentnet.deep import FINALIST_STARTS, other_finalists
from tentnet.fit import fit
from tentnet.hops import DEEP_HOPS_FROM, HOPS, hops_for
from tentnet.mlp import stack_errors
from tentnet.train import TrainConfig, train_networks
from tentnet.warp import FLOOR_STARTS

from .conftest import line_networks, run

FIT = sys.modules["tentnet.fit"]  # the module (the package exports the function fit)
DEEP = sys.modules["tentnet.deep"]  # where the shapes are judged (for auto and tent+)


def test_the_other_finalist_takes_the_seeds_it_fits_closer():
    t = torch.linspace(0, 1, 9, dtype=torch.float64).expand(3, -1)
    y = 2 * t  # every seed's reconstruction is 2x
    cfg = TrainConfig(depth=2)

    def finalist(method: str, slopes: list[float]):
        out = line_networks(slopes)
        return method, cfg, out, stack_errors(out.layers, t, y)[0]  # each network's error

    kept, other = finalist("tent-warp", [2.0, 1.0, 2.5]), finalist("tent-scaled", [1.0, 1.9, 2.5])
    trained = [kept, other]
    ((method, shape, out, closer),) = other_finalists(trained)
    assert (method, shape, out) == ("tent-scaled", cfg, other[2])
    assert closer.tolist() == [False, True, False]  # a tie keeps the kept one
    assert other_finalists(trained[:1]) == []
    broken = finalist("tent-scaled", [float("nan"), 2.0, 2.5])
    assert other_finalists([kept, broken])[0][3].tolist() == [False, True, False]
    worse = finalist("tent-scaled", [1.0, 0.5, 3.0])
    assert other_finalists([kept, worse]) == []
    # three: each seed takes the closest; one that is closest nowhere is left out
    third = finalist("tent-warp", [2.0, 1.0, 2.1])
    found = other_finalists([*trained, third, worse])
    assert [(f[0], f[3].tolist()) for f in found] == [
        ("tent-scaled", [False, True, False]),
        ("tent-warp", [False, False, True]),
    ]


def _fake_auto(taken: list[bool]):
    """A stand-in for ``choose_by_validation``: kaiming for every seed, knots for ``taken``."""

    def choose(shape, depth, config, t, y, seeds, dev, progress):
        deep = TrainConfig(depth=2, width=3, steps=30)
        shallow = TrainConfig(depth=1, width=5)
        out = train_networks("kaiming", t, y, deep, seeds)
        other = train_networks("knots", t, y, shallow, seeds)
        info = {"chose": "kaiming", "why": "a test", "candidates": []}
        return "kaiming", deep, info, out, [("knots", shallow, other, torch.tensor(taken))]

    return choose


def test_fit_gives_each_seed_its_own_shape(monkeypatch):
    monkeypatch.setattr(FIT, "choose_by_validation", _fake_auto([False, True, False]))
    runs = fit("x**2", method="auto", seeds=[4, 5, 6])
    assert [r.seed for r in runs] == [4, 5, 6]
    assert [(r.method, r.depth, r.width) for r in runs] == [
        ("kaiming", 2, 3),
        ("knots", 1, 5),
        ("kaiming", 2, 3),
    ]
    alone = {
        m: fit("x**2", method=m, seeds=[5], depth=d, config=TrainConfig(width=w, steps=30))[0]
        for m, d, w in (("knots", 1, 5), ("kaiming", 2, 3))
    }
    # seed 5 is the network a knots fit of seed 5 gives (up to rounding), on its own points
    assert np.array_equal(runs[1].x_train, alone["knots"].x_train)
    assert np.isclose(runs[1].test_mse, alone["knots"].test_mse, rtol=1e-3)  # batch rounding
    assert runs[1].linear_regions == 6  # 5 units: 6 pieces
    assert runs[0].linear_regions <= 4
    for r in runs:  # each metric is its own network's, on its own seed's points
        with torch.no_grad():
            pred = r.mlp(torch.as_tensor(r.x_test)[:, None]).squeeze(-1).numpy()
        assert np.isclose(np.mean((pred - r.y_test) ** 2), r.test_mse, rtol=1e-9)
        assert sum(p.numel() for p in r.mlp.parameters()) == {1: 16, 2: 22}[r.depth]


def test_every_seed_may_take_the_other_shape(monkeypatch):
    monkeypatch.setattr(FIT, "choose_by_validation", _fake_auto([True, True]))
    runs = fit("x**2", method="auto", seeds=[0, 1])
    assert [(r.method, r.depth, r.width) for r in runs] == [("knots", 1, 5)] * 2


def test_the_cli_names_each_seeds_shape_where_they_differ(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(FIT, "choose_by_validation", _fake_auto([True, False]))
    code, out, _ = run(
        ["fit", "--seeds", "0-1", "--out", str(tmp_path / "o"), "--no-plot", "--quiet"], capsys
    )
    assert code == 0
    assert "some seeds another shape" in out
    assert "seed 0 [knots 1 x 5]:" in out and "seed 1 [kaiming 2 x 3]:" in out
    kept = [json.loads((tmp_path / "o" / f"seed-{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert [(m["method"], m["depth"], m["width"]) for m in kept] == [
        ("knots", 1, 5),
        ("kaiming", 2, 3),
    ]


def test_the_finalists_hop_from_their_starts_and_a_set_restarts_stops_that(monkeypatch):
    """Each knot finalist trains FINALIST_STARTS starts (the floored ones besides; the judged
    unmoved and floored starts not again), then HOPS basin hops from the network kept; the
    result records them. A user's ``restarts`` is kept instead, without hops."""
    calls = []
    real = DEEP.train_finalist

    def spy(method, shape, t, y, seeds, known, rounds, progress):
        calls.append((method, shape.depth, shape.restarts, rounds, sorted(known)))
        return real(method, shape, t, y, seeds, known, rounds, progress)

    monkeypatch.setattr(DEEP, "train_finalist", spy)
    config = TrainConfig(lm_iterations=20)
    (r,) = fit("x**3", depth=6, method="auto", seeds=[0], config=config, count_regions=False)
    judged = [c for c in r.auto["tent_warp_levels"] if "all_starts_mse" in c]
    finals = [(c["method"], c["depth"]) for c in judged]
    assert len(finals) == 2 and [c["hops"] for c in judged] == [HOPS, HOPS]
    # (the finalists train in the order of their one-start judge, recorded in shape order)
    assert sorted((m, d) for m, d, *_ in calls) == sorted(finals)
    assert {(s, rounds) for _, _, s, rounds, _ in calls} == {(FINALIST_STARTS, HOPS)}
    floored = [0.0, FLOOR_STARTS[1]]  # x^3: f'' dips at 0
    assert all(k == (floored if m == "tent-warp" else [0.0]) for m, *_, k in calls)
    assert (r.method, r.depth) in finals
    assert r.metrics()["restarts"] == FINALIST_STARTS
    floors = len(FLOOR_STARTS) if r.method == "tent-warp" else 0  # tent-scaled has one floor
    assert r.metrics()["starts"] == FINALIST_STARTS + floors
    calls.clear()
    fit("x**3", depth=6, method="auto", config=replace(config, restarts=2), count_regions=False)
    assert sorted((m, d) for m, d, *_ in calls) == sorted(finals)
    assert {(s, rounds) for _, _, s, rounds, _ in calls} == {(2, 0)}


def test_the_finalists_hop_twice_as_often_from_depth_11(monkeypatch):
    """Above 200 weights (width-4 depth 11 and 12) each finalist makes twice HOPS hops."""
    assert hops_for(DEEP_HOPS_FROM - 1) == HOPS and hops_for(DEEP_HOPS_FROM) == 2 * HOPS
    seen = []
    real = DEEP.train_finalist

    def spy(method, shape, t, y, seeds, known, rounds, progress):
        seen.append(rounds)  # the hops themselves are tested above; here only how many
        return real(method, shape, t, y, seeds, known, 0, progress)

    monkeypatch.setattr(DEEP, "train_finalist", spy)
    config = TrainConfig(lm_iterations=10)
    (r,) = fit(
        "x**3", depth=DEEP_HOPS_FROM, method="auto", seeds=[0], config=config, count_regions=False
    )
    assert seen == [2 * HOPS, 2 * HOPS]
    judged = [c for c in r.auto["tent_warp_levels"] if "all_starts_mse" in c]
    assert [c["hops"] for c in judged] == [2 * HOPS, 2 * HOPS]
