"""Baselines and ablations: they learn, ignore absent modalities, and reload from a run directory."""
import numpy as np
import pytest
import torch
from factories import random_data

from dsrsd_core.baselines.gbm import GBMModel
from dsrsd_core.data.splits import learner_split
from dsrsd_core.errors import DsrsdError
from dsrsd_core.explain.modality_shapley import dominance, modality_shapley, predicted_class_phi
from dsrsd_core.models import ABLATIONS, build_model, model_config, model_names
from dsrsd_core.run_dir import load_run, write_training_run
from dsrsd_core.train.batching import to_tensors
from dsrsd_core.train.config import Config
from dsrsd_core.train.trainer import predict, train_model

NEURAL = ["single_clickstream", "early_fusion", "late_fusion", "co_attention"]
SMALL = dict(d_model=16, d_stream=8, batch_size=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_and_split():
    data = random_data(240, seed=1)
    return data, learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)


def fresh(name, data, **kw):
    torch.manual_seed(0)
    model = build_model(data.specs(), len(data.classes), Config(**SMALL, **kw), name)
    model.fit_normalisation(to_tensors(data))
    return model.eval()


def test_registry_names_and_ablation_settings():
    names = model_names(["profile", "clickstream", "assessments"])
    assert names[:4] == ["dsrsd_net", "single_profile", "single_clickstream", "single_assessments"]
    assert {"early_fusion", "late_fusion", "co_attention", "gbm"} <= set(names) and set(ABLATIONS) <= set(names)
    cfg = Config()
    assert model_config("dsrsd_no_alignment", cfg).w_align == 0 and cfg.w_align > 0
    assert model_config("dsrsd_no_modality_dropout", cfg).modality_dropout == 0
    assert model_config("early_fusion", cfg) == cfg
    data = random_data(16)
    assert build_model(data.specs(), 2, cfg, "dsrsd_no_residual").dual["profile"].residual is False
    assert build_model(data.specs(), 2, cfg, "single_clickstream").name == "single_clickstream"
    with pytest.raises(DsrsdError, match="unknown model"):
        build_model(data.specs(), 2, cfg, "single_grades")


@pytest.mark.parametrize("name", NEURAL)
def test_neural_baselines_learn(name, data_and_split):
    data, split = data_and_split
    cfg = Config(epochs=2, patience=2, lr=5e-3, **SMALL)
    torch.manual_seed(0)
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg, name), data, split, cfg, "cpu",
                         progress=False)
    assert result.metrics["val"]["auc"] > 0.7  # the factor shows in both sequences: well above chance
    assert np.allclose(result.proba.sum(1), 1, atol=1e-5)
    assert set(result.history[0]) >= {"train_task", "train_total", "val_auc"}


def test_gbm_learns_with_early_stopping_and_nan_removal(data_and_split):
    data, split = data_and_split
    gbm = GBMModel(data.specs(), len(data.classes))
    gbm.max_iter = 60  # keep the test short
    gbm.fit(data, split, Config(patience=2))
    proba = gbm.predict_proba()
    from dsrsd_core.train.metrics import classification_metrics

    assert classification_metrics(data.y[split == "test"], proba[split == "test"], data.classes)["auc"] > 0.7
    assert 1 <= len(gbm.history) <= 6 and gbm.best_iter % GBMModel.step == 0
    # removing a modality = its columns become NaN, for exactly the rows asked
    present = data.present.copy()
    present[:, 2] = False
    x = gbm._features(present)
    assert np.isnan(x[:, gbm.owner == 2]).all() and not np.isnan(gbm.X[:, gbm.owner == 2]).all()
    assert np.array_equal(gbm.predict_proba(data.present), proba)
    rows = np.arange(5)
    assert np.allclose(gbm.predict_proba(present[rows], rows=rows), gbm._proba(gbm.clf, x[rows]))


@pytest.mark.parametrize("name", NEURAL + ["dsrsd_net"])
def test_absent_modality_does_not_change_outputs(name):
    data = random_data(48, seed=3)
    model = fresh(name, data)
    t = to_tensors(data)
    absent = ~t["present"][:, 1]
    assert absent.any()
    changed = dict(t)
    block = dict(t["clickstream"])
    block["x"] = block["x"].clone()
    block["x"][absent] = torch.randn_like(block["x"][absent]) * 50
    block["steps"] = block["steps"].clone()
    block["steps"][absent] = True
    changed["clickstream"] = block
    with torch.no_grad():
        a, b = model(t)["logits"], model(changed)["logits"]
    assert torch.allclose(a[absent], b[absent], atol=1e-5)
    nothing = {**t, "present": torch.zeros_like(t["present"])}
    with torch.no_grad():
        empty = model(nothing)["logits"]
    assert torch.isfinite(empty).all() and torch.allclose(empty, empty[:1].expand_as(empty), atol=1e-5)


def test_single_modality_reads_only_its_modality():
    data = random_data(32, seed=4)
    model = fresh("single_assessments", data)
    t = to_tensors(data)
    changed = {**t, "profile": {**t["profile"], "x": t["profile"]["x"] + 10},
               "present": t["present"].clone()}
    changed["present"][:, 1] = ~changed["present"][:, 1]
    with torch.no_grad():
        assert torch.allclose(model(t)["logits"], model(changed)["logits"])


def test_late_fusion_is_the_average_of_present_modalities_probabilities():
    data = random_data(40, seed=5)
    model = fresh("late_fusion", data)
    t = to_tensors(data)
    with torch.no_grad():
        out = model(t)
        per, present = model.modality_proba(t)
    w = present.float().unsqueeze(-1)
    expected = (per * w).sum(1) / w.sum(1)
    assert torch.allclose(torch.softmax(out["logits"], -1), expected, atol=1e-6)
    assert torch.allclose(torch.exp(out["logits"]), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["early_fusion", "co_attention", "dsrsd_no_residual"])
def test_baseline_run_directory_round_trip(name, tmp_path, data_and_split):
    data, split = data_and_split
    cfg = model_config(name, Config(epochs=1, **SMALL))
    torch.manual_seed(0)
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg, name), data, split, cfg, "cpu",
                         progress=False)
    write_training_run(tmp_path / "run", data, result, cfg, "cpu", "random")
    run = load_run(tmp_path / "run", require_explain=False)
    assert run.info["model"] == name
    model = run.model()
    assert type(model) is type(result.model) and getattr(model, "name") == name
    proba = predict(model, to_tensors(data))["proba"]
    assert np.allclose(proba, result.proba, atol=1e-5)


def test_modality_shapley_efficiency_and_null_player():
    data = random_data(60, seed=6)
    t = to_tensors(data)

    def proba_fn_of(model):
        return lambda present: predict(model, {**t, "present": torch.as_tensor(present)})["proba"]

    model = fresh("early_fusion", data)
    sh = modality_shapley(proba_fn_of(model), data.present)
    assert np.allclose(sh["phi"].sum(1), sh["full"] - sh["empty"], atol=1e-6)
    assert np.allclose(sh["full"], predict(model, t)["proba"], atol=1e-6)
    missing = ~data.present[:, 1]
    assert np.abs(sh["phi"][missing, 1]).max() < 1e-9  # a modality the sample lacks is a null player
    single = fresh("single_assessments", data)  # ignores profile and clickstream: they get exactly 0
    sh = modality_shapley(proba_fn_of(single), data.present)
    assert np.abs(sh["phi"][:, :2]).max() < 1e-7 and np.abs(sh["phi"][:, 2]).max() > 0
    dom = dominance(predicted_class_phi(sh), data.names)
    assert dom["top"] == "assessments" and dom["top_share"] == pytest.approx(1) and dom["entropy"] == pytest.approx(0)


def test_dominance_index_of_balanced_shares():
    dom = dominance(np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]]), ["a", "b", "c"])
    assert dom["top_share"] == pytest.approx(1 / 3) and dom["entropy"] == pytest.approx(1)


def test_gbm_leaves_out_columns_empty_in_training(data_and_split):
    data, split = data_and_split
    data = data.take(np.arange(len(data)))
    data.present[split == "train", 1] = False  # no training learner has clicks
    gbm = GBMModel(data.specs(), len(data.classes))
    gbm.max_iter = 20
    gbm.fit(data, split, Config(patience=1))
    assert (gbm.owner != 1).all() and len(gbm.feature_names) == gbm.X.shape[1]
    assert gbm.predict_proba().shape == (len(data), 2)
