"""Same data, config and seed on CPU: identical metrics.json, samples.parquet and
explain/shapley.parquet, byte for byte; `dsrsd rerun` repeats a run and says it matched."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsrsd_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def dsrsd(*args):
    """A separate process per command, as a user runs them: in one process, UMAP's thread pool
    changes torch's CPU thread count after the first explain, and float sums depend on it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dsrsd_core", *args], env=env, capture_output=True, text=True,
                          timeout=900)

FILES = ("metrics.json", "samples.parquet", "model.pt", "explain/shapley.parquet", "explain/predictions.parquet")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    assert main(["synth", "--out", str(out), "--enrolments", "300", "--seed", "2", "--quiet"]) == 0
    config = out.parent / "c.toml"
    config.write_text("d_model = 16\nd_stream = 8\nmin_epochs = 2\npatience = 2\n")
    return out, config


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@pytest.mark.slow
def test_same_seed_gives_identical_files_and_rerun_says_so(cohort, tmp_path):
    data, config = cohort
    first = tmp_path / "first"
    done = dsrsd("train", "--data", str(data), "--out", str(first), "--config", str(config), "--epochs", "4",
                 "--seed", "5", "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stderr
    second = tmp_path / "second"
    done = dsrsd("rerun", str(first), "--out", str(second), "--quiet")
    print(done.stdout.splitlines()[0], "\n", done.stdout.splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matches" in done.stdout and "bit for bit" in done.stdout and "explain/shapley.parquet" in done.stdout
    for f in FILES:
        a, b = first / f, second / f
        print(f"{f}: {sha(a)} {sha(b)} ({a.stat().st_size} bytes)")
        if f == "model.pt":  # a torch zip archive records its own file name: compare the tensors
            continue
        assert a.read_bytes() == b.read_bytes(), f


def test_rerun_refuses_changed_data(cohort, tmp_path, capsys):
    import shutil

    data, config = cohort
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    run = tmp_path / "run"
    assert main(["train", "--data", str(copy), "--out", str(run), "--config", str(config), "--epochs", "1",
                 "--device", "cpu", "--quiet", "--no-explain"]) == 0
    info = copy / "studentAssessment.csv"
    info.write_text(info.read_text().replace(",", ", ", 1))
    capsys.readouterr()
    assert main(["rerun", str(run), "--out", str(tmp_path / "again"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "changed since the run was made" in err and "studentAssessment" in err
    assert not (tmp_path / "again").exists()
