"""Checking measured attributions against the synthetic cohort's planted ground truth."""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def ranking_agreement(importance: dict[str, float], expected_ranking: list[str]) -> float:
    """Spearman correlation between measured importance and the expected order (first = most important)."""
    names = [m for m in expected_ranking if m in importance]
    expected = [len(names) - i for i in range(len(names))]
    measured = [importance[m] for m in names]
    if len(names) < 2 or np.ptp(measured) == 0:
        return float("nan")
    return float(spearmanr(expected, measured).statistic)


def planted_factors(truth: dict) -> dict[str, dict]:
    """Per planted factor: the modalities observing it, ``kind`` (shared when two or more observe
    it, derived from the modalities whatever the file says) and its outcome weight."""
    out = {}
    for f, spec in (truth.get("factors") or {}).items():
        mods = list(spec.get("modalities") or [])
        out[f] = {"modalities": mods, "kind": "shared" if len(mods) >= 2 else "private",
                  "outcome_weight": spec.get("outcome_weight")}
    return out


def shared_signal_fraction(truth: dict) -> float | None:
    """Share of the planted ability variance due to shared factors: sum of ``w**2`` over shared
    factors / sum of ``w**2`` over all factors, recomputed from ``truth["factors"]``; the stored
    ``shared_signal_fraction`` when the factors or their weights are not listed."""
    factors = planted_factors(truth)
    weights = {f: v["outcome_weight"] for f, v in factors.items()}
    if factors and all(isinstance(w, (int, float)) for w in weights.values()):
        total = sum(w * w for w in weights.values())
        if total > 0:
            return sum(weights[f] ** 2 for f, v in factors.items() if v["kind"] == "shared") / total
    stored = truth.get("shared_signal_fraction")
    return None if stored is None else float(stored)


def planted_truth_check(importance: dict[str, float], stream_importance: dict[str, float] | None,
                        truth: dict) -> dict:
    """Rank agreement with ``truth["modality_ranking"]``, the dominance trap's share, and (for models
    with shared/private streams) the share of attribution held by shared streams beside the planted
    shared signal fraction. When the truth lists its factors (``dsrsd synthetic v2``), also the
    routing, each factor's modalities/kind/weight and which factors each modality pair shares."""
    total = sum(importance.values()) or 1.0
    shares = {m: v / total for m, v in importance.items()}
    trap = truth.get("dominance_trap")
    out = {
        "expected_ranking": truth["modality_ranking"],
        "measured_ranking": sorted(importance, key=importance.get, reverse=True),
        "modality_share": shares,
        "rank_correlation": ranking_agreement(importance, truth["modality_ranking"]),
        "dominance_trap": trap,
        "trap_share": shares.get(trap),
        "trap_wins": bool(trap is not None and max(importance, key=importance.get) == trap),
    }
    factors = planted_factors(truth)
    if factors:
        out["routing"] = truth.get("routing")
        out["planted_factors"] = factors
        out["planted_pairs"] = truth.get("pairs") or {}
    if stream_importance:
        s_total = sum(stream_importance.values()) or 1.0
        out["shared_attribution_fraction"] = sum(v for k, v in stream_importance.items()
                                                 if k.endswith(".shared")) / s_total
        out["planted_shared_signal_fraction"] = shared_signal_fraction(truth)
    return out


def latent_correlation(phi_last: np.ndarray, streams: list[str], meta, truth: dict) -> dict:
    """Per planted factor and stream: Pearson correlation of the factor with the stream's Shapley value.

    ``phi_last`` (N, S) holds Shapley values for one class; samples are matched to
    ``truth["learners"]`` by (code_module, code_presentation, id_student). Every factor listed in
    ``truth["factors"]`` with per-learner values is reported (which modalities observe it is in
    :func:`planted_factors`; a stream ``m.shared`` / ``m.private`` belongs to modality ``m``).
    """
    latents = planted_latents(meta, truth)
    out = {}
    for f, v in latents.items():
        ok = np.isfinite(v)
        out[f] = {s: float(np.corrcoef(v[ok], phi_last[ok, j])[0, 1]) if ok.sum() > 2 and phi_last[ok, j].std() > 0
                  else float("nan") for j, s in enumerate(streams)}
    return out


def planted_latents(meta, truth: dict) -> dict[str, np.ndarray]:
    """Each planted factor's value per sample (NaN where a sample has no planted learner), matched
    on (code_module, code_presentation, id_student)."""
    import pandas as pd

    learners = pd.DataFrame(truth.get("learners", {}))
    keys = ["code_module", "code_presentation", "id_student"]
    if learners.empty or not set(keys) <= set(meta.columns) or not set(keys) <= set(learners.columns):
        return {}
    left = meta[keys].astype({"code_module": str, "code_presentation": str, "id_student": "int64"})
    right = learners.astype({"code_module": str, "code_presentation": str, "id_student": "int64"})
    joined = left.merge(right, on=keys, how="left")
    return {f: joined[f].to_numpy(dtype=float) for f in planted_factors(truth) if f in joined.columns}
