"""Every table `dsrsd explain` writes, recomputed independently from the model and the data.

One small run is made the way a user makes it: `dsrsd synth` -> `dsrsd train` -> `dsrsd explain`,
all through the command line, on a synthetic cohort where many learners have several enrolments
and some samples miss a modality. Each test then rebuilds one stored table from the model's
public behaviour (``forward`` with a presence mask or ``stream_mask``, ``run.model()``) and the
data, never from the recorder's own intermediates, and compares it column by column.

UMAP is replaced by a cheap projection while explaining (numba's first compile costs ~25 s and
the 2-D map cannot be recomputed independently anyway); every other step runs as shipped.
"""
from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from dsrsd_core.cli import main
from dsrsd_core.run_dir import load_run
from dsrsd_core.train.batching import select, to_tensors
from dsrsd_core.train.pipeline import load_training_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATOL = 2e-5  # stored tables are float32


def _cheap_projection(points: np.ndarray, seed: int, n_neighbors: int = 15, fit=None) -> np.ndarray:
    return np.asarray(points[:, :2], dtype=np.float32)


def _recomputation_inputs(run, data) -> dict:
    model = run.model()
    tensors = to_tensors(data)
    with torch.no_grad():
        out = model(tensors)
    return {"run": run, "data": data, "model": model, "tensors": tensors, "out": out,
            "proba": torch.softmax(out["logits"], -1).numpy()}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A synthetic cohort (many learners with several enrolments) through synth -> train -> explain."""
    root = tmp_path_factory.mktemp("recompute")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DSRSD_CACHE", str(root / "cache"))
        mp.setattr("dsrsd_core.explain.embeddings.umap_2d", _cheap_projection)
        torch.set_num_threads(1)
        cohort, run_dir = root / "cohort", root / "run"
        assert main(["synth", "--out", str(cohort), "--enrolments", "400", "--seed", "1", "--quiet"]) == 0
        config = root / "c.toml"
        config.write_text("d_model = 16\nd_stream = 8\npatience = 3\n")
        assert main(["train", "--data", str(cohort), "--out", str(run_dir), "--epochs", "3", "--seed", "2",
                     "--config", str(config), "--device", "cpu", "--quiet", "--no-explain"]) == 0
        assert main(["explain", str(run_dir), "--quiet", "--umap-max-samples", "100"]) == 0
        run = load_run(run_dir)
        data = load_training_data(run)
    return _recomputation_inputs(run, data)


@pytest.fixture(scope="module")
def missing_run(tmp_path_factory):
    """Random data where a fifth of the samples miss the clickstream and some have no assessment yet
    (the synthetic cohort has every modality at the cut-off), trained and explained in process."""
    from factories import random_data

    from dsrsd_core.data.splits import learner_split
    from dsrsd_core.explain import recorder
    from dsrsd_core.models import build_model
    from dsrsd_core.run_dir import write_training_run
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.trainer import train_model

    data = random_data(240, seed=5)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(epochs=3, d_model=16, d_stream=8)
    torch.manual_seed(0)
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cpu",
                         progress=False)
    path = tmp_path_factory.mktemp("recompute_missing") / "run"
    write_training_run(path, data, result, cfg, "cpu", "random")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("dsrsd_core.explain.embeddings.umap_2d", _cheap_projection)
        recorder.explain(path, data=data, progress=False, umap_max_samples=100)
    return _recomputation_inputs(load_run(path), data)


@pytest.fixture(scope="module", params=["cli_synthetic", "random_with_missing"])
def explained(request):
    return request.getfixturevalue("cli_run" if request.param == "cli_synthetic" else "missing_run")


def _forward_proba(model, tensors, present=None, stream_mask=None) -> np.ndarray:
    batch = dict(tensors) if present is None else {**tensors, "present": present}
    with torch.no_grad():
        return torch.softmax(model(batch, stream_mask=stream_mask)["logits"], -1).numpy()


# ---- splits (dsrsd train) -------------------------------------------------------------------
def test_train_keeps_each_learner_in_one_split_and_reports_its_sizes(cli_run):
    run, data = cli_run["run"], cli_run["data"]
    samples = run.samples
    assert samples["id_student"].duplicated().any(), "the cohort must have learners with several samples"
    splits_per_learner = samples.groupby("id_student")["split"].nunique()
    assert (splits_per_learner == 1).all(), splits_per_learner[splits_per_learner > 1].head().to_dict()
    counts = samples["split"].value_counts().to_dict()
    assert run.info["split_sizes"] == {s: counts.get(s, 0) for s in ("train", "val", "test")}
    assert all(run.metrics[s]["n"] == counts[s] for s in ("train", "val", "test"))
    assert min(counts.values()) > 0 and sum(counts.values()) == len(data)
    # the stored split is the one the reader's predictions table carries
    assert (run.table("predictions")["split"].to_numpy() == samples["split"].to_numpy()).all()


# ---- predictions and embeddings --------------------------------------------------------------
def test_predictions_and_gates_are_the_models_forward(explained):
    run, out, proba = explained["run"], explained["out"], explained["proba"]
    pred = run.by_sample("predictions").sort_index()
    assert (pred["sample"].to_numpy() == np.arange(len(proba))).all()
    for c, name in enumerate(run.classes):
        np.testing.assert_allclose(pred[f"proba_{name}"], proba[:, c], atol=ATOL)
        np.testing.assert_allclose(run.samples[f"proba_{name}"], proba[:, c], atol=ATOL)
    assert (pred["pred"].to_numpy() == proba.argmax(1)).all()
    assert (pred["label"].to_numpy() == explained["data"].y).all()
    gate = out["gate"].numpy()
    for j, s in enumerate(run.streams):
        np.testing.assert_allclose(pred[f"gate_{s}"], gate[:, j], atol=ATOL)


def test_stored_embeddings_are_the_models_streams(explained):
    emb, out = explained["run"].embeddings(), explained["out"]
    for key, mine in (("shared", out["s"]), ("private", out["p"]), ("aligned", out["z"])):
        np.testing.assert_allclose(emb[key], mine.numpy(), atol=2e-2, rtol=1e-2)  # stored as float16


# ---- exact stream Shapley, by brute force over coalitions -------------------------------------
def brute_force_shapley(model, tensors, rows) -> tuple[np.ndarray, np.ndarray]:
    """phi (R, S, C) and empty (R, C) for ``rows``, from the textbook formula with v(S) = the model's
    forward pass with only the streams in S kept (``stream_mask``)."""
    n = 2 * len(model.modalities)
    coalitions = [frozenset(c) for r in range(n + 1) for c in combinations(range(n), r)]
    index = {c: i for i, c in enumerate(coalitions)}
    sub = select(tensors, torch.as_tensor(rows))
    r = len(rows)
    big = select(sub, torch.arange(r).repeat_interleave(len(coalitions)))
    mask = torch.tensor([[j in c for j in range(n)] for c in coalitions]).repeat(r, 1)
    v = _forward_proba(model, big, stream_mask=mask).astype(np.float64).reshape(r, len(coalitions), -1)
    phi = np.zeros((r, n, v.shape[-1]))
    for i in range(n):
        for c in coalitions:
            if i in c:
                continue
            w = factorial(len(c)) * factorial(n - len(c) - 1) / factorial(n)
            phi[:, i] += w * (v[:, index[c | {i}]] - v[:, index[c]])
    return phi, v[:, index[frozenset()]]


def _rows_with_every_presence_pattern(present: np.ndarray, per_pattern: int = 4) -> np.ndarray:
    keys = pd.Series([tuple(p) for p in present])
    return np.sort(np.concatenate([g.index.to_numpy()[:per_pattern] for _, g in keys.groupby(keys)]))


def test_stored_shapley_columns_equal_brute_force_per_stream(explained):
    run, model, data = explained["run"], explained["model"], explained["data"]
    rows = _rows_with_every_presence_pattern(data.present)
    phi, empty = brute_force_shapley(model, explained["tensors"], rows)
    stored = run.by_sample("shapley").loc[rows]
    target = explained["proba"][rows].argmax(1)
    assert (stored["target"].to_numpy() == target).all()
    for c, cname in enumerate(run.classes):
        np.testing.assert_allclose(stored[f"empty_{cname}"], empty[:, c], atol=ATOL)
        for j, s in enumerate(run.streams):
            np.testing.assert_allclose(stored[f"phi_{cname}_{s}"], phi[:, j, c], atol=ATOL,
                                       err_msg=f"phi_{cname}_{s}")
    for j, s in enumerate(run.streams):
        np.testing.assert_allclose(stored[f"phi_{s}"], phi[np.arange(len(rows)), j, target], atol=ATOL,
                                   err_msg=f"phi_{s}")
    # the comparison can tell the streams of a modality apart
    assert np.abs(phi[:, 0::2] - phi[:, 1::2]).max() > 1e-3


def test_shapley_on_several_chunks_equals_one_chunk_and_brute_force(missing_run):
    from dsrsd_core.explain.shapley import exact_stream_shapley

    model, tensors, data = missing_run["model"], missing_run["tensors"], missing_run["data"]
    m = len(model.modalities)
    # 9 samples, 3 per chunk; the presence pattern changes from one chunk to the next
    patterns = [[True] * m] * 3 + [[True, False] + [True] * (m - 2)] * 3 + [[False] + [True] * (m - 1)] * 3
    rows = np.arange(9)
    sub = select(tensors, torch.as_tensor(rows))
    sub["present"] = torch.tensor(patterns)
    with torch.no_grad():
        enc = model.encode(sub)
        streams = model.stream_tensor(enc)
        mask = model.stream_mask(sub["present"])
    n_coal = 2 ** streams.shape[1]
    one = exact_stream_shapley(model.predict_from_streams, streams, mask)
    three = exact_stream_shapley(model.predict_from_streams, streams, mask, chunk=3 * n_coal)
    odd = exact_stream_shapley(model.predict_from_streams, streams, mask, chunk=4 * n_coal)  # 4 + 4 + 1
    for key in ("phi", "full", "empty"):
        torch.testing.assert_close(three[key], one[key], atol=1e-6, rtol=0)
        torch.testing.assert_close(odd[key], one[key], atol=1e-6, rtol=0)
    phi, empty = brute_force_shapley(model, sub, np.arange(9))
    np.testing.assert_allclose(three["phi"].numpy(), phi, atol=ATOL)
    np.testing.assert_allclose(three["empty"].numpy(), empty, atol=ATOL)
    absent = ~mask.numpy()
    assert absent[3:].any() and (np.abs(three["phi"].numpy()[absent]) < 1e-7).all()  # null players


def test_summary_shares_are_mean_absolute_shapley_shares(explained):
    run = explained["run"]
    sh, split = run.table("shapley"), run.samples["split"].to_numpy()
    for part, rows in (("all", np.ones(len(sh), bool)), ("test", split == "test")):
        mean_abs = {s: float(sh.loc[rows, f"phi_{s}"].abs().mean()) for s in run.streams}
        total = sum(mean_abs.values())
        stored = run.summary["attribution"][part]
        for s in run.streams:
            assert stored["stream_mean_abs"][s] == pytest.approx(mean_abs[s], rel=1e-4)
            assert stored["stream_share"][s] == pytest.approx(mean_abs[s] / total, rel=1e-4)
        for m in run.modalities:
            expected = (mean_abs[f"{m}.shared"] + mean_abs[f"{m}.private"]) / total
            assert stored["modality_share"][m] == pytest.approx(expected, rel=1e-4)


# ---- modality drop -------------------------------------------------------------------------
def _training_mean_inputs(data, modality: str, train: np.ndarray) -> np.ndarray:
    j = data.names.index(modality)
    mod = data.modalities[modality]
    keep = train & data.present[:, j]
    x = mod.x[keep]
    if mod.steps is not None:
        x = x[mod.steps[keep]]
    return x.reshape(-1, x.shape[-1]).mean(0)


def _removed_by_hand(explained, subset: tuple[str, ...], mode: str) -> np.ndarray:
    data, tensors, model = explained["data"], explained["tensors"], explained["model"]
    if mode == "mask":
        present = tensors["present"].clone()
        for m in subset:
            present[:, data.names.index(m)] = False
        return _forward_proba(model, tensors, present=present)
    train = explained["run"].samples["split"].to_numpy() == "train"
    batch = dict(tensors)
    for m in subset:
        block = dict(tensors[m])
        mean = torch.as_tensor(_training_mean_inputs(data, m, train), dtype=torch.float32)
        block["x"] = mean.expand_as(block["x"]).clone()
        if block.get("cat") is not None:
            cat = data.modalities[m].cat[train]
            modes = [np.bincount(cat[:, i]).argmax() for i in range(cat.shape[1])]
            block["cat"] = torch.as_tensor(modes).expand_as(block["cat"]).clone()
        batch[m] = block
    return _forward_proba(model, batch)


def _subsets(run):
    return [c for r in range(1, len(run.modalities)) for c in combinations(run.modalities, r)]


@pytest.mark.parametrize("mode", ["mask", "mean"])
def test_modality_drop_samples_equal_removal_by_hand(explained, mode):
    run, full = explained["run"], explained["proba"]
    stored = run.table("modality_drop_samples")
    changed = False
    for subset in _subsets(run):
        mine = _removed_by_hand(explained, subset, mode)
        rows = stored[(stored["removed"] == "+".join(subset)) & (stored["mode"] == mode)].set_index("sample")
        assert len(rows) == len(full), (subset, mode)
        rows = rows.loc[np.arange(len(full))]
        for c, cname in enumerate(run.classes):
            np.testing.assert_allclose(rows[f"proba_{cname}"], mine[:, c], atol=1e-4, err_msg=f"{subset} {cname}")
            np.testing.assert_allclose(rows[f"delta_{cname}"], mine[:, c] - full[:, c], atol=1e-4,
                                       err_msg=f"{subset} delta_{cname}")
        top2 = np.sort(mine, 1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-5  # a near-tie may fall either way in another forward pass
        assert clear.mean() > 0.9
        assert (rows["pred"].to_numpy() == mine.argmax(1))[clear].all()
        assert (rows["flipped"].to_numpy() == (mine.argmax(1) != full.argmax(1)))[clear].all()
        changed |= bool(np.abs(mine - full).max() > 1e-3)
    assert changed, "removing modalities by hand changed no prediction: the comparison has no power"


def test_modality_drop_metrics_equal_sklearn_on_the_per_sample_probabilities(explained):
    """Metrics from the per-sample table (itself checked against removal by hand above): recomputing
    from a second forward pass would let AUC ties at 1e-7 flip a pair and fail spuriously."""
    run, data = explained["run"], explained["data"]
    split = run.samples["split"].to_numpy()
    stored = run.table("modality_drop").set_index(["removed", "mode", "split"])
    per_sample = run.table("modality_drop_samples")
    cols = [f"proba_{c}" for c in run.classes]
    cases = [("none", "none", run.by_sample("predictions").sort_index()[cols].to_numpy())]
    for subset in _subsets(run):
        for mode in ("mask", "mean"):
            rows = per_sample[(per_sample["removed"] == "+".join(subset)) & (per_sample["mode"] == mode)]
            cases.append(("+".join(subset), mode, rows.set_index("sample").sort_index()[cols].to_numpy()))
    for stream in run.streams:
        rows = per_sample[(per_sample["removed"] == stream) & (per_sample["mode"] == "stream")]
        cases.append((stream, "stream", rows.set_index("sample").sort_index()[cols].to_numpy()))
    assert len(stored) == 3 * len(cases)
    for removed, mode, proba in cases:
        for s in ("train", "val", "test"):
            y, p = data.y[split == s], proba[split == s]
            row = stored.loc[(removed, mode, s)]
            assert row["n"] == len(y)
            assert row["accuracy"] == pytest.approx(accuracy_score(y, p.argmax(1)), abs=1e-6)
            assert row["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro", zero_division=0),
                                                    abs=1e-6)
            if len(np.unique(y)) > 1:
                auc = roc_auc_score(y, p[:, 1]) if p.shape[1] == 2 else roc_auc_score(y, p, multi_class="ovr")
                assert row["auc"] == pytest.approx(auc, abs=1e-6)


# ---- stream integrated gradients -------------------------------------------------------------
def test_stream_ig_equals_a_riemann_integral_per_stream(explained):
    run, model, out, data = explained["run"], explained["model"], explained["out"], explained["data"]
    rows = _rows_with_every_presence_pattern(data.present, per_pattern=6)
    streams = torch.stack([out["s"], out["p"]], 2).flatten(1, 2)[rows]  # (R, 2M, k) from forward
    mask = out["stream_mask"][rows]
    target = torch.as_tensor(explained["proba"][rows].argmax(1))
    steps = 256
    grads = torch.zeros_like(streams)
    for a in (torch.arange(steps, dtype=torch.float32) + 0.5) / steps:  # midpoint rule
        x = (a * streams).requires_grad_(True)
        logits, _ = model.predict_from_streams(x, mask)
        p = torch.softmax(logits, -1).gather(1, target[:, None]).sum()
        grads += torch.autograd.grad(p, x)[0]
    mine = (streams * grads / steps).sum(-1).detach().numpy()
    stored = run.by_sample("stream_ig").loc[rows]
    for j, s in enumerate(run.streams):
        np.testing.assert_allclose(stored[f"ig_{s}"], mine[:, j], atol=1e-3, err_msg=f"ig_{s}")
    # completeness against the forward pass: the attributions add up to p(x) - p(0 streams, same mask)
    with torch.no_grad():
        zero = torch.softmax(model.predict_from_streams(torch.zeros_like(streams), mask)[0], -1)
    gap = explained["proba"][rows][np.arange(len(rows)), target] - zero[torch.arange(len(rows)), target].numpy()
    np.testing.assert_allclose(stored[[f"ig_{s}" for s in run.streams]].sum(axis=1), gap, atol=2e-3)
    assert np.abs(mine[:, 0::2] - mine[:, 1::2]).max() > 1e-3


def test_rank_agreement_is_spearman_of_stored_phi_and_ig_over_present_streams(explained):
    run, data = explained["run"], explained["data"]
    sh, ig = run.by_sample("shapley").sort_index(), run.by_sample("stream_ig").sort_index()
    present = np.repeat(data.present, 2, axis=1)
    phi = sh[[f"phi_{s}" for s in run.streams]].to_numpy()
    att = ig[[f"ig_{s}" for s in run.streams]].to_numpy()
    expected = np.full(len(phi), np.nan)
    for i in range(len(phi)):
        cols = present[i]
        if cols.sum() >= 3 and np.ptp(phi[i, cols]) > 0 and np.ptp(att[i, cols]) > 0:
            expected[i] = spearmanr(phi[i, cols], att[i, cols]).statistic
    stored = ig["rank_agreement"].to_numpy()
    assert (np.isnan(stored) == np.isnan(expected)).all()
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(stored[ok], expected[ok], atol=1e-5)
    agreement = run.summary["method_agreement"]
    assert agreement["mean_spearman"] == pytest.approx(np.nanmean(expected), abs=1e-5)
    assert agreement["median_spearman"] == pytest.approx(np.nanmedian(expected), abs=1e-5)
    if ok.all():  # with NaN rows the recorder counts them as not positive; see the closing note of #14
        assert agreement["share_positive"] == pytest.approx(np.mean(expected > 0), abs=1e-6)


# ---- neighbours and diagnostics ------------------------------------------------------------
def test_neighbours_are_the_ten_nearest_in_pooled_shared_space(explained):
    run, out, data = explained["run"], explained["out"], explained["data"]
    s = out["s"].numpy().astype(np.float64)
    w = data.present[..., None].astype(np.float64)
    pooled = (s * w).sum(1) / w.sum(1)
    dist = np.sqrt(((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    stored = run.by_sample("neighbours").sort_index()
    cols = [f"n{i}" for i in range(10)]
    nb = stored[cols].to_numpy()
    assert (nb != np.arange(len(nb))[:, None]).all(), "a sample is its own neighbour"
    assert all(len(set(r)) == 10 for r in nb)
    mine = np.sort(dist, 1)[:, :10]
    got = np.take_along_axis(dist, nb, 1)
    np.testing.assert_allclose(got, mine, atol=1e-4)  # the same distances, in order (ties may swap ids)


def _corr(a, b):
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    return a.T @ b / len(a)


def _effective_rank(x):
    sv = np.linalg.svd(x - x.mean(0), compute_uv=False)
    p = sv / sv.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def test_diagnostics_equal_direct_formulas_on_the_test_split(explained):
    run, out, data = explained["run"], explained["out"], explained["data"]
    test = run.samples["split"].to_numpy() == "test"
    s, p, z = (out[k].numpy().astype(np.float64)[test] for k in ("s", "p", "z"))
    present = data.present[test]
    diag = run.diagnostics
    for j, m in enumerate(run.modalities):
        keep = present[:, j]
        d = diag["per_modality"][m]
        np.testing.assert_allclose(d["shared_correlation"], np.corrcoef(s[keep, j].T), atol=2e-3)
        cross = _corr(s[keep, j], p[keep, j])
        np.testing.assert_allclose(d["shared_private_cross_correlation"], cross, atol=2e-3)
        assert d["mean_abs_cross_correlation"] == pytest.approx(np.abs(cross).mean(), abs=1e-3)
        assert d["shared_effective_rank"] == pytest.approx(_effective_rank(s[keep, j]), rel=1e-3)
        assert d["private_effective_rank"] == pytest.approx(_effective_rank(p[keep, j]), rel=1e-3)
    pooled = np.concatenate([s[present[:, j], j] for j in range(len(run.modalities))])
    assert diag["shared_effective_rank_pooled"] == pytest.approx(_effective_rank(pooled), rel=1e-3)
    # retrieval compares what the model aligns: with "rest", each code against its prediction from the others
    mods = run.modalities
    if "z_hat" in out:
        z_hat = out["z_hat"].numpy().astype(np.float64)[test]
        targets = {f"{m}~others": (z[:, j], z_hat[:, j], present[:, j] & (present.sum(1) >= 2))
                   for j, m in enumerate(mods)}
    else:
        targets = {f"{mods[i]}~{mods[j]}": (z[:, i], z[:, j], present[:, i] & present[:, j])
                   for i, j in combinations(range(len(mods)), 2)}
    assert set(diag["alignment"]) == {k for k, (_, _, rows) in targets.items() if rows.sum() >= 3}
    for key, (za, zb, rows) in targets.items():
        if rows.sum() < 3:
            continue
        a = za[rows] / np.linalg.norm(za[rows], axis=1, keepdims=True)
        b = zb[rows] / np.linalg.norm(zb[rows], axis=1, keepdims=True)
        sim = a @ b.T
        n = len(a)
        al = diag["alignment"][key]
        assert al["n"] == n
        assert al["paired_cosine"] == pytest.approx(np.mean([sim[k, k] for k in range(n)]), abs=1e-4)
        off = [sim[k, l] for k in range(n) for l in range(n) if k != l]
        assert al["random_cosine"] == pytest.approx(np.mean(off), abs=1e-4)
        assert al["top1_retrieval"] == pytest.approx(np.mean(sim.argmax(1) == np.arange(n)), abs=1e-9)
        assert al["chance_top1"] == pytest.approx(1 / n)
        ranks = [(sum(sim[k, l] > sim[k, k] for l in range(n))
                  + (sum(sim[k, l] == sim[k, k] for l in range(n)) - 1) / 2) / (n - 1) for k in range(n)]
        assert al["mean_rank"] == pytest.approx(np.mean(ranks), abs=2e-3)  # float32 codes: near-ties may differ
