"""No look-ahead in the knowledge-tracing samples: one test per rule of issue #10.

Each test changes something a prediction must not see (the response's own after-the-fact fields,
a simultaneous response, the future) and checks that the features of the affected sample do not
move; the exact counts on hand-written logs pin down what *is* seen.
"""
from __future__ import annotations

import numpy as np
import pytest

from dsrsd_core.data.kt import load_next_step
from tests import kt_fixture as fx


def features(data) -> dict:
    """{(user, position): every feature value of that sample (all modalities, codes included)}."""
    blocks = [m.x for m in data.modalities.values()] + [m.cat for m in data.modalities.values() if m.cat is not None]
    flat = np.concatenate([b.reshape(len(b), -1).astype(np.float64) for b in blocks], 1)
    return {(u, int(p)): flat[i] for i, (u, p) in enumerate(zip(data.meta["user_id"], data.meta["position"]))}


def col(data, modality, name):
    m = data.modalities[modality]
    return m.x[:, m.feature_names.index(name)]


def row(data, user, position):
    hit = np.flatnonzero((data.meta["user_id"] == user).to_numpy() & (data.meta["position"] == position).to_numpy())
    assert len(hit) == 1, (user, position)
    return int(hit[0])


# ---- exact counts on hand-written logs ------------------------------------------------------

def test_lpp_counts_are_exact(tmp_path):
    data = load_next_step(fx.lpp_dir(tmp_path / "a"))
    # user 0: (item 10, skill 5, right), (11, 5, right), (12, 6, wrong), (11, 5, wrong)
    i = row(data, "0", 3)
    assert np.expm1(col(data, "history", "skill_succ_log")[i]) == pytest.approx(2)
    assert np.expm1(col(data, "history", "skill_fail_log")[i]) == pytest.approx(0)
    assert np.expm1(col(data, "history", "item_succ_log")[i]) == pytest.approx(1)
    assert np.expm1(col(data, "history", "succ_log")[i]) == pytest.approx(2)
    assert np.expm1(col(data, "history", "fail_log")[i]) == pytest.approx(1)
    assert col(data, "history", "prev1_correct")[i] == -1 and col(data, "history", "prev2_correct")[i] == 1
    assert col(data, "history", "prev1_correct_same_skill")[i] == 0  # prev1 was skill 6
    assert col(data, "history", "prev4_correct")[i] == 0  # only 3 earlier responses
    # recency: the last outcomes on skill 5 (responses 1 and 0, both right), on item 11 (response 1), and the
    # moving averages 0.5 -> 0.3 c + 0.7 E on the skill (c = 1, 1) and 0.1 c + 0.9 E overall (c = 1, 1, 0)
    assert [col(data, "history", f"skill_last{k}_correct")[i] for k in (1, 2, 3)] == [1, 1, 0]
    assert col(data, "history", "item_last_correct")[i] == 1
    assert col(data, "history", "skill_ewma_acc")[i] == pytest.approx(0.3 + 0.7 * (0.3 + 0.7 * 0.5))
    assert col(data, "history", "ewma_acc")[i] == pytest.approx(0.9 * (0.1 + 0.9 * (0.1 + 0.9 * 0.5)), abs=1e-6)
    assert data.y[i] == 0
    # the first response of every learner is not a sample; user 2 has one response: no sample
    assert set(data.meta["position"]) >= {1} and 0 not in set(data.meta["position"])
    assert "2" not in set(data.meta["user_id"]) and data.report["users_with_one_response"] == 1


def test_lpp_keeps_the_files_user_disjoint_split(tmp_path):
    data = load_next_step(fx.lpp_dir(tmp_path / "a"))
    fixed = dict(zip(data.meta["user_id"], data.meta["split_fixed"]))
    assert fixed["3"] == "test" and fixed["0"] == "train"
    from dsrsd_core.data.kt.split import kt_split

    split = kt_split(data, seed=0, val_fraction=0.5, test_fraction=0.2)
    assert set(split[(data.meta["user_id"] == "3").to_numpy()]) == {"test"}
    assert "test" not in set(split[(data.meta["user_id"] != "3").to_numpy()])


# ---- rule: the response's own after-the-fact fields are not features of it --------------------

def test_ednet_own_elapsed_time_and_answer_are_not_seen(tmp_path):
    base = features(load_next_step(fx.ednet_dir(tmp_path / "a")))
    # change the elapsed time and the answer (hence correctness) of u1's 5th response (q5, position 4)
    changed = fx.EDNET_U1.replace("181000,4,q5,a,15000", "181000,4,q5,d,99000")
    root = fx.ednet_dir(tmp_path / "b")
    fx.write(root / "u1.csv", changed)
    after = features(load_next_step(root))
    np.testing.assert_array_equal(after[("u1", 4)], base[("u1", 4)])
    assert not np.array_equal(after[("u1", 5)], base[("u1", 5)])  # the next response does see it


def test_skill_builder_own_attempts_hints_and_time_are_not_seen(tmp_path):
    base_data = load_next_step(fx.skill_builder_dir(tmp_path / "a"))
    base = features(base_data)
    rows = list(fx.SB_ROWS)
    # order 2 (user 70, position 1): attempts 1 -> 4, hints 0 -> 3, ms 5000 -> 99000
    rows[2] = fx.sb_row(2, 70, 101, 1, 1, 4, 99000, 1, 3)
    after_data = load_next_step(fx.skill_builder_dir(tmp_path / "b", rows))
    after = features(after_data)
    np.testing.assert_array_equal(after[("70", 1)], base[("70", 1)])
    assert not np.array_equal(after[("70", 3)], base[("70", 3)])
    i = row(after_data, "70", 3)  # order 4 sees order 2 two responses back
    names = after_data.modalities["behaviour"].feature_names
    assert after_data.modalities["behaviour"].x[i, names.index("prev2_attempts_log")] == pytest.approx(np.log1p(4))
    assert after_data.modalities["behaviour"].x[i, names.index("prev2_hints_log")] == pytest.approx(np.log1p(3))


# ---- rule: simultaneous responses are not visible to each other -------------------------------

def test_ednet_bundle_members_do_not_see_each_other(tmp_path):
    data = load_next_step(fx.ednet_dir(tmp_path / "a"))
    a, b = row(data, "u1", 2), row(data, "u1", 3)  # q3 and q4: one bundle (solving_id 3)
    for m in ("behaviour", "history"):
        np.testing.assert_array_equal(data.modalities[m].x[a], data.modalities[m].x[b])
    assert data.meta["n_visible"][a] == data.meta["n_visible"][b] == 2
    # the response after the bundle sees both members
    assert data.meta["n_visible"][row(data, "u1", 4)] == 4


def test_lpp_shared_timestamp_is_simultaneous(tmp_path):
    text = fx.LPP_HEADER + "0\t10\t100\t1\t5\n0\t11\t200\t0\t5\n0\t12\t200\t1\t5\n0\t13\t300\t1\t5\n1\t10\t50\t1\t5\n1\t11\t60\t1\t5\n"
    data = load_next_step(fx.lpp_dir(tmp_path / "a", split=False, train=text))
    a, b = row(data, "0", 1), row(data, "0", 2)
    assert data.meta["n_visible"][a] == data.meta["n_visible"][b] == 1
    np.testing.assert_array_equal(data.modalities["history"].x[a], data.modalities["history"].x[b])
    assert np.expm1(col(data, "history", "skill_fail_log")[row(data, "0", 3)]) == pytest.approx(1)


def test_skill_builder_multi_skill_rows_are_one_response(tmp_path):
    data = load_next_step(fx.skill_builder_dir(tmp_path / "a"))
    users = data.meta["user_id"].to_numpy()
    # user 70 has 4 orders (the two-row orders count once); the scaffolding order 3 is not scored
    assert sorted(data.meta.loc[users == "70", "position"]) == [1, 3]
    i = row(data, "70", 3)
    assert data.meta["skill"][i] == "1_2" and data.modalities["content"].x[i, 0] == 2
    assert data.meta["n_visible"][i] == 3
    # order 4 sees order 1's skill combination once, wrong
    assert np.expm1(col(data, "history", "skill_fail_log")[i]) == pytest.approx(1)
    assert np.expm1(col(data, "history", "skill_succ_log")[i]) == pytest.approx(0)
    assert data.report["rows_per_order"]["multi_skill_orders"] == 3


# ---- rule: nothing from the future ------------------------------------------------------------

@pytest.mark.parametrize("make", ["lpp", "ednet", "skill_builder"])
def test_truncating_the_future_changes_nothing(tmp_path, make):
    """Every sample's features equal those computed from the log cut right after it."""
    if make == "lpp":
        full = load_next_step(fx.lpp_dir(tmp_path / "full"))
        cut = fx.LPP_TRAIN.splitlines()[:4]  # user 0's first three responses
        short = load_next_step(fx.lpp_dir(tmp_path / "cut", train="\n".join(cut + ["1\t10\t0\t0\t5", "1\t12\t0\t1\t6"]) + "\n"))
        key = ("0", 2)
    elif make == "ednet":
        full = load_next_step(fx.ednet_dir(tmp_path / "full"))
        root = fx.ednet_dir(tmp_path / "cut")
        fx.write(root / "u1.csv", "\n".join(fx.EDNET_U1.splitlines()[:5]) + "\n")  # through the bundle
        short = load_next_step(root)
        key = ("u1", 3)
    else:
        full = load_next_step(fx.skill_builder_dir(tmp_path / "full"))
        short = load_next_step(fx.skill_builder_dir(tmp_path / "cut", fx.SB_ROWS[:3] + fx.SB_ROWS[6:]))
        key = ("70", 1)
    np.testing.assert_array_equal(features(full)[key][:-3], features(short)[key][:-3])  # codes may renumber


def test_future_responses_never_change_earlier_samples_on_real_statics():
    from pathlib import Path

    import pandas as pd

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "statics2011_lpp"
    if not folder.is_dir():
        pytest.skip(f"real data not found at {folder}")
    pytest.importorskip("scipy")
    full = load_next_step(folder)
    first = full.meta["user_id"].iloc[0]
    users = full.meta["user_id"].to_numpy()
    # recompute user `first` alone from its first 50 responses and compare the overlapping samples
    import tempfile

    raw = pd.read_csv(folder / "preprocessed_data.csv.gz", sep="\t", dtype=str)
    raw = raw[raw["user_id"] == first].head(50)
    with tempfile.TemporaryDirectory() as d:
        raw.to_csv(Path(d) / "preprocessed_data.csv", sep="\t", index=False)
        short = load_next_step(Path(d))
    names = [n for n in ("behaviour", "history")]
    for m in names:
        a = full.modalities[m].x[np.flatnonzero(users == first)[:49]]
        np.testing.assert_array_equal(a, short.modalities[m].x)
