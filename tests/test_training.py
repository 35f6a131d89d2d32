"""A short end-to-end fit on random data; the objective's terms; modality dropout."""
from dataclasses import fields
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
