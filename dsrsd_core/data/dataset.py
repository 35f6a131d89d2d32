"""The prepared multimodal data: what every loader produces and every model consumes.

A *sample* is one prediction point. Every modality is stored as a float block ``x`` plus an
optional integer block ``cat`` of category codes:

* tabular modality:  ``x`` (N, F), ``cat`` (N, C) or None, no ``steps``;
* sequence modality: ``x`` (N, T, F) right-padded, ``steps`` (N, T) bool marks the real steps.

``present`` (N, M) says which modalities a sample has at all (a missing modality is not the
same as an empty sequence: a learner with no clicks yet is present with zero clicks; a learner
whose presentation has no click table is missing). Category code 0 means "missing/unknown".
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DsrsdError
from ..io import atomic_path, write_json
from .schema import ORDERED_CATEGORICAL

CACHE_FORMAT = 1


@dataclass
class Modality:
    name: str
    kind: str  # "tabular" | "sequence"
    x: np.ndarray
    feature_names: list[str]
    steps: np.ndarray | None = None
    step_names: list[str] | None = None
    cat: np.ndarray | None = None
    cat_names: list[str] = field(default_factory=list)
    cat_cardinalities: list[int] = field(default_factory=list)  # including code 0

    def spec(self) -> dict:
        """What a model needs to know to encode this modality (JSON-serialisable)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n_features": int(self.x.shape[-1]),
            "n_steps": int(self.x.shape[1]) if self.kind == "sequence" else 1,
            "feature_names": list(self.feature_names),
            "step_names": list(self.step_names or []),
            "cat_names": list(self.cat_names),
            "cat_cardinalities": [int(c) for c in self.cat_cardinalities],
            # codes 1.. of these columns follow their rank (code 0: missing); none on knowledge-tracing data
            "cat_ordered": [c in ORDERED_CATEGORICAL for c in self.cat_names],
        }

    def take(self, idx: np.ndarray) -> "Modality":
        return Modality(
            self.name, self.kind, self.x[idx], self.feature_names,
            None if self.steps is None else self.steps[idx], self.step_names,
            None if self.cat is None else self.cat[idx], self.cat_names, self.cat_cardinalities,
        )


@dataclass
class MultimodalData:
    modalities: dict[str, Modality]
    present: np.ndarray  # (N, M) bool, columns in the order of ``modalities``
    y: np.ndarray  # (N,) int64
    classes: list[str]
    meta: pd.DataFrame  # one row per sample: ids, cohort fields, dates; display only, never features
    report: dict = field(default_factory=dict)  # how the data was built: exclusions, coverage, cut-off

    def __post_init__(self):
        n = len(self.y)
        for m in self.modalities.values():
            assert len(m.x) == n, f"modality {m.name} has {len(m.x)} rows, labels have {n}"
        assert self.present.shape == (n, len(self.modalities))
        assert len(self.meta) == n

    @property
    def names(self) -> list[str]:
        return list(self.modalities)

    def __len__(self) -> int:
        return len(self.y)

    def specs(self) -> list[dict]:
        return [m.spec() for m in self.modalities.values()]

    def take(self, idx) -> "MultimodalData":
        idx = np.asarray(idx)
        return MultimodalData(
            {k: m.take(idx) for k, m in self.modalities.items()},
            self.present[idx], self.y[idx], self.classes,
            self.meta.iloc[idx].reset_index(drop=True), self.report,
        )

    # ---- cache -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write to ``directory`` (arrays.npz, meta.parquet, info.json), each file atomically."""
        directory = Path(directory)
        arrays = {"present": self.present, "y": self.y}
        info = {"cache_format": CACHE_FORMAT, "classes": self.classes, "report": self.report, "modalities": []}
        for m in self.modalities.values():
            arrays[f"{m.name}.x"] = m.x
            if m.steps is not None:
                arrays[f"{m.name}.steps"] = m.steps
            if m.cat is not None:
                arrays[f"{m.name}.cat"] = m.cat
            info["modalities"].append(m.spec())
        with atomic_path(directory / "arrays.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        with atomic_path(directory / "meta.parquet") as tmp:
            self.meta.to_parquet(tmp, index=False)
        write_json(directory / "info.json", info)  # written last: its presence marks a complete cache

    @classmethod
    def load(cls, directory: str | Path) -> "MultimodalData":
        directory = Path(directory)
        try:
            info = json.loads((directory / "info.json").read_text())
            if info.get("cache_format") != CACHE_FORMAT:
                raise DsrsdError(f"{directory}: prepared-data cache has an old format; delete it to rebuild")
            arrays = np.load(directory / "arrays.npz", allow_pickle=False)
            meta = pd.read_parquet(directory / "meta.parquet")
        except (OSError, ValueError, KeyError) as e:
            raise DsrsdError(f"{directory}: prepared-data cache is unreadable ({e}); delete it to rebuild") from None
        mods = {}
        for s in info["modalities"]:
            n = s["name"]
            mods[n] = Modality(
                n, s["kind"], arrays[f"{n}.x"], s["feature_names"],
                arrays[f"{n}.steps"] if f"{n}.steps" in arrays else None, s["step_names"] or None,
                arrays[f"{n}.cat"] if f"{n}.cat" in arrays else None, s["cat_names"], s["cat_cardinalities"],
            )
        return cls(mods, arrays["present"], arrays["y"], info["classes"], meta, info["report"])
