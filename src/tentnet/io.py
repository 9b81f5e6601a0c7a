"""Model files in both formats (safetensors with metadata, and plain JSON), loading with
checks, and atomic writes.

The safetensors layout is written and read here directly (8-byte little-endian header length,
a JSON header, then the raw little-endian tensor bytes), so the core needs no extra package and
every way a file can be broken gets its own message. Files are readable by the ``safetensors``
package and anything else that reads the format. The JSON format holds plain weight arrays
(floats with full round-trip precision) and the metadata; :func:`load` reads both.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import TentnetError
from .mlp import sequential_from_layers
from .tent import check_domain
from .version import __version__

FORMAT = "tentnet.mlp"
FORMAT_VERSION = 1
_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4")}
_TORCH_TO_ST = {torch.float64: "F64", torch.float32: "F32"}
MAX_HEADER = 16 * 2**20


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename, so a
    reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a finished file gets the usual 0666 less the umask.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not exc.filename:  # name the file in the message
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def plain_linears(mlp: nn.Module) -> list[nn.Linear]:
    if not isinstance(mlp, nn.Sequential):
        raise TentnetError(f"expected an nn.Sequential of Linear/ReLU, got {type(mlp).__name__}")
    mods = list(mlp)
    for k, m in enumerate(mods):
        want = nn.Linear if k % 2 == 0 else nn.ReLU
        if not isinstance(m, want) or (k == len(mods) - 1 and not isinstance(m, nn.Linear)):
            raise TentnetError("model files hold plain MLPs: Linear, ReLU, Linear, ..., Linear")
    return [m for m in mods if isinstance(m, nn.Linear)]


def model_bytes(mlp: nn.Sequential, metadata: dict[str, Any]) -> bytes:
    """The safetensors encoding of a plain MLP with tentnet's metadata."""
    linears = plain_linears(mlp)
    header: dict[str, Any] = {}
    chunks = []
    offset = 0
    for k, lin in enumerate(linears):
        for name, tensor in (("weight", lin.weight), ("bias", lin.bias)):
            arr = tensor.detach().cpu()
            if arr.dtype not in _TORCH_TO_ST:
                arr = arr.double()
            st = _TORCH_TO_ST[arr.dtype]
            raw = arr.numpy().astype(_DTYPES[st], copy=False).tobytes()
            header[f"layers.{k}.{name}"] = {
                "dtype": st,
                "shape": list(arr.shape),
                "data_offsets": [offset, offset + len(raw)],
            }
            chunks.append(raw)
            offset += len(raw)
    meta = {key: (v if isinstance(v, str) else json.dumps(v)) for key, v in metadata.items()}
    meta.update(format=FORMAT, format_version=str(FORMAT_VERSION))
    meta["sizes"] = json.dumps([linears[0].in_features] + [lin.out_features for lin in linears])
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


@dataclass(frozen=True)
class ModelMeta:
    """The metadata tentnet writes with every model it trains (:meth:`FitResult.save
    <tentnet.result.FitResult.save>`); :meth:`from_dict` reads it back from :func:`load`'s
    dictionary, checked. Files from elsewhere may carry less: :func:`load` itself needs none
    of it."""

    domain: tuple[float, float]
    method: str
    depth: int
    width: int
    target: str
    seed: int
    dtype: str
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: int = 1
    tentnet_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The dictionary :func:`save_model` writes (``inputs`` only when above 1)."""
        out = asdict(self)
        out["domain"] = list(self.domain)
        if self.inputs == 1:
            del out["inputs"]
        return out

    @classmethod
    def from_dict(cls, meta: dict[str, Any]) -> ModelMeta:
        """The record from a loaded model's metadata; TentnetError names what is missing or of
        the wrong type."""
        kinds = {
            "method": str,
            "depth": int,
            "width": int,
            "target": str,
            "seed": int,
            "dtype": str,
        }
        missing = [k for k in ("domain", *kinds) if k not in meta]
        if missing:
            raise TentnetError(f"model metadata lacks {', '.join(missing)}")
        for key, kind in kinds.items():
            value = meta[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TentnetError(f"model metadata {key!r} is not a {kind.__name__}: {value!r}")
        domain = checked_domain(meta["domain"], TentnetError)
        return cls(
            domain=domain,
            metrics=dict(meta.get("metrics") or {}),
            inputs=int(meta.get("inputs", 1)),
            tentnet_version=str(meta.get("tentnet_version", "unknown")),
            **{k: meta[k] for k in kinds},
        )


def save_model(path: str | Path, mlp: nn.Sequential, metadata: dict[str, Any]) -> None:
    """Save a plain MLP and its metadata (domain, depth, method, target, ...) atomically.

    Non-string metadata values are stored as JSON text.
    """
    for p in mlp.parameters():
        if not bool(torch.isfinite(p).all()):
            raise TentnetError("refusing to save a model with non-finite weights")
    atomic_write_bytes(path, model_bytes(mlp, metadata))


def checked_domain(dom: Any, fail) -> tuple[float, float]:
    """A model's metadata domain as ``(lo, hi)`` (two JSON numbers that pass
    :func:`tentnet.tent.check_domain`), or ``fail(why)`` raised."""
    numbers = (
        isinstance(dom, (list, tuple))
        and len(dom) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dom)
    )
    try:
        if numbers:
            return check_domain(dom)
    except TentnetError:
        pass
    raise fail("metadata 'domain' is not [lo, hi] with finite lo < hi")


def _fail(path: Path, why: str) -> TentnetError:
    return TentnetError(f"{path}: not a valid tentnet model file ({why})")


def load(path: str | Path) -> tuple[nn.Sequential, dict[str, Any]]:
    """Load a model file written by tentnet (``.safetensors``, or a ``.json`` export).

    Returns:
        ``(mlp, metadata)``: the plain ``nn.Sequential`` (float64 or float32 as saved) and the
        metadata with JSON values decoded (``domain`` as a tuple of floats).

    Raises:
        TentnetError naming the problem for a missing, truncated, corrupt or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise TentnetError(f"model file not found: {path}")
    if path.suffix.lower() == ".json":
        return load_json(path)
    data = path.read_bytes()
    if len(data) < 8:
        raise _fail(path, "truncated: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise _fail(path, "truncated or corrupt: header length runs past the end of the file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _fail(path, "corrupt header: not JSON (or nested too deeply)") from None
    if not isinstance(header, dict):
        raise _fail(path, "corrupt header: not a JSON object")
    meta_raw = header.pop("__metadata__", None)
    if not isinstance(meta_raw, dict) or meta_raw.get("format") != FORMAT:
        raise _fail(path, f"no {FORMAT!r} metadata: a safetensors file from another tool?")
    if meta_raw.get("format_version") != str(FORMAT_VERSION):
        raise _fail(
            path,
            f"format version {meta_raw.get('format_version')!r}, this tentnet "
            f"reads version {FORMAT_VERSION}",
        )
    meta: dict[str, Any] = {}
    for key, value in meta_raw.items():
        try:
            meta[key] = json.loads(value) if isinstance(value, str) else value
        except (ValueError, RecursionError):  # not JSON, a 100,000-digit number, too deep
            meta[key] = value
    body = memoryview(data)[8 + n :]
    sizes = meta.get("sizes")
    if not (
        isinstance(sizes, list)
        and len(sizes) >= 2
        and all(isinstance(s, int) and s >= 1 for s in sizes)
    ):
        raise _fail(path, "metadata 'sizes' missing or not a list of layer widths")
    # What the metadata declares must fit in the file before anything is allocated.
    declared = sum(sizes[k] * sizes[k + 1] + sizes[k + 1] for k in range(len(sizes) - 1))
    if declared * 4 > len(body):
        raise _fail(
            path,
            f"metadata declares {declared:,} weights but the file holds {len(body):,} bytes of "
            f"tensor data",
        )
    arrays = [
        tuple(
            torch.from_numpy(
                _tensor(path, header, f"layers.{k}.{name}", shape, body).astype(np.float64)[None]
            )
            for name, shape in (("weight", (sizes[k + 1], sizes[k])), ("bias", (sizes[k + 1],)))
        )
        for k in range(len(sizes) - 1)
    ]
    if len(header) != 2 * (len(sizes) - 1):
        raise _fail(path, f"{len(header)} tensors, expected {2 * (len(sizes) - 1)}")
    mlp = sequential_from_layers(arrays)
    if "domain" in meta:
        meta["domain"] = checked_domain(meta["domain"], lambda why: _fail(path, why))
    dtype = meta.get("dtype")
    if dtype == "float32":
        mlp = mlp.float()
    return mlp, meta


def _tensor(path: Path, header: dict, name: str, shape: tuple[int, ...], body) -> np.ndarray:
    info = header.get(name)
    if not isinstance(info, dict):
        raise _fail(path, f"tensor {name!r} is missing")
    st = info.get("dtype")
    if st not in _DTYPES:
        raise _fail(path, f"tensor {name!r} has dtype {st!r}; expected F64 or F32")
    if info.get("shape") != list(shape):
        raise _fail(path, f"tensor {name!r} has shape {info.get('shape')}, expected {list(shape)}")
    offs = info.get("data_offsets")
    nbytes = int(np.prod(shape)) * _DTYPES[st].itemsize
    if not (
        isinstance(offs, list)
        and len(offs) == 2
        and all(isinstance(o, int) for o in offs)
        and 0 <= offs[0]
        and offs[1] - offs[0] == nbytes
    ):
        raise _fail(path, f"tensor {name!r} has bad data offsets {offs}")
    if offs[1] > len(body):
        raise _fail(path, "truncated: tensor data runs past the end of the file")
    arr = np.frombuffer(body[offs[0] : offs[1]], dtype=_DTYPES[st]).reshape(shape)
    if not np.isfinite(arr).all():
        raise _fail(path, f"tensor {name!r} has non-finite values")
    return arr


JSON_FORMAT = "tentnet.mlp.json"


def json_text(mlp: nn.Sequential, metadata: dict[str, Any] | None = None) -> str:
    """Plain weight arrays and metadata; ``layers[k]`` has ``weight (out, in)``, ``bias (out,)``
    and ``relu`` (whether a ReLU follows)."""
    linears = plain_linears(mlp)
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
    arrays: list[tuple[torch.Tensor, torch.Tensor]] = []
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
        arrays.append((torch.from_numpy(w)[None], torch.from_numpy(b)[None]))
        prev = w.shape[0]
    mlp = sequential_from_layers(arrays)
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
