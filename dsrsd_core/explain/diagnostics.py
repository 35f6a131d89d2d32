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
    """Cosine of paired embeddings vs random pairs, and cross-modal retrieval: top-1 accuracy and
    the mean rank of each learner's own partner among all n candidates,

        rank_i = (#{k : sim_ik > sim_ii} + (#{k != i : sim_ik = sim_ii}) / 2) / (n - 1)   (0 first, 1 last)

    A random pairing gives a mean rank of 0.5 with standard deviation sqrt((n + 1) / (12 n (n - 1)));
    unlike top-1, the rank still shows alignment when a low-dimensional code cannot single one learner out.
    """
    # divided by the norm itself, not norm + eps: the cosines of 1-D codes must tie exactly at +-1
    a = z_a / np.maximum(np.linalg.norm(z_a, axis=1, keepdims=True), 1e-12)
    b = z_b / np.maximum(np.linalg.norm(z_b, axis=1, keepdims=True), 1e-12)
    sim = a @ b.T
    n = len(a)
    own = np.diag(sim)[:, None]
    paired = float(own.mean())
    random = float((sim.sum() - np.trace(sim)) / max(n * (n - 1), 1))
    top1 = float((sim.argmax(1) == np.arange(n)).mean())
    rank = ((sim > own).sum(1) + ((sim == own).sum(1) - 1) / 2) / max(n - 1, 1)
    return {"paired_cosine": paired, "random_cosine": random, "top1_retrieval": top1,
            "chance_top1": 1.0 / n, "mean_rank": float(rank.mean()),
            "chance_rank_sd": float(np.sqrt((n + 1) / (12 * n * max(n - 1, 1)))), "n": int(n)}


def diagnostics(shared, private, z, present, modalities: list[str], max_rows: int = 2000, seed: int = 0,
                z_hat=None) -> dict:
    """All diagnostics over the given samples (retrieval uses at most ``max_rows`` of them).

    Retrieval compares what the model aligns: with ``z_hat`` (alignment ``rest``: each modality's code
    and its prediction from the other modalities) ``"<m>~others"`` per modality, where m and another
    modality are present; else ``"<a>~<b>"`` per pair of aligned embeddings. (Codes of two modalities
    hold different shared factors in their own coordinates, so comparing them directly says nothing.)
    """
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
    if z_hat is not None:
        targets = [(f"{m}~others", j, None, present[:, j] & (present.sum(1) >= 2)) for j, m in enumerate(modalities)]
    else:
        targets = [(f"{modalities[i]}~{modalities[j]}", i, j, present[:, i] & present[:, j])
                   for i in range(len(modalities)) for j in range(i + 1, len(modalities))]
    for key, i, j, rows in targets:
        rows = np.flatnonzero(rows)
        if len(rows) < 3:
            continue
        if len(rows) > max_rows:
            rows = np.sort(rng.choice(rows, max_rows, replace=False))
        out["alignment"][key] = alignment(z[rows, i], z_hat[rows, i] if j is None else z[rows, j])
    return out
