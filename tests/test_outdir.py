"""Output folders as whole sets: refused before work, replaced whole, never half written."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tentnet import TentnetError
from tentnet.outdir import OutputSet

from .conftest import run

FAST = ["--method", "knots", "--width", "6", "--no-plot", "--quiet"]


def leftovers(folder):
    """Hidden working folders left beside ``folder``."""
    return [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]


def test_a_set_has_a_manifest_and_honours_the_umask(tmp_path, capsys):
    out = tmp_path / "run"
    old = os.umask(0o027)
    try:
        code, _, err = run(["fit", "--out", str(out), *FAST], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["manifest.json", "metrics.json", "model.safetensors"]
    for p in out.iterdir():
        assert p.stat().st_mode & 0o777 == 0o640
    assert leftovers(out) == []


def test_existing_folder_is_refused_unless_overwrite_which_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["fit", "--out", str(out), "--seeds", "0-2", *FAST], capsys)[0] == 0
    before = (out / "summary.json").read_bytes()
    code, _, err = run(["fit", "--out", str(out), *FAST], capsys)
    assert code == 2 and "--overwrite" in err and err.count("\n") == 1
    assert (out / "summary.json").read_bytes() == before
    code, _, err = run(["fit", "--out", str(out), "--overwrite", *FAST], capsys)
    assert code == 0, err
    assert not (out / "seed-2").exists() and not (out / "summary.json").exists()
    assert (out / "model.safetensors").exists() and leftovers(out) == []


@pytest.mark.parametrize("kind", ["file", "empty", "under-a-file", "holds-input"])
def test_unusable_out_is_refused_before_training(tmp_path, capsys, kind):
    data = tmp_path / "d" / "data.csv"
    data.parent.mkdir()
    data.write_text("x,y\n" + "".join(f"{i / 99},{(i / 99) ** 2}\n" for i in range(100)))
    target = ["--target", str(data)] if kind == "holds-input" else []
    out = {
        "file": data,
        "empty": "",
        "under-a-file": data / "sub",
        "holds-input": data.parent,
    }[kind]
    start = time.perf_counter()
    code, _, err = run(["fit", "--out", str(out), *target, *FAST, "--overwrite"], capsys)
    assert code == 2 and "--out" in err and err.count("\n") == 1
    assert time.perf_counter() - start < 5
    assert data.read_text().startswith("x,y")


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_failed_or_interrupted_write_leaves_nothing(tmp_path, capsys, monkeypatch, failure):
    import tentnet.io

    calls = []
    real = tentnet.io.atomic_write_bytes

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 3:  # partway: after two seeds' models were written
            raise failure
        real(path, data)

    monkeypatch.setattr(tentnet.io, "atomic_write_bytes", flaky)
    out = tmp_path / "run"
    code, _, err = run(["fit", "--out", str(out), "--seeds", "0-3", *FAST], capsys)
    assert code == (130 if failure is KeyboardInterrupt else 2) and len(calls) == 3
    assert err.count("\n") == 1
    assert not out.exists() and leftovers(out) == []


def test_two_sets_for_one_folder_never_mix(tmp_path):
    out = tmp_path / "run"
    a = OutputSet(out)
    b = OutputSet(out)
    a.path("metrics.json").write_text("a")
    b.path("metrics.json").write_text("b")
    b.path("model.safetensors").write_text("b")
    a.commit()
    with pytest.raises(TentnetError, match="another run"):
        b.commit()
    b.abort()
    with pytest.raises(TentnetError, match="current folder"):
        OutputSet(".", overwrite=True)
    assert (out / "metrics.json").read_text() == "a" and not (out / "model.safetensors").exists()
    assert leftovers(out) == []


def test_sigterm_during_training_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "tentnet.cli",
        "fit",
        "--method",
        "tent",
        "--steps",
        "200000",
        "--out",
        str(out),
        "--no-plot",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not leftovers(out) and time.time() < deadline:  # the working folder exists: started
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not out.exists() and leftovers(out) == []
