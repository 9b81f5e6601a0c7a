import math

import pytest
import torch

from tentnet import TentNet, TentnetError, count_linear_regions
from tentnet.tent import (
    logits_from_peaks,
    peaks_from_logits,
    smooth_scales,
    smooth_scales_backward,
    tent_forward,
    tent_loss_and_grad,
)

from .conftest import TOL


def random_net(depth, smooth=True, seed=0, domain=(0.0, 1.0), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    n = depth + 1 if smooth else depth
    peaks = 0.08 + 0.84 * torch.rand(n, generator=g, dtype=dtype)
    net = TentNet(depth, domain, smooth=smooth, peaks=peaks, dtype=dtype)
    with torch.no_grad():
        net.c0.fill_(float(torch.randn(1, generator=g)))
        net.c1.fill_(float(torch.randn(1, generator=g)))
        if smooth:
            net.scale.fill_(float(torch.randn(1, generator=g)))
        else:
            net.scales_free.copy_(
                torch.randn(depth, generator=g, dtype=dtype) * 0.5 ** torch.arange(depth)
            )
    return net


@pytest.mark.parametrize("depth", range(1, 31))
def test_to_mlp_equals_closed_form_float64(depth):
    net = random_net(depth, seed=depth, domain=(-2.0, 3.0))
    mlp = net.to_mlp()
    x = torch.linspace(-2.0, 3.0, 20_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        diff = (net(x) - mlp(x)).abs().max().item()
    assert diff <= TOL[torch.float64]
    assert len([m for m in mlp if isinstance(m, torch.nn.Linear)]) == depth + 1
    assert all(m.out_features <= 4 for m in mlp if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("depth", [1, 4, 12])
def test_to_mlp_equals_closed_form_free_scales_and_float32(depth):
    net = random_net(depth, smooth=False, seed=3)
    x = torch.rand(5000, 1, dtype=torch.float64)
    with torch.no_grad():
        assert (net(x) - net.to_mlp()(x)).abs().max().item() <= TOL[torch.float64]
    net32 = random_net(depth, seed=3, dtype=torch.float32)
    mlp32 = net32.to_mlp()
    assert mlp32[0].weight.dtype == torch.float32
    with torch.no_grad():
        assert (net32(x.float()) - mlp32(x.float())).abs().max().item() <= TOL[torch.float32]


def test_weights_stay_order_one_at_depth_30():
    # The carried bias neuron keeps the construction well conditioned: no tiny or huge weights.
    mlp = random_net(30, seed=1).to_mlp()
    for m in mlp:
        if isinstance(m, torch.nn.Linear):
            w = m.weight.abs()
            assert w.max() < 1e3
            assert w[w > 0].min() > 1e-4


@pytest.mark.parametrize("depth", range(1, 17))
@pytest.mark.parametrize("smooth", [True, False])
def test_exactly_2_pow_d_regions(depth, smooth):
    net = random_net(depth, smooth=smooth, seed=10 + depth, domain=(1.0, 5.0))
    reg = count_linear_regions(net.to_mlp(), (1.0, 5.0))
    assert reg.activation_regions == 2**depth
    assert reg.linear_regions == 2**depth


def test_tent_map_two_relu_form():
    a = 0.3
    y = torch.linspace(0, 1, 1001, dtype=torch.float64)
    relu_form = torch.relu(y) / a - torch.relu(y - a) / (a * (1 - a))
    net = TentNet(1, peaks=torch.tensor([a, 0.5]), dtype=torch.float64)
    assert torch.allclose(net.levels(y)[:, 0], relu_form, atol=1e-14)


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_default_is_yarotsky_interpolant_of_square(depth):
    net = TentNet(depth, dtype=torch.float64)  # peaks 1/2, s_i = -4^-i, c1 = 1
    k = torch.arange(2**depth + 1, dtype=torch.float64)
    knots = (k / 2**depth)[:, None]
    with torch.no_grad():
        assert torch.allclose(net(knots), knots**2, atol=1e-14)
        x = torch.linspace(0, 1, 10 * 2**depth + 1, dtype=torch.float64)[:, None]  # has midpoints
        max_err = (net(x) - x**2).abs().max().item()
    assert math.isclose(max_err, 2.0 ** (-2 * depth - 2), rel_tol=1e-6)


def _largest_slope_jump(net):
    reg = count_linear_regions(net.to_mlp(), net.domain, rtol=0.0)
    return float(abs(reg.slopes[1:] - reg.slopes[:-1]).max())


def test_smoothness_condition_makes_slope_jumps_vanish():
    g = torch.Generator().manual_seed(5)
    peaks = 0.2 + 0.6 * torch.rand(14, generator=g, dtype=torch.float64)
    smooth_jumps, free_jumps = [], []
    for d in range(2, 13):
        net = TentNet(d, peaks=peaks[: d + 1], dtype=torch.float64)
        smooth_jumps.append(_largest_slope_jump(net))
        free = TentNet(d, smooth=False, peaks=peaks[:d], dtype=torch.float64)
        with torch.no_grad():  # same first scale, then the plain Yarotsky ratio 1/4
            free.scales_free.copy_(net.scales[0] * 0.25 ** torch.arange(d))
        free_jumps.append(_largest_slope_jump(free))
    # Geometric decay: every three more levels shrink the largest jump by a factor.
    assert max(b / a for a, b in zip(smooth_jumps, smooth_jumps[3:], strict=False)) < 0.75
    assert smooth_jumps[-1] < 0.02 * smooth_jumps[0]
    # Without the condition the jumps stall (here near 0.1) instead of vanishing.
    assert free_jumps[-1] > 0.9 * free_jumps[-4]
    assert free_jumps[-1] > 5 * smooth_jumps[-1]


def test_peak_map_is_smooth_and_bounded():
    logits = torch.tensor([-1e3, -3.0, 0.0, 3.0, 1e3], dtype=torch.float64)
    peaks = peaks_from_logits(logits, 0.05)
    assert bool((peaks >= 0.05 - 1e-15).all() and (peaks <= 0.95 + 1e-15).all())
    assert bool((peaks[1:-1] > 0.05).all() and (peaks[1:-1] < 0.95).all())
    inner = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(peaks_from_logits(logits_from_peaks(inner)), inner, atol=1e-15)
    with pytest.raises(TentnetError, match="strictly inside"):
        logits_from_peaks(torch.tensor([0.01]))


def test_gradcheck_closed_form():
    net = random_net(4, seed=2)
    x = torch.rand(30, 1, dtype=torch.float64)
    params = (net.peak_logits, net.scale, net.c0, net.c1)

    def f(lg, s, c0, c1):
        peaks = peaks_from_logits(lg)[None]
        return tent_forward(x.T, peaks, smooth_scales(peaks, s[None]), c0[None], c1[None])

    assert torch.autograd.gradcheck(f, tuple(p.detach().requires_grad_() for p in params))


@pytest.mark.parametrize("smooth", [True, False])
def test_explicit_phase1_gradient_equals_autograd(smooth):
    torch.manual_seed(0)
    n, d = 3, 6
    t = torch.rand(n, 50, dtype=torch.float64)
    y = torch.sin(3 * t)
    lg = torch.randn(n, d + 1, dtype=torch.float64, requires_grad=True)
    s1 = torch.randn(n, dtype=torch.float64, requires_grad=True)
    free = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(n, dtype=torch.float64, requires_grad=True)
    c1 = torch.randn(n, dtype=torch.float64, requires_grad=True)
    peaks = peaks_from_logits(lg)
    scales = smooth_scales(peaks, s1) if smooth else free
    ((tent_forward(t, peaks, scales, c0, c1) - y) ** 2).mean(1).sum().backward()
    with torch.no_grad():
        loss, (gp, gs, g0, g1) = tent_loss_and_grad(t, y, peaks, scales, c0, c1)
        assert torch.allclose(loss, ((tent_forward(t, peaks, scales, c0, c1) - y) ** 2).mean(1))
        assert torch.allclose(g0, c0.grad, atol=1e-13) and torch.allclose(g1, c1.grad, atol=1e-13)
        if smooth:
            extra, g_s1 = smooth_scales_backward(peaks, s1, gs)
            gp = torch.cat([gp, torch.zeros(n, 1, dtype=torch.float64)], 1) + extra
            assert torch.allclose(g_s1, s1.grad, atol=1e-12)
            sig = torch.sigmoid(lg)
            assert torch.allclose(gp * 0.9 * sig * (1 - sig), lg.grad, atol=1e-12)
        else:
            assert torch.allclose(gs, free.grad, atol=1e-13)


@pytest.mark.parametrize("bad", [0, -1, 65, 2.5, True, "3"])
def test_impossible_depths_are_refused(bad):
    with pytest.raises(TentnetError, match="depth"):
        TentNet(bad)


@pytest.mark.parametrize("domain", [(1.0, 1.0), (2.0, 1.0), (0.0, float("inf")), ("a", 1)])
def test_bad_domains_are_refused(domain):
    with pytest.raises(TentnetError, match="domain"):
        TentNet(3, domain)


def test_forward_is_pure_and_follows_dtype():
    net = random_net(3, seed=4)
    x = torch.rand(7, 1, dtype=torch.float64)
    assert net(x).shape == (7, 1)
    assert torch.equal(net(x), net(x))
    assert net.to_mlp()(x).dtype == torch.float64


def _sawtooth(teeth_levels: int) -> str:
    f = "x"
    for k in range(teeth_levels):
        f = f"abs({f} - {0.5 / 2**k})"
    return f


def test_exact_tent_recovers_a_tent_network_from_its_points():
    """Teacher and student: a tent network of 3 levels with free scales, sampled at 500
    random points, comes back exactly as a depth-5 network (the extra levels idle)."""
    from tentnet.mlp import stack_forward
    from tentnet.tentfit import exact_tent

    g = torch.Generator().manual_seed(3)
    t = torch.rand(4, 500, generator=g, dtype=torch.float64)
    peaks = 0.2 + 0.6 * torch.rand(4, 3, generator=g, dtype=torch.float64)
    scales = torch.randn(4, 3, generator=g, dtype=torch.float64)
    c0, c1 = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    y = tent_forward(t, peaks, scales, c0, c1)
    layers, found = exact_tent(t, y, 5)
    assert found.all()
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64).expand(4, -1)
    out = stack_forward(layers, grid.unsqueeze(-1))[..., 0]
    assert float((out - tent_forward(grid, peaks, scales, c0, c1)).abs().max()) < 1e-12
    assert exact_tent(t, y, 2) is None  # 8 pieces do not fit 2 levels
    assert exact_tent(t, t * t, 5) is None  # smooth
    assert exact_tent(t, (t - 0.3).abs() + (t - 0.6).abs(), 5) is None  # 3 pieces: no chain


def test_tent_plus_fits_a_sawtooth_exactly():
    """2^depth teeth: a tent network with peaks 1/2 and one scale; tent-lm trained from random
    peaks ended near the target's own variance (6e-5 at depth 5), now exact."""
    from tentnet.fit import fit
    from tentnet.train import TrainConfig

    cfg = TrainConfig(depth=4, lm_iterations=10, restarts=2, phase1_steps=20)
    (r,) = fit(_sawtooth(4), method="tent-lm", depth=4, config=cfg)
    assert r.test_mse < 1e-26 and r.linear_regions == 16


def test_auto_takes_the_exact_tent_network_without_validation():
    """Held out, 20% of the points would leave some teeth with too few to show them; auto
    checks the exact fits on all the points first. 32 teeth: more pieces than the shallow
    network of depth 5's weights (30 units) or a tent network of depth 4 can have."""
    from tentnet.fit import fit
    from tentnet.train import TrainConfig

    cfg = TrainConfig(lm_iterations=10, restarts=2, phase1_steps=20)
    (r,) = fit(_sawtooth(5), method="auto", depth=5, config=cfg)
    assert r.method == "tent-lm" and r.test_mse < 1e-26
    assert "lie on a tent-lm network" in r.auto["why"]
    (r,) = fit(_sawtooth(5), method="auto", depth=4, config=cfg)
    assert "no validation" not in r.auto["why"] and r.test_mse > 1e-12
