"""Solving and embedding the programs of :mod:`tentnet.milp`: HiGHS (``pip install
'tentnet[milp]'``) through :func:`solve`, and a Pyomo block through :func:`pyomo_block`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from torch import nn

from .errors import TentnetError
from .milp import MILP, formulate


@dataclass(frozen=True)
class Solution:
    """A HiGHS solve: ``status`` (HiGHS's model status text), ``x``, ``y``, ``objective``,
    ``seconds``."""

    status: str
    x: float
    y: float
    objective: float
    seconds: float


def _highspy():
    try:
        import highspy
    except ImportError:
        raise TentnetError("solving needs HiGHS: pip install 'tentnet[milp]'") from None
    return highspy


def _quiet(make):
    """``make()`` with the process's standard output closed at the file-descriptor level:
    HiGHS prints a banner from C++ when its first instance is made, before any option can
    silence it (it would corrupt ``--print-json`` output)."""
    import os
    import sys

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to protect
        return make()
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            return make()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def to_highs(prob: MILP, tolerance: float = 1e-10):
    """The program as a ``highspy.Highs`` instance (not yet run); feasibility tolerances set
    to ``tolerance`` so that the optimum matches the network to about that."""
    highspy = _highspy()
    h = _quiet(highspy.Highs)
    h.setOptionValue("output_flag", False)
    for opt in ("primal_feasibility_tolerance", "mip_feasibility_tolerance"):
        h.setOptionValue(opt, tolerance)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    inf = highspy.kHighsInf
    n = len(prob.names)
    clip = np.clip

    h.addVars(n, clip(np.array(prob.lower), -inf, inf), clip(np.array(prob.upper), -inf, inf))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(prob.cost))
    ints = np.nonzero(prob.integer)[0].astype(np.int32)
    if ints.size:
        h.changeColsIntegrality(ints.size, ints, np.full(ints.size, highspy.HighsVarType.kInteger))
    starts, index, value = [], [], []
    for row in prob.rows:
        starts.append(len(index))
        index += list(row)
        value += list(row.values())
    h.addRows(
        len(prob.rows),
        clip(np.array(prob.row_lower), -inf, inf),
        clip(np.array(prob.row_upper), -inf, inf),
        len(index),
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=np.float64),
    )
    sense = highspy.ObjSense.kMaximize if prob.sense == "max" else highspy.ObjSense.kMinimize
    h.changeObjectiveSense(sense)
    return h


def solve(prob: MILP, x: float | None = None, time_limit: float = 60.0) -> Solution:
    """Solve with HiGHS (optionally with the input fixed at ``x``)."""
    h = to_highs(prob)
    h.setOptionValue("time_limit", float(time_limit))
    if x is not None:
        h.changeColBounds(prob.x, float(x), float(x))
    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    status = h.modelStatusToString(h.getModelStatus())
    if status != "Optimal":
        raise TentnetError(f"HiGHS did not solve the MILP to optimality: {status}")
    values = h.getSolution().col_value
    return Solution(
        status, values[prob.x], values[prob.y], h.getInfo().objective_function_value, seconds
    )


def pyomo_block(
    mlp: nn.Module, domain: tuple[float, float], x_var, y_var, formulation: str = "relu"
):
    """A Pyomo ``Block`` that makes ``y_var == network(x_var)`` for ``x_var`` in ``domain``
    (bounds tightened to it), with the ``formulation`` of :func:`formulate`. Add it to your
    model: ``model.net = pyomo_block(mlp, (0, 1), model.x, model.y)``."""
    try:
        import pyomo.environ as pyo
    except ImportError:
        raise TentnetError("pyomo_block needs Pyomo: pip install 'tentnet[milp]'") from None
    prob = formulate(mlp, domain, formulation=formulation)
    block = pyo.Block(concrete=True)
    inner = [j for j in range(len(prob.names)) if j not in (prob.x, prob.y)]
    block.v = pyo.Var(
        range(len(inner)),
        bounds=lambda _, k: (prob.lower[inner[k]], prob.upper[inner[k]]),
        within=lambda _, k: pyo.Binary if prob.integer[inner[k]] else pyo.Reals,
    )
    col = {j: block.v[k] for k, j in enumerate(inner)}
    col[prob.x], col[prob.y] = x_var, y_var
    block.rows = pyo.ConstraintList()
    for row, lo, hi in zip(prob.rows, prob.row_lower, prob.row_upper, strict=True):
        body = sum(v * col[c] for c, v in row.items())
        if lo == hi:
            block.rows.add(body == lo)
        elif np.isfinite(lo):
            block.rows.add(body >= lo)
        else:
            block.rows.add(body <= hi)
    lo, hi = domain
    block.x_range = pyo.Constraint(expr=pyo.inequality(lo, x_var, hi))
    return block
