"""The README's command-line section, driven: every documented flag is one the parser accepts
(and every flag the parser has is documented), and every example runs (with a smaller
training budget appended where it would take minutes)."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from tentnet.cli import build_parser

from .conftest import run

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Command line")
    return text[start : text.index("\n## ", start + 10)]


def _blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", _section(), flags=re.S)


def _usage() -> dict[str, set[str]]:
    """Per command, the flags its usage lines name."""
    flags: dict[str, set[str]] = {}
    command = None
    for line in _blocks()[0].splitlines():
        m = re.match(r"tentnet (\w+)", line)
        if m:
            command = m.group(1)
        flags.setdefault(command, set()).update(re.findall(r"--[a-z0-9-]+", line))
    return flags


def _parser_flags() -> dict[str, set[str]]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {
        name: {o for a in p._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
        for name, p in sub.choices.items()
    }


def test_usage_lines_name_exactly_the_parsers_flags():
    documented, actual = _usage(), _parser_flags()
    assert set(documented) == set(actual)
    for command in actual:
        assert documented[command] == actual[command], command


# Appended to examples whose full budget takes minutes; everything else runs as written.
SMALLER = {
    "fit": ["--steps", "300", "--lm-iterations", "20", "--restarts", "2", "--quiet"],
    "reproduce": ["--only", "sparse", "--seeds", "1", "--quiet"],
    "bench": ["--steps", "50", "--no-plain"],
}


def _examples() -> list[list[str]]:
    lines = []
    for line in _blocks()[1].splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith("tentnet "):
            lines.append(shlex.split(line)[1:])
    return lines


def test_the_examples_are_there():
    commands = {argv[0] for argv in _examples()}
    assert commands == {"fit", "regions", "export", "reproduce", "bench"}


def test_every_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("highspy")
    pytest.importorskip("statsmodels")
    monkeypatch.chdir(tmp_path)
    x = np.linspace(0.0, 1.0, 200)
    np.savetxt("data.csv", np.c_[x, np.exp(x)], delimiter=",", header="x,y", comments="")
    for argv in _examples():
        code, _, err = run([*argv, *SMALLER.get(argv[0], [])], capsys)
        assert code == 0, (argv, err)
    assert Path("runs/wave/model.safetensors").is_file() and Path("wave.onnx").is_file()
    assert Path("wave.mps").is_file() and Path("runs/paper/report.md").is_file()


@pytest.mark.parametrize("method", ["knots", "auto"])
@pytest.mark.parametrize("kind", ["expression", "data file"])
def test_fit_parses_once_reads_once_and_passes_six_modules(
    kind, method, tmp_path, monkeypatch, capsys
):
    """The walk of ``tentnet fit`` to the saved model: the target is parsed once (or the data
    read once), and the parsed target and the trained model pass through at most 6 modules
    (those whose functions receive either as an argument)."""
    import sys

    import torch

    import tentnet.targets as targets
    from tentnet.result import FitResult

    calls = {"parse_expression": 0, "load_data": 0}
    made = []  # the parsed target (or data set)
    for name in calls:
        original = getattr(targets, name)

        def counted(*a, _original=original, _name=name, **k):
            calls[_name] += 1
            made.append(_original(*a, **k))
            return made[-1]

        monkeypatch.setattr(targets, name, counted)
    modules = []

    def follow(frame, event, arg):
        module = frame.f_globals.get("__name__", "")
        if event != "call" or not module.startswith("tentnet") or module in modules:
            return
        code = frame.f_code
        for name in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
            value = frame.f_locals.get(name)
            for v in value[:3] if isinstance(value, (list, tuple)) else [value]:
                if any(v is m for m in made) or isinstance(v, (FitResult, torch.nn.Sequential)):
                    modules.append(module)
                    return

    target = "x**3"
    if kind == "data file":
        x = np.linspace(0.0, 1.0, 100)
        target = str(tmp_path / "d.csv")
        np.savetxt(target, np.c_[x, x**3], delimiter=",", header="x,y", comments="")
    width = ["--width", "5"] if method == "knots" else ["--depth", "3", "--steps", "200"]
    argv = ["fit", "--target", target, "--method", method, *width, "--quiet"]
    sys.setprofile(follow)
    try:
        code, _, err = run([*argv, "--out", str(tmp_path / "o"), "--no-plot"], capsys)
    finally:
        sys.setprofile(None)
    assert code == 0, err
    want = (1, 0) if kind == "expression" else (0, 1)
    assert (calls["parse_expression"], calls["load_data"]) == want
    assert "tentnet.io" in modules and len(modules) <= 6, modules


def test_fit_result_save_writes_the_model_the_cli_writes(tmp_path, capsys):
    from tentnet import fit, load

    (r,) = fit("x**2", depth=1, method="knots", seeds=[3], config=None)
    names = r.save(tmp_path / "lib", plot=False)
    assert names == ["model.safetensors", "metrics.json"]
    _, meta = load(tmp_path / "lib" / "model.safetensors")
    assert meta["method"] == "knots" and meta["seed"] == 3 and meta["metrics"] == r.metrics()
    argv = ["fit", "--target", "x**2", "--method", "knots", "--seed", "3", "--quiet", "--no-plot"]
    assert run([*argv, "--out", str(tmp_path / "cli")], capsys)[0] == 0
    # The same model and metrics but for the timing.
    _, cli_meta = load(tmp_path / "cli" / "model.safetensors")
    assert {k: v for k, v in cli_meta["metrics"].items() if k != "seconds"} == {
        k: v for k, v in meta["metrics"].items() if k != "seconds"
    }
    assert {k: v for k, v in cli_meta.items() if k != "metrics"} == {
        k: v for k, v in meta.items() if k != "metrics"
    }


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text[text.index("## Python") :], re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md (Python)", "exec"), scope)
    assert scope["regions"].linear_regions == 64
    assert scope["record"].method == "tent"
    assert (tmp_path / "runs/py/model.safetensors").is_file()
    assert scope["warp"].test_mse < 1e-8  # measured 1.9e-11; a loose sanity bound
