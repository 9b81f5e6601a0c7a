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


def _csv(path, xs, ys):
    rows = "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(xs, ys, strict=True))
    path.write_text("x,y\n" + rows)
    return path


def _fit_json(path, capsys, *extra):
    import json

    code, out, err = run(["fit", "--target", str(path), "--no-plot", "--json", *extra], capsys)
    assert code == 0 and "Traceback" not in err, err
    return {"runs": [json.loads(out)]}


def test_degenerate_data_sets_have_documented_fallbacks(tmp_path, capsys):
    """Constant y: fitted exactly, relative error undefined (null). Conflicting y at the
    same x: the least-squares fit goes through their mean. Two points: the line through
    them. Fewer than 50 points: auto takes tent-lm without a validation split."""
    xs = np.linspace(0, 1, 80)
    const = _fit_json(_csv(tmp_path / "c.csv", xs, np.full(80, 3.5)), capsys)["runs"][0]
    assert const["test_mse"] < 1e-20 and const["relative_test_mse"] is None
    x2 = np.repeat(np.linspace(0, 1, 40), 2)
    y2 = 2 * x2 + np.tile([1.0, -1.0], 40)  # mean 2x
    dup = _fit_json(_csv(tmp_path / "d.csv", x2, y2), capsys, "--method", "knots", "--width", "4")
    assert dup["runs"][0]["train_mse"] == pytest.approx(1.0, rel=1e-6)  # only the noise left
    two = _fit_json(_csv(tmp_path / "t.csv", [0.0, 1.0], [1.0, 3.0]), capsys)["runs"][0]
    assert two["train_mse"] < 1e-20 and two["method"] == "tent-lm"
    assert "too few points to validate" in two["auto"]["why"]
