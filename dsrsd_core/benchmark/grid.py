"""The benchmark grid: every (model, seed) cell not yet on disk, then ``results.csv``.

Every cell is written on its own, atomically, to ``OUT/cells/<model>/seed<k>.json`` as soon as it
is done, so an interrupted benchmark resumes where it stopped: a cell already on disk is not rerun
(its settings must match, else the benchmark refuses and asks for a new ``--out``). After the grid,
every cell on disk is aggregated into ``results.csv`` (columns ``model, seed, split, metric,
value``), ``results.md`` (:mod:`.tables`) and ``benchmark.json`` (arguments, data fingerprint,
wall times).
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
from tqdm.auto import tqdm

from ..errors import DsrsdError
from ..io import atomic_path, read_json, write_json
from ..models import check_name, display_name, model_config, model_names
from ..train.config import BEFORE_IT_EXISTED, Config
from .cells import METRICS, REFERENCE, SPLITS, run_cell
from .tables import results_markdown

CELL_VERSION = 3  # 2: cells hold the decomposition measures of models with shared/private streams;
#                 3: measured with the linear and MLP probes of `dsrsd explain` (2: linear only)


def data_fingerprint(data) -> str:
    """A short hash of the input files' fingerprint, the samples and their presence."""
    blob = json.dumps({"files": data.report.get("fingerprint"), "n": len(data),
                       "presentations": data.report.get("presentations_selected", [])}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def input_fingerprint(data) -> str:
    """A short hash of every modality's input columns: a loader that adds or renames features (the same
    files, other inputs) makes the cells it wrote before incomparable with new ones."""
    blob = json.dumps({name: [list(m.feature_names), list(m.step_names or []), list(m.cat_names)]
                       for name, m in data.modalities.items()}, sort_keys=True)
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


def _check_cell(cell: dict, path: Path, cfg: Config, fingerprint: str, inputs: str) -> None:
    expected = _jsonable(cfg.to_dict())
    if cell.get("cell_version") != CELL_VERSION or cell.get("data_fingerprint") != fingerprint:
        raise DsrsdError(f"{path} was made by another dsrsd version or from other data; "
                         "use a new --out for this benchmark")
    # cells written before the input columns were recorded carry no "inputs" and are taken on trust
    if cell.get("inputs", inputs) != inputs:
        raise DsrsdError(f"{path} was made from other input columns of the same files (a newer loader); "
                         "use a new --out for this benchmark")
    # a setting added after the cell was written had, for that cell, the value it had before it existed
    recorded = _jsonable({**BEFORE_IT_EXISTED, **cell.get("config", {})})
    if recorded != expected:
        diff = sorted(k for k in set(expected) | set(recorded) if expected.get(k) != recorded.get(k))
        raise DsrsdError(f"{path} was trained with other settings ({', '.join(diff)}); finished cells are reused "
                         "only with the same settings: use a new --out for this benchmark")


def _read_cell(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{path} is unreadable ({e}); delete it to rerun that cell") from None


def run_benchmark(data_arg: str, out_dir: str | Path, seeds: int | list[int], models: list[str] | None = None,
                  target: str = "at_risk", task: str = "final_outcome", presentations: list[str] | None = None,
                  config: Config | None = None, split: str | None = None, device: str = "auto", progress: bool = True,
                  command: str | None = None) -> dict:
    """Train and evaluate every (model, seed) cell not yet on disk, then aggregate all cells in ``out_dir``.

    ``seeds``: a count (seeds 0 … n-1) or a list. ``models``: names (see
    :func:`dsrsd_core.models.model_names`); default the whole grid. ``config``: base settings
    (epochs, patience, sizes …); task, target, presentations and ``split`` ("learner" / "temporal";
    default the config's) override it. Returns ``benchmark.json``.
    """
    from ..train.pipeline import prepare
    from ..train.trainer import resolve_device

    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds or min(seeds) < 0:
        raise DsrsdError("--seeds must be at least 1")
    base = config or Config()
    base = Config.from_dict({**base.to_dict(), "task": task, "target": target,
                             "presentations": list(presentations or []), "split": split or base.split},
                            "benchmark settings")
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
    fingerprint, inputs = data_fingerprint(data), input_fingerprint(data)
    # the planted truth describes the final outcome; next-step targets are other labels
    truth = _load_truth(data_dir) if base.task == "final_outcome" else None
    meta_path = out / "benchmark.json"
    previous = _read_cell(meta_path) if meta_path.exists() else None
    setup = {"data": data_arg if data_arg == "synthetic" else str(data_dir), "task": base.task, "target": base.target,
             "presentations": base.presentations, "split": base.split, "data_fingerprint": fingerprint}
    same = ("task", "target", "presentations", "split", "data_fingerprint")
    if previous is not None and {k: previous.get(k, "learner" if k == "split" else None) for k in same} != _jsonable({k: setup[k] for k in same}):
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
            _check_cell(_read_cell(path), path, model_config(name, replace(base, seed=seed)), fingerprint, inputs)
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
            splits[seed] = _seed_data(data_arg, data, base, seed, progress)
        result = run_cell(name, *splits[seed], cfg, dev, truth)
        write_json(path, {"cell_version": CELL_VERSION, "model": name, "display_name": display_name(name),
                          "seed": seed, "config": _jsonable(cfg.to_dict()), "data_fingerprint": fingerprint,
                          "inputs": inputs,
                          "n_samples": len(data), "device": dev,
                          "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **result})
        ran.append(f"{name}/seed{seed}")
        save_record()
    bar.close()

    all_cells = collect_cells(out, base, fingerprint, inputs)
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


def _seed_data(data_arg: str, data, base: Config, seed: int, progress: bool):
    """(samples, split) of one seed. Next-step samples come from :func:`prepare` per seed: their
    split may be the files' own, and knowledge-tracing difficulty features depend on it."""
    from ..data.splits import make_split
    from ..train.pipeline import prepare

    if base.task == "next_step":
        seeded, split, _ = prepare(data_arg, replace(base, seed=seed), progress)
        return seeded, split
    return data, make_split(data.meta, data.y, base.split, seed, base.val_fraction, base.test_fraction)


def collect_cells(out: Path, base: Config, fingerprint: str, inputs: str) -> list[dict]:
    """Every finished cell in ``out`` (checked against the base settings), grid order."""
    found = []
    for path in sorted((out / "cells").glob("*/seed*.json")):
        cell = _read_cell(path)
        _check_cell(cell, path, model_config(cell["model"], replace(base, seed=cell["seed"])), fingerprint, inputs)
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
        d = c.get("decomposition")
        if d:
            add(c, "test", "decomp_verdict", d["verdict_score"])
            add(c, "test", "decomp_shared_attribution", d["shared_attribution"])
            if d.get("planted_shared_fraction") is not None:
                add(c, "test", "decomp_planted_shared_fraction", d["planted_shared_fraction"])
            for f, per_stream in d["r2"].items():
                for stream, v in per_stream.items():
                    add(c, "test", f"r2_{f}_{stream}", v)
            for f, ok in d["placed"].items():
                add(c, "test", f"placed_{f}", float(ok))
            for m in modalities:
                add(c, "test", f"cross_shared_{m}", d["cross_shared"].get(m))
                add(c, "test", f"cross_private_{m}", d["cross_private"].get(m))
                add(c, "test", f"cka_{m}", d["cka"].get(m))
                if m in d.get("shared_directions", {}):  # cells written before it have none
                    add(c, "test", f"shared_directions_{m}", d["shared_directions"][m])
        add(c, "train", "best_epoch", c["best_epoch"])
        add(c, "train", "seconds", c["seconds"]["total"])
    return pd.DataFrame(rows, columns=["model", "seed", "split", "metric", "value"])
