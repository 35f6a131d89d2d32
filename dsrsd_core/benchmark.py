"""``dsrsd benchmark``: DSRSD-Net, its baselines and its ablations on the same samples and splits.

One *cell* is one model trained with one seed (the seed sets the learner split and the
initialisation, exactly as ``dsrsd train --seed``). Every cell is written on its own, atomically,
to ``OUT/cells/<model>/seed<k>.json`` as soon as it is done, so an interrupted benchmark resumes
where it stopped: a cell already on disk is not rerun (its settings must match, else the
benchmark refuses and asks for a new ``--out``).

A cell holds, for the model's best (early-stopped) state:

* ``metrics``: accuracy, macro-F1 and AUC on train / val / test;
* ``robustness``: the test metrics with each single modality removed at test time (the model's
  own missing-modality path: the presence mask; NaN features for gradient-boosted trees);
* ``dominance``: exact Shapley values over the modalities (:mod:`.explain.modality_shapley`) of
  each test sample's predicted-class probability; the share of mean |phi| held by each modality,
  the top share and the normalised entropy of the shares;
* ``planted`` (synthetic data with ``ground_truth.json``): :func:`planted_truth_check` on the
  modality importances: rank correlation with the planted order, and whether the high-variance,
  label-free modality (the dominance trap) gets the most attribution.

After the grid, every cell on disk is aggregated into ``results.csv`` (columns ``model, seed,
split, metric, value``), ``results.md`` (tables) and ``benchmark.json`` (arguments, data
fingerprint, wall times). See docs/benchmarks.md.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .baselines.gbm import GBMModel
from .errors import DsrsdError
from .io import atomic_path, read_json, write_json
from .models import build_model, check_name, display_name, model_config, model_names
from .train.config import Config

CELL_VERSION = 1
METRICS = ("auc", "macro_f1", "accuracy")
SPLITS = ("train", "val", "test")
REFERENCE = "dsrsd_net"


# ---- one cell -----------------------------------------------------------------------------------
def _metrics(y, proba, classes) -> dict:
    from .train.metrics import classification_metrics

    m = classification_metrics(y, proba, classes)
    return {k: m[k] for k in ("n", *METRICS)}


def evaluate(proba_fn, full_proba: np.ndarray, data, split: np.ndarray, truth: dict | None) -> dict:
    """Metrics per split, test-time modality removal, modality Shapley dominance, planted check.

    ``proba_fn(present (n_test, M) bool) -> (n_test, C)`` predicts the test samples with the given
    presence; ``full_proba`` (N, C) is the model's prediction for every sample.
    """
    from .explain.modality_shapley import dominance, modality_shapley, predicted_class_phi
    from .explain.planted import planted_truth_check

    mods = data.names
    test = split == "test"
    y_test = data.y[test]
    present = data.present[test]
    out = {"metrics": {s: _metrics(data.y[split == s], full_proba[split == s], data.classes) for s in SPLITS}}
    robustness = {}
    for j, m in enumerate(mods):
        p = present.copy()
        p[:, j] = False
        robustness[m] = _metrics(y_test, proba_fn(p), data.classes)
    out["robustness"] = robustness
    sh = modality_shapley(proba_fn, present)
    efficiency = np.abs(sh["phi"].sum(1) - (sh["full"] - sh["empty"])).max() if len(y_test) else 0.0
    out["shapley_efficiency_max_error"] = float(efficiency)
    out["full_matches_prediction_max_error"] = float(np.abs(sh["full"] - full_proba[test]).max()) if len(y_test) else 0.0
    dom = dominance(predicted_class_phi(sh), mods)
    out["dominance"] = dom
    if truth is not None:
        pt = planted_truth_check(dom["mean_abs"], None, truth)
        out["planted"] = {k: pt[k] for k in ("expected_ranking", "measured_ranking", "rank_correlation",
                                             "dominance_trap", "trap_share", "trap_wins")}
    return out


def run_cell(name: str, data, split: np.ndarray, cfg: Config, device: str = "auto", truth: dict | None = None) -> dict:
    """Train model ``name`` on ``split`` with settings ``cfg`` (an ablation's changes applied here) and evaluate it."""
    from .train.batching import select, to_tensors
    from .train.trainer import predict, train_model

    t0 = time.perf_counter()
    cfg = model_config(name, cfg)  # idempotent: the ablation's settings drive training, not only the model
    torch.manual_seed(cfg.seed)
    model = build_model(data.specs(), len(data.classes), cfg, name)
    test_idx = np.flatnonzero(split == "test")
    if isinstance(model, GBMModel):
        model.fit(data, split, cfg)
        t_train = time.perf_counter() - t0
        full = model.predict_proba()
        proba_fn = lambda present: model.predict_proba(present, rows=test_idx)  # noqa: E731
        best_epoch, epochs_run, per_epoch = model.best_iter, len(model.history), None
        extra = {"best_iterations": model.best_iter}
    else:
        result = train_model(lambda: model, data, split, cfg, device, progress=False)
        t_train = time.perf_counter() - t0
        model = result.model.eval()
        full = result.proba
        sub = select(to_tensors(data), torch.as_tensor(test_idx))

        def proba_fn(present):
            return predict(model, {**sub, "present": torch.as_tensor(present, dtype=torch.bool)})["proba"]

        best_epoch, epochs_run, per_epoch = result.best_epoch, len(result.history), result.seconds["per_epoch_mean"]
        extra = {}
    t1 = time.perf_counter()
    cell = evaluate(proba_fn, full, data, split, truth)
    seconds = {"train": t_train, "evaluate": time.perf_counter() - t1, "total": time.perf_counter() - t0}
    if per_epoch is not None:
        seconds["per_epoch_mean"] = per_epoch
    return {"best_epoch": int(best_epoch), "epochs_run": int(epochs_run), **extra, **cell, "seconds": seconds}


# ---- the grid -----------------------------------------------------------------------------------
def data_fingerprint(data) -> str:
    """A short hash of the input files' fingerprint, the samples and their presence."""
    blob = json.dumps({"files": data.report.get("fingerprint"), "n": len(data),
                       "presentations": data.report.get("presentations_selected", [])}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def cell_path(out: Path, name: str, seed: int) -> Path:
    return out / "cells" / name / f"seed{seed}.json"


def _load_truth(data_dir: Path) -> dict | None:
    path = Path(data_dir) / "ground_truth.json"
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path} is unreadable ({e}); regenerate the synthetic cohort") from None


def _check_cell(cell: dict, path: Path, cfg: Config, fingerprint: str) -> None:
    expected = _jsonable(cfg.to_dict())
    if cell.get("cell_version") != CELL_VERSION or cell.get("data_fingerprint") != fingerprint:
        raise DsrsdError(f"{path} was made by another dsrsd version or from other data; "
                         "use a new --out for this benchmark")
    if cell.get("config") != expected:
        diff = sorted(k for k in set(expected) | set(cell.get("config", {}))
                      if expected.get(k) != cell.get("config", {}).get(k))
        raise DsrsdError(f"{path} was trained with other settings ({', '.join(diff)}); finished cells are reused "
                         "only with the same settings: use a new --out for this benchmark")


def _read_cell(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path} is unreadable ({e}); delete it to rerun that cell") from None


def run_benchmark(data_arg: str, out_dir: str | Path, seeds: int | list[int], models: list[str] | None = None,
                  target: str = "at_risk", task: str = "final_outcome", presentations: list[str] | None = None,
                  config: Config | None = None, device: str = "auto", progress: bool = True,
                  command: str | None = None) -> dict:
    """Train and evaluate every (model, seed) cell not yet on disk, then aggregate all cells in ``out_dir``.

    ``seeds``: a count (seeds 0 … n-1) or a list. ``models``: names (see
    :func:`dsrsd_core.models.model_names`); default the whole grid. ``config``: base settings
    (epochs, patience, sizes …); task, target and presentations override it. Returns ``benchmark.json``.
    """
    from .data.splits import learner_split
    from .train.pipeline import prepare
    from .train.trainer import resolve_device

    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise DsrsdError("--seeds must be at least 1")
    base = config or Config()
    base = Config.from_dict({**base.to_dict(), "task": task, "target": target,
                             "presentations": list(presentations or [])}, "benchmark settings")
    dev = str(resolve_device(device))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DsrsdError(f"--out {out} exists and is a file, not a directory")
    data, _, data_dir = prepare(data_arg, replace(base, seed=seeds[0]), progress)
    modalities = data.names
    models = list(models) if models else model_names(modalities)
    for name in models:
        check_name(name, modalities)
    if len(set(models)) != len(models):
        raise DsrsdError("--models names a model twice")
    fingerprint = data_fingerprint(data)
    truth = _load_truth(data_dir)
    meta_path = out / "benchmark.json"
    previous = _read_cell(meta_path) if meta_path.exists() else None
    setup = {"data": data_arg if data_arg == "synthetic" else str(data_dir), "task": base.task, "target": base.target,
             "presentations": base.presentations, "data_fingerprint": fingerprint}
    same = ("task", "target", "presentations", "data_fingerprint")
    if previous is not None and {k: previous.get(k) for k in same} != _jsonable({k: setup[k] for k in same}):
        raise DsrsdError(f"{out} holds a benchmark of other data or another task ({meta_path}); use a new --out")

    cells = [(m, s) for m in models for s in seeds]
    splits: dict[int, np.ndarray] = {}
    ran, skipped = [], []
    # the invocation is on record from the start and after every cell, so an interrupted run's time counts too
    invocation = {"started": started, "command": command, "models": models, "seeds": seeds, "device": dev,
                  "cells_run": 0, "cells_skipped": 0, "wall_seconds": 0.0, "finished": False}
    earlier = (previous or {}).get("invocations", [])
    record = {**(previous or {}), **setup, "invocations": earlier + [invocation]}

    def save_record():
        invocation.update(cells_run=len(ran), cells_skipped=len(skipped), wall_seconds=time.perf_counter() - t_start)
        write_json(meta_path, record)

    for name, seed in cells:  # refuse before anything is recorded or trained
        path = cell_path(out, name, seed)
        if path.exists():
            _check_cell(_read_cell(path), path, model_config(name, replace(base, seed=seed)), fingerprint)
    save_record()
    bar = tqdm(cells, desc="benchmark", unit="cell", disable=not progress)
    for name, seed in bar:
        cfg = model_config(name, replace(base, seed=seed))
        path = cell_path(out, name, seed)
        bar.set_postfix_str(f"{name} seed {seed}")
        if path.exists():
            skipped.append(f"{name}/seed{seed}")
            continue
        if seed not in splits:
            splits[seed] = learner_split(data.meta["id_student"].to_numpy(), data.y, seed,
                                         base.val_fraction, base.test_fraction)
        result = run_cell(name, data, splits[seed], cfg, dev, truth)
        write_json(path, {"cell_version": CELL_VERSION, "model": name, "display_name": display_name(name),
                          "seed": seed, "config": _jsonable(cfg.to_dict()), "data_fingerprint": fingerprint,
                          "n_samples": len(data), "device": dev,
                          "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **result})
        ran.append(f"{name}/seed{seed}")
        save_record()
    bar.close()

    all_cells = collect_cells(out, base, fingerprint)
    invocation.update(cells_run=len(ran), cells_skipped=len(skipped), wall_seconds=time.perf_counter() - t_start,
                      finished=True)
    info = {**setup, "source": str(data_dir), "n_samples": len(data), "classes": data.classes,
            "modalities": modalities, "modality_coverage": dict(zip(modalities, data.present.mean(0).round(4).tolist())),
            "files": data.report.get("fingerprint"), "planted_truth": truth is not None,
            "config": _jsonable(base.to_dict()),
            "invocations": earlier + [invocation],
            "cells": len(all_cells), "cell_seconds_total": float(sum(c["seconds"]["total"] for c in all_cells))}
    frame = results_frame(all_cells, modalities)
    with atomic_path(out / "results.csv") as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results_markdown(all_cells, info))
    write_json(meta_path, info)
    return info


def collect_cells(out: Path, base: Config, fingerprint: str) -> list[dict]:
    """Every finished cell in ``out`` (checked against the base settings), grid order."""
    found = []
    for path in sorted((out / "cells").glob("*/seed*.json")):
        cell = _read_cell(path)
        _check_cell(cell, path, model_config(cell["model"], replace(base, seed=cell["seed"])), fingerprint)
        found.append(cell)
    return sorted(found, key=lambda c: (_order(c["model"]), c["seed"]))


def _order(name: str) -> tuple:
    """Grid order: DSRSD-Net, single modalities, fusion baselines, trees, ablations."""
    if name == REFERENCE:
        return (0, name)
    if name.startswith("single_"):
        return (1, name)
    ordered = model_names([])
    return (2 + ordered.index(name) if name in ordered else 99, name)


# ---- aggregation --------------------------------------------------------------------------------
def results_frame(cells: list[dict], modalities: list[str]) -> pd.DataFrame:
    """The long table: one row per model x seed x split x metric."""
    rows = []

    def add(cell, split, metric, value):
        value = float(value) if value is not None else math.nan
        rows.append({"model": cell["model"], "seed": cell["seed"], "split": split, "metric": metric, "value": value})

    for c in cells:
        for s in SPLITS:
            for k in METRICS:
                add(c, s, k, c["metrics"][s][k])
        for m, r in c["robustness"].items():
            for k in METRICS:
                add(c, "test", f"{k}_without_{m}", r[k])
        add(c, "test", "dominance_top_share", c["dominance"]["top_share"])
        add(c, "test", "dominance_entropy", c["dominance"]["entropy"])
        for m, v in c["dominance"]["share"].items():
            add(c, "test", f"share_{m}", v)
        if c.get("planted"):
            add(c, "test", "planted_rank_correlation", c["planted"]["rank_correlation"])
            add(c, "test", "planted_trap_wins", float(c["planted"]["trap_wins"]))
        add(c, "train", "best_epoch", c["best_epoch"])
        add(c, "train", "seconds", c["seconds"]["total"])
    return pd.DataFrame(rows, columns=["model", "seed", "split", "metric", "value"])


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _mean_std(values) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def paired_difference(model_values: dict[int, float], ref_values: dict[int, float]) -> tuple[float, float, int]:
    """Mean of (model - reference) over the seeds both have, the paired t-test p-value, n."""
    from scipy.stats import ttest_rel

    seeds = sorted(set(model_values) & set(ref_values))
    a = np.array([model_values[s] for s in seeds], dtype=float)
    b = np.array([ref_values[s] for s in seeds], dtype=float)
    if not len(seeds):
        return math.nan, math.nan, 0
    diff = float(np.mean(a - b))
    p = math.nan
    if len(seeds) >= 2 and np.std(a - b) > 0:
        p = float(ttest_rel(a, b).pvalue)
    return diff, p, len(seeds)


def _by_model(cells: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in cells:
        out.setdefault(c["model"], []).append(c)
    return out


def results_markdown(cells: list[dict], info: dict) -> str:
    groups = _by_model(cells)
    mods = info["modalities"]
    ref = {k: {c["seed"]: c["metrics"]["test"][k] for c in groups.get(REFERENCE, [])} for k in METRICS}
    last = info["invocations"][-1]
    lines = [f"# Benchmark: {info['task']} / {info['target']} on {info['data']}", ""]
    if last.get("command"):
        lines += ["Command (rerun it to resume or regenerate; finished cells are not rerun):", "",
                  f"    {last['command']}", ""]
    lines += [f"- samples: {info['n_samples']:,}"
              + (f" from presentations {', '.join(info['presentations'])}" if info["presentations"] else "")
              + f"; modality coverage: {', '.join(f'{m} {v:.0%}' for m, v in info['modality_coverage'].items())}",
              f"- cells: {len(cells)} ({len(groups)} models); this invocation ran {last['cells_run']} and reused "
              f"{last['cells_skipped']} in {last['wall_seconds'] / 60:.1f} min wall time on {last['device']}; "
              f"all {len(info['invocations'])} invocation(s) together: "
              f"{sum(i.get('wall_seconds') or 0 for i in info['invocations']) / 60:.1f} min wall time; "
              f"training + evaluation of all cells: {info['cell_seconds_total'] / 60:.1f} min",
              f"- settings: epochs {info['config']['epochs']}, patience {info['config']['patience']}, "
              f"d_model {info['config']['d_model']}, batch {info['config']['batch_size']}, lr {info['config']['lr']}; "
              f"data fingerprint {info['data_fingerprint']}", ""]

    lines += ["## Test metrics", "",
              "Mean ± standard deviation over seeds (each seed: its own learner split and initialisation). "
              "Δ = model − DSRSD-Net on the same seeds; p = paired t-test across seeds "
              "(scipy.stats.ttest_rel). With this few seeds the test has little power: read p as a rough "
              "guide, not a verdict.", "",
              "| model | seeds | AUC | macro-F1 | accuracy | Δ AUC (p) | Δ macro-F1 (p) | Δ accuracy (p) | s / cell |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, cs in groups.items():
        row = [display_name(name) + ("" if name == display_name(name) else f" (`{name}`)"), str(len(cs))]
        row += [_mean_std([c["metrics"]["test"][k] for c in cs]) for k in METRICS]
        for k in METRICS:
            if name == REFERENCE or not ref[k]:
                row.append("—")
            else:
                d, p, n = paired_difference({c["seed"]: c["metrics"]["test"][k] for c in cs}, ref[k])
                row.append(f"{d:+.3f} ({_fmt(p, 2)})" if n else "—")
        row.append(f"{np.mean([c['seconds']['total'] for c in cs]):.0f}")
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Robustness: test AUC with one modality removed at test time", "",
              "The modality is removed through the model's own missing-modality path (presence mask; NaN "
              "features for the trees). Δ in brackets: change from the full model's AUC.", "",
              "| model | full | " + " | ".join(f"without {m}" for m in mods) + " |",
              "|---|---|" + "---|" * len(mods)]
    for name, cs in groups.items():
        full = np.mean([c["metrics"]["test"]["auc"] for c in cs])
        row = [display_name(name), _mean_std([c["metrics"]["test"]["auc"] for c in cs])]
        for m in mods:
            v = [c["robustness"][m]["auc"] for c in cs]
            row.append(f"{_mean_std(v)} ({np.mean(v) - full:+.3f})")
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Modality dominance", "",
              "Exact Shapley values over the modalities (removal = the model's missing-modality path) of "
              "each test sample's predicted-class probability; share = that modality's share of mean |phi|. "
              "Top share: 1/M when balanced, 1 when one modality holds everything; entropy of the shares "
              "normalised by log M (1 = balanced, 0 = one modality).", "",
              "| model | top modality (seeds) | top share | entropy | " + " | ".join(f"share {m}" for m in mods) + " |",
              "|---|---|---|---|" + "---|" * len(mods)]
    for name, cs in groups.items():
        tops = pd.Series([c["dominance"]["top"] for c in cs]).value_counts()
        row = [display_name(name), ", ".join(f"{t} ({n})" for t, n in tops.items()),
               _mean_std([c["dominance"]["top_share"] for c in cs]), _mean_std([c["dominance"]["entropy"] for c in cs])]
        row += [_mean_std([c["dominance"]["share"][m] for c in cs]) for m in mods]
        lines.append("| " + " | ".join(row) + " |")

    planted = [c for c in cells if c.get("planted")]
    if planted:
        p0 = planted[0]["planted"]
        lines += ["", "## Planted truth (synthetic cohort)", "",
                  f"Expected modality ranking (ground_truth.json): {' > '.join(p0['expected_ranking'])}; "
                  f"dominance trap (largest raw variance, no label signal): **{p0['dominance_trap']}**. "
                  "Rank correlation: Spearman between each model's modality importance (mean |phi|) and the "
                  "planted order (n/a when all importances tie; a single-modality model gives the modalities it "
                  "never reads a tie at 0, so its correlation says little).", "",
                  "| model | rank correlation | trap share | trap wins (seeds) | measured ranking (first seed) |",
                  "|---|---|---|---|---|"]
        for name, cs in _by_model(planted).items():
            wins = sum(bool(c["planted"]["trap_wins"]) for c in cs)
            lines.append("| " + " | ".join([
                display_name(name), _mean_std([c["planted"]["rank_correlation"] for c in cs]),
                _mean_std([c["planted"]["trap_share"] for c in cs]), f"{wins} / {len(cs)}",
                " > ".join(cs[0]["planted"]["measured_ranking"])]) + " |")
    lines += ["", f"Generated by `dsrsd benchmark` at {last['started']} (UTC); cells in `cells/`, long table in "
              "`results.csv` (model, seed, split, metric, value).", ""]
    return "\n".join(lines)
