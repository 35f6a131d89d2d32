"""Train / validation / test splits: by learner (stratified by label, seeded) or by time (earlier
presentations of a module train, its latest one tests)."""
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


UNUSED = "unused"  # samples a temporal split leaves out (see temporal_split)


def presentation_key(code: str) -> tuple[int, int]:
    """Chronological sort key of an OULAD presentation code: "2013B" < "2013J" < "2014B" < "2014J".

    B presentations start in February, J presentations in October of the year.
    """
    from ..errors import DsrsdError

    code = str(code).strip()
    if len(code) != 5 or not code[:4].isdigit() or code[4].upper() not in "BJ":
        raise DsrsdError(f"presentation code {code!r} is not of the OULAD form YYYYB / YYYYJ; "
                         "the temporal split cannot order it in time")
    return int(code[:4]), "BJ".index(code[4].upper())


def temporal_split(module: np.ndarray, presentation: np.ndarray, learner: np.ndarray, seed: int = 0,
                   val_fraction: float = 0.15) -> np.ndarray:
    """A deployment-like split: train on earlier presentations of a module, test on its latest one.

    Return "train" / "val" / "test" / "unused" per sample (one sample = one enrolment). The rule:

    1. Within each module, presentations are ordered in time (:func:`presentation_key`).
    2. A module with three or more presentations: the latest -> test, the one before -> val, every
       earlier one -> train.
    3. A module with two presentations: the later -> test; the earlier one's learners are cut at
       random (``seed``) into val (``val_fraction`` of the learners) and train.
    4. A module with one presentation -> unused (nothing later to test on, nothing earlier to learn from).
    5. No learner is in two splits. A learner with a test enrolment keeps only their test-side
       enrolment(s); their enrolments in train or val presentations become unused. Likewise a
       learner with a val enrolment (and none in test) loses their train enrolments. So every test
       presentation is tested whole, and the model never trained on a test learner's earlier attempt.

    So every test presentation is later than every train and val presentation of the same module.
    Raises :class:`DsrsdError` when no module has two presentations, or when train, val or test ends
    up empty. Only rule 3 depends on ``seed``.
    """
    from ..errors import DsrsdError

    module = np.asarray(module).astype(str)
    presentation = np.asarray(presentation).astype(str)
    learner = np.asarray(learner)
    out = np.full(len(module), UNUSED, dtype=object)
    rng = np.random.default_rng(seed)
    counts = {}
    for mod in sorted(set(module)):
        rows = module == mod
        order = sorted(set(presentation[rows]), key=presentation_key)
        counts[mod] = order
        if len(order) < 2:
            continue
        out[rows & (presentation == order[-1])] = "test"
        if len(order) >= 3:
            out[rows & (presentation == order[-2])] = "val"
            out[rows & np.isin(presentation, order[:-2])] = "train"
        else:
            early = rows & (presentation == order[0])
            ids = np.unique(learner[early])
            rng.shuffle(ids)
            val_ids = ids[:int(round(val_fraction * len(ids)))]
            out[early] = np.where(np.isin(learner[early], val_ids), "val", "train")
    if not any(len(v) >= 2 for v in counts.values()):
        raise DsrsdError("the temporal split needs a module with at least two presentations (train on the earlier, "
                         "test on the later); found "
                         + ", ".join(f"{m}: {', '.join(p)}" for m, p in counts.items())
                         + ". Select more presentations or use --split learner")
    # rule 5: test > val > train for a learner seen in several splits
    for higher, lower in (("test", ("val", "train")), ("val", ("train",))):
        ids = np.unique(learner[out == higher])
        out[np.isin(out, lower) & np.isin(learner, ids)] = UNUSED
    sizes = {s: int((out == s).sum()) for s in ("train", "val", "test")}
    empty = [s for s, n in sizes.items() if n == 0]
    if empty:
        raise DsrsdError(f"the temporal split leaves {' and '.join(empty)} empty (sizes {sizes}; presentations per "
                         f"module: {', '.join(f'{m} {len(p)}' for m, p in counts.items())}); "
                         "select more presentations or use --split learner")
    return out


def make_split(meta, y: np.ndarray, kind: str, seed: int, val_fraction: float = 0.15,
               test_fraction: float = 0.15) -> np.ndarray:
    """The split ``kind`` ("learner": :func:`learner_split`; "temporal": :func:`temporal_split`) of
    samples described by ``meta`` (columns id_student, code_module, code_presentation)."""
    from ..errors import DsrsdError

    if kind == "learner":
        return learner_split(meta["id_student"].to_numpy(), y, seed, val_fraction, test_fraction)
    if kind == "temporal":
        return temporal_split(meta["code_module"].to_numpy(), meta["code_presentation"].to_numpy(),
                              meta["id_student"].to_numpy(), seed, val_fraction)
    raise DsrsdError(f"unknown split {kind!r}; use 'learner' or 'temporal'")
