import itertools
import time

import numpy as np
import pytest
import torch
from torch import nn

from tentnet import TentNet, TentnetError, count_linear_regions


def random_mlp(widths, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def sampled_patterns(mlp, x):
    """Activation pattern of every ReLU at every sample point: (P, neurons) bool."""
    pats = []
    h = x
    for m in mlp:
        h = m(h)
        if isinstance(m, nn.ReLU):
            pats.append(h > 0)
    return torch.cat(pats, dim=1)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("widths", [[1, 3, 1], [1, 8, 8, 1], [1, 5, 7, 3, 2], [1, 16, 16, 16, 1]])
def test_exact_counter_agrees_with_dense_sampling(widths, seed):
    mlp = random_mlp(widths, seed)
    lo, hi = -3.0, 3.0
    reg = count_linear_regions(mlp, (lo, hi))
    x = torch.linspace(lo, hi, 200_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        y = mlp(x).numpy()
        pats = sampled_patterns(mlp, x).numpy()
    # Brute force: pattern changes between neighbouring samples. A region narrower than the
    # spacing can hide, so sampling may only undercount, by at most the narrow regions.
    sampled = 1 + int((pats[1:] != pats[:-1]).any(axis=1).sum())
    edges = np.concatenate([[lo], reg.activation_breakpoints, [hi]])
    narrow = int((np.diff(edges) < 2 * (hi - lo) / 200_000).sum())
    assert reg.activation_regions - narrow <= sampled <= reg.activation_regions
    # The exact pieces reproduce the function: linear between breakpoints, so interpolating the
    # network's values at the breakpoints gives the network everywhere.
    knots = np.concatenate([[lo], reg.breakpoints, [hi]])
    with torch.no_grad():
        knot_y = mlp(torch.as_tensor(knots)[:, None]).numpy()
    for k in range(y.shape[1]):
        interp = np.interp(x[:, 0].numpy(), knots, knot_y[:, k])
        assert np.abs(interp - y[:, k]).max() <= 1e-10 * max(1.0, np.abs(y).max())
    # Every reported breakpoint is a real kink: the slopes on either side differ.
    assert reg.slopes.shape == (reg.linear_regions, widths[-1])
    assert (np.abs(np.diff(reg.slopes, axis=0)).max(axis=1) > 0).all()
    assert reg.linear_regions <= reg.activation_regions


def test_equal_affine_pieces_are_merged():
    # A neuron that switches but feeds the output with weight 0 splits activation regions only.
    mlp = nn.Sequential(
        nn.Linear(1, 2, dtype=torch.float64), nn.ReLU(), nn.Linear(2, 1, dtype=torch.float64)
    )
    with torch.no_grad():
        mlp[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
        mlp[0].bias.copy_(torch.tensor([-0.3, -0.6]))
        mlp[2].weight.copy_(torch.tensor([[2.0, 0.0]]))
    reg = count_linear_regions(mlp, (0.0, 1.0))
    assert reg.activation_regions == 3
    assert reg.linear_regions == 2
    assert np.allclose(reg.breakpoints, [0.3])
    assert np.allclose(reg.activation_breakpoints, [0.3, 0.6])


def test_no_relu_and_nested_sequential():
    lin = nn.Sequential(nn.Sequential(nn.Linear(1, 3)), nn.Identity(), nn.Linear(3, 1))
    reg = count_linear_regions(lin, (0.0, 1.0))
    assert reg.linear_regions == 1 and reg.activation_regions == 1
    assert reg.breakpoints.size == 0


def test_over_100k_regions_in_seconds():
    g = torch.Generator().manual_seed(0)
    net = TentNet(
        17, peaks=0.2 + 0.6 * torch.rand(18, generator=g, dtype=torch.float64), dtype=torch.float64
    )
    start = time.perf_counter()
    reg = count_linear_regions(net.to_mlp(), (0.0, 1.0))
    seconds = time.perf_counter() - start
    assert reg.activation_regions == 2**17
    assert reg.linear_regions == 2**17
    assert np.all(np.diff(reg.breakpoints) > 0)
    print(f"131072 regions counted in {seconds:.2f} s")


@pytest.mark.parametrize(
    "model, match",
    [
        (nn.Sequential(nn.Linear(1, 3), nn.Tanh(), nn.Linear(3, 1)), "Tanh"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), "1 input"),
        (nn.Sequential(nn.ReLU()), "1 input"),
    ],
)
def test_unsupported_models_are_refused(model, match):
    with pytest.raises(TentnetError, match=match):
        count_linear_regions(model, (0.0, 1.0))


def test_bad_domain_and_nonfinite_weights():
    mlp = random_mlp([1, 3, 1], 0)
    with pytest.raises(TentnetError, match="domain"):
        count_linear_regions(mlp, (1.0, 0.0))
    with torch.no_grad():
        mlp[0].weight[0, 0] = float("nan")
    with pytest.raises(TentnetError, match="non-finite"):
        count_linear_regions(mlp, (0.0, 1.0))


def test_float32_model_is_counted_in_float64():
    net = TentNet(6, peaks=torch.full((7,), 0.4), dtype=torch.float32)
    assert count_linear_regions(net.to_mlp(), (0.0, 1.0)).linear_regions == 64


def test_counting_stops_with_a_clear_error_beyond_the_piece_budget():
    mlp = TentNet(depth=12, dtype=torch.float64).to_mlp()
    assert count_linear_regions(mlp).linear_regions == 2**12
    with pytest.raises(TentnetError, match="more than 1,024 linear pieces"):
        count_linear_regions(mlp, max_pieces=1024)


def test_deep_fits_skip_counting_instead_of_running_out_of_memory():
    from tentnet.fit import fit
    from tentnet.train import TrainConfig

    (r,) = fit("x**2", depth=22, method="tent", config=TrainConfig(steps=4, phase1_steps=2))
    assert r.linear_regions == -1 and r.phase1_linear_regions is None
