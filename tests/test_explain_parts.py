"""Unit properties of the explain building blocks against simple references."""
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from dsrsd_core.explain.diagnostics import alignment, correlation, effective_rank
from dsrsd_core.explain.embeddings import label_separation, neighbour_mixing
from dsrsd_core.explain.gradients import rank_agreement
from dsrsd_core.explain.modality_drop import removal_subsets
from dsrsd_core.explain.planted import latent_correlation, planted_truth_check, ranking_agreement


def test_rank_agreement_matches_scipy_over_valid_columns():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    valid = np.ones((50, 6), bool)
    valid[:20, 2:4] = False
    got = rank_agreement(a, b, valid)
    for i in (0, 30):
        cols = valid[i]
        assert np.isclose(got[i], spearmanr(a[i, cols], b[i, cols]).statistic)
    valid[0, :4] = False
    assert np.isnan(rank_agreement(a, b, valid)[0])  # two streams only: undefined


def test_effective_rank_of_isotropic_and_rank_one_data():
    rng = np.random.default_rng(0)
    iso = rng.normal(size=(5000, 8))
    assert 7.5 < effective_rank(iso) <= 8
    rank1 = np.outer(rng.normal(size=500), rng.normal(size=8))
    assert effective_rank(rank1) < 1.01


def test_correlation_and_alignment_references():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    assert np.allclose(correlation(x), np.corrcoef(x.T), atol=1e-6)
    al = alignment(x, x)
    assert al["top1_retrieval"] == 1.0 and np.isclose(al["paired_cosine"], 1.0)
    assert al["mean_rank"] == 0.0
    shuffled = alignment(x, x[rng.permutation(400)])
    assert shuffled["top1_retrieval"] < 0.05
    # a random pairing ranks the partner in the middle, within a few of its own standard deviations
    assert abs(shuffled["mean_rank"] - 0.5) < 3 * shuffled["chance_rank_sd"]
    assert shuffled["chance_rank_sd"] == np.sqrt(401 / (12 * 400 * 399))


def test_mean_rank_sees_alignment_that_top1_cannot_and_splits_ties():
    """A one-dimensional code cannot single a learner out (top-1 near chance), yet its own partner
    ranks well above the middle; cosines of 1-D codes are +-1, so ties count half, as by hand."""
    rng = np.random.default_rng(3)
    c = rng.normal(size=(300, 2))
    noisy = c + 0.3 * rng.normal(size=c.shape)
    al = alignment(c, noisy)
    assert al["top1_retrieval"] < 0.05 and al["mean_rank"] < 0.15
    a, b = np.array([[1.0], [1.0], [-1.0], [2.0]]), np.array([[3.0], [-1.0], [-2.0], [1.0]])
    sim = np.sign(a) @ np.sign(b).T  # the cosines of 1-D vectors
    by_hand = [((sim[k] > sim[k, k]).sum() + ((sim[k] == sim[k, k]).sum() - 1) / 2) / 3 for k in range(4)]
    assert alignment(a, b)["mean_rank"] == np.mean(by_hand)


def test_mixing_and_separation_extremes():
    rng = np.random.default_rng(2)
    apart = np.concatenate([rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 50])
    groups = np.repeat([0, 1], 100)
    assert neighbour_mixing(apart, groups) == 0.0
    same = rng.normal(size=(600, 4))
    assert abs(neighbour_mixing(same, np.tile([0, 1, 2], 200)) - 2 / 3) < 0.06
    assert label_separation(apart, groups) > 0.45
    assert abs(label_separation(same, rng.integers(0, 2, 600))) < 0.06


def test_removal_subsets_are_the_nonempty_proper_subsets():
    subsets = removal_subsets(["a", "b", "c"])
    assert len(subsets) == 6 and ("a", "b", "c") not in subsets and len(set(subsets)) == 6


def test_planted_truth_check_flags_the_trap():
    truth = {"modality_ranking": ["assessments", "clickstream", "profile"], "dominance_trap": "clickstream",
             "shared_signal_fraction": 0.58}
    good = planted_truth_check({"assessments": 3, "clickstream": 2, "profile": 1}, None, truth)
    assert good["rank_correlation"] == 1.0 and not good["trap_wins"]
    bad = planted_truth_check({"assessments": 2, "clickstream": 3, "profile": 1},
                              {"clickstream.shared": 1, "clickstream.private": 3}, truth)
    assert bad["trap_wins"] and bad["rank_correlation"] == 0.5
    assert bad["shared_attribution_fraction"] == 0.25
    assert np.isnan(ranking_agreement({"assessments": 1, "clickstream": 1}, truth["modality_ranking"]))


def test_latent_correlation_matches_learners_by_key():
    truth = {"factors": {"engagement": {}}, "learners": {
        "code_module": ["AAA", "AAA", "BBB"], "code_presentation": ["2013J"] * 3, "id_student": [1, 2, 1],
        "engagement": [0.0, 1.0, 2.0]}}
    meta = pd.DataFrame({"code_module": ["BBB", "AAA", "AAA"], "code_presentation": ["2013J"] * 3,
                         "id_student": [1, 1, 2]})
    phi = np.array([[2.0], [0.0], [1.0]])  # equals the engagement of each matched learner
    assert np.isclose(latent_correlation(phi, ["x.shared"], meta, truth)["engagement"]["x.shared"], 1.0)


def test_umap_maps_place_every_learner_near_its_own_cluster():
    """Fitted on a seeded subsample, every present learner is on every map; a placed learner lands
    among the fitted learners of its own (well separated) cluster, and absent modalities stay off."""
    from dsrsd_core.explain.embeddings import embedding_maps

    rng = np.random.default_rng(0)
    n, k = 300, 6
    group = rng.integers(0, 3, n)
    centres = rng.normal(scale=8, size=(3, 2, 2, k))  # cluster x modality x stream
    shared = centres[group, :, 0] + rng.normal(size=(n, 2, k))
    private = centres[group, :, 1] + rng.normal(size=(n, 2, k))
    present = np.ones((n, 2), bool)
    present[:40, 1] = False
    table, numbers = embedding_maps(shared.astype(np.float32), private.astype(np.float32), present, ["a", "b"],
                                    group, seed=0, max_samples=100)
    for name, points in table.groupby("map"):
        wanted = 2 * n - 40 if name.endswith("_all") else 2 * (n - 40 if name.startswith("b") else n)
        assert len(points) == wanted, name
        assert ((points["modality"] != "b") | (points["sample"] >= 40)).all()  # absent: not drawn
        fitted = points["fitted"].to_numpy()
        assert set(points.loc[fitted, "sample"]) <= set(points["sample"]) and 0 < fitted.sum() < len(points)
        assert numbers[name]["n_placed"] == int((~fitted).sum())
        # each placed point's nearest fitted point in 2-D comes from the same cluster and group (modality/stream)
        key = points["modality"].astype(str) + points["stream"].astype(str) + group[points["sample"]].astype(str)
        xy = points[["x", "y"]].to_numpy()
        d = ((xy[~fitted, None] - xy[None, fitted]) ** 2).sum(-1)
        nearest = key.to_numpy()[fitted][d.argmin(1)]
        assert (nearest == key.to_numpy()[~fitted]).mean() > 0.95, name


def test_modality_drop_from_cached_streams_equals_forward_passes_on_modified_inputs():
    """Stream reuse (each modality encoded once, ``mean`` re-encoding only the replaced one) gives what
    a full forward pass on the masked / mean-replaced / noisy inputs gives."""
    import torch

    from dsrsd_core.explain.modality_drop import (modality_drop, replaced, robustness_curves,
                                                  training_reference)
    from dsrsd_core.explain.recorder import encode_all
    from dsrsd_core.models import build_model
    from dsrsd_core.train.batching import select, to_tensors
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.metrics import classification_metrics
    from dsrsd_core.train.trainer import predict
    from factories import random_data

    torch.manual_seed(0)
    data = random_data(90, seed=4)
    model = build_model(data.specs(), len(data.classes), Config(d_model=16, d_stream=8)).eval()
    tensors = to_tensors(data)
    model.fit_normalisation(tensors)
    split = np.array(["train", "val", "test"] * 30)
    train_idx = np.flatnonzero(split == "train")
    full = predict(model, tensors)["proba"]
    enc = encode_all(model, tensors)
    metrics, samples = modality_drop(model, tensors, data.y, split, data.classes, train_idx, full,
                                     enc["streams"], enc["mask"])
    mods, ref = model.modalities, training_reference(model, tensors, train_idx)
    for (removed, mode), frame in samples.groupby(["removed", "mode"]):
        if mode == "stream":
            keep = torch.ones(len(data.y), len(model.streams), dtype=torch.bool)
            keep[:, model.streams.index(removed)] = False
            want = predict(model, tensors, stream_mask=keep)["proba"]
        else:
            want = predict(model, replaced(tensors, removed.split("+"), mode, ref, mods))["proba"]
        got = frame.sort_values("sample")[[f"proba_{c}" for c in data.classes]].to_numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{removed} {mode}")
    assert set(samples["mode"]) == {"mask", "mean", "stream"} and len(metrics) == 3 * (1 + 2 * 6 + 6)

    idx = np.flatnonzero(split == "test")
    curves = robustness_curves(model, tensors, data.y, idx, data.classes, levels=(0.0, 1.0), seed=3,
                               streams=enc["streams"], mask=enc["mask"])
    sub = select(tensors, torch.as_tensor(idx))
    for m in mods:  # the reference: noise drawn as robustness_curves draws it, then a whole forward pass
        block = dict(sub[m])
        noise = torch.randn(block["x"].shape, generator=torch.Generator().manual_seed(3)) * model.encoders[m].norm.std
        if block.get("steps") is not None:
            noise = noise * block["steps"].unsqueeze(-1)
        block["x"] = block["x"] + noise
        want = classification_metrics(data.y[idx], predict(model, {**sub, m: block})["proba"], data.classes)
        got = curves[(curves["modality"] == m) & (curves["noise"] == 1.0)].iloc[0]
        assert np.isclose(got["auc"], want["auc"], atol=1e-6) and got["accuracy"] == want["accuracy"], m
