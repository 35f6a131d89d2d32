"""The dsrsd command line: an end-to-end run, and one clear message per bad input."""
import json
import os
import stat

import numpy as np
import pytest
from oulad_fixture import tiny_cohort, write_cohort
from test_oulad import BAD_INPUTS

from dsrsd_core.cli import main
from dsrsd_core.run_dir import load_run


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    assert main(["synth", "--out", str(out), "--enrolments", "400", "--seed", "1", "--quiet"]) == 0
    return out


def test_synth_validate_train_explain_end_to_end(small_cohort, tmp_path, capsys):
    assert main(["validate-data", str(small_cohort)]) == 0
    assert "Result: OK" in capsys.readouterr().out
    run = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text("d_model = 16\nd_stream = 8\npatience = 2\n")
    code = main(["train", "--data", str(small_cohort), "--out", str(run), "--epochs", "3", "--seed", "2",
                 "--config", str(config), "--device", "cpu", "--quiet", "--no-explain"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test AUC" in out
    loaded = load_run(run, require_explain=False)
    assert loaded.config["d_model"] == 16 and loaded.config["seed"] == 2 and loaded.info["seed"] == 2
    assert loaded.info["data"]["fingerprint"]["studentVle"]["sha256"]
    assert set(loaded.metrics) >= {"train", "val", "test"}
    assert len(loaded.history) <= 3
    assert {"train_infonce", "train_orthogonality", "val_auc"} <= set(loaded.history.columns)
    assert main(["explain", str(run), "--quiet", "--umap-max-samples", "100"]) == 0
    pt = load_run(run).metrics["planted_truth"]
    assert pt["expected_ranking"] == ["assessments", "clickstream", "profile"]
    # planted truth: the numbers are the ones the test split's attribution gives, not just in range
    from scipy.stats import spearmanr

    share = load_run(run).summary["attribution"]["test"]["modality_share"]
    assert pt["modality_share"] == pytest.approx(share, rel=1e-6)
    assert pt["measured_ranking"] == sorted(share, key=share.get, reverse=True)
    expected = spearmanr([3, 2, 1], [share[m] for m in pt["expected_ranking"]]).statistic
    assert pt["rank_correlation"] == pytest.approx(expected)
    assert pt["trap_share"] == pytest.approx(share[pt["dominance_trap"]])
    assert pt["trap_wins"] == (pt["measured_ranking"][0] == pt["dominance_trap"])


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_gets_one_clear_message_and_no_run_directory(tmp_path, capsys, case):
    change, expected = BAD_INPUTS[case]
    frames = tiny_cohort()
    change(frames)
    data = write_cohort(frames, tmp_path / "data")
    out = tmp_path / "run"
    code, err = run_cli(["train", "--data", str(data), "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert err.startswith("dsrsd train: error: ") and err.count("\n") == 1
    for part in expected:
        assert part in err
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_output_under_a_file_fails_before_training(tmp_path, capsys, small_cohort, monkeypatch):
    """An --out whose parent is a file cannot be created by anyone, root included (which is how CI
    runs), so this is the unwritable-output case every runner can check: one message, before training."""
    import dsrsd_core.train.trainer as trainer

    def must_not_train(*a, **k):
        raise AssertionError("training started although the run could never be written")

    monkeypatch.setattr(trainer, "train_model", must_not_train)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    for out in (blocker / "run", blocker / "deeper" / "run"):
        code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(out), "--quiet"], capsys)
        assert code == 2 and err.startswith("dsrsd train: error: ") and err.count("\n") == 1
        assert str(blocker) in err and "not a directory" in err
    assert blocker.read_text() == "a file, not a folder"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits; "
                    "test_output_under_a_file_fails_before_training covers the unwritable case as root")
def test_unwritable_output_directory(tmp_path, capsys, small_cohort):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(locked / "run")], capsys)
    assert code == 2 and "not writable" in err


def test_output_path_that_is_a_file_or_nonempty_dir(tmp_path, capsys, small_cohort):
    f = tmp_path / "file"
    f.write_text("x")
    code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(f), "--quiet"], capsys)
    assert code == 2 and "is a file" in err
    d = tmp_path / "full"
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(d), "--quiet"], capsys)
    assert code == 2 and "--overwrite" in err and (d / "keep.txt").read_text() == "mine"


def test_other_bad_arguments(tmp_path, capsys, small_cohort):
    code, err = run_cli(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"w_orthogonallity": 0}))
    code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(tmp_path / "r"), "--config", str(bad)], capsys)
    assert code == 2 and "unknown setting" in err and "w_orthogonallity" in err
    code, err = run_cli(["explain", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "no run directory" in err
    code, err = run_cli(["synth", "--out", str(tmp_path / "s"), "--enrolments", "5"], capsys)
    assert code == 2


def test_train_refuses_cuda_without_a_gpu(tmp_path, capsys, small_cohort):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, err = run_cli(["train", "--data", str(small_cohort), "--out", str(tmp_path / "r"), "--device", "cuda"], capsys)
    assert code == 2 and "CUDA" in err


def test_torchrun_ddp_two_cpu_processes(small_cohort, tmp_path):
    """The DistributedDataParallel path (gloo on CPU): two ranks train, rank 0 writes the run."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
         "-m", "dsrsd_core", "train", "--data", str(small_cohort), "--out", str(out), "--epochs", "2",
         "--quiet", "--no-explain", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = load_run(out, require_explain=False)
    assert run.info["split_sizes"]["train"] > 0 and len(run.history) == 2
