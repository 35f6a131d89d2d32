"""Train / validation / test splits by learner, stratified by label, seeded."""
from __future__ import annotations

import numpy as np
import pandas as pd


def learner_split(learner: np.ndarray, y: np.ndarray, seed: int, val_fraction: float = 0.15,
                  test_fraction: float = 0.15) -> np.ndarray:
    """Return "train" / "val" / "test" per sample; all samples of one learner share a split.

    A learner with several enrolments is stratified by the label of their first sample. Within
    each label, learners are shuffled with ``seed`` and cut at the requested fractions.
    """
    frame = pd.DataFrame({"learner": learner, "y": y})
    first = frame.drop_duplicates("learner")
    rng = np.random.default_rng(seed)
    assign: dict = {}
    for _, group in first.groupby("y", sort=True):
        ids = group["learner"].to_numpy().copy()
        rng.shuffle(ids)
        n_test = int(round(test_fraction * len(ids)))
        n_val = int(round(val_fraction * len(ids)))
        assign.update(dict.fromkeys(ids[:n_test], "test"))
        assign.update(dict.fromkeys(ids[n_test:n_test + n_val], "val"))
        assign.update(dict.fromkeys(ids[n_test + n_val:], "train"))
    return frame["learner"].map(assign).to_numpy(dtype=object)
