"""Basin hops: kicked weights trained again, kept only where they end closer."""

import torch

from tentnet.config import TrainOutput
from tentnet.hops import hop_generators, hop_warp
from tentnet.mlp import stack_mse
from tentnet.optim import basin_hops
from tentnet.reconstruct import RESAMPLE_POINTS, reconstruction
from tentnet.warp import fit_warp, warp_grid

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
