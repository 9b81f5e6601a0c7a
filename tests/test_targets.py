import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tentnet import TentnetError
from tentnet.targets import evaluate_checked, load_data, parse_expression

X = torch.linspace(0.1, 2.0, 50, dtype=torch.float64)


@pytest.mark.parametrize(
    "text, ref",
    [
        ("x**3", lambda x: x**3),
        ("-x + 2*x**2 - 3/x", lambda x: -x + 2 * x**2 - 3 / x),
        (
            "exp(x) + log(x) + log1p(x) + sqrt(x)",
            lambda x: np.exp(x) + np.log(x) + np.log1p(x) + np.sqrt(x),
        ),
        ("sin(x)*cos(x) - tan(x/3)", lambda x: np.sin(x) * np.cos(x) - np.tan(x / 3)),
        (
            "tanh(3*x) + sinh(x) - cosh(x) + abs(x - 1)",
            lambda x: np.tanh(3 * x) + np.sinh(x) - np.cosh(x) + np.abs(x - 1),
        ),
        ("pi * e + x", lambda x: math.pi * math.e + x),
        ("2", lambda x: 2 + 0 * x),
        ("+x", lambda x: x),
        ("x**-1.5", lambda x: x**-1.5),
        (
            "atan(x) + asin(x/3) + acos(x/3) + asinh(x) + acosh(1 + x) + atanh(x/3)",
            lambda x: (
                np.arctan(x)
                + np.arcsin(x / 3)
                + np.arccos(x / 3)
                + np.arcsinh(x)
                + np.arccosh(1 + x)
                + np.arctanh(x / 3)
            ),
        ),
        (
            "erf(x) - erfc(x) + expm1(x) + sigmoid(3*x)",
            lambda x: (
                np.array([math.erf(v) - math.erfc(v) for v in x])
                + np.expm1(x)
                + 1 / (1 + np.exp(-3 * x))
            ),
        ),
        (
            "max(x - 1, 0) + min(2*x, 1) - max(0.5, 0.25)",
            lambda x: np.maximum(x - 1, 0) + np.minimum(2 * x, 1) - 0.5,
        ),
    ],
)
def test_expressions_evaluate_like_numpy(text, ref):
    expr = parse_expression(text)
    assert expr.variables == ("x",)
    assert np.allclose(expr(X).numpy(), ref(X.numpy()), rtol=1e-14, atol=1e-14)


def test_many_inputs():
    expr = parse_expression("(x0**2 + x2**2)**1.5")
    assert expr.variables == ("x0", "x1", "x2")
    pts = torch.rand(10, 3, dtype=torch.float64)
    assert torch.allclose(expr(pts), (pts[:, 0] ** 2 + pts[:, 2] ** 2) ** 1.5)


HOSTILE = [
    "__import__('os').system('touch /tmp/pwned')",
    "x.__class__",
    "x.real",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "import os",
    "exec('1')",
    "eval('x')",
    "open('/etc/passwd')",
    "getattr(x, 'y')",
    "[x for x in ()]",
    "x if x else 1",
    "x[0]",
    "sin(x, 2)",
    "max(x)",
    "min(x, 1, 2)",
    "max(x, other=1)",
    "sin(x=1)",
    "x < 1",
    "x // 2",
    "x % 2",
    "x @ x",
    "not x",
    "~x",
    "'abc'",
    "1j * x",
    "True + x",
    "y + 1",
    "x + x0",
    "{}",
    "x; 1",
    "sin",
    "(lambda: 0)()",
    "f'{x}'",
    "x := 1",
    "9" * 400,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expressions_are_refused(text):
    with pytest.raises(TentnetError):
        parse_expression(text)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x +", "cannot parse"),
        ("x" + "+x" * 600, "longer than"),
        ("sin(" * 60 + "x" + ")" * 60, "nested"),
        ("-" * 80 + "x", "nested"),
        ("foo(x)", r"one of abs, .*sqrt, tan, tanh \(one argument each\) or max, min \(two\)"),
        ("q", "unknown name"),
    ],
)
def test_refusals_name_the_problem(text, match):
    with pytest.raises(TentnetError, match=match):
        parse_expression(text)


def test_huge_exponent_is_not_a_hang_and_is_refused_when_evaluated():
    expr = parse_expression("10**10**10 * x")  # floats: inf, never a huge integer
    with pytest.raises(TentnetError, match="not finite at x = "):
        evaluate_checked(expr, X[:, None])


def test_nonfinite_target_names_an_x():
    expr = parse_expression("log(x)")
    with pytest.raises(TentnetError, match=r"not finite at x = 0\b"):
        evaluate_checked(expr, torch.tensor([[0.5], [0.0], [1.0]], dtype=torch.float64))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_random_text_never_escapes_as_another_exception(text):
    try:
        expr = parse_expression(text)
    except TentnetError:
        return
    with np.errstate(all="ignore"):
        try:
            evaluate_checked(expr, X[:, None].expand(-1, expr.n_inputs).contiguous())
        except TentnetError:
            pass


_atoms = st.sampled_from(["x", "1", "2.5", "pi", "e", "0"])
_exprs = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(st.sampled_from(["exp", "sin", "abs", "sqrt", "log"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        inner.map(lambda s: f"-{s}"),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_exprs)
def test_whitelisted_grammar_always_parses(text):
    expr = parse_expression(text)
    with np.errstate(all="ignore"):
        y = expr(X[:, None])
    assert y.shape == (X.numel(),)


def test_csv_npy_npz(tmp_path):
    x = np.linspace(0, 1, 7)
    y = x**2
    (tmp_path / "d.csv").write_text(
        "x,y\n" + "\n".join(f"{a},{b}" for a, b in zip(x, y, strict=True))
    )
    np.save(tmp_path / "d.npy", np.stack([x, y], 1))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    for name in ("d.csv", "d.npy", "d.npz"):
        data = load_data(tmp_path / name)
        assert data.x.shape == (7, 1)
        assert np.allclose(data.y, y)


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "empty"),
        ("x,y\n", "no data rows"),
        ("a,b\n1,2\n", "header"),
        ("x,y\n1,2\n3\n", "row 2 has 1 columns"),
        ("x,y\n1,2\n3,nan\n", "row 2 has a NaN"),
        ("x,y\n1,2\ninf,1\n", "row 2 has a NaN or infinite"),
        ("x,y\n1,two\n", "row 1 has a value that is not a number"),
        ("x,y\n1,2\n", "at least 2 points"),
    ],
)
def test_bad_csv_is_refused(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TentnetError, match=match):
        load_data(path)


def test_bad_binary_data_is_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((5, 1)))
    np.save(tmp_path / "b.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]))
    (tmp_path / "c.npy").write_bytes(b"garbage")
    np.savez(tmp_path / "d.npz", a=np.zeros(3))
    for name, match in [
        ("a.npy", "shape"),
        ("b.npy", "row 2"),
        ("c.npy", "cannot read"),
        ("d.npz", "'x' and 'y'"),
        ("missing.csv", "not found"),
    ]:
        with pytest.raises(TentnetError, match=match):
            load_data(tmp_path / name)
