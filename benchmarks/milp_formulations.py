"""A 1-D function inside a small non-convex optimisation problem, formulated four ways.

    maximise  sum_i  w_i cube(x_i) - exp(x_i)   subject to  sum_i x_i <= n / 3,  0 <= x_i <= 1,

with cube(x) = x^3 and exp(x) each replaced by a ReLU network trained by tentnet (the same two
networks in every term; w_i from 1.5 to 3). Each term dips and then rises, so the optimum
picks which third of the x_i go to 1: a combinatorial problem. The same continuous
piecewise-linear functions (the networks) are written

- by ``tentnet.milp``: ``relu`` (unit by unit, exact neuron bounds: no binary for a unit that
  keeps its sign) and ``log`` (the exact piecewise-linear function from the network's
  breakpoints, ceil(log2 pieces) binaries);
- by OMLT's ``ReluBigMFormulation`` (bounds by interval arithmetic from the input box);
- by Pyomo's ``Piecewise`` on the networks' own breakpoints (same function, so equal
  accuracy by construction), as ``LOG`` (logarithmic binaries), ``CC`` (convex combination
  with one binary per piece), and ``SOS2`` (which HiGHS cannot solve: no SOS support).

Everything is solved by HiGHS through Pyomo (``appsi_highs``, relative MIP gap ``--gap``,
default 1e-9, so that every formulation is solved to optimality and all must agree).
Reported per formulation: binaries, continuous variables, constraints, the median solve time
of ``--repeats`` solves, the optimum found, and the objective evaluated with the true x^3 and
exp(x) at the solution found.

    python benchmarks/milp_formulations.py                 # depth 6, 8 terms
    python benchmarks/milp_formulations.py --method tent-phase1   # tent networks, d binaries
    python benchmarks/milp_formulations.py --depth 8 --terms 12 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch


def networks(depth: int, method: str):
    """The two trained networks (cube and exp on [0, 1]) as ``nn.Sequential`` and their MSE."""
    from tentnet import TrainConfig, fit

    out = {}
    for name, expr in (("cube", "x**3"), ("exp", "exp(x)")):
        if method == "tent-phase1":  # peaks and scales only: a tent network, 2^d pieces
            cfg, how = TrainConfig(steps=2000, phase1_steps=2000), "tent"
        elif method == "knots":
            cfg, how = TrainConfig(width=shallow(depth)), "knots"
        else:
            cfg, how = None, method
        r = fit(expr, method=how, depth=1 if how == "knots" else depth, seeds=[0], config=cfg)
        out[name] = (r[0].mlp, r[0].test_mse)
    return out


def shallow(depth: int) -> int:
    from tentnet.train import shallow_width

    return shallow_width(depth)


def _value(mlp, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return mlp(torch.as_tensor(x, dtype=torch.float64)[:, None]).squeeze(-1).numpy()


def _base(pyo, n: int):
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=(0.0, 1.0))
    m.c = pyo.Var(m.I)  # cube(x_i)
    m.e = pyo.Var(m.I)  # exp(x_i)
    m.budget = pyo.Constraint(expr=sum(m.x[i] for i in m.I) <= n / 3)
    w = np.linspace(1.5, 3.0, n)
    m.obj = pyo.Objective(expr=sum(w[i] * m.c[i] - m.e[i] for i in m.I), sense=pyo.maximize)
    return m, w


def build_tentnet(pyo, n, nets, formulation="relu"):
    from tentnet.solvers import pyomo_block

    m, w = _base(pyo, n)
    for i in range(n):
        for name, var in (("cube", m.c), ("exp", m.e)):
            blk = pyomo_block(nets[name][0], (0.0, 1.0), m.x[i], var[i], formulation)
            m.add_component(f"{name}{i}", blk)
    return m, w


def build_omlt(pyo, n, nets):
    from omlt import OmltBlock
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    from tentnet.milp import relu_layers

    def definition(mlp):
        net = NetworkDefinition(scaled_input_bounds={0: (0.0, 1.0)})
        prev = InputLayer([1])
        net.add_layer(prev)
        layers = relu_layers(mlp)
        for k, (wk, bk) in enumerate(layers):
            act = "relu" if k < len(layers) - 1 else "linear"
            layer = DenseLayer([wk.shape[1]], [wk.shape[0]], wk.T, bk, activation=act)
            net.add_layer(layer)
            net.add_edge(prev, layer)
            prev = layer
        return net

    m, w = _base(pyo, n)
    defs = {k: definition(v[0]) for k, v in nets.items()}
    for i in range(n):
        for name, var in (("cube", m.c), ("exp", m.e)):
            blk = OmltBlock()
            m.add_component(f"{name}{i}", blk)
            blk.build_formulation(ReluBigMFormulation(defs[name]))
            m.add_component(f"{name}{i}_in", pyo.Constraint(expr=blk.inputs[0] == m.x[i]))
            m.add_component(f"{name}{i}_out", pyo.Constraint(expr=blk.outputs[0] == var[i]))
    return m, w


def breakpoints(mlp, pieces_pow2: bool) -> tuple[list[float], list[float]]:
    """The network's own breakpoints and the domain's ends (and, for LOG, extra points in the
    middle of the widest pieces until there are 2^k + 1: the same function)."""
    from tentnet.regions import count_linear_regions

    pts = np.unique(np.r_[0.0, count_linear_regions(mlp, (0.0, 1.0)).breakpoints, 1.0])
    if pieces_pow2:
        target = 2 ** math.ceil(math.log2(len(pts) - 1))
        while len(pts) - 1 < target:
            k = int(np.argmax(np.diff(pts)))
            pts = np.insert(pts, k + 1, 0.5 * (pts[k] + pts[k + 1]))
    return pts.tolist(), _value(mlp, pts).tolist()


def build_piecewise(pyo, n, nets, repn: str):
    m, w = _base(pyo, n)
    for name, var in (("cube", m.c), ("exp", m.e)):
        xs, ys = breakpoints(nets[name][0], repn == "LOG")
        pw = pyo.Piecewise(
            m.I,
            var,
            m.x,
            pw_pts=xs,
            f_rule=ys,
            pw_constr_type="EQ",
            pw_repn=repn,
            warning_tol=-1.0,  # the LOG padding splits pieces in two (equal slopes on purpose)
        )
        m.add_component(f"pw_{name}", pw)
    return m, w


def counts(pyo, m) -> dict:
    vars_ = [v for v in m.component_data_objects(pyo.Var, active=True) if not v.fixed]
    binaries = sum(1 for v in vars_ if v.is_binary() or v.is_integer())
    cons = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    sos = sum(1 for _ in m.component_data_objects(pyo.SOSConstraint, active=True))
    return {"binaries": binaries, "continuous": len(vars_) - binaries, "constraints": cons + sos}


def solve(
    pyo, m, repeats: int, time_limit: float, gap: float
) -> tuple[float | None, float | None, list[float] | None, str]:
    solver = pyo.SolverFactory("appsi_highs")
    solver.config.time_limit = time_limit
    solver.config.mip_gap = gap
    times = []
    objective = xs = None
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            res = solver.solve(m, load_solutions=False)
        except Exception as exc:  # a formulation HiGHS cannot take (SOS): reported, not fatal
            return None, None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
        times.append(time.perf_counter() - start)
        if str(res.solver.termination_condition) != "optimal":
            return None, None, None, str(res.solver.termination_condition)
        m.solutions.load_from(res)
        objective = pyo.value(m.obj)
        xs = [pyo.value(m.x[i]) for i in m.I]
    return statistics.median(times), objective, xs, "optimal"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--terms", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--method",
        default="tent-lm",
        choices=("tent-lm", "tent-phase1", "knots", "kaiming"),
        help="how the two networks are trained (tent-phase1: peaks and scales only, so each "
        "network is a tent network with 2^depth pieces)",
    )
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per solve")
    ap.add_argument(
        "--gap",
        type=float,
        default=1e-9,
        help="relative MIP gap at which HiGHS stops (default 1e-9: all formulations solved to "
        "optimality, so they must agree; HiGHS's own default is 1e-4)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        import pyomo.environ as pyo
    except ImportError:
        print("needs pyomo, omlt and highspy: pip install pyomo omlt highspy", file=sys.stderr)
        return 2
    nets = networks(args.depth, args.method)
    print(
        f"networks: {args.method}, depth {args.depth}; test MSE cube "
        f"{nets['cube'][1]:.2e}, exp {nets['exp'][1]:.2e}; {args.terms} terms",
        flush=True,
    )
    builders = {
        "tentnet.milp (relu)": lambda: build_tentnet(pyo, args.terms, nets),
        "tentnet.milp (log)": lambda: build_tentnet(pyo, args.terms, nets, "log"),
        "OMLT ReluBigM": lambda: build_omlt(pyo, args.terms, nets),
        "Pyomo Piecewise LOG": lambda: build_piecewise(pyo, args.terms, nets, "LOG"),
        "Pyomo Piecewise CC": lambda: build_piecewise(pyo, args.terms, nets, "CC"),
        "Pyomo Piecewise SOS2": lambda: build_piecewise(pyo, args.terms, nets, "SOS2"),
    }
    rows = []
    for name, build in builders.items():
        start = time.perf_counter()
        try:
            m, w = build()
        except ImportError as exc:
            rows.append({"formulation": name, "status": f"not installed ({exc.name})"})
            continue
        built = time.perf_counter() - start
        row = {"formulation": name, **counts(pyo, m), "build_s": built}
        seconds, objective, xs, status = solve(pyo, m, args.repeats, args.time_limit, args.gap)
        row.update(status=status, solve_s=seconds, optimum=objective)
        if xs is not None:
            x = np.asarray(xs)
            row["true_objective"] = float(np.sum(w * x**3 - np.exp(x)))
            row["x_at_one"] = int(np.sum(x > 0.5))
        rows.append(row)
        print(json.dumps(row), flush=True)
    cols = [
        "formulation",
        "binaries",
        "continuous",
        "constraints",
        "solve_s",
        "optimum",
        "true_objective",
        "status",
    ]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
