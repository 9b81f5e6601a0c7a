"""A target unbounded inside its domain (a pole, a logarithm) is refused before any training,
naming where; bounded targets, steep, oscillating, cusped or with a step, pass."""

import pytest

from tentnet import fit, optimal_pwl
from tentnet.errors import TentnetError
from tentnet.poles import unbounded_at
from tentnet.targets import check_bounded, evaluate_checked, parse_expression, uniform_grid

POLES = [
    ("1/x", (-1.0, 1.0), 0.0),  # the grid's middle point is -4.8e-17: 1/x finite there
    ("1/x", (-1.0, 2.0), 0.0),  # no grid point near 0
    ("tan(x)", (-1.0, 2.0), 1.5708),
    ("abs(x)**-0.25", (-1.0, 1.0), 0.0),  # a weak pole
    ("log(abs(x))", (-1.0, 1.0), 0.0),  # no pole, but unbounded all the same
    ("log(abs(x - 0.31234567))", (0.0, 1.0), 0.312346),  # the search lands on it: -inf
    ("1/(x - 0.31234567) + x", (0.0, 1.0), 0.312346),
]


@pytest.mark.parametrize(("text", "domain", "where"), POLES)
def test_a_pole_is_refused_naming_where(text, domain, where):
    with pytest.raises(TentnetError, match=r"(unbounded near|not finite at) x = ") as err:
        check_bounded(parse_expression(text), domain)
    found = float(str(err.value).split("x = ")[1].split()[0])
    assert found == pytest.approx(where, abs=1e-4)


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("x**3", (0.0, 1.0)),
        ("sqrt(abs(x))", (-1.0, 1.0)),  # a cusp: bounded
        ("tanh(1000*x)", (-1.0, 1.0)),  # steep
        ("sin(1/x)", (-1.0, 1.0)),  # oscillates without end near 0, bounded
        ("x*sin(1/x)", (-1.0, 1.0)),
        ("x*log(abs(x))", (-1.0, 1.0)),  # a logarithm times x: bounded
        ("sin(1/x**2)", (-1.0, 1.0)),
        ("abs(x - 0.3)/(x - 0.3)", (-1.0, 1.1)),  # a step no grid point lands on
        ("1/x", (1e-9, 1.0)),  # steep near the end, no pole inside
        ("exp(-x)*sin(4*x)", (0.0, 3.0)),
    ],
)
def test_bounded_targets_pass(text, domain):
    expr = parse_expression(text)
    assert unbounded_at(lambda t: evaluate_checked(expr, t[:, None]), uniform_grid(domain)) is None
    check_bounded(expr, domain)


def test_fit_and_optimal_pwl_refuse_a_pole_before_training():
    with pytest.raises(TentnetError, match="unbounded near x = 0 "):
        fit("1/x", depth=2, domain=(-1.0, 1.0), method="kaiming")
    with pytest.raises(TentnetError, match=r"unbounded near x = 1\.5708"):
        optimal_pwl("tan(x)", 8, domain=(0.0, 2.0))
