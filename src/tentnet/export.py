"""Export a plain MLP to ONNX and TorchScript (and, through :mod:`tentnet.io` and
:mod:`tentnet.milp`, JSON and mixed-integer programs), checking each export against torch.

ONNX graphs are built node by node (Gemm and Relu) with the ``onnx`` package (optional extra
``export``), so they do not depend on torch's exporter; the dtype of the model is kept (float64
models export as double). TorchScript uses ``torch.jit.trace``; it is deprecated upstream (torch
2.13 warns) but still written because many deployment tools read it.
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
    atomic_write_bytes,
    json_model,
    json_text,
    plain_linears,
)


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
    linears = plain_linears(mlp)
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
    lin = plain_linears(mlp)[0]
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
    first = plain_linears(mlp)[0]
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
    from .solvers import solve

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
