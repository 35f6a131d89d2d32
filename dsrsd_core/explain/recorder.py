"""``dsrsd explain``: compute everything the dashboard shows and add it to a run directory.

All artifacts go to ``RUN_DIR/explain/``, built under a temporary name and swapped in with one
rename, so an interrupted explain leaves the previous artifacts intact.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.dataset import MultimodalData
from ..errors import DsrsdError
from ..io import atomic_dir, write_json, write_parquet
from ..train.batching import batches, select, to_tensors
from ..train.trainer import predict
from .diagnostics import diagnostics
from .embeddings import embedding_maps, nearest_learners
from .gradients import input_integrated_gradients, rank_agreement, stream_integrated_gradients
from .modality_drop import modality_drop, robustness_curves
from .planted import latent_correlation, planted_truth_check
from .shapley import exact_stream_shapley


@torch.no_grad()
def encode_all(model, tensors: dict, batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Streams and embeddings of every sample: s, p, z (N, M, k), streams (N, 2M, k), mask (N, 2M)."""
    model.eval()
    parts = {k: [] for k in ("s", "p", "z", "streams", "mask")}
    for b in batches(len(tensors["y"]), batch_size):
        batch = select(tensors, b)
        enc = model.encode(batch)
        for k in ("s", "p", "z"):
            parts[k].append(enc[k].float())
        parts["streams"].append(model.stream_tensor(enc).float())
        parts["mask"].append(model.stream_mask(batch["present"]))
    return {k: torch.cat(v) for k, v in parts.items()}


def input_variance(data: MultimodalData) -> dict[str, float]:
    """Total raw variance of each modality's continuous inputs (present samples, real steps)."""
    out = {}
    for j, (name, m) in enumerate(data.modalities.items()):
        x = m.x[data.present[:, j]]
        if m.steps is not None:
            x = x[m.steps[data.present[:, j]]]
        out[name] = float(np.var(x.reshape(-1, x.shape[-1]), axis=0).sum()) if len(x) else 0.0
    return out


def _input_attribution_tables(model, tensors, data, pred, train_idx, progress, batch_size=512):
    """Captum IG over raw inputs, aggregated to what a person recognises."""
    emb_reference = {}
    for m in model.modalities:
        enc = model.encoders[m]
        if tensors[m].get("cat") is not None and len(getattr(enc, "embeddings", [])):
            with torch.no_grad():
                emb_reference[m] = enc.embed(tensors[m]["cat"][torch.as_tensor(train_idx)]).mean(0, keepdim=True)
    acc: dict[str, list] = {}
    n = len(pred)
    for b in tqdm(list(batches(n, batch_size)), desc="input attributions", disable=not progress, leave=False):
        batch = select(tensors, b)
        attr = input_integrated_gradients(model, batch, torch.as_tensor(pred[b.numpy()]), emb_reference)
        for m, parts in attr.items():
            acc.setdefault(f"{m}.x", []).append(parts["x"].numpy())
            if "cat" in parts:
                acc.setdefault(f"{m}.cat", []).append(parts["cat"].numpy())
    tables, cohort = {}, {}
    sample = np.arange(n)
    for m, mod in data.modalities.items():
        x = np.concatenate(acc[f"{m}.x"])
        if mod.kind == "tabular":
            frame = pd.DataFrame(x, columns=mod.feature_names)
            if f"{m}.cat" in acc:
                frame = pd.concat([frame, pd.DataFrame(np.concatenate(acc[f"{m}.cat"]), columns=mod.cat_names)], axis=1)
            frame.insert(0, "sample", sample)
            tables[f"input_{m}"] = frame.astype({c: np.float32 for c in frame.columns if c != "sample"})
        else:
            steps = pd.DataFrame(x.sum(2), columns=mod.step_names).astype(np.float32)
            steps.insert(0, "sample", sample)
            feats = pd.DataFrame(x.sum(1), columns=mod.feature_names).astype(np.float32)
            feats.insert(0, "sample", sample)
            tables[f"input_{m}_steps"] = steps
            tables[f"input_{m}_features"] = feats
            grid = pd.DataFrame(np.abs(x).mean(0), index=mod.step_names, columns=mod.feature_names)
            cohort[m] = grid.reset_index(names="step").melt(id_vars="step", var_name="feature", value_name="mean_abs")
    cohort_frame = pd.concat([g.assign(modality=m) for m, g in cohort.items()], ignore_index=True) if cohort else None
    return tables, cohort_frame


def timeline_tables(data: MultimodalData) -> dict[str, pd.DataFrame]:
    """Each learner's own inputs, for the dashboard's timeline (the app never reads the raw data).

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
            out[name] = pd.DataFrame({
                "sample": sample[s_idx].astype(np.int32), "step": step[s_idx].astype(np.int16),
                "step_name": pd.Categorical(np.asarray(m.step_names)[step[s_idx]], categories=m.step_names),
                "feature": pd.Categorical(np.asarray(m.feature_names)[f_idx], categories=m.feature_names),
                "value": np.round(np.expm1(values[s_idx, f_idx])).astype(np.float32)})
        else:
            frame = pd.DataFrame(values, columns=m.feature_names).astype(np.float32)
            frame.insert(0, "step", step.astype(np.int16))
            frame.insert(0, "sample", sample.astype(np.int32))
            out[name] = frame
    return out


def attribution_shares(phi_pred: np.ndarray, streams: list[str], modalities: list[str], rows) -> dict:
    """Mean |phi| per stream over ``rows`` and the resulting shares per stream and per modality."""
    mean_abs = np.abs(phi_pred[rows]).mean(0)
    total = mean_abs.sum() or 1.0
    per_stream = dict(zip(streams, (mean_abs / total).tolist()))
    per_modality = {m: per_stream[f"{m}.shared"] + per_stream[f"{m}.private"] for m in modalities}
    return {"stream_share": per_stream, "modality_share": per_modality,
            "stream_mean_abs": dict(zip(streams, mean_abs.tolist()))}


def explain(run_dir: str | Path, data: MultimodalData | None = None, progress: bool = True,
            umap_max_samples: int = 3000) -> dict:
    """Compute and write every explain artifact for ``run_dir``; return the summary."""
    from ..run_dir import load_run
    from ..train.pipeline import load_training_data

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
    split = samples["split"].to_numpy()
    train_idx = np.flatnonzero(split == "train")
    classes, mods, streams = data.classes, model.modalities, model.streams
    timings = {}
    t_all = time.perf_counter()
    tensors = to_tensors(data)
    steps = tqdm(total=7, desc="explain", unit="step", disable=not progress)

    t = time.perf_counter()
    enc = encode_all(model, tensors)
    out = predict(model, tensors)
    proba, gate = out["proba"], out["gate"]
    pred = proba.argmax(1)
    predictions = samples[["sample", "split"]].copy()
    predictions["label"], predictions["pred"] = data.y, pred
    for c, name in enumerate(classes):
        predictions[f"proba_{name}"] = proba[:, c].astype(np.float32)
    for j, name in enumerate(streams):
        predictions[f"gate_{name}"] = gate[:, j].astype(np.float32)
    timings["predict"] = time.perf_counter() - t
    steps.update()

    t = time.perf_counter()
    sh = exact_stream_shapley(model.predict_from_streams, enc["streams"], enc["mask"])
    phi = sh["phi"].numpy()  # (N, S, C)
    efficiency_error = float((sh["phi"].sum(1) - (sh["full"] - sh["empty"])).abs().max())
    timings["shapley"] = time.perf_counter() - t
    phi_pred = phi[np.arange(len(pred)), :, pred]
    shapley = predictions[["sample"]].copy()
    shapley["target"] = pred
    for j, s in enumerate(streams):
        shapley[f"phi_{s}"] = phi_pred[:, j]
    for c, cname in enumerate(classes):
        shapley[f"empty_{cname}"] = sh["empty"][:, c].numpy()
        for j, s in enumerate(streams):
            shapley[f"phi_{cname}_{s}"] = phi[:, j, c]
    steps.update()

    t = time.perf_counter()
    ig = stream_integrated_gradients(model, enc["streams"], enc["mask"], torch.as_tensor(pred)).numpy()
    agreement = rank_agreement(phi_pred, ig, enc["mask"].numpy())
    stream_ig = predictions[["sample"]].copy()
    for j, s in enumerate(streams):
        stream_ig[f"ig_{s}"] = ig[:, j].astype(np.float32)
    stream_ig["rank_agreement"] = agreement.astype(np.float32)
    timings["stream_ig"] = time.perf_counter() - t
    steps.update()

    t = time.perf_counter()
    input_tables, input_cohort = _input_attribution_tables(model, tensors, data, pred, train_idx, progress)
    timings["input_ig"] = time.perf_counter() - t
    steps.update()

    t = time.perf_counter()
    drop_metrics, drop_samples = modality_drop(model, tensors, data.y, split, classes, train_idx, proba)
    robustness = robustness_curves(model, tensors, data.y, np.flatnonzero(split == "test"), classes,
                                   seed=run.config["seed"])
    timings["modality_drop"] = time.perf_counter() - t
    steps.update()

    # UMAP last: numba's worker threads keep spinning after it and slow torch down many times over
    t = time.perf_counter()
    s_np, p_np, z_np = enc["s"].numpy(), enc["p"].numpy(), enc["z"].numpy()
    umap_frame, embedding_numbers = embedding_maps(s_np, p_np, data.present, mods, data.y, run.config["seed"],
                                                   umap_max_samples)
    neighbours = nearest_learners(s_np, data.present)
    timings["embeddings"] = time.perf_counter() - t
    steps.update()

    test = split == "test"
    diag = diagnostics(s_np[test], p_np[test], z_np[test], data.present[test], mods, seed=run.config["seed"])
    shares = {"all": attribution_shares(phi_pred, streams, mods, slice(None)),
              "test": attribution_shares(phi_pred, streams, mods, test)}
    summary = {
        "format_version": run.info["format_version"],
        "target_semantics": "probability of the predicted class; removing a stream = the model's missing-stream "
                            "mechanism (gate weight 0, softmax over the rest); empty coalition = head(0)",
        "attribution": shares,
        "shapley_efficiency_max_error": efficiency_error,
        "method_agreement": {"method": "integrated gradients on the streams (zero reference)",
                             "mean_spearman": float(np.nanmean(agreement)),
                             "median_spearman": float(np.nanmedian(agreement)),
                             "share_positive": float(np.nanmean(agreement > 0))},
        "input_variance": input_variance(data),
        "embeddings": embedding_numbers,
        "umap_max_samples": umap_max_samples,
    }
    truth_path = run.ground_truth_path(data)
    if truth_path is not None:
        truth = json.loads(truth_path.read_text())
        st = shares["test"]["stream_mean_abs"]
        importance = {m: st[f"{m}.shared"] + st[f"{m}.private"] for m in mods}
        summary["planted_truth"] = planted_truth_check(importance, st, truth)
        summary["planted_truth"]["latent_correlation_class"] = classes[-1]
        summary["planted_truth"]["latent_correlation"] = latent_correlation(phi[:, :, -1], streams, data.meta, truth)
    steps.update()
    steps.close()
    timings["total"] = time.perf_counter() - t_all
    summary["seconds"] = timings

    with atomic_dir(Path(run_dir) / "explain", overwrite=True) as tmp:
        write_parquet(tmp / "predictions.parquet", predictions)
        write_parquet(tmp / "shapley.parquet", shapley)
        write_parquet(tmp / "stream_ig.parquet", stream_ig)
        for name, frame in input_tables.items():
            write_parquet(tmp / f"{name}.parquet", frame)
        if input_cohort is not None:
            write_parquet(tmp / "input_cohort.parquet", input_cohort)
        np.savez_compressed(tmp / "embeddings.npz", shared=s_np.astype(np.float16),
                            private=p_np.astype(np.float16), aligned=z_np.astype(np.float16))
        write_parquet(tmp / "umap.parquet", umap_frame)
        for name, frame in timeline_tables(data).items():
            write_parquet(tmp / f"timeline_{name}.parquet", frame)
        write_parquet(tmp / "neighbours.parquet", pd.DataFrame(neighbours, columns=[f"n{i}" for i in range(neighbours.shape[1])]).assign(sample=np.arange(len(neighbours))))
        write_parquet(tmp / "modality_drop.parquet", drop_metrics)
        write_parquet(tmp / "modality_drop_samples.parquet", drop_samples)
        write_parquet(tmp / "robustness.parquet", robustness)
        write_json(tmp / "diagnostics.json", diag)
        write_json(tmp / "summary.json", summary)
    if "planted_truth" in summary:
        metrics = dict(run.metrics)
        metrics["planted_truth"] = summary["planted_truth"]
        write_json(Path(run_dir) / "metrics.json", metrics)
    return summary
