"""Knowledge-tracing baselines and DSRSD-Net on next-step samples, through the shared harness."""
from __future__ import annotations

import numpy as np
import pytest

from dsrsd_core.baselines.kt_logreg import _difficulty
from dsrsd_core.data.kt import load_next_step
from dsrsd_core.data.kt.split import kt_split
from dsrsd_core.models import build_model, model_names
from dsrsd_core.train.config import Config
from tests import kt_fixture as fx


def synthetic_lpp(tmp_path, users=60, length=30, seed=0):
    """A log where skill 1 is easy and skill 2 hard, and a learner's ability persists."""
    rng = np.random.default_rng(seed)
    lines = [fx.LPP_HEADER.strip()]
    for u in range(users):
        ability = rng.normal()
        for t in range(length):
            skill = int(rng.integers(1, 3))
            p = 1 / (1 + np.exp(-(ability + (1.5 if skill == 1 else -1.5))))
            lines.append(f"{u}\t{skill * 10 + int(rng.integers(0, 3))}\t0\t{int(rng.random() < p)}\t{skill}")
    return load_next_step(fx.lpp_dir(tmp_path / "s", split=False, train="\n".join(lines) + "\n"))


def test_kt_baselines_are_registered_only_for_kt_modalities():
    assert {"kt_logreg", "dkt"} <= set(model_names(["content", "behaviour", "history"]))
    assert "kt_logreg" not in model_names(["profile", "clickstream", "assessments"])


def test_difficulty_leaves_the_training_row_out():
    codes = np.array([1, 1, 1, 2])
    y = np.array([1.0, 1.0, 0.0, 1.0])
    train = np.array([True, True, True, False])
    d = _difficulty(codes, y, train)
    mean = 2 / 3
    rate0 = (1 + 5 * mean) / (2 + 5)  # row 0 sees rows 1 and 2 only
    assert d[0] == pytest.approx(np.log(rate0 / (1 - rate0)))
    rate3 = (0 + 5 * mean) / (0 + 5)  # item 2 has no training row: the prior
    assert d[3] == pytest.approx(np.log(rate3 / (1 - rate3)))


@pytest.mark.parametrize("name", ["kt_logreg", "dkt"])
def test_kt_baseline_learns_the_planted_skill_effect(tmp_path, name):
    data = synthetic_lpp(tmp_path)
    cfg = Config(epochs=8, patience=8, seed=0, d_model=16)
    split = kt_split(data, 0, 0.2, 0.2)
    model = build_model(data.specs(), 2, cfg, name).fit(data, split, cfg)
    p = model.predict_proba()
    test = split == "test"
    from sklearn.metrics import roc_auc_score

    assert p.shape == (len(data), 2) and np.allclose(p.sum(1), 1)
    assert roc_auc_score(data.y[test], p[test, 1]) > 0.7


def test_dkt_reads_only_visible_responses(tmp_path):
    """Changing a response's own correctness (its label) leaves DKT's input for it unchanged."""
    data = load_next_step(fx.ednet_dir(tmp_path / "a"))
    cfg = Config(epochs=1, d_model=8)
    split = np.array(["train"] * len(data), dtype=object)
    split[(data.meta["user_id"] == "u2").to_numpy()] = "val"
    model = build_model(data.specs(), 2, cfg, "dkt").fit(data, split, cfg)
    rows, tokens, state, _, _ = next(s for s in model.sequences if data.meta["user_id"][s[0][0]] == "u1")
    positions = data.meta["position"].to_numpy()[rows]
    for k, st in enumerate(state):  # every input a sample reads lies before its visible boundary
        if st >= 0:
            assert positions[st] < data.meta["n_visible"].to_numpy()[rows[k]]
    # the bundle members (positions 2 and 3) read the same state
    assert state[list(positions).index(2)] == state[list(positions).index(3)]
