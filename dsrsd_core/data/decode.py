"""The loader's encodings (:mod:`.oulad`) undone, so that people see clicks and scores, not model inputs.

The one place that knows how a model input maps back to its unit: the recorder writes click
counts with it, the views read assessment records with it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .oulad import DAYS_SCALE, SCORE_SCALE, WEIGHT_SCALE


def click_counts(x: np.ndarray) -> np.ndarray:
    """Clicks per week and activity type from the clickstream input (the model sees log1p(clicks))."""
    return np.round(np.expm1(x))


def assessment_record(features: pd.DataFrame) -> pd.DataFrame:
    """One row per assessment step in a person's units: ``kind`` (TMA / CMA / Exam), ``due_fraction``
    (of the module's length), ``status`` (scored / submitted, no score / not submitted), ``score``
    (0-100; 0 unless scored), ``weight`` (%), ``days_early`` (negative: late) and ``banked``."""
    kind = np.select([features["type_TMA"] > 0.5, features["type_CMA"] > 0.5, features["type_Exam"] > 0.5],
                     ["TMA", "CMA", "Exam"], "?")
    submitted = features["submitted"] > 0.5
    no_score = features["score_missing"] > 0.5
    status = np.where(~submitted, "not submitted", np.where(no_score, "submitted, no score", "scored"))
    return pd.DataFrame({
        "kind": kind, "due_fraction": features["due_fraction"].to_numpy(float), "status": status,
        "score": np.where(status == "scored", features["score_100"] * SCORE_SCALE, 0.0),
        "weight": (features["weight_100"] * WEIGHT_SCALE).to_numpy(),
        "days_early": (features["days_early_30"] * DAYS_SCALE).to_numpy(),
        "banked": (features["is_banked"] > 0.5).to_numpy()}, index=features.index)
