"""Basin hops: kicked weights trained again, kept only where they end closer."""

from dataclasses import replace

import pytest
import torch

from tentnet.config import TrainConfig, TrainOutput
from tentnet.hops import hop_generators, hop_warp, train_finalist
from tentnet.mlp import stack_mse
from tentnet.optim import basin_hops, init_generators
from tentnet.reconstruct import RESAMPLE_POINTS, reconstruction
from tentnet.train import train_networks
from tentnet.warp import FLOOR_STARTS, fit_warp, warp_grid, warp_starts

from .conftest import standardised_samples


def _fitted(lm_iterations=5):
    t, y = standardised_samples("x**3", 2, 300)
    layers, _, _ = fit_warp(t, y, 6, 2, lm_iterations=lm_iterations)
    return t, y, layers


def _judged(layers, t, y):
    """Each network's MSE halfway between the reconstruction's grid points (what hops judge)."""
    _, _, between = reconstruction(t, y, warp_grid(RESAMPLE_POINTS, 6, 2), per_point=None)
    return stack_mse(layers, between[0].unsqueeze(-1), between[1])


def _same(one, other):
    return all(
        torch.equal(w, v) and torch.equal(b, c) for (w, b), (v, c) in zip(one, other, strict=True)
    )


def test_hops_end_closer_between_the_grid_points_and_are_repeatable():
    t, y, layers = _fitted()
    out = TrainOutput(layers=layers)
    seen = []
    hopped = hop_warp(
        out,
        t,
        y,
        6,
        2,
        [0, 1],
        rounds=2,
        resample=RESAMPLE_POINTS,
        progress=lambda *a: seen.append(a),
    )
    assert [a[:3] for a in seen] == [("hops", 1, 2), ("hops", 2, 2)] and seen[1][3] <= seen[0][3]
    assert bool((_judged(hopped.layers, t, y) < _judged(layers, t, y)).all())
    again = hop_warp(out, t, y, 6, 2, [0, 1], rounds=2, resample=RESAMPLE_POINTS)
    assert _same(hopped.layers, again.layers)
    assert hop_warp(out, t, y, 6, 2, [0, 1], rounds=0) is out


def test_a_hop_that_ends_farther_is_not_kept():
    """Kicks of 100% with no LM after them only make the networks worse: nothing changes."""
    t, y, layers = _fitted()
    x = t.unsqueeze(-1)
    kept = basin_hops(layers, x, y, 3, 0, 1.0, hop_generators([0, 1]))
    assert _same(kept, layers)
    moved = basin_hops(layers, x, y, 1, 20, 1e-3, hop_generators([0, 1]))
    assert bool((stack_mse(moved, x, y) < stack_mse(layers, x, y)).all())


def test_each_network_draws_its_own_kicks():
    """A seed's kicks come from its own stream: the same for seed 1 alone as beside seed 0."""
    a, b = hop_generators([0, 1]), hop_generators([1])
    assert torch.equal(torch.randn(5, generator=a[1]), torch.randn(5, generator=b[0]))
    assert not torch.equal(torch.randn(5, generator=a[0]), torch.randn(5, generator=b[0]))


def test_known_starts_take_their_rows_untrained_and_change_nothing():
    """auto's finalists reuse the one-start networks it judged (unmoved and floored): the
    same bits as training them again, and what is given is used as it is."""
    t, y = standardised_samples("x**3", 2, 300)
    one, _, _ = fit_warp(t, y, 6, 2, lm_iterations=20)
    floored, _, _ = fit_warp(t, y, 6, 2, lm_iterations=20, floor=FLOOR_STARTS[1])

    def starts(known):
        gens = init_generators([0, 1], 3)  # fresh streams: the same moved knots every time
        return warp_starts(t, y, 6, 2, lm_iterations=20, generators=gens, known=known)

    full, reused = starts(None), starts({0.0: one, FLOOR_STARTS[1]: floored})
    assert _same(full[0], reused[0]) and torch.equal(full[2], reused[2])
    doubled = [(2 * w, 2 * b) for w, b in one]
    given = starts({0.0: doubled})[0]
    rows = torch.tensor([0, 6])  # every seed's first start (3 starts + 3 floored each)
    assert _same([(w[rows], b[rows]) for w, b in given], doubled)


@pytest.mark.parametrize("method", ["tent-warp", "tent-scaled"])
def test_a_finalist_trains_as_train_networks_then_hops(method):
    t, y = standardised_samples("x**3", 2, 300)
    shape = TrainConfig(depth=3, width=6, lm_iterations=20, restarts=3, resample=RESAMPLE_POINTS)
    one = train_networks(method, t, y, replace(shape, restarts=1), [0, 1])
    found = train_finalist(method, shape, t, y, [0, 1], {0.0: one.layers}, rounds=1)
    again = train_networks(method, t, y, shape, [0, 1])
    want = hop_warp(again, t, y, 6, 2, [0, 1], 1, resample=RESAMPLE_POINTS)
    assert _same(found.layers, want.layers) and found.starts == again.starts
