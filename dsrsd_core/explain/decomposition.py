"""Does a run's shared/private split hold what its names say? Probes, dependence and a verdict.

A loss being small proves nothing about what a stream holds; these measures look at the
embeddings themselves, fit on the training split and scored on the test split:

* planted factors (synthetic runs): how well a linear and a small non-linear probe recover each
  planted factor from each stream (R^2 on test);
* cross-modal predictability (every run): how much of one modality's shared stream the other
  modalities' shared streams predict (ridge R^2), against the same for private streams, and the
  same R^2 direction by direction (how many directions of a shared stream are shared at all);
* shared <-> private dependence: linear and RBF-kernel CKA (normalised HSIC) per modality;
* the verdict: whether the labels "shared" and "private" can be trusted, with documented thresholds.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

# Thresholds of the verdict (docs/run_format.md, "Decomposition").
PRIVATE_LEAK_MAX = 0.15   # a private factor's R^2 in its own modality's shared stream
PRIVATE_HELD_MIN = 0.5    # ... and in its own private stream
SHARED_HELD_MIN = 0.5     # a shared factor's R^2 in each observing modality's shared stream
CROSS_MODAL_MIN = 0.3     # proxy: shared stream R^2 from the other modalities' shared streams
CROSS_MODAL_GAP = 0.15    # proxy: ... above the same for the private stream
DEPENDENCE_MAX = 0.2      # proxy: RBF CKA between a modality's shared and private streams
SHARED_DIRECTION_MIN = 0.3  # a direction of a shared stream the others predict at least this well counts as shared
COPY_RATIO = 0.5          # a private factor leaking into the shared stream at least this share of its
                          # private-stream R^2: the streams are near-copies for it, and the verdict is "not"
MIN_TEST_SAMPLES = 50     # fewer test samples: probes are not run
MIN_TRAIN_SAMPLES = 100

PROBES = ("linear", "mlp")
PROBE_MAX_TRAIN = 4000  # planted-factor probes fit on at most this many training samples (seeded subsample)


def probe_r2(x_train, y_train, x_test, y_test, kind: str = "linear", seed: int = 0,
             per_target: bool = False):
    """R^2 on test of a probe predicting ``y`` (n,) or (n, t) from ``x``, fitted on train.

    ``linear``: ridge with the penalty chosen by leave-one-out on train, for each target apart.
    ``mlp``: one hidden layer of 32 units, L2 penalty 1e-3, 150 L-BFGS iterations; several targets
    share the hidden layer. For several targets, the variance-weighted R^2, or with ``per_target`` an
    array of each target's R^2.
    """
    if kind == "linear":
        model = RidgeCV(alphas=np.logspace(-3, 3, 13), alpha_per_target=np.ndim(y_train) == 2)
    elif kind == "mlp":
        # full-batch L-BFGS, 150 iterations: on a 25,000-sample run 3x faster than Adam with early
        # stopping, and test R^2 within +-0.03 of it or above (docs/performance.md)
        model = MLPRegressor(hidden_layer_sizes=(32,), alpha=1e-3, solver="lbfgs", max_iter=150, random_state=seed)
    else:
        raise ValueError(f"unknown probe {kind!r}")
    y_test = np.asarray(y_test, float)
    pred = _fit_predict(model, x_train, y_train, x_test).reshape(y_test.shape)
    resid = ((y_test - pred) ** 2).sum(0)
    total = ((y_test - y_test.mean(0)) ** 2).sum(0)
    if per_target:
        return np.where(total > 0, 1 - resid / np.where(total > 0, total, 1), np.nan)
    return float(1 - resid.sum() / total.sum()) if total.sum() > 0 else float("nan")


def ridge_predict(x_train, y_train, x_test) -> np.ndarray:
    """The linear probe of :func:`probe_r2`, returning its predictions for ``x_test``."""
    model = RidgeCV(alphas=np.logspace(-3, 3, 13), alpha_per_target=np.ndim(y_train) == 2)
    return _fit_predict(model, x_train, y_train, x_test)


def _fit_predict(model, x_train, y_train, x_test) -> np.ndarray:
    """Fit ``model`` on standardised inputs and targets, predict ``x_test`` in the targets' units."""
    # a collapsed (near-constant) column is no evidence; standardising it would blow its noise up
    spread = x_train.std(0)
    keep = spread > 1e-4 * max(float(spread.max()), 1e-12)
    scale = StandardScaler().fit(x_train[:, keep])
    y_train = np.asarray(y_train, float)
    y_mean, y_std = y_train.mean(0), y_train.std(0) + 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the iteration cap is the probe's budget
        model.fit(scale.transform(x_train[:, keep]), (y_train - y_mean) / y_std)
    return model.predict(scale.transform(x_test[:, keep])).reshape(len(x_test), *y_train.shape[1:]) * y_std + y_mean


def _gram_rbf(x: np.ndarray) -> np.ndarray:
    sq = (x ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    med = np.median(d2[d2 > 0]) if (d2 > 0).any() else 1.0
    return np.exp(-d2 / med)


def _centre(k: np.ndarray) -> np.ndarray:
    """H K H with H = I - 11^T/n, without the two n^3 products: subtract row and column means, add the mean."""
    return k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()


def cka(x: np.ndarray, y: np.ndarray, kernel: str = "linear") -> float:
    """Centred kernel alignment (normalised HSIC) between two views of the same n samples.

        CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),  HSIC(K, L) = tr(K H L H),  H = I - 11^T/n

    0 for independent views (in the limit), 1 for views equal up to rotation and scale. ``rbf``
    uses Gaussian kernels with the median distance as bandwidth: it sees non-linear dependence.
    """
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    y = (y - y.mean(0)) / (y.std(0) + 1e-8)
    if kernel == "linear":
        k, l_ = x @ x.T, y @ y.T
    else:
        k, l_ = _gram_rbf(x), _gram_rbf(y)
    kc, lc = _centre(k), _centre(l_)
    denom = np.sqrt((kc * kc).sum() * (lc * lc).sum())
    return float((kc * lc).sum() / denom) if denom > 0 else float("nan")


def factor_probes(shared, private, present, train, test, latents: dict[str, np.ndarray],
                  modalities: list[str], probes=PROBES, seed: int = 0,
                  max_train: int = PROBE_MAX_TRAIN) -> list[dict]:
    """One row per factor x stream x probe: ``factor``, ``stream``, ``probe``, ``r2``, ``n_test``.

    ``shared``/``private`` are (N, M, k) (``private`` None: the shared rows only); ``train``/``test``
    boolean (N,); ``latents`` maps a factor to its (N,) values (NaN where a sample has no planted
    learner: every factor at once).
    Samples lacking the modality are left out. Per modality, the probes fit on at most
    ``max_train`` training samples (one seeded subsample for every factor, stream and probe) and
    score on the whole test split. One probe per stream predicts every factor (the linear probe
    fits each factor apart, the MLP shares its hidden layer): 36 separate MLPs took most of a
    25,000-sample explain.
    """
    rng = np.random.default_rng(seed)
    names = list(latents)
    if not names:
        return []
    values = np.column_stack([np.asarray(latents[f], float) for f in names])
    ok = np.isfinite(values).all(1)
    rows = []
    for j, m in enumerate(modalities):
        tr, te = np.flatnonzero(train & ok & present[:, j]), np.flatnonzero(test & ok & present[:, j])
        if len(tr) > max_train:
            tr = np.sort(rng.choice(tr, max_train, replace=False))
        enough = len(tr) >= MIN_TRAIN_SAMPLES and len(te) >= MIN_TEST_SAMPLES
        for kind, emb in (("shared", shared), ("private", private)):
            if emb is None:
                continue
            for probe in probes:
                r2 = (probe_r2(emb[tr, j], values[tr], emb[te, j], values[te], probe, seed, per_target=True)
                      if enough else np.full(len(names), np.nan))
                rows += [{"factor": f, "stream": f"{m}.{kind}", "probe": probe, "r2": float(r2[i]),
                          "n_test": int(len(te))} for i, f in enumerate(names)]
    return rows


def factor_placement(rows: list[dict], factors: dict) -> dict:
    """Per planted factor, whether it sits where it was planted (best of the probes per stream).

    ``factors`` is ground_truth.json's ``factors``: each with the ``modalities`` that observe it.
    A factor observed by two or more modalities is *shared*: it must reach R^2 >= SHARED_HELD_MIN
    in the shared stream of every observing modality. A factor observed by one modality is
    *private*: R^2 <= PRIVATE_LEAK_MAX in that modality's shared stream and >= PRIVATE_HELD_MIN in
    its private stream; its shared-stream check is marked ``copied`` when the leak reaches COPY_RATIO
    of its private-stream R^2 (the two streams hold it about alike). Factors no modality observes in
    this run are skipped.
    """
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        if np.isfinite(r["r2"]):
            key = (r["factor"], r["stream"])
            best[key] = max(best.get(key, -np.inf), r["r2"])
    out = {}
    for f, spec in factors.items():
        mods = list(spec.get("modalities", []))
        kind = "shared" if len(mods) >= 2 else "private"
        checks = []
        for m in mods:
            if kind == "shared":
                v = best.get((f, f"{m}.shared"))
                if v is not None:
                    checks.append({"stream": f"{m}.shared", "r2": v, "want": f">= {SHARED_HELD_MIN}",
                                   "ok": bool(v >= SHARED_HELD_MIN)})
            else:
                v_s, v_p = best.get((f, f"{m}.shared")), best.get((f, f"{m}.private"))
                if v_s is not None:
                    copied = bool(v_s > PRIVATE_LEAK_MAX and v_p is not None and v_s >= COPY_RATIO * v_p)
                    checks.append({"stream": f"{m}.shared", "r2": v_s, "want": f"<= {PRIVATE_LEAK_MAX}",
                                   "ok": bool(v_s <= PRIVATE_LEAK_MAX), "copied": copied})
                if v_p is not None:
                    checks.append({"stream": f"{m}.private", "r2": v_p, "want": f">= {PRIVATE_HELD_MIN}",
                                   "ok": bool(v_p >= PRIVATE_HELD_MIN)})
        if checks:
            out[f] = {"kind": kind, "modalities": mods, "checks": checks,
                      "as_planted": all(c["ok"] for c in checks)}
    return out


def cross_modal_predictions(emb, present, train, test, modalities: list[str]) -> dict | None:
    """Per modality m: (m's stream on the test split, its prediction by a ridge on the other
    modalities' streams of the same kind, concatenated, fit on train). Only samples where every
    modality is present; None when too few."""
    everyone = present.all(1)
    tr, te = train & everyone, test & everyone
    if len(modalities) < 2 or tr.sum() < MIN_TRAIN_SAMPLES or te.sum() < MIN_TEST_SAMPLES:
        return None
    out = {}
    for j, m in enumerate(modalities):
        x = emb[:, [i for i in range(len(modalities)) if i != j]].reshape(len(emb), -1)
        out[m] = (np.asarray(emb[te, j], float), ridge_predict(x[tr], emb[tr, j], x[te]))
    return out


def cross_modal_predictability(emb, present, train, test, modalities: list[str], predictions=None) -> dict[str, float]:
    """Per modality m: test R^2 (variance-weighted over the stream's k dims) of
    :func:`cross_modal_predictions`; NaN when too few samples. ``predictions``: theirs, if computed."""
    predictions = predictions or cross_modal_predictions(emb, present, train, test, modalities)
    if predictions is None:
        return {m: float("nan") for m in modalities}
    out = {}
    for m, (y, pred) in predictions.items():
        total = ((y - y.mean(0)) ** 2).sum()
        out[m] = float(1 - ((y - pred) ** 2).sum() / total) if total > 0 else float("nan")
    return out


def direction_r2(y: np.ndarray, pred: np.ndarray, rel_tol: float = 1e-6) -> list[float]:
    """Held-out R^2 of ``pred`` for ``y`` (n, k) along each direction of y's own space, largest first.

        R^2(u) = 1 - u' E u / u' S u,   S = Cov(y),  E = (y - pred)'(y - pred) / (n - 1)

    Its stationary values are the eigenvalues of I - W' E W, where W whitens S on the directions
    y spans (eigenvalues above ``rel_tol`` times the largest; a lifted low-rank code spans few).
    They do not change under any invertible linear map of y, and for one column the single value
    is the ordinary R^2 (with uncentred residuals, so a biased prediction is penalised as there).
    """
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    n = len(y)
    yc = y - y.mean(0)
    w, v = np.linalg.eigh(yc.T @ yc / (n - 1))
    keep = w > rel_tol * max(float(w.max()), 1e-300)
    if not keep.any():
        return []
    whiten = v[:, keep] / np.sqrt(w[keep])
    r = y - pred
    resid = whiten.T @ (r.T @ r / (n - 1)) @ whiten
    return sorted((1.0 - np.linalg.eigvalsh((resid + resid.T) / 2)).tolist(), reverse=True)


def cross_modal_spectrum(emb, present, train, test, modalities: list[str], predictions=None) -> dict[str, list[float]]:
    """Per modality m: :func:`direction_r2` of :func:`cross_modal_predictions`. The number of values
    at or above ``SHARED_DIRECTION_MIN`` is how many directions m shares with the others; a code wider
    than that keeps spare directions. Empty lists when too few samples."""
    predictions = predictions or cross_modal_predictions(emb, present, train, test, modalities)
    if predictions is None:
        return {m: [] for m in modalities}
    return {m: [round(v, 4) for v in direction_r2(y, pred)] for m, (y, pred) in predictions.items()}


def shared_private_dependence(shared, private, present, test, modalities: list[str], max_rows: int = 1500,
                              seed: int = 0) -> dict[str, dict]:
    """Per modality, linear and RBF CKA between its shared and private streams on the test split."""
    rng = np.random.default_rng(seed)
    out = {}
    for j, m in enumerate(modalities):
        rows = np.flatnonzero(test & present[:, j])
        if len(rows) < MIN_TEST_SAMPLES:
            out[m] = {"linear_cka": float("nan"), "rbf_cka": float("nan"), "n": int(len(rows))}
            continue
        if len(rows) > max_rows:
            rows = np.sort(rng.choice(rows, max_rows, replace=False))
        s, p = shared[rows, j].astype(np.float64), private[rows, j].astype(np.float64)
        out[m] = {"linear_cka": cka(s, p, "linear"), "rbf_cka": cka(s, p, "rbf"), "n": int(len(rows))}
    return out


def verdict(placement: dict | None, cross_shared: dict, cross_private: dict, dependence: dict,
            collapsed: list[str]) -> dict:
    """``trusted`` / ``partly`` / ``not`` with the reason in one sentence, from what was measured.

    With planted factors (synthetic runs) the planted check decides: every factor as planted ->
    trusted; at least half -> partly; else not; and not whenever a private factor is *copied* into
    its modality's shared stream (there the label "shared" says the opposite of the truth). Without them, three proxies per modality: its shared
    stream is predictable from the other modalities' shared streams (R^2 >= CROSS_MODAL_MIN) and
    more so than its private stream from theirs (gap >= CROSS_MODAL_GAP); its shared and private
    streams are nearly independent (RBF CKA <= DEPENDENCE_MAX); its shared stream has not collapsed.
    All hold -> trusted, some -> partly, none -> not. Missing measures are named, never assumed.
    """
    skipped = []
    if placement:
        ok = [f for f, v in placement.items() if v["as_planted"]]
        bad = [f for f, v in placement.items() if not v["as_planted"]]
        copied = [f for f, v in placement.items() if any(c.get("copied") for c in v["checks"])]
        frac = len(ok) / len(placement)
        level = "trusted" if not bad else "partly" if frac >= 0.5 and not copied else "not"
        reason = (f"{len(ok)} of {len(placement)} planted factors sit where they were planted"
                  + (f"; misplaced: {', '.join(bad)}" if bad else "") + " (probe R^2 on the test split)")
        if copied:
            reason += (f"; the shared stream holds {', '.join(copied)} nearly as much as the private stream does "
                       "(near-copies)")
        if collapsed:
            level = "not" if level == "not" else "partly"
            reason += f"; collapsed shared stream: {', '.join(collapsed)}"
        return {"level": level, "basis": "planted factors", "reason": reason, "skipped": skipped}
    checks, failed = 0, []
    for m, v in cross_shared.items():
        vp = cross_private.get(m, float("nan"))
        dep = dependence.get(m, {}).get("rbf_cka", float("nan"))
        if not np.isfinite(v):
            skipped.append(f"{m}: cross-modal predictability (too few samples with every modality)")
        else:
            checks += 1
            if v < CROSS_MODAL_MIN or (np.isfinite(vp) and v - vp < CROSS_MODAL_GAP):
                failed.append(f"{m}.shared is not what the other modalities carry (R^2 {v:.2f}"
                              + (f" vs private {vp:.2f})" if np.isfinite(vp) else ")"))
        if not np.isfinite(dep):
            skipped.append(f"{m}: shared/private dependence (too few test samples)")
        else:
            checks += 1
            if dep > DEPENDENCE_MAX:
                failed.append(f"{m}'s shared and private streams depend on each other (CKA {dep:.2f})")
    for m in collapsed:
        checks += 1
        failed.append(f"{m}.shared has collapsed")
    if checks == 0:
        return {"level": "not", "basis": "nothing measurable",
                "reason": "too few samples to measure the decomposition; the labels are unverified",
                "skipped": skipped}
    level = "trusted" if not failed else "not" if len(failed) >= checks else "partly"
    reason = ("every modality's shared stream is predictable from the others and independent of its private one"
              if not failed else "; ".join(failed))
    return {"level": level, "basis": "cross-modal proxies (no planted truth)", "reason": reason, "skipped": skipped}


def collapsed_streams(shared, present, test, modalities: list[str], widths: dict[str, int] | None = None) -> list[str]:
    """Modalities whose shared stream barely varies on the test split (effective rank below 1.2, or
    a spread under 1e-3 of the largest): nothing can be read from it, shared or private. A stream the
    model allows one direction (``widths``: a code pruned to width 1) has rank 1 by design, and
    collapses only by the spread."""
    from .diagnostics import effective_rank

    spreads = {m: float(shared[test & present[:, j], j].std(0).sum()) for j, m in enumerate(modalities)
               if (test & present[:, j]).sum() >= 3}
    top = max(spreads.values(), default=0.0)
    out = []
    for j, m in enumerate(modalities):
        rows = test & present[:, j]
        one_direction = (widths or {}).get(m, 2) <= 1
        if m in spreads and (spreads[m] <= 1e-3 * max(top, 1e-12)
                             or (not one_direction and effective_rank(shared[rows, j].astype(np.float64)) < 1.2)):
            out.append(m)
    return out


def measure(shared, private, present, split, modalities: list[str], latents: dict | None = None,
            factors: dict | None = None, seed: int = 0, probes=PROBES,
            encodings=None, widths: dict[str, int] | None = None) -> tuple[dict, list[dict]]:
    """Every decomposition measure of a run and its verdict: (``decomposition.json``, probe rows).

    ``split`` holds ``train`` / ``val`` / ``test`` per sample; ``latents`` and ``factors`` (synthetic
    runs) are the planted per-sample values and ground_truth.json's ``factors``. Measures a run is
    too small for are listed under ``skipped`` rather than guessed. ``probes``: the planted-factor
    probes to fit (``("linear",)`` is several times faster than the default linear + MLP).
    ``encodings`` (N, M, d), the modalities' encodings h before the split, adds probe rows for the
    stream ``<modality>.encoding``: how much of a factor the modality's encoder holds at all, the
    ceiling its two streams share (a reference; the placement checks never read it).
    ``widths``: how many directions the model lets each shared stream span
    (:meth:`DSRSDNet.shared_widths`), recorded as ``shared_widths`` and read by the collapse check.
    """
    present = np.asarray(present, bool)
    train, test = split == "train", split == "test"
    skipped = []
    rows: list[dict] = []
    placement = None
    if latents:
        if test.sum() < MIN_TEST_SAMPLES or train.sum() < MIN_TRAIN_SAMPLES:
            skipped.append(f"planted-factor probes: {int(test.sum())} test / {int(train.sum())} training samples "
                           f"(need {MIN_TEST_SAMPLES} / {MIN_TRAIN_SAMPLES})")
        else:
            rows = factor_probes(shared, private, present, train, test, latents, modalities, probes, seed)
            placement = factor_placement(rows, factors or {})
            if encodings is not None:
                held = factor_probes(encodings, None, present, train, test, latents, modalities, probes, seed)
                rows += [dict(r, stream=r["stream"].replace(".shared", ".encoding")) for r in held]
    elif factors is None:
        skipped.append("planted-factor probes: no planted truth (real data)")
    fitted = cross_modal_predictions(shared, present, train, test, modalities)  # one fit, two measures
    cross_s = cross_modal_predictability(shared, present, train, test, modalities, fitted)
    cross_p = cross_modal_predictability(private, present, train, test, modalities)
    spectrum = cross_modal_spectrum(shared, present, train, test, modalities, fitted)
    dependence = shared_private_dependence(shared, private, present, test, modalities, seed=seed)
    collapsed = collapsed_streams(shared, present, test, modalities, widths)
    planted_verdict = verdict(placement, cross_s, cross_p, dependence, collapsed) if placement else None
    proxy_verdict = verdict(None, cross_s, cross_p, dependence, collapsed)
    main = planted_verdict or proxy_verdict
    doc = {
        "verdict": {**main, "skipped": skipped + main["skipped"]},
        "proxy_verdict": proxy_verdict,
        "placement": placement,
        "cross_modal_r2": {"shared": cross_s, "private": cross_p},
        "cross_modal_spectrum": {"shared": spectrum},
        "shared_private_dependence": dependence,
        "collapsed": collapsed,
        **({"shared_widths": widths} if widths else {}),
        "thresholds": {"private_leak_max": PRIVATE_LEAK_MAX, "private_held_min": PRIVATE_HELD_MIN,
                       "copy_ratio": COPY_RATIO,
                       "shared_held_min": SHARED_HELD_MIN, "cross_modal_min": CROSS_MODAL_MIN,
                       "cross_modal_gap": CROSS_MODAL_GAP, "dependence_max": DEPENDENCE_MAX,
                       "shared_direction_min": SHARED_DIRECTION_MIN},
    }
    return doc, rows
