import json
import struct

import numpy as np
import pytest
import torch

from tentnet import TentNet, TentnetError
from tentnet.io import load, model_bytes, save_model

META = {"domain": [-1.0, 2.0], "depth": 4, "width": 4, "method": "tent", "target": "x**3"}


@pytest.fixture
def mlp():
    g = torch.Generator().manual_seed(0)
    net = TentNet(4, (-1.0, 2.0), peaks=0.2 + 0.6 * torch.rand(5, generator=g), dtype=torch.float64)
    return net.to_mlp()


def test_round_trip_is_exact(tmp_path, mlp):
    save_model(tmp_path / "m.safetensors", mlp, META)
    loaded, meta = load(tmp_path / "m.safetensors")
    for a, b in zip(mlp.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(a, b)
    assert meta["domain"] == (-1.0, 2.0) and meta["depth"] == 4 and meta["target"] == "x**3"
    assert meta["format"] == "tentnet.mlp"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_readable_by_the_safetensors_package(tmp_path, mlp):
    st = pytest.importorskip("safetensors.numpy")
    save_model(tmp_path / "m.safetensors", mlp, META)
    tensors = st.load_file(str(tmp_path / "m.safetensors"))
    assert np.array_equal(tensors["layers.0.weight"], mlp[0].weight.detach().numpy())
    assert len(tensors) == 10


def test_foreign_safetensors_file_is_refused(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    st.save_file({"w": np.zeros((2, 2))}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(TentnetError, match="another tool"):
        load(tmp_path / "foreign.safetensors")


def _corrupt_variants(good: bytes):
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    yield "empty", b"", "truncated"
    yield "short", good[:5], "truncated"
    yield "cut", good[: len(good) - 9], "truncated"
    yield "huge-header", struct.pack("<Q", 2**40) + good[8:], "header length"
    yield "not-json", good[:8] + b"{" * n + good[8 + n :], "not JSON"
    yield "random", bytes(range(256)) * 4, "not"

    def variant(mutate):
        h = json.loads(json.dumps(header))
        mutate(h)
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + good[8 + n :]

    yield "version", variant(lambda h: h["__metadata__"].update(format_version="99")), "version"
    yield "shape", variant(lambda h: h["layers.1.weight"].update(shape=[4, 5])), "shape"
    yield "dtype", variant(lambda h: h["layers.0.bias"].update(dtype="I8")), "dtype"
    yield "offsets", variant(lambda h: h["layers.0.bias"].update(data_offsets=[0, 3])), "offsets"
    yield "missing", variant(lambda h: h.pop("layers.2.bias")), "missing"
    yield "sizes", variant(lambda h: h["__metadata__"].update(sizes="[1]")), "sizes"
    yield "domain", variant(lambda h: h["__metadata__"].update(domain="[2, 1]")), "domain"


def test_corrupt_files_get_a_clear_error(tmp_path, mlp):
    good = model_bytes(mlp, META)
    for name, data, match in _corrupt_variants(good):
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        with pytest.raises(TentnetError, match=match):
            load(path)


def test_nonfinite_weights_never_written(tmp_path, mlp):
    with torch.no_grad():
        mlp[0].weight[0, 0] = float("inf")
    with pytest.raises(TentnetError, match="non-finite"):
        save_model(tmp_path / "m.safetensors", mlp, META)
    assert not list(tmp_path.iterdir())
    # A file whose weights were made non-finite after writing is refused on load.
    with torch.no_grad():
        mlp[0].weight[0, 0] = 1.0
    data = bytearray(model_bytes(mlp, META))
    data[-8:] = struct.pack("<d", float("nan"))
    (tmp_path / "nan.safetensors").write_bytes(bytes(data))
    with pytest.raises(TentnetError, match="non-finite"):
        load(tmp_path / "nan.safetensors")


def test_missing_file(tmp_path):
    with pytest.raises(TentnetError, match="not found"):
        load(tmp_path / "nope.safetensors")


def test_model_meta_round_trips_through_a_saved_fit(tmp_path):
    from tentnet import fit
    from tentnet.io import ModelMeta

    (r,) = fit("x**2", depth=1, method="knots", seeds=[1])
    r.save(tmp_path, plot=False)
    _, meta = load(tmp_path / "model.safetensors")
    record = ModelMeta.from_dict(meta)
    assert (record.method, record.depth, record.seed, record.domain) == ("knots", 1, 1, (0.0, 1.0))
    file_keys = {"format", "format_version", "sizes"}  # the format's own, added by save_model
    written = {k: v for k, v in meta.items() if k not in file_keys}
    assert record.to_dict() == {**written, "domain": list(meta["domain"])}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"depth": None}, "lacks depth"),
        ({"depth": "5"}, "'depth' is not a int"),
        ({"seed": True}, "'seed' is not a int"),
        ({"domain": [1, 0]}, "domain"),
    ],
)
def test_model_meta_names_what_is_wrong(change, match):
    from tentnet.io import ModelMeta

    meta = {"domain": [0, 1], "method": "tent", "depth": 5, "width": 4, "target": "x"}
    meta |= {"seed": 0, "dtype": "float64"}
    for key, value in change.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    with pytest.raises(TentnetError, match=match):
        ModelMeta.from_dict(meta)
