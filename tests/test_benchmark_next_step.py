"""`dsrsd benchmark --task next_step`: knowledge-tracing and OULAD next-assessment grids on tiny data."""
import json

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.cli import main
from dsrsd_core.data.synth import write_cohort

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = 'd_model = 8\nd_stream = 4\nbatch_size = 128\nmin_epochs = 0\nval_fraction = 0.2\ntest_fraction = 0.2\n'


def test_benchmark_next_step_on_a_knowledge_tracing_folder(tmp_path, capsys):
    from tests.test_kt_baselines import synthetic_lpp

    data = synthetic_lpp(tmp_path, users=40, length=20)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST)
    out = tmp_path / "bench"
    assert main(["benchmark", "--data", data.report["source"], "--task", "next_step", "--seeds", "2", "--out", str(out),
                 "--models", "dsrsd_net,kt_logreg,sakt", "--config", str(cfg), "--epochs", "1", "--patience", "1",
                 "--quiet", "--device", "cpu"]) == 0
    frame = pd.read_csv(out / "results.csv")
    auc = frame[(frame["split"] == "test") & (frame["metric"] == "auc")]
    assert sorted(auc["model"].unique()) == ["dsrsd_net", "kt_logreg", "sakt"]
    assert sorted(auc["seed"].unique()) == [0, 1] and auc["value"].between(0, 1).all()
    info = json.loads((out / "benchmark.json").read_text())
    assert info["task"] == "next_step" and info["modalities"] == ["content", "behaviour", "history"]
    # the seeds split the learners differently (each split is by learner)
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells" / "kt_logreg").glob("seed*.json"))]
    assert cells[0]["metrics"]["test"]["n"] != cells[1]["metrics"]["test"]["n"] or \
        cells[0]["metrics"]["test"]["auc"] != cells[1]["metrics"]["test"]["auc"]
    assert "next_step" in (out / "results.md").read_text()


def test_benchmark_next_step_on_oulad(tmp_path):
    cohort = tmp_path / "cohort"
    write_cohort(cohort, enrolments=150, seed=3)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(FAST)
    out = tmp_path / "bench"
    assert main(["benchmark", "--data", str(cohort), "--task", "next_step", "--seeds", "1", "--out", str(out),
                 "--models", "dsrsd_net,gbm", "--config", str(cfg), "--epochs", "1", "--patience", "1",
                 "--quiet", "--device", "cpu"]) == 0
    info = json.loads((out / "benchmark.json").read_text())
    assert info["modalities"] == ["profile", "clickstream", "assessments"] and info["task"] == "next_step"
    assert not info["planted_truth"]  # the planted truth describes the final outcome, not these labels
    frame = pd.read_csv(out / "results.csv")
    assert np.isfinite(frame[(frame["split"] == "test") & (frame["metric"] == "auc")]["value"]).all()
