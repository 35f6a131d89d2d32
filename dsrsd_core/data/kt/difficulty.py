"""Item and skill difficulty from the training learners: the one statistic pooled over learners.

For each sample, the logit of the smoothed rate of correct responses to its item (skill) among
the **training** samples of **other learners** (``PRIOR_WEIGHT`` pseudo-responses at the training
mean; an item no other training learner answered gets the prior). A training sample therefore
sees exactly what a test sample sees: nothing of its own learner, no validation or test label.
It is computed after the split (it depends on it), so it is added by the pipeline, not cached.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..dataset import Modality, MultimodalData

PRIOR_WEIGHT = 5.0
COLUMNS = ["item_difficulty", "skill_difficulty"]


def difficulty(codes: np.ndarray, users: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """logit of the smoothed training rate of ``y`` per code, leaving the sample's own learner out."""
    y = y.astype(np.float64)
    mean = float(y[train].mean()) if train.any() else 0.5
    codes = np.asarray(codes, np.int64)
    size = int(codes.max()) + 1
    n = np.bincount(codes[train], minlength=size).astype(np.float64)
    s = np.bincount(codes[train], weights=y[train], minlength=size)
    n_i, s_i = n[codes], s[codes]
    # the learner's own training responses to the same code
    frame = pd.DataFrame({"u": users, "c": codes, "y": np.where(train, y, 0.0), "t": train.astype(np.float64)})
    own = frame.groupby(["u", "c"])[["y", "t"]].transform("sum")
    n_i = n_i - own["t"].to_numpy()
    s_i = s_i - own["y"].to_numpy()
    rate = np.clip((s_i + PRIOR_WEIGHT * mean) / (n_i + PRIOR_WEIGHT), 1e-4, 1 - 1e-4)
    return np.log(rate / (1 - rate))


def add_difficulty(data: MultimodalData, split: np.ndarray) -> MultimodalData:
    """``data`` with item and skill difficulty (from the training split) appended to ``content``."""
    content = data.modalities["content"]
    if content.feature_names[-len(COLUMNS):] == COLUMNS:
        return data
    train = np.asarray(split) == "train"
    users = data.meta["user_id"].to_numpy()
    cols = [difficulty(content.cat[:, content.cat_names.index(c)], users, data.y, train) for c in ("item", "skill")]
    x = np.column_stack([content.x.astype(np.float64), *cols]).astype(np.float32)
    mods = dict(data.modalities)
    mods["content"] = Modality("content", "tabular", x, list(content.feature_names) + COLUMNS, cat=content.cat,
                               cat_names=content.cat_names, cat_cardinalities=content.cat_cardinalities)
    report = {**data.report, "difficulty": "item and skill difficulty: smoothed logit rate among training learners, "
                                           "the sample's own learner left out (added after the split)"}
    return MultimodalData(mods, data.present, data.y, data.classes, data.meta, report)
