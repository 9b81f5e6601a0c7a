import json
import subprocess
import sys

import pytest
import torch

from tentnet.cli import main

from .conftest import run, small_model

FAST = ["--steps", "300", "--points", "100", "--quiet"]


def test_fit_writes_metrics_model_and_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, err = run(
        [
            "fit",
            "--target",
            "x**3",
            "--depth",
            "4",
            "--method",
            "tent",
            "--out",
            str(tmp_path),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "target",
        "method",
        "depth",
        "width",
        "points",
        "seed",
        "dtype",
        "steps",
        "seconds",
        "train_mse",
        "test_mse",
        "max_abs_error",
        "linear_regions",
        "activation_regions",
        "phase1_test_mse",
        "phase1_linear_regions",
    ):
        assert key in metrics
    assert metrics["phase1_linear_regions"] == 16
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test MSE" in out
    code, out, err = run(["regions", str(tmp_path / "model.safetensors"), "--json"], capsys)
    assert code == 0, err
    counts = json.loads(out)
    assert counts["linear_regions"] == metrics["linear_regions"]
    assert counts["activation_regions"] == metrics["activation_regions"]
    code, out, _ = run(["regions", str(tmp_path / "model.safetensors"), "--breakpoints"], capsys)
    assert "linear pieces (2^depth = 16)" in out and "breakpoints:" in out


def test_fit_json_and_several_seeds(tmp_path, capsys):
    code, out, err = run(
        [
            "fit",
            "--target",
            "sin(3*x)",
            "--domain",
            "-1,1",
            "--method",
            "kaiming",
            "--seeds",
            "0-2",
            "--json",
            "--no-plot",
            "--out",
            str(tmp_path),
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [r["seed"] for r in doc["runs"]] == [0, 1, 2]
    assert doc["summary"]["test_mse"]["min"] <= doc["summary"]["test_mse"]["median"]
    assert doc["runs"][0]["domain"] == [-1.0, 1.0]
    assert (tmp_path / "seed-2" / "model.safetensors").exists()
    assert (tmp_path / "summary.json").exists()


def test_fit_from_data_file(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "\n".join(f"{i / 49},{(i / 49) ** 2}" for i in range(50)))
    code, out, err = run(
        ["fit", "--target", str(path), "--holdout", "0.2", "--json", *FAST], capsys
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["points"] == 40 and "10 held-out" in doc["test_set"]


BAD = [
    (["fit", "--target", "__import__('os')"], "not allowed"),
    (["fit", "--target", "foo(x)"], "not allowed"),
    (["fit", "--target", "log(x)"], "not finite at x = 0"),
    (["fit", "--target", "1/x", "--domain", "-1,1"], "unbounded near x = 0 "),
    (["fit", "--target", "x**3", "--depth", "0"], "depth"),
    (["fit", "--target", "x**3", "--depth", "99"], "depth"),
    (["fit", "--depth", "-3"], "non-negative"),
    (["fit", "--depth", "five"], "whole number"),
    (["fit", "--method", "magic"], "invalid choice"),
    (["fit", "--domain", "1,0"], "domain"),
    (["fit", "--domain", "0,nan"], "domain"),
    (["fit", "--domain", "abc"], "LO,HI"),
    (["fit", "--width", "8"], "--width does not apply to --method auto"),
    (["fit", "--method", "tent", "--width", "8"], "width-4"),
    (["fit", "--method", "knots", "--depth", "3"], "one hidden layer"),
    (["fit", "--points", "1"], "points"),
    (["fit", "--seeds", "3-1"], "seeds"),
    (["fit", "--target", "missing.csv"], "not found"),
    (["fit", "--target", "x0 + x1", "--seeds", "0-2"], "one --seed"),
    (["fit", "--steps", "0"], "steps"),
    (["fit", "--lr", "-1"], "learning rates"),
    (["fit", "--holdout", "2"], "holdout"),
    (["fit", "--holdout", "0.5"], "holdout applies to data files"),
    (["regions", "missing.safetensors"], "not found"),
    (["nonsense"], "invalid choice"),
    (["fit", "--bogus"], "unrecognized"),
    (["fit", "--device", "tpu"], "device"),
    (["reproduce", "--workers", "0", "--out", "never"], "workers"),
    (["reproduce", "--backend", "ray", "--workers", "2"], "--workers goes with"),
]


@pytest.mark.parametrize("argv, match", BAD)
def test_bad_input_one_line_exit_2(argv, match, capsys, tmp_path):
    argv = [a if a != "missing.csv" else str(tmp_path / "missing.csv") for a in argv]
    code, out, err = run([*argv, "--quiet"] if argv[0] == "fit" else argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tentnet: error:") and match in lines[0]
    assert "Traceback" not in err and out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error(capsys):
    code, _, err = run(["fit", "--device", "cuda", "--quiet", *FAST], capsys)
    assert code == 2 and "no CUDA GPU" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_trains_what_the_cpu_trains():
    """On a GPU the batched training gives the CPU's networks up to summation order (Kaiming,
    a few hundred Adam steps), and the LM methods finish with finite, comparable errors."""
    from tentnet import TrainConfig, fit

    kw = dict(depth=4, seeds=[0, 1], points=100, count_regions=False)
    for method, steps in (("kaiming", 300), ("tent-lm", 600)):
        cfg = TrainConfig(depth=4, steps=steps)
        cpu = fit("x**3", method=method, config=cfg, device="cpu", **kw)
        gpu = fit("x**3", method=method, config=cfg, device="cuda", **kw)
        for a, b in zip(cpu, gpu, strict=True):
            if method == "kaiming":  # Adam only: the same networks to rounding
                assert abs(a.test_mse - b.test_mse) <= 1e-6 * a.test_mse
            else:  # LM may end elsewhere from inputs that differ in the last bits
                assert a.test_mse < 1e-5 and b.test_mse < 1e-5


def test_export_never_overwrites_its_input_or_mixes_outputs(tmp_path, capsys):
    model = small_model(tmp_path, capsys, width=5)
    before = model.read_bytes()
    code, _, err = run(["export", str(model), "--json", str(model)], capsys)
    assert code == 2 and "is the model being exported" in err and err.count("\n") == 1
    code, _, err = run(
        ["export", str(model), "--json", str(tmp_path / "m"), "--torchscript", str(tmp_path / "m")],
        capsys,
    )
    assert code == 2 and "name the same file" in err
    assert model.read_bytes() == before and not (tmp_path / "m").exists()


def test_corrupt_model_file(tmp_path, capsys):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00" * 3)
    code, _, err = run(["regions", str(path)], capsys)
    assert code == 2 and "truncated" in err and len(err.strip().splitlines()) == 1


def test_no_output_is_left_half_written_on_error(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = run(
        ["fit", "--target", "1/(x-0.5)", "--out", str(out), "--no-plot", *FAST], capsys
    )
    assert code == 2
    assert not out.exists()


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "tentnet.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("tentnet ")
    proc = subprocess.run(
        [sys.executable, "-m", "tentnet.cli", "fit", "--depth", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_reproduce_cli_rejects_unknown_experiment(tmp_path, capsys):
    code = main(["reproduce", "--only", "dense,nope", "--out", str(tmp_path), "--quiet"])
    assert code == 2 and "unknown experiment" in capsys.readouterr().err


def test_fit_without_matplotlib_writes_model_and_says_how_to_get_the_figure(
    tmp_path, capsys, monkeypatch
):
    import sys

    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "o"
    code, _, err = run(
        ["fit", "--method", "knots", "--width", "4", "--out", str(out), "--quiet"], capsys
    )
    assert code == 0
    assert "pip install 'tentnet[plot]'" in err
    assert (out / "model.safetensors").is_file() and not (out / "fit.png").exists()


@pytest.mark.parametrize(
    "flag", [["--width", "6"], ["--lr", "1e-3"], ["--restarts", "2"], ["--holdout", "0.2"]]
)
def test_several_inputs_refuse_flags_they_cannot_use(tmp_path, capsys, flag):
    out = tmp_path / "o"
    code, _, err = run(
        ["fit", "--target", "x0*x1", "--steps", "20", "--out", str(out), "--no-plot", *flag],
        capsys,
    )
    assert code == 2 and "do(es) not apply to targets of several inputs" in err
    assert flag[0] in err and not out.exists()


def test_several_inputs_take_the_dtype(tmp_path, capsys):
    import json

    code, out, _ = run(
        ["fit", "--target", "x0*x1", "--steps", "20", "--dtype", "float32", "--json"], capsys
    )
    assert code == 0 and json.loads(out)["dtype"] == "float32"


def test_the_progress_line_names_what_each_phase_measures(capsys):
    from tentnet.cli.common import ProgressLine

    line = ProgressLine(True)
    line("LM", 3, 10, 1.5e-9)
    assert "train loss 1.500e-09" in capsys.readouterr().err
    line("hops", 2, 6, 2.5e-12)  # a hop is kept by its error between the grid points
    err = capsys.readouterr().err
    assert "judged MSE 2.500e-12" in err and "train loss" not in err
    ProgressLine(False)("LM", 1, 1, 1.0)
    assert capsys.readouterr().err == ""
