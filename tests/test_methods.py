"""The method registry: one entry per method, and a new method plugs in as one entry."""

from dataclasses import replace

import pytest
import torch

from tentnet import TentnetError
from tentnet.fit import fit
from tentnet.knots import fit_knots
from tentnet.methods import METHODS, REGISTRY, Method, get_method
from tentnet.train import TrainConfig, train_networks


def test_every_method_has_one_entry_and_unknown_names_are_refused():
    assert set(METHODS) == set(REGISTRY) and len(METHODS) == len(set(METHODS))
    assert all(REGISTRY[m].name == m for m in METHODS)
    with pytest.raises(TentnetError, match="unknown method 'nope'"):
        get_method("nope")
    with pytest.raises(TentnetError, match="unknown method"):
        TrainConfig().check("nope")


@pytest.mark.parametrize("name", METHODS)
def test_phase_steps_add_up_and_defaults_fill_in(name):
    spec = get_method(name)
    cfg = TrainConfig(depth=1 if spec.max_depth == 1 else 3)
    p1, p2 = cfg.phase_steps(name)
    if spec.kind == "direct":
        assert (p1, p2) == (0, 0)
    elif spec.adam_phase2:
        assert p1 + p2 == cfg.steps and (p1 > 0) == spec.pretrain
    used = cfg.resolved(name)
    assert used.lm_iterations == spec.lm_iterations
    assert cfg.width_for(name) == spec.width


def test_a_new_direct_method_plugs_in_as_one_entry(monkeypatch):
    calls = []

    def fitter(t, y, width, depth, lm, quadrature, resample, generators):
        calls.append((width, depth, lm, len(generators)))
        return fit_knots(t, y, width, lm, quadrature=quadrature, resample=resample)

    entry = Method("my-knots", kind="direct", summary="test", width=6, max_depth=1, fitter=fitter)
    monkeypatch.setitem(REGISTRY, "my-knots", entry)
    (r,) = fit("x**2", depth=1, method="my-knots", seeds=[0], config=TrainConfig(lm_iterations=5))
    assert calls == [(6, 1, 5, 1)] and r.width == 6 and r.linear_regions <= 7
    with pytest.raises(TentnetError, match="one hidden layer"):
        TrainConfig(depth=2).check("my-knots")


def test_a_registry_field_changes_training(monkeypatch):
    """tent-lm without its uniform first start, by changing only its entry."""
    t = torch.rand(1, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = (t**2 - (t**2).mean()) / (t**2).std()
    cfg = TrainConfig(depth=3, restarts=2, lm_iterations=3, phase1_steps=5)
    a = train_networks("tent-lm", t, y, cfg, [0])
    monkeypatch.setitem(REGISTRY, "tent-lm", replace(REGISTRY["tent-lm"], uniform_start=False))
    b = train_networks("tent-lm", t, y, cfg, [0])
    assert not torch.equal(a.phase1_layers[0][0], b.phase1_layers[0][0])
