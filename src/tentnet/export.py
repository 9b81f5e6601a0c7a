"""Export a plain MLP to ONNX, TorchScript or JSON, and check each export against torch.

ONNX graphs are built node by node (Gemm and Relu) with the ``onnx`` package (optional extra
``export``), so they do not depend on torch's exporter; the dtype of the model is kept (float64
models export as double). TorchScript uses ``torch.jit.trace``; it is deprecated upstream (torch
2.13 warns) but still written because many deployment tools read it. JSON holds plain weight
arrays (floats with full round-trip precision) and the metadata; :func:`tentnet.load` reads it.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import TentnetError
from .io import (
    FORMAT,
    FORMAT_VERSION,
    _linears,
    atomic_write_bytes,
    checked_domain,
)

JSON_FORMAT = "tentnet.mlp.json"


def _onnx():
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise TentnetError(
            "ONNX export needs the onnx package: pip install 'tentnet[export]'"
        ) from None
    return onnx, TensorProto, helper, numpy_helper


def onnx_bytes(mlp: nn.Sequential, metadata: dict[str, Any] | None = None) -> bytes:
    """The MLP as a serialised ONNX model: input ``x`` of shape ``(N, in)``, output ``y``."""
    onnx, tensor_proto, helper, numpy_helper = _onnx()
    linears = _linears(mlp)
    dtype = linears[0].weight.dtype
    elem = tensor_proto.DOUBLE if dtype == torch.float64 else tensor_proto.FLOAT
    nodes, inits = [], []
    current = "x"
    for k, lin in enumerate(linears):
        w = numpy_helper.from_array(lin.weight.detach().cpu().numpy(), f"w{k}")
        b = numpy_helper.from_array(lin.bias.detach().cpu().numpy(), f"b{k}")
        inits += [w, b]
        out = "y" if k == len(linears) - 1 else f"z{k}"
        nodes.append(helper.make_node("Gemm", [current, f"w{k}", f"b{k}"], [out], transB=1))
        if k < len(linears) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{k}"]))
            current = f"h{k}"
    graph = helper.make_graph(
        nodes,
        "tentnet_mlp",
        [helper.make_tensor_value_info("x", elem, ["N", linears[0].in_features])],
        [helper.make_tensor_value_info("y", elem, ["N", linears[-1].out_features])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, producer_name="tentnet", opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8  # readable by onnxruntime releases of the last years
    meta = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (metadata or {}).items()}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def torchscript_bytes(mlp: nn.Sequential) -> bytes:
    """The MLP traced to TorchScript, as the bytes ``torch.jit.save`` writes."""
    lin = _linears(mlp)[0]
    example = torch.zeros(2, lin.in_features, dtype=lin.weight.dtype)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # TorchScript is deprecated upstream but still asked for
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(mlp.eval(), example)
        torch.jit.save(traced, buf)
    return buf.getvalue()


def load_torchscript(data: bytes) -> torch.jit.ScriptModule:
    """Load TorchScript bytes (deprecation warnings of torch.jit silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(io.BytesIO(data))


def json_text(mlp: nn.Sequential, metadata: dict[str, Any] | None = None) -> str:
    """Plain weight arrays and metadata; ``layers[k]`` has ``weight (out, in)``, ``bias (out,)``
    and ``relu`` (whether a ReLU follows)."""
    linears = _linears(mlp)
    doc = {
        "format": JSON_FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": metadata or {},
        "dtype": str(linears[0].weight.dtype).removeprefix("torch."),
        "layers": [
            {
                "weight": lin.weight.detach().double().tolist(),
                "bias": lin.bias.detach().double().tolist(),
                "relu": k < len(linears) - 1,
            }
            for k, lin in enumerate(linears)
        ],
    }
    return json.dumps(doc) + "\n"


def load_json(path: Path) -> tuple[nn.Sequential, dict[str, Any]]:
    """Read a JSON export back into a plain MLP; refuses malformed files with a clear error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TentnetError(f"{path}: not a valid tentnet JSON model (not UTF-8 text)") from None
    return json_model(text, path)


def json_model(text: str, path: str | Path = "<json>") -> tuple[nn.Sequential, dict[str, Any]]:
    """:func:`load_json` for the text of a JSON export (``path`` only names it in errors)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise TentnetError(
            f"{path}: not a valid tentnet JSON model (not JSON, or nested too deeply)"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise TentnetError(f"{path}: not a tentnet JSON model (no format {JSON_FORMAT!r})")
    modules: list[nn.Module] = []
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise TentnetError(f"{path}: 'layers' missing or empty")
    prev = None
    for k, layer in enumerate(layers):
        try:
            w = np.asarray(layer["weight"], dtype=np.float64)
            b = np.asarray(layer["bias"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise TentnetError(f"{path}: layer {k} needs numeric 'weight' and 'bias'") from None
        if w.ndim != 2 or b.shape != (w.shape[0],) or (prev is not None and w.shape[1] != prev):
            raise TentnetError(f"{path}: layer {k} has inconsistent shapes")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise TentnetError(f"{path}: layer {k} has non-finite values")
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        modules += [lin, nn.ReLU()]
        prev = w.shape[0]
    mlp = nn.Sequential(*modules[:-1])
    if doc.get("dtype") == "float32":
        mlp = mlp.float()
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise TentnetError(f"{path}: 'metadata' is not a JSON object")
    meta = dict(meta)
    meta.update(format=FORMAT, format_version=doc.get("format_version"))
    if "domain" in meta:
        meta["domain"] = checked_domain(
            meta["domain"], lambda why: TentnetError(f"{path}: not a valid tentnet model ({why})")
        )
    return mlp, meta


def export(
    mlp: nn.Sequential,
    metadata: dict[str, Any],
    *,
    onnx_path: str | Path | None = None,
    torchscript_path: str | Path | None = None,
    json_path: str | Path | None = None,
    mps_path: str | Path | None = None,
    lp_path: str | Path | None = None,
    sense: str = "min",
    formulation: str = "relu",
    program=None,
) -> dict[str, float | None]:
    """Write the requested exports atomically and check each against torch on the domain.

    ``mps_path`` and ``lp_path`` write the network on its domain as a mixed-integer program
    whose objective (``sense`` min or max) is its output, in the ``formulation`` ("relu" or
    "log") of :func:`tentnet.milp.formulate`; or ``program``, that program already formulated
    by the caller (``sense`` and ``formulation`` are then its own).

    Returns:
        ``{format: max abs difference}`` between the export and the torch MLP on 10,001 points
        of ``metadata['domain']`` (or [0, 1]; random points of the cube for several inputs);
        None for ONNX when onnxruntime is not installed. For MPS and LP: the difference
        between the program's optimum (solved by HiGHS) and the network's exact minimum or
        maximum over the domain; None when highspy is not installed or the solve ran past
        30 s.

    Raises:
        TentnetError before writing anything if the model's output is not finite on the
        domain (nothing could be checked).
    """
    lo, hi = metadata.get("domain", (0.0, 1.0))
    first = _linears(mlp)[0]
    dtype = first.weight.dtype
    if first.in_features == 1:
        x = torch.linspace(lo, hi, 10_001, dtype=dtype)[:, None]
    else:  # several inputs: 10,001 seeded random points of the cube domain^n
        g = torch.Generator().manual_seed(0)
        x = lo + (hi - lo) * torch.rand(10_001, first.in_features, generator=g, dtype=dtype)
    with torch.no_grad():
        ref = mlp(x).numpy()
    if not np.isfinite(ref).all():
        raise TentnetError(
            "the model's output is not finite on its domain (weights too large?); nothing "
            "was exported"
        )
    diffs: dict[str, float | None] = {}
    files: list[tuple[str | Path, bytes]] = []  # everything is checked before anything is written
    if onnx_path is not None:
        data = onnx_bytes(mlp, metadata)
        diffs["onnx"] = _check_onnx(data, x.numpy(), ref)
        files.append((onnx_path, data))
    if torchscript_path is not None:
        data = torchscript_bytes(mlp)
        loaded = load_torchscript(data)
        with torch.no_grad():
            diffs["torchscript"] = float(np.abs(loaded(x).numpy() - ref).max())
        files.append((torchscript_path, data))
    if json_path is not None:
        text = json_text(mlp, metadata)
        back, _ = json_model(text, json_path)
        with torch.no_grad():
            diffs["json"] = float(np.abs(back.to(dtype)(x).numpy() - ref).max())
        files.append((json_path, text.encode("utf-8")))
    if mps_path is not None or lp_path is not None:
        from .milp import formulate

        prob = program or formulate(mlp, (lo, hi), sense, formulation)
        check = _check_milp(prob)
        for key, path, text in (("mps", mps_path, prob.mps_text), ("lp", lp_path, prob.lp_text)):
            if path is not None:
                diffs[key] = check
                files.append((path, text().encode("utf-8")))
    written: list[Path] = []
    try:
        for path, data in files:
            atomic_write_bytes(path, data)
            written.append(Path(path))
    except BaseException:
        for path in written:  # all of the exports or none
            path.unlink(missing_ok=True)
        raise
    return diffs


def _check_milp(prob) -> float | None:
    """|optimum - the network's exact extreme| of the program, or None without highspy (or
    past 30 s)."""
    from .milp import solve

    try:
        found = solve(prob, time_limit=30.0).objective
    except TentnetError:
        return None
    low, high = prob.output_range
    return abs(found - (low if prob.sense == "min" else high))


def _check_onnx(data: bytes, x: np.ndarray, ref: np.ndarray) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None  # exported, but no runtime here to compare against
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x})
    return float(np.abs(out - ref).max())
