"""``dsrsd rerun RUN --out NEW``: repeat a run from what its run.json and config.json record, and
say whether the new run matches the old one.

On CPU with the same code, data, config and seed, a run is deterministic: the comparison is bit for
bit (weights, ``metrics.json`` splits, ``samples.parquet``, history without timings,
``explain/shapley.parquet``). Where they differ, the largest absolute difference is given, so a
GPU rerun (not bit-deterministic) can be judged against a tolerance.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .run_dir import Run

COMPARED = ("model.pt weights", "metrics.json", "samples.parquet", "history.parquet (timings aside)",
            "explain/shapley.parquet")
LOGGED_LATER = ("lr",)  # history columns added after runs were first recorded


def _frame_difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"columns or rows differ ({a.shape} vs {b.shape})"
    worst, where = 0.0, None
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if pd.api.types.is_float_dtype(a[c]) and pd.api.types.is_float_dtype(b[c]):
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if not same.all():
                d = float(np.nanmax(np.abs(x - y)))
                if d >= worst:
                    worst, where = d, c
        elif not pd.Series(x).equals(pd.Series(y)):
            return f"column '{c}' differs"
    return None if where is None else f"largest difference {worst:.3g} (column '{where}')"


def compare_runs(old: Run, new: Run) -> dict[str, str | None]:
    """What differs between two runs: compared item -> None (bit-identical) or a description."""
    import torch

    out: dict[str, str | None] = {}
    wa = torch.load(old.path / "model.pt", map_location="cpu", weights_only=True)
    wb = torch.load(new.path / "model.pt", map_location="cpu", weights_only=True)
    if wa.keys() != wb.keys():
        out["model.pt weights"] = "different parameters"
    else:
        diffs = [float((wa[k].double() - wb[k].double()).abs().max()) for k in wa
                 if wa[k].shape != wb[k].shape or not torch.equal(wa[k], wb[k])]
        out["model.pt weights"] = None if not diffs else f"{len(diffs)} tensors differ, largest difference {max(diffs):.3g}"
    splits = ("train", "val", "test")
    ma = {s: old.metrics.get(s) for s in splits}
    mb = {s: new.metrics.get(s) for s in splits}
    same = json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)
    out["metrics.json"] = None if same else "; ".join(
        f"{s} {k} {ma[s].get(k)} vs {mb[s].get(k)}" for s in splits for k in ("auc", "macro_f1", "accuracy")
        if ma[s].get(k) != mb[s].get(k)) or "per-class values differ"
    out["samples.parquet"] = _frame_difference(old.samples, new.samples)
    # timings differ run to run; columns a later version logs (the learning rate) an older run cannot have
    later = [c for c in LOGGED_LATER if c in new.history and c not in old.history]
    out["history.parquet (timings aside)"] = _frame_difference(old.history.drop(columns="seconds", errors="ignore"),
                                                              new.history.drop(columns=["seconds", *later], errors="ignore"))
    if old.has_table("shapley") and new.has_table("shapley"):
        out["explain/shapley.parquet"] = _frame_difference(old.table("shapley"), new.table("shapley"))
    return out


def describe(old: Run, new: Run, differences: dict[str, str | None]) -> tuple[str, bool]:
    matched = all(v is None for v in differences.values())
    lines = []
    if matched:
        lines.append(f"{new.path} matches {old.path} bit for bit: {', '.join(differences)}")
    else:
        lines.append(f"{new.path} does NOT match {old.path}:")
        lines += [f"  {k}: {'identical' if v is None else v}" for k, v in differences.items()]
    was, now = old.info.get("code_version", {}), new.info.get("code_version", {})
    for key in ("git_commit", "torch", "package"):
        if was.get(key) and now.get(key) and was[key] != now[key]:
            lines.append(f"  note: {key} was {was[key]}, now {now[key]}")
    if old.info.get("cpu_threads") != new.info.get("cpu_threads"):
        lines.append(f"  note: torch used {old.info.get('cpu_threads')} CPU threads then, {new.info.get('cpu_threads')} "
                     f"now; float sums (hence the last bits) depend on it")
    if old.info.get("device") != new.info.get("device"):
        lines.append(f"  note: trained on {old.info.get('device')} then, on {new.info.get('device')} now "
                     f"(GPU runs are not bit-deterministic)")
    return "\n".join(lines), matched


def rerun_command(old: Run) -> dict:
    """The training command ``old`` was made with, as ``dsrsd train`` takes it."""
    source = old.info.get("data", {}).get("source")
    if not source or source == "random":
        raise_missing(old)
    from .train.config import Config

    config = Config.from_record(old.config, str(old.path / "config.json")).to_dict()
    return {"config": config, "data": source, "expect_fingerprint": old.info["data"].get("fingerprint")}


def raise_missing(old: Run):
    from .errors import DsrsdError

    raise DsrsdError(f"{old.path}: run.json does not name the data it was trained on; it cannot be repeated")
