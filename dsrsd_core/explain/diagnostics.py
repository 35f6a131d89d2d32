"""Numbers about the learned spaces: correlation structure, effective rank, cross-modal alignment."""
from __future__ import annotations

import numpy as np


def correlation(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation between the columns of ``a`` and of ``b`` (default ``a``)."""
    b = a if b is None else b
    a = (a - a.mean(0)) / (a.std(0) + 1e-8)
    b = (b - b.mean(0)) / (b.std(0) + 1e-8)
    return a.T @ b / len(a)


def effective_rank(x: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values of the centred matrix (Roy & Vetterli, 2007)."""
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def alignment(z_a: np.ndarray, z_b: np.ndarray) -> dict:
    """Cosine of paired shared embeddings vs random pairs, and top-1 cross-modal retrieval accuracy."""
    a = z_a / (np.linalg.norm(z_a, axis=1, keepdims=True) + 1e-8)
    b = z_b / (np.linalg.norm(z_b, axis=1, keepdims=True) + 1e-8)
    sim = a @ b.T
    paired = float(np.diag(sim).mean())
    random = float((sim.sum() - np.trace(sim)) / max(len(a) * (len(a) - 1), 1))
    top1 = float((sim.argmax(1) == np.arange(len(a))).mean())
    return {"paired_cosine": paired, "random_cosine": random, "top1_retrieval": top1,
            "chance_top1": 1.0 / len(a), "n": int(len(a))}


def diagnostics(shared, private, z, present, modalities: list[str], max_rows: int = 2000, seed: int = 0) -> dict:
    """All diagnostics over the given samples (retrieval uses at most ``max_rows`` of them)."""
    out = {"modalities": modalities, "per_modality": {}, "alignment": {}}
    for j, m in enumerate(modalities):
        keep = present[:, j]
        s, p = shared[keep, j], private[keep, j]
        cross = correlation(s, p)
        out["per_modality"][m] = {
            "shared_correlation": correlation(s).round(4).tolist(),
            "shared_private_cross_correlation": cross.round(4).tolist(),
            "mean_abs_cross_correlation": float(np.abs(cross).mean()),
            "shared_effective_rank": effective_rank(s),
            "private_effective_rank": effective_rank(p),
            "dims": int(s.shape[1]),
        }
    pooled = np.concatenate([shared[present[:, j], j] for j in range(len(modalities))])
    out["shared_effective_rank_pooled"] = effective_rank(pooled)
    rng = np.random.default_rng(seed)
    for i in range(len(modalities)):
        for j in range(i + 1, len(modalities)):
            both = np.flatnonzero(present[:, i] & present[:, j])
            if len(both) < 3:
                continue
            if len(both) > max_rows:
                both = np.sort(rng.choice(both, max_rows, replace=False))
            out["alignment"][f"{modalities[i]}~{modalities[j]}"] = alignment(z[both, i], z[both, j])
    return out
