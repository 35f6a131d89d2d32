"""Shared and private embeddings, their 2-D UMAP maps, and numbers that say what the maps show."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors


def knn_indices(points: np.ndarray, k: int = 15) -> np.ndarray:
    """(n, k) indices of each point's nearest other points (Euclidean)."""
    k = min(k, len(points) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return idx[:, 1:]


def neighbour_mixing(points: np.ndarray, groups: np.ndarray, k: int = 15) -> float:
    """Mean share of a point's k nearest neighbours that belong to another group.

    For M equally sized, perfectly mixed groups this is about (M - 1) / M; for separated groups 0.
    """
    idx = knn_indices(points, k)
    return float((groups[idx] != groups[:, None]).mean())


def label_separation(points: np.ndarray, labels: np.ndarray, k: int = 15) -> float:
    """kNN label agreement above chance: mean share of same-label neighbours minus sum_c p_c^2."""
    idx = knn_indices(points, k)
    agree = float((labels[idx] == labels[:, None]).mean())
    p = np.bincount(labels) / len(labels)
    return agree - float((p ** 2).sum())


@functools.cache  # once per process: the maps call it five times
def _cache_umap_kernels() -> None:
    """Let numba keep UMAP's compiled kernels on disk, as it already does for pynndescent's.

    umap-learn compiles ~80 numba functions without ``cache=True``: 10-20 s of every explain process
    on one core, more than the fits of a 25,000-learner run (docs/performance.md). With caching on,
    the first explain on a machine compiles and saves them (beside umap's sources, or numba's user
    cache folder when those are read-only), every later one loads them in well under a second.
    """
    import numba
    from numba.core.caching import NullCache

    import umap.distances
    import umap.layouts
    import umap.spectral
    import umap.umap_
    import umap.utils

    for module in (umap.umap_, umap.layouts, umap.utils, umap.distances, umap.spectral):
        for obj in list(vars(module).values()):
            if isinstance(obj, numba.core.dispatcher.Dispatcher) and isinstance(obj._cache, NullCache):
                try:
                    obj.enable_caching()
                except RuntimeError:  # no writable cache folder anywhere: compile in every process, as before
                    return


def umap_2d(points: np.ndarray, seed: int, n_neighbors: int = 15, fit: np.ndarray | None = None) -> np.ndarray:
    """2-D UMAP of ``points``, fitted on the rows where ``fit`` is true (all rows by default); the
    other rows are placed by :func:`place_on_map`. Seeded: the same input gives the same map."""
    import umap  # imported here: it is slow to import and only the recorder needs it

    _cache_umap_kernels()
    fit = np.ones(len(points), bool) if fit is None else np.asarray(fit, bool)
    k = min(n_neighbors, int(fit.sum()) - 1)
    # the exact k-nearest-neighbour graph from scikit-learn, handed to UMAP: the graph UMAP builds
    # itself (exact below 4,096 points, NN-descent above) costs numba 20-60 s of compilation per
    # process, more than the fits themselves (docs/performance.md)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(points[fit]).kneighbors(points[fit])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=0.2, n_epochs=200, random_state=seed,
                            precomputed_knn=(idx, dist.astype(np.float32)))
        out = np.empty((len(points), 2), np.float32)
        out[fit] = reducer.fit_transform(points[fit])
    if not fit.all():
        out[~fit] = place_on_map(points[fit], out[fit], points[~fit], n_neighbors)
    return out


def place_on_map(fitted: np.ndarray, fitted_xy: np.ndarray, new: np.ndarray, k: int = 15) -> np.ndarray:
    """2-D positions for ``new`` points on a map fitted on ``fitted``: the mean of the positions of
    each point's ``k`` nearest fitted points in the original space, weighted by UMAP's membership
    strength exp(-(d - d_1) / sigma), d_1 the nearest distance and sigma the mean of d - d_1.

    This is how UMAP's own ``transform`` starts a new point (``init_graph_transform``). Its further
    layout epochs cost ~2.5 ms per point on one busy shared core (~11 min for the ~270,000 placed
    streams of a 25,000-learner run), this ~0.14 ms (docs/performance.md). A placed point therefore
    sits among the fitted learners it resembles most, never in a region of the map of its own."""
    k = min(k, len(fitted))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(fitted).kneighbors(new)
    gap = dist - dist[:, :1]
    sigma = np.maximum(gap.mean(1, keepdims=True), 1e-12)
    w = np.exp(-gap / sigma)
    return ((w[..., None] * fitted_xy[idx]).sum(1) / w.sum(1, keepdims=True)).astype(np.float32)


def embedding_maps(shared: np.ndarray, private: np.ndarray, present: np.ndarray, modalities: list[str],
                   labels: np.ndarray, seed: int, max_samples: int = 4000, progress=None) -> tuple[pd.DataFrame, dict]:
    """UMAP coordinates for (a) all shared streams, (b) all private streams, (c) each modality's
    shared vs private streams, for every sample whose modality is present.

    Each map is fitted on the streams of at most ``max_samples`` samples (a seeded subsample, the
    same samples in every map) and the other samples are placed on it (:func:`place_on_map`); the
    ``fitted`` column says which. All maps are made in this process, so
    numba compiles UMAP's kernels once.

    Returns a long table (map, sample, modality, stream, x, y, fitted) and the numbers for each map,
    measured on the fitted subsample in the original (not the 2-D) space: modality mixing and label
    separation.
    """
    rng = np.random.default_rng(seed)
    n = len(shared)
    chosen = np.sort(rng.choice(n, max_samples, replace=False)) if n > max_samples else np.arange(n)
    in_fit = np.zeros(n, bool)
    in_fit[chosen] = True
    rows, numbers = [], {}

    def add(map_name, vectors, sample, modality, stream):
        fitted = in_fit[sample]
        xy = umap_2d(vectors, seed, fit=fitted)
        rows.append(pd.DataFrame({"map": map_name, "sample": sample, "modality": modality, "stream": stream,
                                  "x": xy[:, 0], "y": xy[:, 1], "fitted": fitted}))
        if progress:
            progress()
        return fitted

    for kind, block in (("shared", shared), ("private", private)):
        sample, modality, vectors = [], [], []
        for j, m in enumerate(modalities):
            keep = np.flatnonzero(present[:, j])
            sample.append(keep), modality.append(np.full(len(keep), m, dtype=object)), vectors.append(block[keep, j])
        sample, modality, vectors = np.concatenate(sample), np.concatenate(modality), np.concatenate(vectors)
        f = add(f"{kind}_all", vectors, sample, modality, kind)
        numbers[f"{kind}_all"] = {
            "modality_mixing": neighbour_mixing(vectors[f], modality[f]),
            "label_separation": label_separation(vectors[f], labels[sample[f]]),
            "n_points": int(f.sum()),
            "n_placed": int((~f).sum()),
        }
    for j, m in enumerate(modalities):
        keep = np.flatnonzero(present[:, j])
        vectors = np.concatenate([shared[keep, j], private[keep, j]])
        stream = np.repeat(np.array(["shared", "private"], dtype=object), len(keep))
        f = add(f"{m}_shared_private", vectors, np.concatenate([keep, keep]), m, stream)
        fit_keep = keep[in_fit[keep]]
        numbers[f"{m}_shared_private"] = {
            "stream_mixing": neighbour_mixing(vectors[f], stream[f]),
            "label_separation_shared": label_separation(shared[fit_keep, j], labels[fit_keep]),
            "label_separation_private": label_separation(private[fit_keep, j], labels[fit_keep]),
            "n_points": int(f.sum()),
            "n_placed": int((~f).sum()),
        }
    return pd.concat(rows, ignore_index=True), numbers


def nearest_learners(shared: np.ndarray, present: np.ndarray, k: int = 10) -> np.ndarray:
    """(N, k) nearest samples in the shared space (present modalities' shared streams, averaged)."""
    w = present[..., None].astype(np.float32)
    pooled = (shared * w).sum(1) / np.maximum(w.sum(1), 1)
    return knn_indices(pooled, k)
