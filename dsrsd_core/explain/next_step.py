"""``dsrsd explain`` for next-step runs: the final-outcome recorder's measures, per response.

A next-step run has one sample per response (knowledge tracing) or per (enrolment, assessment)
(OULAD): up to a few hundred thousand. Predictions are recorded for every sample. Everything else
is computed on the **explained subsample**: learners drawn at random (seeded by the run's seed)
until ``max_responses`` responses are covered, every response of a drawn learner included (so a
learner's timeline is whole), in all splits. Within it, input integrated gradients run on at most
``ig_max_responses`` responses and UMAP on at most ``umap_max_samples`` (both seeded subsets).
``summary.json:explained`` states the rule and the counts.

Tables (``explain/``, named ``next_*``; ``sample`` is the row of ``samples.parquet``):

* ``predictions``: every sample, as for final-outcome runs.
* ``next_responses``: one row per explained response, keyed by learner and position: label,
  prediction, the probability of the positive class, each modality's Shapley value towards it
  (shared + private) and the modality that drove it (largest |value|).
* ``next_position``: attribution by position in the sequence: per position bin and split group
  (``test``, ``all``), each modality's and stream's share of mean |phi| of the predicted class.
* ``next_shapley``, ``next_stream_ig``, ``next_umap``, ``next_modality_drop``,
  ``next_modality_drop_samples``, ``next_robustness``, ``next_input_<modality>``: the final-outcome
  tables of the same names without the prefix, restricted to the explained responses.
* ``embeddings.npz``: shared / private / aligned streams of the explained responses, in the row
  order of ``next_responses``.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from ..data.dataset import MultimodalData
from ..run_dir import NEXT_PREFIX, write_explanation
from ..train.batching import to_tensors
from ..train.trainer import predict
from .decomposition import measure as measure_decomposition
from .diagnostics import diagnostics
from .embeddings import embedding_maps
from .gradients import rank_agreement, stream_integrated_gradients
from .modality_drop import modality_drop, robustness_curves
from .shapley import exact_stream_shapley

DEFAULT_MAX_RESPONSES = 20_000
DEFAULT_IG_MAX = 5_000


def learner_key(meta: pd.DataFrame) -> np.ndarray:
    """One key per sequence: the learner, and the presentation where there is one (OULAD)."""
    key = meta["user_id"].astype(str)
    if "presentation" in meta:
        key = key + " · " + meta["presentation"].astype(str)
    return key.to_numpy()


def explained_rows(meta: pd.DataFrame, seed: int, max_responses: int) -> np.ndarray:
    """Rows of whole learners drawn at random (``seed``) until ``max_responses`` rows are covered;
    all rows when there are no more than that. Sorted."""
    n = len(meta)
    if n <= max_responses:
        return np.arange(n)
    key = learner_key(meta)
    learners, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(learners))
    total = np.cumsum(counts[order])
    take = order[:max(1, int(np.searchsorted(total, max_responses, side="left")) + 1)]
    return np.flatnonzero(np.isin(inverse, take))


def position_bins(position: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Position -> bin label: exact positions up to 10 (OULAD assessments, short logs), then
    doubling ranges (11-20, 21-40, ...) for long knowledge-tracing sequences."""
    position = np.asarray(position, np.int64)
    edges = list(range(0, 11)) + [20 * 2 ** k for k in range(20)]
    idx = np.searchsorted(edges, position, side="left")
    labels = [str(e) if e <= 10 else f"{edges[i - 1] + 1}-{e}" for i, e in enumerate(edges)]
    used = sorted(set(idx))
    return np.array([labels[i] for i in idx], dtype=object), [labels[i] for i in used]


def positive_class(classes: list[str]) -> int:
    """The class whose probability a binary next-step run reports (``correct``, ``at_risk``); the
    last class otherwise."""
    return len(classes) - 1


def response_frame(meta, rows, split, y, proba, phi, classes, mods, streams) -> pd.DataFrame:
    """``next_responses``: per explained response, the positive class's probability and each
    modality's Shapley value towards it."""
    c = positive_class(classes)
    frame = pd.DataFrame({"sample": rows.astype(np.int64), "learner": learner_key(meta.iloc[rows]),
                          "user_id": meta["user_id"].to_numpy()[rows].astype(str),
                          "position": meta["position"].to_numpy()[rows].astype(np.int64),
                          "split": split[rows], "label": y[rows].astype(np.int64),
                          "pred": proba.argmax(1).astype(np.int64)})
    frame[f"proba_{classes[c]}"] = proba[:, c].astype(np.float32)
    by_mod = np.stack([phi[:, streams.index(f"{m}.shared"), c] + phi[:, streams.index(f"{m}.private"), c]
                       for m in mods], 1)
    for j, m in enumerate(mods):
        frame[f"phi_{m}"] = by_mod[:, j].astype(np.float32)
    mag = np.abs(by_mod)
    frame["driver"] = np.asarray(mods, dtype=object)[mag.argmax(1)]
    frame["driver_share"] = (mag.max(1) / np.maximum(mag.sum(1), 1e-12)).astype(np.float32)
    for extra in ("presentation", "id_assessment", "assessment_type", "item", "skill"):
        if extra in meta:
            frame[extra] = meta[extra].to_numpy()[rows]
    return frame


def position_frame(position, split, phi_pred, mods, streams) -> pd.DataFrame:
    """``next_position``: shares of mean |phi| (predicted class) per position bin, for the test
    responses and for all explained ones."""
    bins, order = position_bins(position)
    mag = np.abs(phi_pred)
    rows = []
    for group, keep in (("test", split == "test"), ("all", np.ones(len(split), bool))):
        for b in order:
            sel = keep & (bins == b)
            if not sel.any():
                continue
            mean = mag[sel].mean(0)
            total = max(float(mean.sum()), 1e-12)
            row = {"group": group, "position_bin": b, "bin_order": order.index(b), "n": int(sel.sum())}
            for j, s in enumerate(streams):
                row[f"share_{s}"] = float(mean[j] / total)
            for m in mods:
                row[f"share_{m}"] = row[f"share_{m}.shared"] + row[f"share_{m}.private"]
            rows.append(row)
    return pd.DataFrame(rows)


def explain_next_step(run, run_dir, model, data: MultimodalData, progress: bool = False,
                      umap_max_samples: int = 1500, max_responses: int = DEFAULT_MAX_RESPONSES,
                      ig_max_responses: int = DEFAULT_IG_MAX) -> dict:
    """Compute and write the next-step explanation of ``run`` (module docstring); return the summary."""
    from .recorder import (_input_attribution_tables, encode_all, input_variance, method_agreement, prediction_frame,
                           shapley_frame, stream_ig_frame, stream_shares, _Steps)

    samples = run.samples
    split_all = samples["split"].to_numpy()
    classes, mods, streams, seed = data.classes, model.modalities, model.streams, run.config["seed"]
    t_all = time.perf_counter()
    steps = _Steps(8, progress)
    tables = {}

    with steps.step("predict"):
        full = predict(model, to_tensors(data))
        tables["predictions"] = prediction_frame(samples, data.y, full["proba"], full["gate"], classes, streams)
        rows = explained_rows(data.meta, seed, max_responses)
        sub = data.take(rows)
        split = split_all[rows]
        tensors = to_tensors(sub)
        enc = encode_all(model, tensors)
        proba = full["proba"][rows]
        pred = proba.argmax(1)
        train_idx = np.flatnonzero(split == "train")
        test = split == "test"

    with steps.step("shapley"):
        sh = exact_stream_shapley(model.predict_from_streams, enc["streams"], enc["mask"])
        phi = sh["phi"].numpy()
        efficiency_error = float((sh["phi"].sum(1) - (sh["full"] - sh["empty"])).abs().max())
        phi_pred = phi[np.arange(len(pred)), :, pred]
        tables[NEXT_PREFIX + "shapley"] = shapley_frame(rows, pred, phi, sh["empty"].numpy(), classes, streams)
        tables[NEXT_PREFIX + "responses"] = response_frame(data.meta, rows, split_all, data.y, proba, phi, classes,
                                                           mods, streams)
        tables[NEXT_PREFIX + "position"] = position_frame(sub.meta["position"].to_numpy(), split, phi_pred, mods,
                                                          streams)

    with steps.step("stream_ig"):
        ig = stream_integrated_gradients(model, enc["streams"], enc["mask"], torch.as_tensor(pred)).numpy()
        agreement = rank_agreement(phi_pred, ig, enc["mask"].numpy())
        tables[NEXT_PREFIX + "stream_ig"] = stream_ig_frame(rows, ig, agreement, streams)

    with steps.step("input_ig"):
        ig_local = np.sort(np.random.default_rng(seed).choice(len(rows), ig_max_responses, replace=False)) \
            if len(rows) > ig_max_responses else np.arange(len(rows))
        ig_data = sub.take(ig_local)
        ig_tables, _ = _input_attribution_tables(model, to_tensors(ig_data), ig_data, pred[ig_local], train_idx,
                                                 progress, np.arange(len(ig_local)))
        for name, frame in ig_tables.items():
            frame["sample"] = rows[ig_local][frame["sample"].to_numpy()]
            tables[NEXT_PREFIX + name] = frame

    with steps.step("modality_drop"):
        drop, drop_samples = modality_drop(model, tensors, sub.y, split, classes, train_idx, proba, enc["streams"],
                                           enc["mask"])
        drop_samples["sample"] = rows[drop_samples["sample"].to_numpy()]
        tables[NEXT_PREFIX + "modality_drop"], tables[NEXT_PREFIX + "modality_drop_samples"] = drop, drop_samples
        tables[NEXT_PREFIX + "robustness"] = robustness_curves(model, tensors, sub.y, np.flatnonzero(test), classes,
                                                               seed=seed, streams=enc["streams"], mask=enc["mask"])

    with steps.step("embeddings"):
        s_np, p_np, z_np = enc["s"].numpy(), enc["p"].numpy(), enc["z"].numpy()
        umap, embedding_numbers = embedding_maps(s_np, p_np, sub.present, mods, sub.y, seed, umap_max_samples)
        umap["sample"] = rows[umap["sample"].to_numpy()]
        tables[NEXT_PREFIX + "umap"] = umap

    with steps.step("diagnostics"):
        z_hat = enc["z_hat"].numpy()[test] if "z_hat" in enc else None
        diag = diagnostics(s_np[test], p_np[test], z_np[test], sub.present[test], mods, seed=seed, z_hat=z_hat)
        shares = {"all": stream_shares(phi_pred, streams, mods, slice(None)),
                  "test": stream_shares(phi_pred, streams, mods, test)}

    with steps.step("decomposition"):
        decomposition, probe_rows = measure_decomposition(
            s_np, p_np, sub.present, split, mods, seed=seed,
            widths=model.shared_widths() if hasattr(model, "shared_widths") else None)
        if probe_rows:
            tables[NEXT_PREFIX + "decomposition_probes"] = pd.DataFrame(probe_rows)
    steps.bar.close()
    n_learners = len(np.unique(learner_key(sub.meta)))
    summary = {
        "format_version": run.info["format_version"],
        "task": "next_step",
        "target_semantics": "probability of the predicted class; removing a stream = the model's missing-stream "
                            "mechanism (gate weight 0, softmax over the rest); empty coalition = head(0). "
                            f"next_responses: Shapley values towards class '{classes[positive_class(classes)]}'",
        "explained": {
            "rule": "whole learners drawn at random (seeded by the run's seed) until max_responses responses are "
                    "covered; all responses when there are no more. Input IG on at most ig_max_responses of them and "
                    "UMAP on at most umap_max_samples (seeded subsets); predictions for every sample",
            "seed": int(seed), "max_responses": int(max_responses), "ig_max_responses": int(ig_max_responses),
            "n_samples": int(len(data)), "n_responses": int(len(rows)), "n_learners": int(n_learners),
            "n_input_ig": int(len(ig_local)),
            "by_split": {s: int((split == s).sum()) for s in ("train", "val", "test")},
        },
        "attribution": shares,
        "shapley_efficiency_max_error": efficiency_error,
        "method_agreement": method_agreement(agreement),
        "input_variance": input_variance(sub),
        "embeddings": embedding_numbers,
        "umap_max_samples": umap_max_samples,
        "decomposition_verdict": decomposition["verdict"],
        "seconds": {**steps.seconds, "total": time.perf_counter() - t_all},
    }
    write_explanation(run_dir, tables, {"diagnostics": diag, "summary": summary, "decomposition": decomposition},
                      {"shared": s_np, "private": p_np, "aligned": z_np})
    return summary
