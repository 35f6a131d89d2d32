"""A short end-to-end fit on random data; the objective's terms; modality dropout."""
import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import random_data

from dsrsd_core.data.splits import learner_split
from dsrsd_core.errors import DsrsdError
from dsrsd_core.models import build_model
from dsrsd_core.train.config import Config
from dsrsd_core.train.trainer import drop_modalities, train_model


def dsrsd(data, cfg):
    return lambda: build_model(data.specs(), len(data.classes), cfg)


def test_learner_split_keeps_learners_together_and_is_seeded():
    learners = np.repeat(np.arange(200), 2)
    y = np.tile([0, 1], 200)
    a = learner_split(learners, y, seed=3)
    b = learner_split(learners, y, seed=3)
    assert (a == b).all()
    assert (a[0::2] == a[1::2]).all()  # both enrolments of a learner in one split
    assert abs((a == "test").mean() - 0.15) < 0.03
    assert not (a == learner_split(learners, y, seed=4)).all()


def test_modality_dropout_never_removes_everything():
    present = torch.ones(1000, 3, dtype=torch.bool)
    present[::3, 1:] = False
    dropped = drop_modalities(present, 0.6, torch.Generator().manual_seed(0))
    assert dropped.any(1).all()
    assert not (dropped & ~present).any()
    assert dropped.sum() < present.sum()


def test_short_training_learns_and_reports_every_term():
    data = random_data(400, seed=1)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(epochs=8, patience=8, d_model=16, d_stream=8, batch_size=64)
    result = train_model(dsrsd(data, cfg), data, split, cfg, "cpu", progress=False)
    assert result.metrics["test"]["auc"] > 0.75
    assert np.allclose(result.proba.sum(1), 1, atol=1e-5)
    row = result.history[0]
    for term in ("task", "infonce", "regression", "decorrelation", "orthogonality", "independence",
                 "private_decorrelation", "backprojection", "total"):
        assert np.isfinite(row[f"train_{term}"])
    assert 1 <= result.best_epoch <= len(result.history)


def test_zero_weights_reduce_total_to_task():
    data = random_data(200, seed=2)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    weights = [f.name for f in fields(Config) if f.name.startswith("w_") and f.name != "w_regression"]
    cfg = Config(epochs=1, d_model=8, d_stream=4, **{w: 0.0 for w in weights})
    row = train_model(dsrsd(data, cfg), data, split, cfg, "cpu", progress=False).history[0]
    assert row["train_total"] == pytest.approx(row["train_task"], rel=1e-6)
    one = Config(epochs=1, d_model=8, d_stream=4, **{w: 0.0 for w in weights if w != "w_orthogonality"})
    row = train_model(dsrsd(data, one), data, split, one, "cpu", progress=False).history[0]
    assert row["train_total"] > row["train_task"]  # the one weight left on adds its term


def test_one_class_training_split_is_a_clear_error():
    data = random_data(100)
    data.y[:] = 0
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    with pytest.raises(DsrsdError, match="only one class"):
        train_model(dsrsd(data, Config()), data, split, Config(epochs=1), "cpu", progress=False)


def test_config_rejects_unknown_and_mistyped_settings(tmp_path):
    with pytest.raises(DsrsdError, match="unknown setting"):
        Config.from_dict({"w_algin": 1.0})
    with pytest.raises(DsrsdError, match="must be a number"):
        Config.from_dict({"lr": "fast"})
    f = tmp_path / "c.toml"
    f.write_text("w_align = 0.0\nepochs = 3\n")
    cfg = Config.from_file(f)
    assert cfg.w_align == 0.0 and cfg.epochs == 3
    f.write_text("epochs = [")
    with pytest.raises(DsrsdError, match="not valid TOML"):
        Config.from_file(f)


def test_learning_rate_decays_once_min_epochs_are_done():
    data = random_data(120, seed=4)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(epochs=3, min_epochs=1, patience=5, lr=4e-3, lr_decay=0.25, d_model=8, d_stream=4)
    history = train_model(dsrsd(data, cfg), data, split, cfg, "cpu", progress=False).history
    assert [row["lr"] for row in history] == pytest.approx([4e-3, 1e-3, 1e-3])
    with pytest.raises(DsrsdError, match="lr_decay"):
        Config.from_dict({"lr_decay": 0.0})


def test_a_recorded_config_missing_later_settings_gets_their_old_values_not_todays_defaults():
    from dsrsd_core.train.config import BEFORE_IT_EXISTED

    recorded = Config().to_dict()
    for name in ("w_infonce", "lr_decay", "kt_window", "alignment"):
        recorded.pop(name)
    cfg = Config.from_record(recorded)
    assert (cfg.w_infonce, cfg.lr_decay, cfg.kt_window, cfg.alignment) == (1.0, 1.0, 10, "pairs")
    assert cfg.dropout == Config().dropout  # recorded values win
    assert Config.from_dict({"epochs": 3}).w_infonce == Config().w_infonce  # a user's partial file: today's defaults
    assert set(BEFORE_IT_EXISTED) <= {f.name for f in fields(Config)}
    assert Config.from_record(Config().to_dict()) == Config()  # a complete record is taken as it is


def test_rerun_of_a_run_recorded_before_a_setting_existed_uses_the_old_value(tmp_path):
    import shutil

    from dsrsd_core.rerun import rerun_command
    from dsrsd_core.run_dir import load_run

    run_dir = tmp_path / "run"
    shutil.copytree(Path(__file__).resolve().parents[1] / "checkpoints" / "default", run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    for name in ("w_infonce", "lr_decay"):
        config.pop(name)
    (run_dir / "config.json").write_text(json.dumps(config))
    info = json.loads((run_dir / "run.json").read_text())
    info.pop("files")  # as in a run written before file hashes were recorded
    (run_dir / "run.json").write_text(json.dumps(info))
    run = load_run(run_dir, require_explain=False)
    command = rerun_command(run)
    assert command["config"]["w_infonce"] == 1.0 and command["config"]["lr_decay"] == 1.0
    run.model()  # still rebuilds and loads


def test_rerun_comparison_ignores_history_columns_an_older_run_could_not_log(tmp_path):
    import shutil

    import pandas as pd

    from dsrsd_core.rerun import compare_runs
    from dsrsd_core.run_dir import load_run

    new = load_run(Path(__file__).resolve().parents[1] / "checkpoints" / "default", require_explain=False)
    old_dir = tmp_path / "old"
    shutil.copytree(new.path, old_dir)
    history = pd.read_parquet(old_dir / "history.parquet")
    assert "lr" in history
    history.drop(columns="lr").to_parquet(old_dir / "history.parquet")
    info = json.loads((old_dir / "run.json").read_text())
    info.pop("files")  # as in a run written before file hashes (and the lr column) were recorded
    (old_dir / "run.json").write_text(json.dumps(info))
    old = load_run(old_dir, require_explain=False)
    assert compare_runs(old, new)["history.parquet (timings aside)"] is None
    history.assign(val_auc=history["val_auc"] + 0.01).to_parquet(old_dir / "history.parquet")
    assert compare_runs(load_run(old_dir, require_explain=False), new)["history.parquet (timings aside)"] is not None


def test_early_stopping_waits_for_the_pruning_and_keeps_no_checkpoint_from_before_it():
    """With patience 1 and min_epochs 0 training could stop at epoch 2; with codes to prune at epoch 4 it
    may not stop before, and the checkpoint it keeps is a pruned one. Without pruning nothing waits."""
    data = random_data(160, seed=4)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(epochs=8, min_epochs=0, patience=1, d_model=8, d_stream=4, code_prune_r2=0.99, code_prune_epoch=4)
    result = train_model(dsrsd(data, cfg), data, split, cfg, "cpu", progress=False)
    assert len(result.history) >= 5 and result.best_epoch >= 4
    assert result.model.code_masks() is not None and "code_width_profile" in result.history[3]
    with pytest.raises(DsrsdError, match="code_prune_r2"):
        Config.from_dict({"code_prune_r2": 1.0})
