"""ReLU networks as mixed-integer programs (tentnet.milp), solved with HiGHS."""

import numpy as np
import pytest
import torch
from torch import nn

import tentnet
from tentnet import milp, solvers
from tentnet.errors import TentnetError

from .conftest import run, small_model

pytest.importorskip("highspy")


def _tent(depth, domain=(0.0, 2.0), seed=0):
    """A phase-1 tent network with random peaks and scales (still a tent network)."""
    torch.manual_seed(seed)
    net = tentnet.TentNet(depth=depth, domain=domain, dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net.to_mlp()


def _kaiming(seed=0, width=6, depth=3):
    torch.manual_seed(seed)
    layers = [nn.Linear(1, width)]
    for _ in range(depth - 1):
        layers += [nn.ReLU(), nn.Linear(width, width)]
    layers += [nn.ReLU(), nn.Linear(width, 1)]
    return nn.Sequential(*layers).double()


def _model_and_domain(path):
    from tentnet.io import load

    mlp, meta = load(path)
    return mlp, meta["domain"]


def _forward(mlp, x):
    with torch.no_grad():
        return float(mlp(torch.tensor([[x]], dtype=torch.float64)))


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8, 12])
def test_phase1_tent_network_needs_one_binary_per_level(depth):
    prob = milp.formulate(_tent(depth), (0.0, 2.0))
    assert prob.counts["binaries"] == depth
    # One fold per level; the other units never change sign on the domain.
    assert [sum(u.kind == "binary" for u in layer) for layer in prob.units] == [1] * depth


@pytest.mark.parametrize("make", [lambda: _tent(6), lambda: _kaiming(1), lambda: _kaiming(2, 8)])
@pytest.mark.parametrize("sense", ["min", "max"])
def test_optimum_is_the_exact_extreme(make, sense):
    mlp = make()
    low, x_low, high, _ = milp.extremes(mlp, (0.0, 2.0))
    # The exact extremes really are values of the network (and bound a dense sample).
    assert _forward(mlp, x_low) == pytest.approx(low, abs=1e-12)
    with torch.no_grad():
        dense = mlp(torch.linspace(0, 2, 20001, dtype=torch.float64)[:, None])
    assert low <= float(dense.min()) + 1e-12 and high >= float(dense.max()) - 1e-12
    prob = milp.formulate(mlp, (0.0, 2.0), sense)
    assert prob.output_range == pytest.approx((low, high), rel=1e-12, abs=1e-15)
    sol = solvers.solve(prob)
    want = low if sense == "min" else high
    assert sol.objective == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert sol.y == pytest.approx(_forward(mlp, sol.x), rel=1e-9, abs=1e-12)


def test_fixed_inputs_give_the_forward_pass():
    mlp = _tent(5)
    prob = milp.formulate(mlp, (0.0, 2.0))
    for x in np.random.default_rng(0).uniform(0.0, 2.0, 8):
        assert solvers.solve(prob, x=x).y == pytest.approx(_forward(mlp, x), rel=1e-9, abs=1e-12)


def test_units_that_keep_their_sign_get_no_binary():
    """On [0, 1]: relu(x + 1) is always on, relu(-x - 1) always off, relu(x - 0.5) changes
    sign (the one binary, with big-Ms equal to the exact range [-0.5, 0.5])."""
    first = nn.Linear(1, 3).double()
    with torch.no_grad():
        first.weight[:] = torch.tensor([[1.0], [-1.0], [1.0]])
        first.bias[:] = torch.tensor([1.0, -1.0, -0.5])
    last = nn.Linear(3, 1).double()
    mlp = nn.Sequential(first, nn.ReLU(), last)
    prob = milp.formulate(mlp, (0.0, 1.0))
    assert [u.kind for u in prob.units[0]] == ["on", "off", "binary"]
    assert (prob.units[0][2].lower, prob.units[0][2].upper) == pytest.approx((-0.5, 0.5))
    assert prob.counts == {"binaries": 1, "continuous": 4, "constraints": 5}
    assert "h1_1" not in prob.names  # the dead unit has no variable


def test_mps_and_lp_files_solve_to_the_same_optimum(tmp_path):
    import highspy

    mlp = _kaiming(3)
    prob = milp.formulate(mlp, (0.0, 2.0), "max")
    want = milp.extremes(mlp, (0.0, 2.0))[2]
    for name, write in (("m.mps", prob.write_mps), ("m.lp", prob.write_lp)):
        write(tmp_path / name)
        h = solvers._quiet(highspy.Highs)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_feasibility_tolerance", 1e-10)
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        assert h.readModel(str(tmp_path / name)) == highspy.HighsStatus.kOk
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(want, rel=1e-9)
        assert h.getInfo().mip_node_count >= 0 and h.getNumCol() == len(prob.names)


@pytest.mark.parametrize("formulation", ["relu", "log"])
def test_pyomo_block_embeds_the_network(formulation):
    pyo = pytest.importorskip("pyomo.environ")
    mlp = _tent(4, domain=(0.0, 1.0))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-5, 5))
    m.y = pyo.Var()
    m.net = solvers.pyomo_block(mlp, (0.0, 1.0), m.x, m.y, formulation=formulation)
    m.obj = pyo.Objective(expr=m.y, sense=pyo.maximize)
    solver = pyo.SolverFactory("appsi_highs")
    if not solver.available(exception_flag=False):
        pytest.skip("Pyomo's HiGHS interface is not available")
    solver.config.mip_gap = 0.0
    solver.solve(m)
    assert pyo.value(m.y) == pytest.approx(milp.extremes(mlp, (0.0, 1.0))[2], rel=1e-7)
    assert -1e-9 <= pyo.value(m.x) <= 1.0 + 1e-9
    assert sum(1 for v in m.net.v.values() if v.is_binary()) == 4  # 16 pieces: 4 either way


@pytest.mark.parametrize(
    ("mlp", "match"),
    [
        (nn.Sequential(nn.Linear(1, 3), nn.Tanh(), nn.Linear(3, 1)), "plain ReLU network"),
        (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), "one input and one output"),
        (nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.ReLU(), nn.Linear(3, 1)), "one ReLU"),
        (nn.Sequential(nn.Linear(1, 3), nn.ReLU()), "one ReLU between each pair"),
    ],
)
def test_non_relu_networks_are_refused(mlp, match):
    with pytest.raises(TentnetError, match=match):
        milp.formulate(mlp, (0.0, 1.0))


def test_cli_export_writes_mps_and_lp_and_checks_them(tmp_path, capsys):
    model = small_model(tmp_path, capsys)
    mps, lp = tmp_path / "n.mps", tmp_path / "n.lp"
    code, out, _ = run(
        ["export", str(model), "--mps", str(mps), "--lp", str(lp), "--sense", "max"], capsys
    )
    assert code == 0, out
    assert mps.read_text().startswith("NAME") and "Maximize" in lp.read_text()
    assert "exact max on the domain: |difference|" in out and "binaries" in out
    diff = float(out.split("|difference| ")[1].split()[0].rstrip(")"))
    assert diff < 1e-9 * max(1.0, abs(milp.extremes(*_model_and_domain(model))[2]))


def test_cli_export_of_a_corrupt_model_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    code, _, err = run(["export", str(bad), "--mps", str(tmp_path / "n.mps")], capsys)
    assert code == 2 and "not a valid tentnet model" in err and "Traceback" not in err
    assert not (tmp_path / "n.mps").exists()


@pytest.mark.parametrize("pieces", range(1, 18))
def test_log_sets_allow_exactly_the_chosen_piece(pieces):
    """For every binary vector z: the breakpoint weights it allows are the two ends of the
    piece whose Gray code is z, and none if no piece has that code."""
    codes = milp.gray_codes(pieces)
    assert codes.shape == (pieces, int(np.ceil(np.log2(pieces))) if pieces > 1 else 0)
    assert all(np.abs(np.diff(codes, axis=0)).sum(1) == 1)  # neighbours differ in one bit
    sets = milp.log_sets(pieces)
    bits = codes.shape[1]
    for z in range(2**bits):
        zb = [(z >> b) & 1 for b in range(bits)]
        allowed = [
            j
            for j in range(pieces + 1)
            if not any(
                (j in ones and zb[b] == 0) or (j in zeros and zb[b] == 1)
                for b, (ones, zeros) in enumerate(sets)
            )
        ]
        piece = [i for i in range(pieces) if codes[i].tolist() == zb]
        assert allowed == ([piece[0], piece[0] + 1] if piece else [])


@pytest.mark.parametrize("make", [lambda: _tent(5), lambda: _kaiming(1), lambda: _kaiming(2, 8)])
def test_log_formulation_is_the_same_function(make):
    from tentnet.regions import count_linear_regions

    mlp = make()
    pieces = count_linear_regions(mlp, (0.0, 2.0)).linear_regions
    prob = milp.formulate(mlp, (0.0, 2.0), "max", formulation="log")
    assert prob.counts["binaries"] == (int(np.ceil(np.log2(pieces))) if pieces > 1 else 0)
    assert prob.counts["constraints"] == 3 + 2 * prob.counts["binaries"]
    low, _, high, _ = milp.extremes(mlp, (0.0, 2.0))
    assert solvers.solve(prob).objective == pytest.approx(high, rel=1e-9, abs=1e-12)
    low_prob = milp.formulate(mlp, (0.0, 2.0), "min", formulation="log")
    assert solvers.solve(low_prob).objective == pytest.approx(low, rel=1e-9, abs=1e-12)
    for x in np.random.default_rng(1).uniform(0.0, 2.0, 6):
        assert solvers.solve(prob, x=x).y == pytest.approx(_forward(mlp, x), rel=1e-9, abs=1e-12)


def test_unknown_formulation_is_refused():
    with pytest.raises(TentnetError, match="formulation must be one of relu, log"):
        milp.formulate(_tent(2), (0.0, 2.0), formulation="sos2")


def test_cli_export_log_formulation(tmp_path, capsys):
    model = small_model(tmp_path, capsys)
    code, out, _ = run(
        ["export", str(model), "--lp", str(tmp_path / "n.lp"), "--formulation", "log"], capsys
    )
    assert code == 0, out
    assert "mixed-integer program (log)" in out and "|difference|" in out
    assert "Binaries" in (tmp_path / "n.lp").read_text()
