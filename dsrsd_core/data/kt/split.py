"""Train / validation / test for knowledge-tracing samples: by learner, or the files' own split."""
from __future__ import annotations

import numpy as np

from ..splits import learner_split


def kt_split(data, seed: int, val_fraction: float, test_fraction: float) -> np.ndarray:
    """"train" / "val" / "test" per sample; all samples of a learner share one.

    When the source fixes a user-disjoint test set (``meta["split_fixed"] == "test"``, the lpp
    train/test files), it is kept as the test split and ``val_fraction`` of the *training users*
    (seeded) become the validation split; ``test_fraction`` is then unused. Otherwise the
    learners are split as for every other task (:func:`learner_split`).
    """
    users = data.meta["user_id"].to_numpy()
    fixed = data.meta["split_fixed"].to_numpy()
    if not (fixed == "test").any():
        return learner_split(users, data.y, seed, val_fraction, test_fraction)
    out = np.where(fixed == "test", "test", "train").astype(object)
    train_users = np.unique(users[out == "train"])
    rng = np.random.default_rng(seed)
    rng.shuffle(train_users)
    val_users = train_users[:int(round(val_fraction / (1 - test_fraction) * len(train_users)))]
    out[np.isin(users, val_users) & (out == "train")] = "val"
    return out
