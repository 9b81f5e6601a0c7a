"""Targets: a safe expression language in x (or x0, x1, ...), data files, sampling, test grids.

Expressions are parsed with :mod:`ast` and checked against a whitelist before anything is
evaluated; evaluation walks the checked tree with torch operations on float tensors (numbers
are floats, so ``10**10**10`` is ``inf``, never a huge integer). User text is never passed to
``eval``, ``exec`` or a symbolic package.
"""

from __future__ import annotations

import ast
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import TentnetError
from .poles import unbounded_at

FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": torch.exp,
    "log": torch.log,
    "log1p": torch.log1p,
    "sqrt": torch.sqrt,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "tanh": torch.tanh,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "abs": torch.abs,
    **{
        name: getattr(torch, name)
        for name in ("atan", "asin", "acos", "asinh", "acosh", "atanh", "erf", "erfc", "expm1")
    },
    "sigmoid": torch.sigmoid,
}
# Functions of two arguments: the kinks of piecewise targets (max(x, 0), min(1, 2*x)).
PAIR_FUNCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "min": torch.minimum,
    "max": torch.maximum,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPRESSION_LENGTH = 1000
MAX_NODES = 400
MAX_NESTING = 40

_BINARY = {
    ast.Add: torch.add,
    ast.Sub: torch.sub,
    ast.Mult: torch.mul,
    ast.Div: torch.div,
    ast.Pow: torch.pow,
}


def _variables_allowed(name: str) -> bool:
    return name == "x" or (name.startswith("x") and name[1:].isdigit() and len(name) <= 4)


def _check(node: ast.AST, depth: int, names: set[str]) -> None:
    if depth > MAX_NESTING:
        raise TentnetError(f"expression is nested more than {MAX_NESTING} levels deep")
    if isinstance(node, ast.Expression):
        _check(node.body, depth + 1, names)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise TentnetError(f"operator {type(node.op).__name__} is not allowed; use + - * / **")
        _check(node.left, depth + 1, names)
        _check(node.right, depth + 1, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise TentnetError("only unary + and - are allowed")
        _check(node.operand, depth + 1, names)
    elif isinstance(node, ast.Call):
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        arity = 1 if fn in FUNCTIONS else 2 if fn in PAIR_FUNCTIONS else None
        if arity is None or node.keywords or len(node.args) != arity:
            shown = fn if fn else ast.unparse(node.func)[:40]
            raise TentnetError(
                f"call of {shown!r} is not allowed; functions must be one of "
                f"{', '.join(sorted(FUNCTIONS))} (one argument each) or "
                f"{', '.join(sorted(PAIR_FUNCTIONS))} (two)"
            )
        for arg in node.args:
            _check(arg, depth + 1, names)
    elif isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return
        if not _variables_allowed(node.id):
            raise TentnetError(
                f"unknown name {node.id!r}; use x (or x0, x1, ...), the constants pi and e, "
                f"and the functions {', '.join(sorted([*FUNCTIONS, *PAIR_FUNCTIONS]))}"
            )
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise TentnetError(f"only real numbers are allowed as constants, got {node.value!r}")
        if isinstance(node.value, int) and abs(node.value) > 10**300:
            raise TentnetError("a number in the expression is too large")
    else:
        raise TentnetError(f"{type(node).__name__} is not allowed in an expression")


@dataclass(frozen=True)
class Expression:
    """A checked target expression; call it on ``(P, n_inputs)`` tensors.

    Attributes:
        text: the expression as given.
        variables: the sorted input names (``("x",)`` or ``("x0", "x1", ...)``).
    """

    text: str
    variables: tuple[str, ...]
    _tree: ast.Expression

    @property
    def n_inputs(self) -> int:
        return len(self.variables)

    def __call__(self, x: Tensor) -> Tensor:
        """Evaluate on ``x`` of shape ``(P, n_inputs)`` (or ``(P,)``); returns ``(P,)``."""
        if x.dim() == 1:
            x = x[:, None]
        env = {name: x[:, i] for i, name in enumerate(self.variables)}
        out = _evaluate(self._tree.body, env, x)
        return out.expand(x.shape[0]).clone() if out.dim() == 0 else out


def _evaluate(node: ast.AST, env: dict[str, Tensor], like: Tensor) -> Tensor:
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](
            _evaluate(node.left, env, like), _evaluate(node.right, env, like)
        )
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, env, like)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        args = [_evaluate(arg, env, like) for arg in node.args]
        if node.func.id in PAIR_FUNCTIONS:
            return PAIR_FUNCTIONS[node.func.id](*args)
        return FUNCTIONS[node.func.id](*args)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return torch.tensor(CONSTANTS[node.id], dtype=like.dtype, device=like.device)
        return env[node.id]
    return torch.tensor(float(node.value), dtype=like.dtype, device=like.device)


def parse_expression(text: str) -> Expression:
    """Parse and check a target expression; raises :class:`TentnetError` naming what is wrong.

    Allowed: numbers, ``x`` (or ``x0 .. x999`` for several inputs, not mixed with ``x``),
    ``+ - * / **``, unary minus, the functions in :data:`FUNCTIONS` (one argument) and
    :data:`PAIR_FUNCTIONS` (``min``, ``max``: two) and the constants ``pi, e``.
    """
    if not isinstance(text, str) or not text.strip():
        raise TentnetError("the target expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise TentnetError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise TentnetError(f"cannot parse the expression {text[:60]!r}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise TentnetError(f"expression has more than {MAX_NODES} parts")
    names: set[str] = set()
    _check(tree, 0, names)
    if "x" in names and len(names) > 1:
        raise TentnetError("use either x alone or x0, x1, ... for several inputs, not both")
    if names and "x" not in names:
        indices = sorted(int(n[1:]) for n in names)
        variables = tuple(f"x{i}" for i in range(indices[-1] + 1))
    else:
        variables = ("x",)
    return Expression(text=text.strip(), variables=variables, _tree=tree)


@dataclass(frozen=True)
class Dataset:
    """Points of a target read from a file: ``x`` of shape ``(P, n_inputs)``, ``y`` of ``(P,)``."""

    x: np.ndarray
    y: np.ndarray
    source: str


DATA_SUFFIXES = (".csv", ".npy", ".npz")


def looks_like_file(target: str) -> bool:
    """True if ``target`` names a data file (by suffix) or a built-in data set (``data:NAME``,
    see :mod:`tentnet.datasets`) rather than an expression."""
    return target.lower().endswith(DATA_SUFFIXES) or target.startswith("data:")


def load_data(path: str | Path) -> Dataset:
    """Read a data file: CSV with header ``x,y`` (or ``x0,...,y``), ``.npy`` of shape ``(n, k+1)``
    or ``.npz`` with arrays ``x`` and ``y``. Refuses missing files, bad shapes, NaN/inf rows
    (naming the row), fewer than 2 points, and x without two distinct values. ``data:NAME``
    loads a built-in data set (:mod:`tentnet.datasets`)."""
    if isinstance(path, str) and path.startswith("data:"):
        from .datasets import load_builtin

        x, y = load_builtin(path)
        return _checked(Dataset(x=x, y=y, source=path))
    path = Path(path)
    if not path.exists():
        raise TentnetError(f"data file not found: {path}")
    if not path.is_file():
        raise TentnetError(f"{path}: not a regular file (a folder, pipe or device)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            x, y = _read_csv(path)
        elif suffix == ".npy":
            _check_npy_header(path)
            arr = np.load(path, allow_pickle=False)
            if arr.ndim != 2 or arr.shape[1] < 2:
                raise TentnetError(f"{path}: .npy must have shape (n, 2) (x, y), got {arr.shape}")
            x, y = arr[:, :-1], arr[:, -1]
        elif suffix == ".npz":
            _check_npz_sizes(path)
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z or "y" not in z:
                    raise TentnetError(f"{path}: .npz must hold arrays 'x' and 'y'")
                x, y = np.asarray(z["x"]), np.asarray(z["y"])
            x = x[:, None] if x.ndim == 1 else x
            if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise TentnetError(f"{path}: x must be (n,) or (n, k) and y (n,) with the same n")
        else:
            raise TentnetError(f"unknown data file type {suffix!r}; use one of {DATA_SUFFIXES}")
        for name, arr in (("x", x), ("y", y)):
            if np.asarray(arr).dtype.kind not in "fiub":
                raise TentnetError(
                    f"{path}: {name} holds {np.asarray(arr).dtype} values; expected real numbers"
                )
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    except TentnetError:
        raise
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise TentnetError(f"{path}: cannot read data ({_short(exc)})") from None
    return _checked(Dataset(x=x, y=y, source=str(path)))


def _checked(data: Dataset) -> Dataset:
    x, y, path = data.x, data.y, data.source
    bad = ~(np.isfinite(x).all(axis=1) & np.isfinite(y))
    if bad.any():
        row = int(np.nonzero(bad)[0][0]) + 1
        raise TentnetError(f"{path}: row {row} has a NaN or infinite value")
    if x.shape[0] < 2:
        raise TentnetError(f"{path}: need at least 2 points, got {x.shape[0]}")
    if not bool((np.ptp(x, axis=0) > 0).any()):
        raise TentnetError(f"{path}: every point has the same x; need two distinct x values")
    return data


MAX_DATA_BYTES = 2**30  # 1 GiB of numbers (about 67 million (x, y) pairs in float64)


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy file whose header declares more data than the file holds (or than
    :data:`MAX_DATA_BYTES`), before anything is allocated."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = {(1, 0): np.lib.format.read_array_header_1_0}.get(
            version, np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(fh)
        start = fh.tell()
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    actual = path.stat().st_size - start
    if declared > actual:
        raise TentnetError(
            f"{path}: the header declares shape {shape} ({declared:,} bytes) but the file holds "
            f"{actual:,}"
        )
    if declared > MAX_DATA_BYTES:
        raise TentnetError(f"{path}: {declared:,} bytes of data; the limit is {MAX_DATA_BYTES:,}")


def _check_npz_sizes(path: Path) -> None:
    """Refuse a .npz whose members would unpack to more than :data:`MAX_DATA_BYTES` (a zip
    bomb), judged from the archive's directory before anything is decompressed."""
    with zipfile.ZipFile(path) as zf:
        total = sum(info.file_size for info in zf.infolist())
    if total > MAX_DATA_BYTES:
        raise TentnetError(f"{path}: unpacks to {total:,} bytes; the limit is {MAX_DATA_BYTES:,}")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # utf-8-sig: a byte-order mark (as spreadsheet programs write) is not part of the header.
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise TentnetError(f"{path}: the file is empty")
    header = [h.strip().lower() for h in lines[0].split(",")]
    ok_header = header[-1] == "y" and (
        header[:-1] == ["x"] or header[:-1] == [f"x{i}" for i in range(len(header) - 1)]
    )
    if not ok_header or len(header) < 2:
        raise TentnetError(f"{path}: the first line must be the header x,y (or x0,x1,...,y)")
    rows = []
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if len(cells) != len(header):
            raise TentnetError(
                f"{path}: row {number} has {len(cells)} columns, expected {len(header)}"
            )
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            raise TentnetError(f"{path}: row {number} has a value that is not a number") from None
    if not rows:
        raise TentnetError(f"{path}: no data rows after the header")
    arr = np.array(rows, dtype=np.float64)
    return arr[:, :-1], arr[:, -1]


def evaluate_checked(expr: Expression, x: Tensor) -> Tensor:
    """Evaluate ``expr`` at ``x`` ``(P, n_inputs)`` and refuse non-finite results, naming an x."""
    with torch.no_grad():
        y = expr(x)
    bad = ~torch.isfinite(y)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0, 0])
        where = ", ".join(f"{v:.6g}" for v in x.reshape(x.shape[0], -1)[i].tolist())
        raise TentnetError(f"target {expr.text!r} is not finite at x = {where}")
    return y


def check_bounded(expr: Expression, domain: tuple[float, float]) -> None:
    """Refuse a 1-D ``expr`` that is unbounded (or not finite) near a point of the checked
    ``domain`` ``(lo, hi)``, naming the point (:func:`tentnet.poles.unbounded_at`)."""
    x = unbounded_at(lambda t: evaluate_checked(expr, t[:, None]), uniform_grid(domain))
    if x is not None:
        near = 0.0 if abs(x) < 1e-9 * (domain[1] - domain[0]) else x
        raise TentnetError(
            f"target {expr.text!r} is unbounded near x = {near:.6g} (or spikes there far above "
            "its values on a grid of the domain): a ReLU network cannot follow it; choose a "
            "domain that leaves it out"
        )


def uniform_grid(domain: tuple[float, float], points: int = 10_001, dtype=torch.float64) -> Tensor:
    """The uniform test grid over the 1-D domain, endpoints included: ``(points,)``."""
    return torch.linspace(domain[0], domain[1], points, dtype=dtype)


def sample_points(
    domain: tuple[float, float], points: int, generator: torch.Generator, dtype=torch.float64
) -> Tensor:
    """``points`` uniform random inputs in the 1-D domain, from ``generator``: ``(points,)``."""
    lo, hi = domain
    return lo + (hi - lo) * torch.rand(points, generator=generator, dtype=dtype)


def resolve_target(target: str | Expression | Dataset) -> Expression | Dataset:
    """An expression string, a data-file path, or an already parsed target."""
    if isinstance(target, (Expression, Dataset)):
        return target
    if not isinstance(target, str):
        raise TentnetError(f"target must be an expression or a data file, got {target!r}")
    return load_data(target) if looks_like_file(target) else parse_expression(target)


def curvature(target: str | Expression | Dataset, domain: tuple[float, float] = (0.0, 1.0)) -> str:
    """The target's curvature on a (checked) domain in words (``"target is convex on the
    domain"``, ``"... concave ..."``, ``"... neither convex nor concave ..."``; data files are
    not judged), from second differences on 4,001 points."""
    parsed = resolve_target(target)
    if isinstance(parsed, Dataset):
        return "data file (curvature not judged)"
    if parsed.n_inputs != 1:
        return "several inputs"
    x = uniform_grid((float(domain[0]), float(domain[1])), 4001)
    y = evaluate_checked(parsed, x[:, None])
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    # Relative to the largest curvature, and above the rounding noise of a straight line.
    tol = max(1e-6 * float(d2.abs().max()), 1e-12 * float(y.abs().max()), 1e-300)
    if float(d2.min()) >= -tol:
        return "target is convex on the domain"
    if float(d2.max()) <= tol:
        return "target is concave on the domain"
    return "target is neither convex nor concave on the domain"
