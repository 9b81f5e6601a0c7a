"""Built-in real data sets (statsmodels' bundled files, no network)."""

import numpy as np
import pytest

from tentnet.errors import TentnetError
from tentnet.targets import load_data, looks_like_file

from .conftest import run


@pytest.mark.parametrize(("name", "points"), [("sunspots", 309), ("co2", 2225)])
def test_builtin_data_sets_load_offline(name, points):
    data = load_data(f"data:{name}")
    assert data.x.shape == (points, 1) and data.y.shape == (points,)
    assert np.isfinite(data.x).all() and np.isfinite(data.y).all()
    assert np.all(np.diff(data.x[:, 0]) > 0)  # time series: x is the time, increasing
    assert data.source == f"data:{name}"


def test_unknown_data_set_is_refused():
    assert looks_like_file("data:nope")
    with pytest.raises(TentnetError, match="unknown data set 'data:nope'; choose one of"):
        load_data("data:nope")


def test_missing_statsmodels_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "statsmodels", None)
    monkeypatch.setitem(sys.modules, "statsmodels.api", None)
    with pytest.raises(TentnetError, match=r"pip install 'tentnet\[data\]'"):
        load_data("data:sunspots")


def test_cli_fits_a_builtin_data_set(tmp_path, capsys):
    code, out, _ = run(
        [
            "fit",
            "--target",
            "data:sunspots",
            "--method",
            "knots",
            "--width",
            "10",
            "--holdout",
            "0.2",
            "--out",
            str(tmp_path / "o"),
            "--no-plot",
        ],
        capsys,
    )
    assert code == 0, out
    assert "data:sunspots" in out and (tmp_path / "o" / "model.safetensors").is_file()


def test_data_with_one_distinct_x_is_refused(tmp_path, capsys):
    path = tmp_path / "same.csv"
    path.write_text("x,y\n1,0\n1,1\n1,2\n")
    code, _, err = run(["fit", "--target", str(path), "--no-plot"], capsys)
    assert code == 2 and "every point has the same x" in err and "Traceback" not in err
