"""dsrsd explain on a small trained run: the stored artifacts keep their promises."""
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from factories import random_data

from dsrsd_core.data.splits import learner_split
from dsrsd_core.errors import DsrsdError
from dsrsd_core.models import build_model
from dsrsd_core.explain import recorder
from dsrsd_core.run_dir import FORMAT_VERSION, load_run, write_training_run
from dsrsd_core.train.config import Config
from dsrsd_core.train.trainer import train_model


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    data = random_data(240, seed=5)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(epochs=2, d_model=16, d_stream=8)
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cpu",
                         progress=False)
    path = tmp_path_factory.mktemp("runs") / "run"
    write_training_run(path, data, result, cfg, "cpu", "random")
    recorder.explain(path, data=data, progress=False, umap_max_samples=120, input_ig_max_samples=150)
    return path, data


def test_reader_returns_every_documented_table(explained):
    path, data = explained
    run = load_run(path)
    assert run.info["format_version"] == FORMAT_VERSION
    for name in ("predictions", "shapley", "stream_ig", "umap", "neighbours", "modality_drop",
                 "modality_drop_samples", "robustness", "input_profile", "input_clickstream_steps",
                 "input_assessments_features", "timeline_clickstream", "timeline_assessments"):
        assert len(run.table(name)) > 0, name
    emb = run.embeddings()
    assert emb["shared"].shape == (len(data), 3, 8)
    assert set(run.table("umap")["map"]) >= {"shared_all", "private_all"}


def test_stored_shapley_values_are_efficient_for_every_class(explained):
    path, _ = explained
    run = load_run(path)
    sh, pred = run.table("shapley"), run.table("predictions")
    for c in run.classes:
        total = sh[[f"phi_{c}_{s}" for s in run.streams]].sum(axis=1)
        assert np.allclose(total, pred[f"proba_{c}"] - sh[f"empty_{c}"], atol=1e-5)
    assert run.summary["shapley_efficiency_max_error"] < 1e-5
    # the empty coalition is the model with every stream removed (head(0)), not a stored intermediate
    import torch

    from dsrsd_core.train.batching import to_tensors

    tensors = to_tensors(explained[1])
    with torch.no_grad():
        empty = torch.softmax(run.model()(tensors, stream_mask=torch.zeros(len(sh), len(run.streams), dtype=torch.bool))
                              ["logits"], -1).numpy()
    for k, c in enumerate(run.classes):
        assert np.allclose(sh[f"empty_{c}"], empty[:, k], atol=1e-5)


def test_absent_modality_gets_no_attribution_or_gate(explained):
    path, data = explained
    run = load_run(path)
    absent = ~data.present[:, 1]
    assert absent.any()
    sh, pred = run.table("shapley"), run.table("predictions")
    for s in ("clickstream.shared", "clickstream.private"):
        assert (sh.loc[absent, f"phi_{s}"].abs() < 1e-7).all()
        assert (pred.loc[absent, f"gate_{s}"] == 0).all()
    gates = pred[[f"gate_{s}" for s in run.streams]].sum(axis=1)
    assert np.allclose(gates, 1, atol=1e-5)


def test_modality_drop_covers_every_subset_mode_and_split(explained):
    run = load_run(explained[0])
    drop = run.table("modality_drop")
    assert len(drop) == 3 + 6 * 2 * 3 + 6 * 3
    subsets = set(drop.loc[drop["mode"].isin(["mask", "mean"]), "removed"])
    assert subsets == {"profile", "clickstream", "assessments", "profile+clickstream", "profile+assessments",
                       "clickstream+assessments"}
    assert set(drop.loc[drop["mode"] == "stream", "removed"]) == set(run.streams)
    # the stored rows against the profile removed by hand (presence off -> the model's forward)
    import torch

    from dsrsd_core.train.batching import to_tensors

    data = explained[1]
    tensors = to_tensors(data)
    model = run.model()
    present = tensors["present"].clone()
    present[:, run.modalities.index("profile")] = False
    with torch.no_grad():
        full = torch.softmax(model(tensors)["logits"], -1).numpy()
        without = torch.softmax(model({**tensors, "present": present})["logits"], -1).numpy()
    samples = run.table("modality_drop_samples")
    row = samples[(samples["removed"] == "profile") & (samples["mode"] == "mask")].set_index("sample").sort_index()
    c = run.classes[1]
    assert np.abs(without - full).max() > 1e-3  # removing the profile changes predictions, so this can fail
    assert np.allclose(row[f"proba_{c}"], without[:, 1], atol=1e-5)
    assert np.allclose(row[f"delta_{c}"], without[:, 1] - full[:, 1], atol=1e-5)
    assert (row["flipped"].to_numpy() == (without.argmax(1) != full.argmax(1))).all()
    assert set(run.table("robustness")["modality"]) == set(run.modalities)


def test_interrupted_explain_keeps_previous_artifacts(explained, monkeypatch):
    path, data = explained
    before = (path / "explain" / "summary.json").read_text()

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(recorder, "modality_drop", boom)
    with pytest.raises(RuntimeError):
        recorder.explain(path, data=data, progress=False, umap_max_samples=60)
    assert (path / "explain" / "summary.json").read_text() == before
    assert not [p for p in os.listdir(path) if p.endswith(".partial")]
    load_run(path)


def test_reader_errors_say_what_to_run(explained, tmp_path):
    path, _ = explained
    with pytest.raises(DsrsdError, match="no run directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DsrsdError, match="not a run directory"):
        load_run(tmp_path / "empty")
    old = tmp_path / "old"
    shutil.copytree(path, old)
    info = json.loads((old / "run.json").read_text())
    info["format_version"] = 0
    (old / "run.json").write_text(json.dumps(info))
    with pytest.raises(DsrsdError, match="format version 0"):
        load_run(old)
    partial = tmp_path / "partial"
    shutil.copytree(path, partial)
    (partial / "samples.parquet").unlink()
    with pytest.raises(DsrsdError, match="incomplete"):
        load_run(partial)
    unexplained = tmp_path / "unexplained"
    shutil.copytree(path, unexplained)
    shutil.rmtree(unexplained / "explain")
    with pytest.raises(DsrsdError, match="dsrsd explain"):
        load_run(unexplained)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(path, corrupt)
    (corrupt / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DsrsdError, match="cannot be loaded"):
        load_run(corrupt).model()
    (corrupt / "explain" / "shapley.parquet").write_bytes(b"garbage")
    with pytest.raises(DsrsdError, match="unreadable"):
        load_run(corrupt).table("shapley")


def test_stream_drop_matches_a_prediction_with_that_stream_removed_by_hand(explained):
    import torch

    from dsrsd_core.train.batching import to_tensors
    from dsrsd_core.train.trainer import predict

    path, data = explained
    run = load_run(path)
    model = run.model()
    samples = run.table("modality_drop_samples")
    for j, stream in enumerate(run.streams):
        keep = torch.ones(len(data), len(run.streams), dtype=torch.bool)
        keep[:, j] = False
        by_hand = predict(model, to_tensors(data), stream_mask=keep)["proba"]
        stored = samples[(samples["removed"] == stream) & (samples["mode"] == "stream")].sort_values("sample")
        assert np.allclose(stored[[f"proba_{c}" for c in run.classes]].to_numpy(), by_hand, atol=1e-5), stream
    shared = samples[(samples["mode"] == "stream")]
    assert (shared[[f"delta_{c}" for c in run.classes]].abs().to_numpy().max()) > 0  # removal changes something


def test_decomposition_is_recorded_with_a_verdict(explained):
    run = load_run(explained[0])
    doc = run.decomposition
    assert doc["verdict"]["level"] in {"trusted", "partly", "not"} and doc["verdict"]["reason"]
    assert set(doc["cross_modal_r2"]["shared"]) == set(run.modalities)
    assert run.summary["decomposition_verdict"] == doc["verdict"]


def test_input_attributions_cover_the_stated_subsample_and_are_complete(explained):
    """Input IG on a seeded subsample (150 of 240): NaN elsewhere; on computed rows the attributions
    of all inputs add up to p(x) - p(reference) (completeness), the reference built by hand:
    training means for numbers, the training-mean embedding for categories."""
    import torch

    from dsrsd_core.train.batching import to_tensors

    path, data = explained
    run = load_run(path)
    assert run.summary["input_attribution"]["n_samples"] == 150
    profile = run.table("input_profile")
    computed = profile.drop(columns="sample").notna().all(axis=1).to_numpy()
    assert computed.sum() == 150 and not profile.drop(columns="sample")[~computed].notna().any().any()
    total = sum(run.table(name).drop(columns="sample").sum(axis=1, min_count=1).to_numpy()
                for name in ("input_profile", "input_clickstream_steps", "input_assessments_steps"))
    model, tensors = run.model(), to_tensors(data)
    pred = run.table("predictions")["pred"].to_numpy()
    train = run.samples["split"].to_numpy() == "train"
    ref = {m: {k: v.clone() for k, v in tensors[m].items()} for m in model.modalities}
    with torch.no_grad():
        for m in model.modalities:
            ref[m]["x"] = model.encoders[m].norm.mean.expand_as(tensors[m]["x"]).clone()
            if "cat" in tensors[m]:
                ref[m]["emb"] = model.encoders[m].embed(tensors[m]["cat"][torch.as_tensor(train)]).mean(0).expand(
                    len(pred), -1)
        p_x = torch.softmax(model(tensors)["logits"], -1).numpy()[np.arange(len(pred)), pred]
        p_ref = torch.softmax(model({**ref, "present": tensors["present"]})["logits"], -1).numpy()[
            np.arange(len(pred)), pred]
    gap = np.abs(total[computed] - (p_x - p_ref)[computed])
    moved = np.abs(p_x - p_ref)[computed].mean()
    assert moved > 1e-3 and np.median(gap) < 0.05 * moved, (np.median(gap), gap.max(), moved)
