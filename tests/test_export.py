import json

import numpy as np
import pytest
import torch

from tentnet import TentNet, TentnetError, export, load, save_model
from tentnet.cli import main
from tentnet.export import load_torchscript

DOMAIN = (-1.0, 2.0)


@pytest.fixture(params=[torch.float64, torch.float32])
def mlp(request):
    g = torch.Generator().manual_seed(1)
    peaks = 0.2 + 0.6 * torch.rand(8, generator=g, dtype=request.param)
    return TentNet(7, DOMAIN, peaks=peaks, dtype=request.param).to_mlp()


def _grid(dtype):
    return torch.linspace(*DOMAIN, 10_001, dtype=dtype)[:, None]


def test_onnx_agrees_with_torch(tmp_path, mlp):
    ort = pytest.importorskip("onnxruntime")
    dtype = mlp[0].weight.dtype
    diffs = export(mlp, {"domain": list(DOMAIN)}, onnx_path=tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = _grid(dtype)
    (y,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        ref = mlp(x).numpy()
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert np.abs(y - ref).max() <= tol
    assert diffs["onnx"] <= tol
    assert y.dtype == ref.dtype


def test_torchscript_and_json_agree_with_torch(tmp_path, mlp):
    diffs = export(
        mlp,
        {"domain": list(DOMAIN), "depth": 7},
        torchscript_path=tmp_path / "m.pt",
        json_path=tmp_path / "m.json",
    )
    assert diffs == {"torchscript": 0.0, "json": 0.0}
    x = _grid(mlp[0].weight.dtype)
    scripted = load_torchscript((tmp_path / "m.pt").read_bytes())
    back, meta = load(tmp_path / "m.json")
    with torch.no_grad():
        assert torch.equal(scripted(x), mlp(x))
        assert torch.equal(back(x), mlp(x))
    assert meta["domain"] == DOMAIN and meta["depth"] == 7


@pytest.mark.parametrize(
    "content, match",
    [
        ("{", "not JSON"),
        ('{"format": "other"}', "not a tentnet JSON model"),
        ('{"format": "tentnet.mlp.json", "layers": []}', "missing or empty"),
        (
            '{"format": "tentnet.mlp.json", "layers": [{"weight": [[1, 2]], "bias": [1, 2]}]}',
            "inconsistent",
        ),
        ('{"format": "tentnet.mlp.json", "layers": [{"weight": [["a"]], "bias": [1]}]}', "numeric"),
        (
            '{"format": "tentnet.mlp.json", "layers": [{"weight": [[NaN]], "bias": [1]}]}',
            "non-finite",
        ),
    ],
)
def test_bad_json_models_are_refused(tmp_path, content, match):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(TentnetError, match=match):
        load(path)


def test_cli_export(tmp_path, capsys, mlp):
    pytest.importorskip("onnxruntime")
    save_model(tmp_path / "m.safetensors", mlp, {"domain": list(DOMAIN), "depth": 7})
    code = main(
        [
            "export",
            str(tmp_path / "m.safetensors"),
            "--onnx",
            str(tmp_path / "a.onnx"),
            "--torchscript",
            str(tmp_path / "a.pt"),
            "--json",
            str(tmp_path / "a.json"),
            "--print-json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"onnx", "torchscript", "json"}
    assert all(v["max_abs_difference"] <= 1e-5 for v in doc.values())
    assert main(["export", str(tmp_path / "m.safetensors")]) == 2
    assert "say what to export" in capsys.readouterr().err
