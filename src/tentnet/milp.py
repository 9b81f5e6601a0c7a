"""A 1-D-input ReLU MLP over its domain as a mixed-integer linear program (MILP).

Embedding a ReLU network in a MILP costs one binary variable per ReLU whose pre-activation
changes sign over the domain. With one input every pre-activation is piecewise linear in x,
with its pieces ending at the network's activation breakpoints (:mod:`tentnet.regions`), so
its exact range over the domain is the range of its values at those breakpoints and the two
ends. Units that never change sign then get no binary and no big-M:

- always on (``z >= 0`` everywhere): ``h = z`` (one equality);
- always off (``z <= 0`` everywhere): ``h = 0`` (no variable; the next layer drops it);
- sign-changing, with exact ``L < 0 < U``: ``h >= z``, ``h <= z - L (1 - d)``, ``h <= U d``,
  ``0 <= h <= U``, ``d`` binary: the tightest big-M there is, since both bounds are attained.

A tent network of depth d in its phase-1 form has exactly d sign-changing units (one fold per
level), so it needs d binaries for its 2^d pieces. Training all weights makes more units
change sign; then ``formulation="log"`` is smaller: the network's exact piecewise-linear
function from its breakpoints, as a convex combination of them with ``ceil(log2 pieces)``
binaries (Vielma & Nemhauser's logarithmic formulation). The program's objective is the
network's output (``sense`` min or max). Write it as MPS or LP (:meth:`MILP.write_mps`,
:meth:`MILP.write_lp`), solve it with HiGHS (:func:`tentnet.solvers.solve`, ``pip install
'tentnet[milp]'``), or build it into your own Pyomo model (:func:`tentnet.solvers.pyomo_block`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from .errors import TentnetError
from .io import atomic_write_text
from .tent import check_domain

SIGN_TOLERANCE = 1e-12
"""A unit counts as never changing sign when its pre-activation stays on one side of 0 up to
this much of its largest magnitude over the domain (rounding of exactly-zero ends)."""


@dataclass(frozen=True)
class Unit:
    """How one hidden unit is formulated: ``kind`` ``"on"``, ``"off"`` or ``"binary"``, and
    the exact range ``[lower, upper]`` of its pre-activation over the domain."""

    kind: str
    lower: float
    upper: float


@dataclass
class MILP:
    """A MILP in row form: ``row_lower <= A v <= row_upper``, ``lower <= v <= upper``,
    objective ``cost @ v`` (``sense`` "min" or "max"); ``integer`` marks the binaries.

    ``rows`` holds, per constraint, its name and ``{column: coefficient}``. ``x`` and ``y`` are
    the columns of the network's input and output; ``units`` the formulation of every hidden
    unit per layer; ``output_range`` the network's exact minimum and maximum over the domain
    (what the program's optimum must equal).
    """

    names: list[str]
    lower: list[float]
    upper: list[float]
    integer: list[bool]
    cost: list[float]
    sense: str
    row_names: list[str] = field(default_factory=list)
    rows: list[dict[int, float]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    x: int = 0
    y: int = 0
    units: list[list[Unit]] = field(default_factory=list)
    output_range: tuple[float, float] = (np.nan, np.nan)

    @property
    def counts(self) -> dict[str, int]:
        """Binaries, continuous variables and constraints (rows)."""
        binaries = sum(self.integer)
        return {
            "binaries": binaries,
            "continuous": len(self.names) - binaries,
            "constraints": len(self.rows),
        }

    def _var(self, name: str, lo: float, hi: float, integer: bool = False) -> int:
        self.names.append(name)
        self.lower.append(lo)
        self.upper.append(hi)
        self.integer.append(integer)
        self.cost.append(0.0)
        return len(self.names) - 1

    def _row(self, name: str, coeffs: dict[int, float], lo: float, hi: float) -> None:
        self.row_names.append(name)
        self.rows.append({c: v for c, v in coeffs.items() if v != 0.0})
        self.row_lower.append(lo)
        self.row_upper.append(hi)

    def mps_text(self) -> str:
        """The program in free MPS format (the objective's sense in an OBJSENSE section)."""
        out = io.StringIO()
        out.write("NAME tentnet\nOBJSENSE\n    " + ("MAX" if self.sense == "max" else "MIN"))
        out.write("\nROWS\n N  obj\n")
        kinds = []
        for name, lo, hi in zip(self.row_names, self.row_lower, self.row_upper, strict=True):
            kind = "E" if lo == hi else ("G" if hi == np.inf else "L")
            if lo != hi and np.isfinite(lo) and np.isfinite(hi):
                raise TentnetError(f"row {name} has two finite sides (not written as MPS)")
            kinds.append(kind)
            out.write(f" {kind}  {name}\n")
        by_col: list[list[tuple[str, float]]] = [[] for _ in self.names]
        for name, row in zip(self.row_names, self.rows, strict=True):
            for c, v in row.items():
                by_col[c].append((name, v))
        out.write("COLUMNS\n")
        marker = False
        for j, name in enumerate(self.names):
            if self.integer[j] != marker:  # integer columns sit between INTORG and INTEND
                out.write(f"    M{j} 'MARKER' '{'INTORG' if self.integer[j] else 'INTEND'}'\n")
                marker = self.integer[j]
            if self.cost[j]:
                out.write(f"    {name} obj {self.cost[j]!r}\n")
            for row, v in by_col[j]:
                out.write(f"    {name} {row} {v!r}\n")
            if not self.cost[j] and not by_col[j]:
                out.write(f"    {name} obj 0\n")
        if marker:
            out.write(f"    M{len(self.names)} 'MARKER' 'INTEND'\n")
        out.write("RHS\n")
        for name, kind, lo, hi in zip(
            self.row_names, kinds, self.row_lower, self.row_upper, strict=True
        ):
            rhs = lo if kind in "EG" else hi
            if rhs:
                out.write(f"    rhs {name} {rhs!r}\n")
        out.write("BOUNDS\n")
        for j, name in enumerate(self.names):
            lo, hi = self.lower[j], self.upper[j]
            if self.integer[j] and lo == 0 and hi == 1:
                out.write(f" BV bnd {name}\n")
            elif lo == hi:
                out.write(f" FX bnd {name} {lo!r}\n")
            else:
                out.write(f" LO bnd {name} {lo!r}\n" if np.isfinite(lo) else f" MI bnd {name}\n")
                out.write(f" UP bnd {name} {hi!r}\n" if np.isfinite(hi) else f" PL bnd {name}\n")
        out.write("ENDATA\n")
        return out.getvalue()

    def lp_text(self) -> str:
        """The program in CPLEX LP format."""

        def expr(coeffs: dict[int, float]) -> str:
            terms = [
                f"{'-' if v < 0 else '+'} {abs(v)!r} {self.names[c]}" for c, v in coeffs.items()
            ]
            text = " ".join(terms) or "0 " + self.names[0]
            return text[2:] if text.startswith("+ ") else text

        objective = {j: c for j, c in enumerate(self.cost) if c}
        lines = [
            "\\ tentnet: a ReLU network as a MILP",
            "Maximize" if self.sense == "max" else "Minimize",
            f" obj: {expr(objective)}",
            "Subject To",
        ]
        for name, row, lo, hi in zip(
            self.row_names, self.rows, self.row_lower, self.row_upper, strict=True
        ):
            if lo == hi:
                lines.append(f" {name}: {expr(row)} = {lo!r}")
            elif np.isfinite(lo):
                lines.append(f" {name}: {expr(row)} >= {lo!r}")
            else:
                lines.append(f" {name}: {expr(row)} <= {hi!r}")
        lines.append("Bounds")
        for name, lo, hi in zip(self.names, self.lower, self.upper, strict=True):
            if lo == hi:
                lines.append(f" {name} = {lo!r}")
            elif np.isfinite(lo) or np.isfinite(hi):
                low = f"{lo!r}" if np.isfinite(lo) else "-inf"
                high = f"{hi!r}" if np.isfinite(hi) else "+inf"
                lines.append(f" {low} <= {name} <= {high}")
            else:
                lines.append(f" {name} free")
        binaries = [n for n, b in zip(self.names, self.integer, strict=True) if b]
        if binaries:
            lines += ["Binaries", " " + " ".join(binaries)]
        lines.append("End")
        return "\n".join(lines) + "\n"

    def write_mps(self, path: str | Path) -> None:
        atomic_write_text(path, self.mps_text())

    def write_lp(self, path: str | Path) -> None:
        atomic_write_text(path, self.lp_text())


def relu_layers(mlp: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(W, b)`` of a plain ReLU MLP with one input and one output (Linear, ReLU,
    Linear, ..., Linear; Identity and nested Sequential allowed), or TentnetError."""

    def flat(m: nn.Module) -> list[nn.Module]:
        if isinstance(m, nn.Sequential):
            return [c for child in m for c in flat(child)]
        if isinstance(m, nn.Identity):
            return []
        if isinstance(m, (nn.Linear, nn.ReLU)):
            return [m]
        raise TentnetError(
            f"a MILP needs a plain ReLU network (Linear and ReLU layers); got {type(m).__name__}"
        )

    mods = flat(mlp)
    kinds = ["L" if isinstance(m, nn.Linear) else "R" for m in mods]
    if not mods or "".join(kinds) != "LR" * (len(mods) // 2) + "L":
        raise TentnetError(
            "a MILP needs Linear layers with one ReLU between each pair (Linear, ReLU, ..., "
            f"Linear); got {', '.join(type(m).__name__ for m in mods) or 'no layers'}"
        )
    layers = []
    for m in mods[::2]:
        w = m.weight.detach().cpu().double().numpy()
        b = m.bias.detach().cpu().double().numpy() if m.bias is not None else np.zeros(len(w))
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise TentnetError("the network has non-finite weights")
        layers.append((w, b))
    if layers[0][0].shape[1] != 1 or layers[-1][0].shape[0] != 1:
        raise TentnetError(
            f"a MILP is formulated for networks of one input and one output; got "
            f"{layers[0][0].shape[1]} input(s) and {layers[-1][0].shape[0]} output(s)"
        )
    return layers


def _forward(layers, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Pre-activations of every hidden layer ``(len(x), width)`` and the output, at ``x``."""
    h = x[:, None]
    pre = []
    for w, b in layers[:-1]:
        z = h @ w.T + b
        pre.append(z)
        h = np.maximum(z, 0.0)
    w, b = layers[-1]
    return pre, (h @ w.T + b)[:, 0]


def critical_points(mlp: nn.Module, domain: tuple[float, float]) -> np.ndarray:
    """The domain's ends and every activation breakpoint inside it, sorted: every
    pre-activation (and the output) is linear between two neighbours, so its extremes over the
    domain are among its values here."""
    from .regions import count_linear_regions

    lo, hi = check_domain(domain)
    breaks = count_linear_regions(mlp, (lo, hi)).activation_breakpoints
    return np.unique(np.concatenate([[lo, hi], np.asarray(breaks, dtype=np.float64)]))


def extremes(mlp: nn.Module, domain: tuple[float, float]) -> tuple[float, float, float, float]:
    """``(min, argmin, max, argmax)`` of the network over the domain, exactly (up to rounding):
    evaluated at its breakpoints and the ends."""
    layers = relu_layers(mlp)
    pts = critical_points(mlp, domain)
    _, y = _forward(layers, pts)
    i, j = int(np.argmin(y)), int(np.argmax(y))
    return float(y[i]), float(pts[i]), float(y[j]), float(pts[j])


FORMULATIONS = ("relu", "log")


def gray_codes(pieces: int) -> np.ndarray:
    """The first ``pieces`` codes of the reflected Gray code of ``ceil(log2 pieces)`` bits,
    ``(pieces, bits)``: neighbours differ in exactly one bit."""
    bits = max(0, int(np.ceil(np.log2(pieces)))) if pieces > 1 else 0
    i = np.arange(pieces)
    g = i ^ (i >> 1)
    return ((g[:, None] >> np.arange(bits)[None, :]) & 1).astype(np.int64)


def log_sets(pieces: int) -> list[tuple[list[int], list[int]]]:
    """Per bit l of :func:`gray_codes`, the breakpoints (0..pieces) whose weight must vanish
    when the bit is 0 (first list) and when it is 1 (second list): breakpoint j lies between
    pieces j and j + 1 (1-based; the ends count their one piece twice), and may carry weight
    only if the code of the chosen piece is one of theirs (Vielma & Nemhauser's logarithmic
    formulation of SOS2)."""
    codes = gray_codes(pieces)
    left = np.vstack([codes[:1], codes])  # piece left of breakpoint j (j = 0: the first)
    right = np.vstack([codes, codes[-1:]])  # piece right of breakpoint j (j = P: the last)
    sets = []
    for bit in range(codes.shape[1]):
        ones = np.nonzero((left[:, bit] == 1) & (right[:, bit] == 1))[0].tolist()
        zeros = np.nonzero((left[:, bit] == 0) & (right[:, bit] == 0))[0].tolist()
        sets.append((ones, zeros))
    return sets


def _log_formulation(mlp: nn.Module, lo: float, hi: float, sense: str) -> MILP:
    """The network's exact continuous piecewise-linear function, from its breakpoints, as a
    convex combination of the breakpoints with ``ceil(log2 pieces)`` binaries."""
    from .regions import count_linear_regions

    layers = relu_layers(mlp)
    xs = np.unique(np.r_[lo, count_linear_regions(mlp, (lo, hi)).breakpoints, hi])
    _, ys = _forward(layers, xs)
    pieces = len(xs) - 1
    prob = MILP([], [], [], [], [], sense, output_range=(float(ys.min()), float(ys.max())))
    prob.x = prob._var("x", lo, hi)
    prob.y = prob._var("y", *prob.output_range)
    lam = [prob._var(f"l{j}", 0.0, 1.0) for j in range(pieces + 1)]
    prob._row("convex", dict.fromkeys(lam, 1.0), 1.0, 1.0)
    prob._row(
        "xsum", {prob.x: 1.0, **{c: -float(v) for c, v in zip(lam, xs, strict=True)}}, 0.0, 0.0
    )
    prob._row(
        "ysum", {prob.y: 1.0, **{c: -float(v) for c, v in zip(lam, ys, strict=True)}}, 0.0, 0.0
    )
    for bit, (ones, zeros) in enumerate(log_sets(pieces)):
        z = prob._var(f"z{bit}", 0.0, 1.0, integer=True)
        prob._row(f"one{bit}", {**{lam[j]: 1.0 for j in ones}, z: -1.0}, -np.inf, 0.0)
        prob._row(f"zero{bit}", {**{lam[j]: 1.0 for j in zeros}, z: 1.0}, -np.inf, 1.0)
    prob.cost[prob.y] = 1.0
    return prob


def formulate(
    mlp: nn.Module, domain: tuple[float, float], sense: str = "min", formulation: str = "relu"
) -> MILP:
    """The network on ``domain`` as a MILP whose objective is its output.

    ``formulation="relu"`` (default) writes the network unit by unit (see the module
    docstring): variables ``x``, ``h{layer}_{unit}``, ``d{layer}_{unit}`` (binaries), ``y``;
    its size grows with the units, whatever the number of pieces. ``"log"`` writes the
    network's exact piecewise-linear function from its breakpoints (found by
    :func:`tentnet.regions.count_linear_regions`): one weight ``l{j}`` per breakpoint and
    ``ceil(log2 pieces)`` binaries ``z{bit}``; smaller whenever training has made many units
    change sign, larger when the pieces run into the thousands."""
    if sense not in ("min", "max"):
        raise TentnetError(f"sense must be min or max, got {sense!r}")
    if formulation not in FORMULATIONS:
        raise TentnetError(
            f"formulation must be one of {', '.join(FORMULATIONS)}, got {formulation!r}"
        )
    lo, hi = check_domain(domain)
    if formulation == "log":
        return _log_formulation(mlp, lo, hi, sense)
    layers = relu_layers(mlp)
    pre, out = _forward(layers, critical_points(mlp, (lo, hi)))
    prob = MILP([], [], [], [], [], sense, output_range=(float(out.min()), float(out.max())))
    prob.x = prob._var("x", lo, hi)
    prev: list[int | None] = [prob.x]  # the previous layer's columns (None: always 0)
    for li, ((w, b), z) in enumerate(zip(layers[:-1], pre, strict=True), 1):
        cur: list[int | None] = []
        units = []
        for j in range(w.shape[0]):
            zl, zu = float(z[:, j].min()), float(z[:, j].max())
            scale = max(abs(zl), abs(zu))
            # The affine pre-activation over the previous layer's live columns.
            coeffs = {c: float(w[j, k]) for k, c in enumerate(prev) if c is not None}
            if zu <= SIGN_TOLERANCE * scale:
                units.append(Unit("off", zl, zu))
                cur.append(None)
                continue
            name = f"h{li}_{j}"
            if zl >= -SIGN_TOLERANCE * scale:
                units.append(Unit("on", zl, zu))
                h = prob._var(name, zl, zu)
                prob._row(
                    f"on{li}_{j}",
                    {h: 1.0, **{c: -v for c, v in coeffs.items()}},
                    float(b[j]),
                    float(b[j]),
                )
            else:
                units.append(Unit("binary", zl, zu))
                h = prob._var(name, 0.0, zu)
                d = prob._var(f"d{li}_{j}", 0.0, 1.0, integer=True)
                neg = {c: -v for c, v in coeffs.items()}
                prob._row(f"ge{li}_{j}", {h: 1.0, **neg}, float(b[j]), np.inf)  # h >= z
                # h <= z - L (1 - d)
                prob._row(f"le{li}_{j}", {h: 1.0, **neg, d: -zl}, -np.inf, float(b[j]) - zl)
                prob._row(f"up{li}_{j}", {h: 1.0, d: -zu}, -np.inf, 0.0)  # h <= U d
            cur.append(h)
        prob.units.append(units)
        prev = cur
    w, b = layers[-1]
    prob.y = prob._var("y", -np.inf, np.inf)
    coeffs = {c: -float(w[0, k]) for k, c in enumerate(prev) if c is not None}
    prob._row("out", {prob.y: 1.0, **coeffs}, float(b[0]), float(b[0]))
    prob.cost[prob.y] = 1.0
    return prob
