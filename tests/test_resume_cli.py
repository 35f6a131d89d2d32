"""`dsrsd train` killed with SIGTERM mid-run, then resumed: the same run as an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from dsrsd_core.cli import main
from dsrsd_core.run_dir import load_run
from dsrsd_core.train.checkpoint import TRAINING_DIR, saved_epoch

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--epochs", "6", "--seed", "3", "--device", "cpu", "--quiet", "--no-explain"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    assert main(["synth", "--out", str(out), "--enrolments", "300", "--seed", "1", "--quiet"]) == 0
    config = out.parent / "c.toml"
    config.write_text("d_model = 16\nd_stream = 8\npatience = 6\nmin_epochs = 2\n")
    return out, config


def dsrsd(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "dsrsd_core", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def train_args(cohort, out):
    data, config = cohort
    return ["train", "--data", str(data), "--out", str(out), "--config", str(config), *ARGS]


def test_sigterm_then_resume_equals_an_uninterrupted_run(cohort, tmp_path):
    plain = dsrsd(*train_args(cohort, tmp_path / "plain"))
    assert plain.wait(timeout=600) == 0, plain.stderr.read()

    out = tmp_path / "killed"
    proc = dsrsd(*train_args(cohort, out))
    deadline = time.time() + 600
    while (saved_epoch(out) if (out / TRAINING_DIR / "checkpoint.pt").exists() else 0) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    killed_at = saved_epoch(out)
    print(f"SIGTERM after epoch {killed_at} of 6; stderr: {err.strip()}")
    assert proc.returncode == 143
    assert f"dsrsd train --resume {out}" in err and "Traceback" not in err
    assert not (out / "run.json").exists() and 2 <= killed_at < 6
    with pytest.raises(Exception, match="interrupted"):
        load_run(out, require_explain=False)

    resumed = dsrsd("train", "--resume", str(out), "--device", "cpu", "--quiet", "--no-explain")
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"{killed_at} of 6 epochs were done" in stdout
    assert not (out / TRAINING_DIR).exists()

    a, b = load_run(tmp_path / "plain", require_explain=False), load_run(out, require_explain=False)
    assert (tmp_path / "plain" / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
    pd.testing.assert_frame_equal(a.samples, b.samples, check_exact=True)
    wa = torch.load(a.path / "model.pt", weights_only=True)
    wb = torch.load(b.path / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ha, hb = a.history.drop(columns="seconds"), b.history.drop(columns="seconds")
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)


def test_rerunning_with_other_settings_is_refused(cohort, tmp_path, capsys):
    from dsrsd_core.train.checkpoint import write_command

    out = tmp_path / "run"
    out.mkdir()
    write_command(out, {"config": {"epochs": 99}, "data": "elsewhere"})
    assert main(train_args(cohort, out)) == 2
    err = capsys.readouterr().err
    assert "interrupted training with other settings" in err and f"--resume {out}" in err
    assert main(["train", "--resume", str(out), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_two_commands_on_one_out_one_wins(cohort, tmp_path):
    out = tmp_path / "run"
    first = dsrsd(*train_args(cohort, out))
    while not (out / TRAINING_DIR / "command.json").exists():
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.05)
    # hold the first command (and its lock) still while the second starts: on a quiet machine the tiny
    # training can otherwise finish during the second's start-up, and the test would race
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = dsrsd(*train_args(cohort, out))
        _, err2 = second.communicate(timeout=300)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2 and "being written by another dsrsd command" in err2 and "Traceback" not in err2
    assert first.wait(timeout=600) == 0, first.stderr.read()
    load_run(out, require_explain=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.json", "config.json", "metrics.json", "history.parquet", "samples.parquet", "model.pt"])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".partial", ".old"))]
