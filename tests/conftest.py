import pytest
import torch

from tentnet.cli import main

# One dtype-keyed table of tolerances for "the same function computed two ways".
TOL = {torch.float64: 1e-12, torch.float32: 1e-4}


@pytest.fixture
def tol():
    return TOL


def run(argv, capsys):
    """The CLI in-process: ``(exit code, stdout, stderr)``."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def small_model(folder, capsys, width=3):
    """A small model written by ``tentnet fit`` into ``folder/model``; returns its path."""
    argv = ["fit", "--method", "knots", "--width", str(width), "--out", str(folder / "model")]
    assert run([*argv, "--no-plot", "--quiet"], capsys)[0] == 0
    return folder / "model" / "model.safetensors"


def standardised_samples(target: str, n: int, points: int):
    """``n`` rows of ``points`` uniform random t in [0, 1] (row s from seed s) and the target's
    values there, standardised per row: the ``(t, y)`` the direct fitters take."""
    t = torch.stack(
        [
            torch.rand(points, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
            for s in range(n)
        ]
    )
    y = {
        "x**2": t**2,
        "x**3": t**3,
        "x**4": t**4,
        "x**5": t**5,
        "x**11": t**11,
        "sqrt(x + 0.01)": torch.sqrt(t + 0.01),
        "exp(x)": torch.exp(t),
        "sin": torch.sin(6 * t),
        "abs": (t - 0.3).abs(),
    }[target]
    return t, (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True)


def after_shallow_check(info: dict, winner: str) -> str:
    """What ``auto`` keeps after its validation picked ``winner``: for an expression, a deep
    winner is checked against a deep runner-up, then against ``knots``, on all the points; a
    ``knots`` winner against the knot-method finalist, where there is one."""
    if "runner_up_check" in info:
        check = info["runner_up_check"]
        assert check["first"] == winner != check["second"] != "knots"
        winner = check["second"] if check["second_mse"] < check["first_mse"] else winner
    if winner == "knots" and "shallow_check" not in info:
        assert "tent_warp_levels" not in info  # no finalist to weigh it against
        return winner
    check = info["shallow_check"]
    assert check["deep"] == winner or (winner == "knots" and check["deep"] != "knots")
    assert "against the reconstruction halfway" in info["why"]
    return "knots" if check["knots_mse"] < check["deep_mse"] else check["deep"]


def line_networks(slopes: list[float]):
    """One-unit networks ``relu(x) * slope``, one per slope (a ``TrainOutput``)."""
    from tentnet.config import TrainOutput

    n = len(slopes)
    w1 = torch.ones(n, 1, 1, dtype=torch.float64)
    b1 = torch.zeros(n, 1, dtype=torch.float64)
    w2 = torch.tensor(slopes, dtype=torch.float64).view(n, 1, 1)
    return TrainOutput(layers=[(w1, b1), (w2, torch.zeros(n, 1, dtype=torch.float64))])
