"""Knowledge-tracing baselines and DSRSD-Net on next-step samples, through the shared harness."""
from __future__ import annotations

import numpy as np
import pytest

from dsrsd_core.data.kt.difficulty import difficulty
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
    assert {"kt_logreg", "dkt", "sakt"} <= set(model_names(["content", "behaviour", "history"]))
    assert "kt_logreg" not in model_names(["profile", "clickstream", "assessments"])


def test_difficulty_leaves_the_own_learner_out():
    codes = np.array([1, 1, 1, 2, 1])
    users = np.array(["a", "a", "b", "b", "c"])
    y = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    train = np.array([True, True, True, True, False])
    d = difficulty(codes, users, y, train)
    mean = 3 / 4
    logit = lambda r: np.log(r / (1 - r))  # noqa: E731
    assert d[0] == d[1] == pytest.approx(logit((0 + 5 * mean) / (1 + 5)))  # sees only b's wrong answer
    assert d[2] == pytest.approx(logit((2 + 5 * mean) / (2 + 5)))  # sees a's two right answers
    assert d[3] == pytest.approx(logit(5 * mean / 5))  # item 2: no other learner -> the prior
    assert d[4] == pytest.approx(logit((2 + 5 * mean) / (3 + 5)))  # a test row sees every training row
    # a test label never moves anything
    y2 = y.copy()
    y2[4] = 0.0
    np.testing.assert_array_equal(difficulty(codes, users, y2, train)[:4], d[:4])


@pytest.mark.parametrize("name", ["kt_logreg", "dkt", "sakt"])
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


def test_dsrsd_train_next_step_end_to_end(tmp_path, capsys):
    """`dsrsd train --task next_step` on a knowledge-tracing folder writes a run (explain skipped)."""
    import json

    from dsrsd_core.cli import main

    data = synthetic_lpp(tmp_path, users=40, length=20)
    folder = data.report["source"]
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('task = "next_step"\nd_model = 16\nd_stream = 8\nbatch_size = 128\nmin_epochs = 1\n'
                   'val_fraction = 0.2\ntest_fraction = 0.2\n')
    out = tmp_path / "run"
    assert main(["train", "--data", folder, "--config", str(cfg), "--epochs", "2", "--out", str(out),
                 "--no-explain", "--quiet", "--device", "cpu"]) == 0
    assert "test AUC" in capsys.readouterr().out
    from dsrsd_core.run_dir import RUN_FILES

    assert set(RUN_FILES) <= {p.name for p in out.iterdir()}
    info = json.loads((out / "run.json").read_text())
    assert info["data"]["report"]["task"] == "next_step" and "difficulty" in info["data"]["report"]
    assert json.loads((out / "config.json").read_text())["task"] == "next_step"


def test_sakt_attends_only_to_visible_responses():
    """Changing an input a response may not see (its own, a later one) leaves its logit unchanged;
    changing a visible one changes it."""
    import torch

    from dsrsd_core.baselines.sakt import _SAKTNet

    torch.manual_seed(0)
    net = _SAKTNet(5, 7, 8, 0.0, window=200).eval()
    tokens = torch.randint(0, 12, (1, 6))
    items = torch.randint(0, 16, (1, 6))
    state = torch.tensor([[-1, 0, 1, 1, 3, 4]])  # responses 2 and 3 share a bundle (both see input 1)
    skill, item = torch.randint(1, 6, (1, 6)), torch.randint(1, 8, (1, 6))
    with torch.no_grad():
        base = net(tokens, items, state, skill, item)
        hidden = tokens.clone()
        hidden[0, 2:] = (hidden[0, 2:] + 1) % 12  # inputs 2..5: invisible to responses 0..3
        changed = net(hidden, items, state, skill, item)
        assert torch.allclose(base[0, :4], changed[0, :4])
        assert not torch.allclose(base[0, 4:], changed[0, 4:])
