import itertools

import pytest
import torch
from torch import nn

from tentnet import TentnetError, TrainConfig
from tentnet.cli import main
from tentnet.layers import FreeTentLayer, TentLayer, free_tent_layers
from tentnet.multi import count_parameters, matching_dense, tent_regressor, train_model

from .conftest import TOL


def _layer(seed=0, n_in=3, n_out=5, depth=4):
    g = torch.Generator().manual_seed(seed)
    layer = TentLayer(n_in, n_out, depth, generator=g, dtype=torch.float64)
    x = torch.randn(300, n_in, generator=g, dtype=torch.float64)
    layer.calibrate(x)
    return layer, x


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_to_mlp_is_exact_inside_and_outside_the_calibrated_range(depth):
    layer, x = _layer(depth=depth)
    mlp = layer.to_mlp()
    far = 10 * torch.randn(100, 3, dtype=torch.float64)
    with torch.no_grad():
        for pts in (x, far):
            assert (mlp(pts) - layer(pts)).abs().max() <= TOL[torch.float64]
            assert (layer.free()(pts) - layer(pts)).abs().max() <= TOL[torch.float64]


def test_hidden_weights_are_block_diagonal():
    layer, _ = _layer(n_out=5)
    mlp = layer.to_mlp()
    hidden = [m for m in mlp if isinstance(m, nn.Linear)][2]  # a tent layer, 8 per channel
    w = hidden.weight.detach()
    assert w.shape == (40, 40)
    for i in range(5):
        for j in range(5):
            if i != j:
                assert torch.count_nonzero(w[8 * i : 8 * i + 8, 8 * j : 8 * j + 8]) == 0


def test_calibration_maps_each_channel_into_the_unit_interval():
    layer, x = _layer()
    with torch.no_grad():
        z = layer.linear(x) * layer.gain + layer.shift
    assert float(z.min()) >= 0.0 and float(z.max()) <= 1.0
    assert float(z.min()) < 0.1 and float(z.max()) > 0.9


def test_two_phases_inside_a_larger_model():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(400, 2, dtype=torch.float64, generator=g)
    y = ((x**2).sum(1, keepdim=True)) ** 1.5
    model = tent_regressor(2, 4, 3, g)
    loss = lambda a, b: ((a - b) ** 2).mean()  # noqa: E731
    start = float(loss(model(x), y).detach())
    model, curve = train_model(model, x, y, loss, 200, phase1_steps=100, every=50)
    assert isinstance(model[0], FreeTentLayer)
    assert curve[-1][1] < start
    assert count_parameters(model) > 0


def test_free_tent_layers_recurses():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(TentLayer(3, 2, 2, generator=g)))
    free_tent_layers(model)
    assert isinstance(model[1][0], FreeTentLayer)


def test_matching_dense_is_close():
    sizes = matching_dense(2, 1, 3, 2000)
    count = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    assert abs(count - 2000) < 200 and sizes[0] == 2 and sizes[-1] == 1


def test_bad_layer_sizes():
    with pytest.raises(TentnetError):
        TentLayer(0, 3, 2)
    with pytest.raises(TentnetError, match="depth"):
        TentLayer(2, 3, 0)


def test_cli_many_inputs(tmp_path, capsys):
    code = main(
        [
            "fit",
            "--target",
            "(x0**2 + x1**2)**1.5",
            "--steps",
            "60",
            "--points",
            "200",
            "--depth",
            "3",
            "--out",
            str(tmp_path),
            "--json",
            "--quiet",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"inputs": 2' in out and (tmp_path / "model.safetensors").exists()
    assert (
        main(["export", str(tmp_path / "model.safetensors"), "--json", str(tmp_path / "m.json")])
        == 0
    )
    assert "max |difference| vs torch on the domain 0.00e+00" in capsys.readouterr().out


def test_fit_takes_a_target_of_several_inputs_and_saves_it(tmp_path):
    from tentnet import fit, load

    (r,) = fit("x0*x1", depth=3, seeds=[2], points=300, config=TrainConfig(steps=60))
    assert r.inputs == 2 and r.method == "tentlayer" and r.seed == 2
    assert r.linear_regions == -1 and r.test_mse >= 0 and r.max_abs_error >= 0
    assert r.save(tmp_path, plot=True) == ["model.safetensors", "metrics.json"]  # no figure
    mlp, meta = load(tmp_path / "model.safetensors")
    assert meta["inputs"] == 2 and meta["metrics"]["inputs"] == 2
    assert mlp[0].in_features == 2
    with pytest.raises(TentnetError, match="one --seed"):
        fit("x0*x1", seeds=[0, 1])
    with pytest.raises(TentnetError, match="--lm-iterations do"):
        fit("x0*x1", config=TrainConfig(lm_iterations=5))
