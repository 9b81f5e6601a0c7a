import itertools

import numpy as np
import pytest

from tentnet import TentnetError, optimal_pwl


def test_matches_the_published_limits_for_x_cubed():
    # DESIGN.md section 4: about 9.0e-9 at 32 pieces and 5.6e-10 at 64 for x^3 on [0, 1].
    assert optimal_pwl("x**3", 32).mse == pytest.approx(9.0e-9, rel=0.03)
    assert optimal_pwl("x**3", 64).mse == pytest.approx(5.6e-10, rel=0.03)


def test_knot_optimisation_only_lowers_and_finds_a_kink():
    fit = optimal_pwl("abs(x - 0.3)", 2)
    assert fit.mse <= fit.mse_start
    assert fit.mse < 1e-12
    assert fit.knots[1] == pytest.approx(0.3, abs=1e-6)


def test_optimise_knots_lowers_the_error_keeps_the_ends_and_the_order():
    import torch

    from tentnet.limit import least_squares_cpwl, optimise_knots

    x = torch.linspace(0.0, 1.0, 2001, dtype=torch.float64)
    y = torch.sqrt(x + 0.01)  # uniform knots are far from the best for it

    def error(knots):
        return float(least_squares_cpwl(x, y, knots)[0])

    start = torch.linspace(0.0, 1.0, 9, dtype=torch.float64)
    moved = optimise_knots(x, y, start, 50, error(start))
    assert not moved.requires_grad
    assert moved[0] == 0.0 and moved[-1] == 1.0
    assert bool((torch.diff(moved) > 0).all())
    assert error(moved) < 0.2 * error(start)
    assert float(moved[1]) < 0.05  # the knots crowd where the curvature is


def test_knot_search_survives_a_singular_trial():
    """L-BFGS tries knots that leave a hat with no grid point (Cholesky fails there); the
    fallback solve once wrote into a tensor autograd still needed and raised a RuntimeError."""
    fit = optimal_pwl("sin(2*pi*x)+0.3*x", 38)
    assert 0 < fit.mse <= fit.mse_start


def test_solve_spd_falls_back_without_breaking_gradients():
    import torch

    from tentnet.optim import solve_spd

    a = torch.tensor([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    a.requires_grad_(True)
    x, ok = solve_spd(a, torch.ones(2, 2, dtype=torch.float64))
    assert ok.tolist() == [True, True]  # the indefinite one by LU
    x.sum().backward()
    assert torch.isfinite(a.grad).all()


def test_error_falls_like_pieces_to_the_minus_four():
    errs = [optimal_pwl("exp(2*x)", p, domain=(-1.0, 1.0), iterations=0).mse for p in (8, 16, 32)]
    for a, b in itertools.pairwise(errs):
        assert 12 < a / b < 20


def test_fit_is_continuous_piecewise_linear_with_sorted_knots():
    fit = optimal_pwl("sin(3*x)", 16, domain=(0.0, 1.0))
    assert np.all(np.diff(fit.knots) > 0) and fit.knots.size == 17
    assert fit.knots[0] == 0.0 and fit.knots[-1] == 1.0
    x = np.linspace(0, 1, 10_001)
    assert np.mean((fit(x) - np.sin(3 * x)) ** 2) == pytest.approx(fit.mse, rel=1e-9)


@pytest.mark.parametrize(
    "args, match",
    [
        (("x**3", 0), "pieces"),
        (("x0*x1", 4), "one input"),
        (("log(x)", 4), "not finite"),
    ],
)
def test_bad_requests(args, match):
    with pytest.raises(TentnetError, match=match):
        optimal_pwl(*args)
