import pytest
import torch

from tentnet import count_linear_regions
from tentnet.fit import fit
from tentnet.mlp import parallel_layers, sequential_from_layers
from tentnet.targets import curvature
from tentnet.tent import (
    smooth_scales,
    tent_forward,
    tent_loss_and_grad,
    tent_mlp_layers,
)
from tentnet.train import TrainConfig, convexifying_curvature

from .conftest import TOL


def _pair(seed, d=6):
    g = torch.Generator().manual_seed(seed)
    pa = 0.1 + 0.8 * torch.rand(1, d + 1, generator=g, dtype=torch.float64)
    pb = 0.1 + 0.8 * torch.rand(1, d + 1, generator=g, dtype=torch.float64)
    sa = smooth_scales(pa, torch.tensor([-0.7], dtype=torch.float64))
    sb = smooth_scales(pb, torch.tensor([0.4], dtype=torch.float64))
    return pa, pb, sa, sb


@pytest.mark.parametrize("seed", range(4))
def test_pair_mlp_equals_sum_of_closed_forms(seed):
    pa, pb, sa, sb = _pair(seed)
    c0 = torch.tensor([0.3], dtype=torch.float64)
    c1 = torch.tensor([-1.1], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    layers = parallel_layers(tent_mlp_layers(pa, sa, c0, c1), tent_mlp_layers(pb, sb, zero, zero))
    mlp = sequential_from_layers(layers)
    assert mlp[0].out_features == 8 and mlp[2].weight.shape == (8, 8)
    t = torch.linspace(0, 1, 5001, dtype=torch.float64)[None]
    ref = tent_forward(t, pa, sa, c0, c1) + tent_forward(t, pb, sb, zero, zero)
    with torch.no_grad():
        assert (mlp(t.T).T - ref).abs().max() <= TOL[torch.float64]
    reg = count_linear_regions(mlp, (0.0, 1.0))
    assert 2**6 <= reg.linear_regions <= 2 * 2**6 - 1


def test_pair_gradient_equals_autograd():
    pa, pb, sa, sb = _pair(7, d=4)
    params = [v.clone().requires_grad_(True) for v in (pa, pb, sa, sb)]
    c0 = torch.tensor([0.1], dtype=torch.float64, requires_grad=True)
    c1 = torch.tensor([0.2], dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 40, dtype=torch.float64)
    y = torch.sin(5 * t)
    zero = torch.zeros(1, dtype=torch.float64)
    out = tent_forward(t, params[0], params[2], c0, c1) + tent_forward(
        t, params[1], params[3], zero, zero
    )
    ((out - y) ** 2).mean().backward()
    with torch.no_grad():
        _, (gp, gs, g0, g1) = tent_loss_and_grad(t, y, [pa, pb], [sa, sb], c0, c1)
    assert torch.allclose(gp[0], params[0].grad[:, :4], atol=1e-12)
    assert torch.allclose(gp[1], params[1].grad[:, :4], atol=1e-12)
    assert torch.allclose(gs[1], params[3].grad, atol=1e-12)
    assert torch.allclose(g0, c0.grad) and torch.allclose(g1, c1.grad)


def test_convexifying_curvature():
    t = torch.rand(2, 400, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.stack([-(t[0] ** 2), t[1] ** 3])
    k = convexifying_curvature(t, y)
    assert k[0] == pytest.approx(1.1, rel=0.05)  # y + k t^2 convex needs k >= 1
    assert k[1] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    "target, domain, shape",
    [
        ("x**3", (0, 1), "convex"),
        ("-exp(x)", (0, 2), "concave"),
        ("x**3 - x", (-1, 1), "neither"),
        ("sin(3*x)", (0, 3), "neither"),
        ("2*x + 1", (0, 1), "convex"),
    ],
)
def test_curvature(target, domain, shape):
    assert curvature(target, domain).startswith(f"target is {shape}")


def test_tent_dc_fit_small_budget():
    cfg = TrainConfig(steps=700, phase1_steps=600)
    res = fit("x**3 - x", method="tent-dc", domain=(-1.0, 1.0), seeds=[0, 1], config=cfg)
    assert all(r.width == 8 and r.phase1_linear_regions >= 32 for r in res)
    assert max(r.test_mse for r in res) < 0.015  # loose sanity bound: 1/5 of the variance
