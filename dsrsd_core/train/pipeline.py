"""From a data argument and a Config to the samples and split every model is trained on.

``dsrsd train`` and ``dsrsd benchmark`` both go through :func:`prepare`, so DSRSD-Net and
every baseline see the same samples and the same learner split for a given seed;
``dsrsd explain`` rebuilds a run's samples with :func:`load_training_data` through the same
resolve -> load -> select steps (:func:`load_samples`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.cache import load_cached, synthetic_dir
from ..data.dataset import MultimodalData
from ..data.splits import make_split
from ..errors import DsrsdError
from .config import Config


def resolve_data(arg: str, progress: bool = False) -> Path:
    """'synthetic' -> the default synthetic cohort (generated once into the cache); else a folder."""
    if arg == "synthetic":
        return synthetic_dir(progress=progress)
    path = Path(arg)
    if not path.is_dir():
        raise DsrsdError(f"data directory {path} does not exist (give a folder with the OULAD tables, or 'synthetic')")
    return path


def select_presentations(data: MultimodalData, presentations: list[str]) -> MultimodalData:
    """Keep samples of the named presentations ("AAA 2013J"); all when the list is empty."""
    if not presentations:
        return data
    names = (data.meta["code_module"].astype(str) + " " + data.meta["code_presentation"].astype(str)).to_numpy()
    unknown = sorted(set(presentations) - set(names))
    if unknown:
        raise DsrsdError(f"presentation(s) {', '.join(unknown)} not in the data; available: "
                         f"{', '.join(sorted(set(names)))}")
    subset = data.take(np.flatnonzero(np.isin(names, presentations)))
    subset.report = {**data.report, "presentations_selected": list(presentations), "n_samples": len(subset)}
    return subset


def load_samples(data_dir: Path, target: str, cutoff_fraction: float, presentations: list[str],
                 progress: bool = False) -> MultimodalData:
    """The (cached) samples for ``target`` at ``cutoff_fraction``, restricted to ``presentations``."""
    data = load_cached(data_dir, target=target, cutoff_fraction=cutoff_fraction, progress=progress)
    return select_presentations(data, presentations)


def prepare(data_arg: str, cfg: Config, progress: bool = False) -> tuple[MultimodalData, np.ndarray, Path]:
    """Load (cached) samples for ``cfg``'s task, restrict to its presentations, split them by
    ``cfg.split`` (by learner, or by time: :func:`dsrsd_core.data.splits.temporal_split`). Next-step
    samples come from a knowledge-tracing folder (:func:`prepare_next_step`)."""
    if cfg.task == "next_step":
        return prepare_next_step(data_arg, cfg, progress)
    if cfg.task != "final_outcome":
        raise DsrsdError(f"unknown task {cfg.task!r}; use --task final_outcome or next_step")
    data_dir = resolve_data(data_arg, progress)
    data = load_samples(data_dir, cfg.target, cfg.cutoff_fraction, cfg.presentations, progress)
    if len(np.unique(data.y)) < 2:
        raise DsrsdError("the selected samples hold only one class; cannot train")
    split = make_split(data.meta, data.y, cfg.split, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    return data, split, data_dir


def is_oulad(data_dir: Path) -> bool:
    from ..data.tables import find_table

    return find_table(data_dir, "courses") is not None


def load_next_step_samples(data_dir: Path, target: str = "at_risk", presentations: list[str] | None = None,
                           progress: bool = False, kt_window: int = Config.kt_window) -> MultimodalData:
    """The (cached) next-step samples of ``data_dir``: a knowledge-tracing source detected from its
    files (the last ``kt_window`` responses seen one by one), or an OULAD folder (the next
    assessment's result, :mod:`dsrsd_core.data.oulad_next`)."""
    from ..data.kt import detect_source, load_next_step_cached

    if detect_source(data_dir) is None:
        if is_oulad(data_dir):
            from ..data.oulad_next import load_next_assessment_cached

            return load_next_assessment_cached(data_dir, target, presentations, progress)
        raise DsrsdError(f"{data_dir}: no knowledge-tracing files found for --task next_step "
                         "(preprocessed_data*.csv, skill_builder_data*.csv, or EdNet-KT1 logs with questions.csv)")
    return load_next_step_cached(data_dir, window=kt_window)


def prepare_next_step(data_arg: str, cfg: Config, progress: bool = False) -> tuple[MultimodalData, np.ndarray, Path]:
    """Next-response samples of a knowledge-tracing folder, split by learner (or by the files' own
    user-disjoint train/test, which is kept); or next-assessment samples of an OULAD folder (or the
    synthetic cohort), split by learner."""
    from ..data.kt.difficulty import add_difficulty
    from ..data.kt.split import kt_split

    if cfg.split != "learner":
        raise DsrsdError(f"--split {cfg.split} is not available for next_step; next-step samples are split by "
                         "learner (or by the folder's own train/test files)")
    data_dir = resolve_data(data_arg, progress)
    data = load_next_step_samples(data_dir, cfg.target, cfg.presentations, progress, cfg.kt_window)
    if data.report.get("source_kind") == "oulad":
        split = make_split(data.meta, data.y, "learner", cfg.seed, cfg.val_fraction, cfg.test_fraction)
        return data, split, data_dir
    split = kt_split(data, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    return add_difficulty(data, split), split, data_dir


def load_training_data(run, progress: bool = False) -> MultimodalData:
    """Rebuild the samples a run (:class:`dsrsd_core.run_dir.Run`) was trained on, from its source,
    refusing data that changed since training."""
    source = run.info["data"]["source"]
    data_dir = synthetic_dir(progress=progress) if source == "synthetic" else Path(source)
    if not data_dir.is_dir():
        raise DsrsdError(f"{run.path}: explaining needs the training data, and {data_dir} is not there")
    if run.config.get("task") == "next_step":
        window = Config.from_record(run.config, str(run.path / "config.json")).kt_window  # the run's own window
        data = load_next_step_samples(data_dir, run.config["target"], run.config.get("presentations", []), progress,
                                      window)
        if data.report.get("source_kind") != "oulad":
            from ..data.kt.difficulty import add_difficulty

            data = add_difficulty(data, run.samples["split"].to_numpy())
    else:
        data = load_samples(data_dir, run.config["target"], run.config["cutoff_fraction"],
                            run.config.get("presentations", []), progress)
    if run.info["data"].get("fingerprint") and data.report.get("fingerprint") != run.info["data"]["fingerprint"]:
        raise DsrsdError(f"{run.path}: the files in {data_dir} changed since this run was trained; retrain")
    return data
