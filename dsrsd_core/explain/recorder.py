"""``dsrsd explain``: compute everything the dashboard shows for a run, as frames and documents.

:func:`explain` computes; :func:`dsrsd_core.run_dir.write_explanation` names the files and
writes them (atomically, so an interrupted explain leaves the previous artifacts intact).
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.dataset import MultimodalData
from ..data.decode import click_counts
from ..errors import DsrsdError
from ..run_dir import input_table, load_run, timeline_table, write_explanation
from ..shares import attribution_shares
from ..train.batching import batches, select, to_tensors
from ..train.pipeline import load_training_data
from .diagnostics import diagnostics
from .embeddings import embedding_maps, nearest_learners
from .gradients import input_integrated_gradients, rank_agreement, stream_integrated_gradients
from .modality_drop import head_outputs, modality_drop, robustness_curves
from .decomposition import measure as measure_decomposition
from .planted import latent_correlation, planted_latents, planted_factors, planted_truth_check
from .shapley import exact_stream_shapley


# input-level IG on at most this many samples by default: ~12 s on one thread (docs/performance.md)
# Defaults sized so that `dsrsd explain` of a 25,000-learner run stays near 90 s on one core
# (docs/performance.md); smaller runs are explained whole.
INPUT_IG_MAX_SAMPLES = 2500
UMAP_MAX_SAMPLES = 1500


@torch.no_grad()
def encode_all(model, tensors: dict, batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Streams and embeddings of every sample: encodings h (N, M, d), s, p, z (N, M, k), streams
    (N, 2M, k), mask (N, 2M), and (alignment ``rest``) z_hat (N, M, k), each code predicted from the others."""
    model.eval()
    parts = {k: [] for k in ("h", "s", "p", "z", "z_hat", "streams", "mask")}
    for b in batches(len(tensors["y"]), batch_size):
        batch = select(tensors, b)
        enc = model.encode(batch)
        for k in ("h", "s", "p", "z", "z_hat"):
            if k in enc:
                parts[k].append(enc[k].float())
        parts["streams"].append(model.stream_tensor(enc).float())
        parts["mask"].append(model.stream_mask(batch["present"]))
    return {k: torch.cat(v) for k, v in parts.items() if v}


def input_variance(data: MultimodalData) -> dict[str, float]:
    """Total raw variance of each modality's continuous inputs (present samples, real steps)."""
    out = {}
    for j, (name, m) in enumerate(data.modalities.items()):
        x = m.x[data.present[:, j]]
        if m.steps is not None:
            x = x[m.steps[data.present[:, j]]]
        out[name] = float(np.var(x.reshape(-1, x.shape[-1]), axis=0).sum()) if len(x) else 0.0
    return out


def input_attribution_rows(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """The samples that get input-level attributions: all, or a seeded uniform subsample of ``max_samples``."""
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))


def _input_attribution_tables(model, tensors, data, pred, train_idx, progress, rows, batch_size=128):
    """Captum IG over raw inputs for the samples ``rows``, aggregated to what a person recognises.

    Every table keeps one row per sample; samples outside ``rows`` hold NaN (not computed)."""
    emb_reference = {}
    for m in model.modalities:
        enc = model.encoders[m]
        if tensors[m].get("cat") is not None and len(getattr(enc, "embeddings", [])):
            with torch.no_grad():
                emb_reference[m] = enc.embed(tensors[m]["cat"][torch.as_tensor(train_idx)]).mean(0, keepdim=True)
    acc: dict[str, list] = {}
    n = len(pred)
    for b in tqdm(list(batches(rows, batch_size)), desc="input attributions", disable=not progress, leave=False):
        batch = select(tensors, b)
        attr = input_integrated_gradients(model, batch, torch.as_tensor(pred[b.numpy()]), emb_reference)
        for m, parts in attr.items():
            acc.setdefault(f"{m}.x", []).append(parts["x"].numpy())
            if "cat" in parts:
                acc.setdefault(f"{m}.cat", []).append(parts["cat"].numpy())

    def full(key):  # (len(rows), ...) -> (n, ...) float32 with NaN where not computed
        part = np.concatenate(acc[key])
        out = np.full((n, *part.shape[1:]), np.nan, np.float32)
        out[rows] = part
        return out

    tables, cohort = {}, {}
    sample = np.arange(n)
    for m, mod in data.modalities.items():
        x = full(f"{m}.x")
        if mod.kind == "tabular":
            frame = pd.DataFrame(x, columns=mod.feature_names)
            if f"{m}.cat" in acc:
                frame = pd.concat([frame, pd.DataFrame(full(f"{m}.cat"), columns=mod.cat_names)], axis=1)
            frame.insert(0, "sample", sample)
            tables[input_table(m)] = frame.astype({c: np.float32 for c in frame.columns if c != "sample"})
        else:
            steps = pd.DataFrame(x.sum(2), columns=mod.step_names).astype(np.float32)
            steps.insert(0, "sample", sample)
            feats = pd.DataFrame(x.sum(1), columns=mod.feature_names).astype(np.float32)
            feats.insert(0, "sample", sample)
            tables[input_table(m, "steps")] = steps
            tables[input_table(m, "features")] = feats
            grid = pd.DataFrame(np.abs(x[rows]).mean(0), index=mod.step_names, columns=mod.feature_names)
            cohort[m] = grid.reset_index(names="step").melt(id_vars="step", var_name="feature", value_name="mean_abs")
    cohort_frame = pd.concat([g.assign(modality=m) for m, g in cohort.items()], ignore_index=True) if cohort else None
    return tables, cohort_frame


def timeline_tables(data: MultimodalData) -> dict[str, pd.DataFrame]:
    """Each learner's own inputs by table name, for the dashboard's timeline (the app never reads the raw data).

    Sequences become long tables of the real steps: clicks as counts (the model sees log1p),
    only non-zero cells; assessments with every feature of each step.
    """
    out = {}
    for j, (name, m) in enumerate(data.modalities.items()):
        if m.kind != "sequence":
            continue
        real = m.steps & data.present[:, [j]]
        sample, step = np.nonzero(real)
        values = m.x[sample, step]
        if name == "clickstream":
            s_idx, f_idx = np.nonzero(values > 0)
            out[timeline_table(name)] = pd.DataFrame({
                "sample": sample[s_idx].astype(np.int32), "step": step[s_idx].astype(np.int16),
                "step_name": pd.Categorical(np.asarray(m.step_names)[step[s_idx]], categories=m.step_names),
                "feature": pd.Categorical(np.asarray(m.feature_names)[f_idx], categories=m.feature_names),
                "value": click_counts(values[s_idx, f_idx]).astype(np.float32)})
        else:
            frame = pd.DataFrame(values, columns=m.feature_names).astype(np.float32)
            frame.insert(0, "step", step.astype(np.int16))
            frame.insert(0, "sample", sample.astype(np.int32))
            out[timeline_table(name)] = frame
    return out


def stream_shares(phi_pred: np.ndarray, streams: list[str], modalities: list[str], rows) -> dict:
    """``summary.json:attribution`` for ``rows``: shares per stream and per modality, mean |phi| per stream."""
    s = attribution_shares(phi_pred[rows], streams)
    per_stream = s["share"]
    return {"stream_share": per_stream,
            "modality_share": {m: per_stream[f"{m}.shared"] + per_stream[f"{m}.private"] for m in modalities},
            "stream_mean_abs": s["mean_abs"]}


def method_agreement(agreement: np.ndarray) -> dict:
    """``summary.json:method_agreement`` from per-sample Spearman correlations of Shapley and IG."""
    return {"method": "integrated gradients on the streams (zero reference)",
            "mean_spearman": float(np.nanmean(agreement)), "median_spearman": float(np.nanmedian(agreement)),
            "share_positive": float(np.nanmean(agreement > 0))}


class _Steps:
    """Times each step of :func:`explain` into ``seconds`` and advances one progress bar."""

    def __init__(self, total: int, progress: bool):
        self.seconds: dict[str, float] = {}
        self.bar = tqdm(total=total, desc="explain", unit="step", disable=not progress)

    @contextmanager
    def step(self, name: str):
        t = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - t
        self.bar.update()


def prediction_frame(samples: pd.DataFrame, y, proba, gate, classes, streams) -> pd.DataFrame:
    frame = samples[["sample", "split"]].copy()
    frame["label"], frame["pred"] = y, proba.argmax(1)
    for c, name in enumerate(classes):
        frame[f"proba_{name}"] = proba[:, c].astype(np.float32)
    for j, name in enumerate(streams):
        frame[f"gate_{name}"] = gate[:, j].astype(np.float32)
    return frame


def shapley_frame(sample, pred, phi: np.ndarray, empty: np.ndarray, classes, streams) -> pd.DataFrame:
    """``phi`` (N, S, C) and ``empty`` (N, C) as the shapley table (predicted class first, then every class)."""
    phi_pred = phi[np.arange(len(pred)), :, pred]
    frame = pd.DataFrame({"sample": sample, "target": pred})
    for j, s in enumerate(streams):
        frame[f"phi_{s}"] = phi_pred[:, j]
    for c, cname in enumerate(classes):
        frame[f"empty_{cname}"] = empty[:, c]
        for j, s in enumerate(streams):
            frame[f"phi_{cname}_{s}"] = phi[:, j, c]
    return frame


def stream_ig_frame(sample, ig: np.ndarray, agreement: np.ndarray, streams) -> pd.DataFrame:
    frame = pd.DataFrame({"sample": sample})
    for j, s in enumerate(streams):
        frame[f"ig_{s}"] = ig[:, j].astype(np.float32)
    frame["rank_agreement"] = agreement.astype(np.float32)
    return frame


def explain(run_dir: str | Path, data: MultimodalData | None = None, progress: bool = True,
            umap_max_samples: int = UMAP_MAX_SAMPLES, input_ig_max_samples: int | None = INPUT_IG_MAX_SAMPLES) -> dict:
    """Compute and write every explain artifact for ``run_dir``; return the summary.

    Input-level integrated gradients cost ~30x a stream-level step per sample, so on runs above
    ``input_ig_max_samples`` samples they are computed for a seeded subsample (None: all)."""
    run = load_run(run_dir, require_explain=False)
    if run.info.get("model", "dsrsd_net") != "dsrsd_net":
        raise DsrsdError(f"{run_dir} is a {run.info['model']} run; `dsrsd explain` records the shared/private "
                         "streams of DSRSD-Net; compare other models with `dsrsd benchmark`")
    model = run.model()
    if data is None:
        data = load_training_data(run, progress)
    samples = run.samples
    if len(samples) != len(data):
        raise DsrsdError(f"{run_dir}: the run has {len(samples)} samples but the data has {len(data)}; "
                         "the data changed since training; retrain")
    if run.config.get("task", "final_outcome") == "next_step":  # per response, on a bounded subsample
        from .next_step import explain_next_step

        return explain_next_step(run, run_dir, model, data, progress, umap_max_samples)
    split = samples["split"].to_numpy()
    train_idx = np.flatnonzero(split == "train")
    test = split == "test"
    classes, mods, streams, seed = data.classes, model.modalities, model.streams, run.config["seed"]
    sample = samples["sample"].to_numpy()
    t_all = time.perf_counter()
    tensors = to_tensors(data)
    steps = _Steps(8, progress)
    tables = {}

    with steps.step("predict"):
        enc = encode_all(model, tensors)
        proba, gate = head_outputs(model, enc["streams"], enc["mask"])  # a forward pass, without encoding twice
        pred = proba.argmax(1)
        tables["predictions"] = prediction_frame(samples, data.y, proba, gate, classes, streams)

    with steps.step("shapley"):
        sh = exact_stream_shapley(model.predict_from_streams, enc["streams"], enc["mask"])
        phi = sh["phi"].numpy()  # (N, S, C)
        efficiency_error = float((sh["phi"].sum(1) - (sh["full"] - sh["empty"])).abs().max())
        phi_pred = phi[np.arange(len(pred)), :, pred]
        tables["shapley"] = shapley_frame(sample, pred, phi, sh["empty"].numpy(), classes, streams)

    with steps.step("stream_ig"):
        ig = stream_integrated_gradients(model, enc["streams"], enc["mask"], torch.as_tensor(pred)).numpy()
        agreement = rank_agreement(phi_pred, ig, enc["mask"].numpy())
        tables["stream_ig"] = stream_ig_frame(sample, ig, agreement, streams)

    with steps.step("input_ig"):
        ig_rows = input_attribution_rows(len(pred), input_ig_max_samples, seed)
        input_tables, input_cohort = _input_attribution_tables(model, tensors, data, pred, train_idx, progress,
                                                               ig_rows)
        tables.update(input_tables)
        if input_cohort is not None:
            tables["input_cohort"] = input_cohort

    with steps.step("modality_drop"):
        tables["modality_drop"], tables["modality_drop_samples"] = modality_drop(
            model, tensors, data.y, split, classes, train_idx, proba, enc["streams"], enc["mask"])
        tables["robustness"] = robustness_curves(model, tensors, data.y, np.flatnonzero(test), classes, seed=seed,
                                                 streams=enc["streams"], mask=enc["mask"])

    # UMAP last: numba's worker threads keep spinning after it and slow torch down many times over
    with steps.step("embeddings"):
        s_np, p_np, z_np = enc["s"].numpy(), enc["p"].numpy(), enc["z"].numpy()
        tables["umap"], embedding_numbers = embedding_maps(s_np, p_np, data.present, mods, data.y, seed,
                                                           umap_max_samples)
        neighbours = nearest_learners(s_np, data.present)
        tables["neighbours"] = pd.DataFrame(neighbours, columns=[f"n{i}" for i in range(neighbours.shape[1])]) \
            .assign(sample=np.arange(len(neighbours)))
    tables.update(timeline_tables(data))

    with steps.step("diagnostics"):
        z_hat = enc["z_hat"].numpy()[test] if "z_hat" in enc else None
        diag = diagnostics(s_np[test], p_np[test], z_np[test], data.present[test], mods, seed=seed, z_hat=z_hat)
        shares = {"all": stream_shares(phi_pred, streams, mods, slice(None)),
                  "test": stream_shares(phi_pred, streams, mods, test)}
        summary = {
            "format_version": run.info["format_version"],
            "target_semantics": "probability of the predicted class; removing a stream = the model's missing-stream "
                                "mechanism (gate weight 0, softmax over the rest); empty coalition = head(0)",
            "attribution": shares,
            "shapley_efficiency_max_error": efficiency_error,
            "method_agreement": method_agreement(agreement),
            "input_variance": input_variance(data),
            "embeddings": embedding_numbers,
            "umap_max_samples": umap_max_samples,
            "input_attribution": {"max_samples": input_ig_max_samples, "n_samples": int(len(ig_rows)),
                                  "rule": "all samples" if len(ig_rows) == len(pred) else
                                  "seeded uniform subsample (numpy default_rng(seed).choice); other rows NaN"},
        }
        truth_path = run.ground_truth_path(data)
        truth = json.loads(truth_path.read_text()) if truth_path is not None else None
        if truth is not None:
            summary["planted_truth"] = _planted_truth(truth, shares, phi, data, mods, streams)

    with steps.step("decomposition"):
        decomposition, probe_rows = measure_decomposition(
            s_np, p_np, data.present, split, mods, seed=seed, encodings=enc["h"].numpy(),
            widths=model.shared_widths() if hasattr(model, "shared_widths") else None,
            latents=planted_latents(data.meta, truth) if truth else None,
            factors=planted_factors(truth) if truth else None)
        if probe_rows:
            tables["decomposition_probes"] = pd.DataFrame(probe_rows)
        summary["decomposition_verdict"] = decomposition["verdict"]
    steps.bar.close()
    summary["seconds"] = {**steps.seconds, "total": time.perf_counter() - t_all}
    write_explanation(run_dir, tables, {"diagnostics": diag, "summary": summary, "decomposition": decomposition},
                      {"shared": s_np, "private": p_np, "aligned": z_np})
    return summary


def _planted_truth(truth: dict, shares: dict, phi: np.ndarray, data: MultimodalData, mods, streams) -> dict:
    st = shares["test"]["stream_mean_abs"]
    importance = {m: st[f"{m}.shared"] + st[f"{m}.private"] for m in mods}
    check = planted_truth_check(importance, st, truth)
    check["latent_correlation_class"] = data.classes[-1]
    check["latent_correlation"] = latent_correlation(phi[:, :, -1], streams, data.meta, truth)
    return check
