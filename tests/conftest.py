import pytest
import torch

# One dtype-keyed table of tolerances for "the same function computed two ways".
TOL = {torch.float64: 1e-12, torch.float32: 1e-4}


@pytest.fixture
def tol():
    return TOL
