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
