"""OULAD next_step (the next assessment's result): samples, labels, no look-ahead, learner split."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.data.oulad_next import load_next_assessment
from dsrsd_core.train.config import Config
from dsrsd_core.train.pipeline import prepare
from oulad_fixture import tiny_cohort, write_cohort

NAN = np.nan


def build(tmp_path, frames=None, name="cohort", **kwargs):
    return load_next_assessment(write_cohort(frames if frames is not None else tiny_cohort(), tmp_path / name), **kwargs)


def key(data) -> list[tuple]:
    m = data.meta
    return list(zip(m["presentation"], m["id_student"], m["id_assessment"]))


def features(data, i: int) -> dict[str, np.ndarray]:
    out = {"present": data.present[i]}
    for m in data.modalities.values():
        for part in ("x", "steps", "cat"):
            if getattr(m, part) is not None:
                out[f"{m.name}.{part}"] = getattr(m, part)[i]
    return out


def test_samples_labels_and_exclusions(tmp_path):
    data = build(tmp_path)
    keys = key(data)
    # AAA: 101 (day 30) is first; 102 (60), 103 (120) are targets; the exam 104 has no submission at all.
    # BBB: 201 first; 202 target; exam 203 unrecorded. Learner 3 (AAA, gone day 50) and 14 (BBB, gone
    # day 20) are not predicted; learner 4 (gone day 150) is, for both AAA targets.
    aaa = [k for k in keys if k[0] == "AAA 2013J"]
    bbb = [k for k in keys if k[0] == "BBB 2014B"]
    assert {k[2] for k in aaa} == {102, 103} and {k[2] for k in bbb} == {202}
    # 12 learners x 2 targets, less learner 3 (left day 50: both) and learner 6 (left day 100: 103, due 120)
    assert len(aaa) == 24 - 2 - 1 and ("AAA 2013J", 6, 102) in keys and ("AAA 2013J", 6, 103) not in keys
    assert ("AAA 2013J", 3, 102) not in keys and ("BBB 2014B", 14, 202) not in keys
    assert ("AAA 2013J", 4, 103) in keys
    assert data.report["assessments_without_any_submission"] == 2
    result = dict(zip(keys, data.meta["result"]))
    assert result[("AAA 2013J", 1, 102)] == "pass"  # 70
    assert result[("AAA 2013J", 4, 103)] == "fail"  # 30 < 40
    assert result[("AAA 2013J", 2, 102)] == "not_submitted"
    assert result[("BBB 2014B", 13, 202)] == "pass"  # 50
    # at_risk = not passed
    assert np.array_equal(data.y, (data.meta["result"] != "pass").to_numpy().astype(int))
    three = build(tmp_path, name="three", target="three_class")
    assert three.classes == ["pass", "fail", "not_submitted"] and len(three) == len(data)


def test_target_and_future_never_seen(tmp_path):
    """Change everything dated on or after each due day (and the target's own submission, the final
    result, the unregistration date): the features of every sample on that day are unchanged."""
    base = build(tmp_path, name="base")
    for pres, target, due in (("AAA 2013J", 102, 60), ("AAA 2013J", 103, 120), ("BBB 2014B", 202, 110)):
        f = tiny_cohort()
        sa = f["studentAssessment"]
        late = sa["date_submitted"] >= due
        sa.loc[late, "score"] = 100 - sa.loc[late, "score"].fillna(50)
        sa.loc[late, "date_submitted"] += 3
        own = sa["id_assessment"] == target
        sa.loc[own, "score"] = 99.0  # the target's own result, early or not
        sa.loc[own, "date_submitted"] = due - 1
        sv = f["studentVle"]
        sv.loc[sv["date"] >= due, "sum_click"] *= 7
        extra = pd.DataFrame([("AAA", "2013J", s, 1003, due, 50) for s in (1, 2, 8)]
                             + [("AAA", "2013J", s, 1001, due + 3, 5) for s in (4, 9)],
                             columns=sv.columns)
        f["studentVle"] = pd.concat([sv, extra], ignore_index=True)
        f["studentInfo"]["final_result"] = f["studentInfo"]["final_result"].map(
            {"Pass": "Fail", "Fail": "Pass", "Withdrawn": "Distinction", "Distinction": "Withdrawn"})
        reg = f["studentRegistration"]
        gone_later = reg["date_unregistration"] >= due
        reg.loc[gone_later, "date_unregistration"] += 10
        changed = build(tmp_path, f, name=f"changed_{target}")
        index = {k: i for i, k in enumerate(key(changed))}
        compared = 0
        for i, k in enumerate(key(base)):
            if k[0] == pres and k[2] == target:
                assert k in index, k
                a, b = features(base, i), features(changed, index[k])
                for name in a:
                    assert np.array_equal(a[name], b[name]), (k, name)
                compared += 1
        assert compared >= 7


def test_early_submission_of_target_is_not_history(tmp_path):
    """Learner 2 handed 103 in on day 95, before its due day 120: that sample's history holds 101
    and 102 only (due days 30, 60), never 103 (due fraction 0.6)."""
    data = build(tmp_path)
    i = key(data).index(("AAA 2013J", 2, 103))
    a = data.modalities["assessments"]
    due = a.x[i, a.steps[i], a.feature_names.index("due_fraction")]
    assert np.allclose(sorted(due), [0.15, 0.30])
    # and the day-95 submission is not counted as clicks or anything else: clickstream stops at day 119
    c = data.modalities["clickstream"]
    assert c.step_names[np.flatnonzero(c.steps[i])[-1]] == "week 17"  # day 119 // 7 = 17


def test_clicks_cut_inside_the_week(tmp_path):
    """Target 102 is due on day 60, inside week 8 (days 56..62): its last step holds the clicks of
    days 56..59 only (3 + 4), not the 100 on day 60."""
    f = tiny_cohort()
    f["studentVle"] = pd.concat([f["studentVle"], pd.DataFrame(
        [("AAA", "2013J", 1, 1004, 57, 3), ("AAA", "2013J", 1, 1004, 59, 4), ("AAA", "2013J", 1, 1004, 60, 100)],
        columns=f["studentVle"].columns)], ignore_index=True)
    data = build(tmp_path, f)
    i = key(data).index(("AAA 2013J", 1, 102))
    c = data.modalities["clickstream"]
    week8 = c.step_names.index("week 8")  # days 56..62
    assert np.flatnonzero(c.steps[i])[-1] == week8
    assert np.isclose(np.expm1(c.x[i, week8, c.feature_names.index("oucontent")]), 7.0)


def test_split_by_learner(tmp_path):
    directory = write_cohort(tiny_cohort(), tmp_path / "c")
    cfg = Config.from_dict({"task": "next_step", "val_fraction": 0.2, "test_fraction": 0.3, "seed": 3})
    data, split, _ = prepare(str(directory), cfg)
    assert data.report["source_kind"] == "oulad" and len(split) == len(data)
    sides = pd.DataFrame({"learner": data.meta["id_student"], "split": split}).groupby("learner")["split"].nunique()
    assert (sides == 1).all()
    assert set(split) == {"train", "val", "test"}
    five = split[data.meta["id_student"].to_numpy() == 5]  # enrolled in both presentations
    assert len(five) >= 2 and len(set(five)) == 1


def test_synthetic_cohort_next_step(tmp_path):
    from dsrsd_core.data.synth import write_cohort as write_synthetic

    write_synthetic(tmp_path / "syn", enrolments=120, seed=1)
    data = load_next_assessment(tmp_path / "syn")
    n_targets = data.meta.groupby("presentation")["id_assessment"].nunique()
    assert len(data) > 100 and (n_targets >= 1).all()
    assert data.present[:, 1].any()  # the synthetic click table covers its presentations


def test_train_and_explain_next_assessment(tmp_path, monkeypatch, one_torch_thread):
    """`dsrsd train --task next_step` on an OULAD-schema folder trains and explains per (enrolment,
    assessment); `dsrsd explain` rebuilds the same samples from the folder."""
    from dsrsd_core.cli import main
    from dsrsd_core.data.synth import write_cohort as write_synthetic
    from dsrsd_core.run_dir import load_run

    monkeypatch.setattr("dsrsd_core.explain.embeddings.umap_2d", lambda points, seed, n_neighbors=15, fit=None: points[:, :2])
    write_synthetic(tmp_path / "syn", enrolments=50, seed=1)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('task = "next_step"\nd_model = 8\nd_stream = 4\nbatch_size = 128\nmin_epochs = 0\n')
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "syn"), "--config", str(cfg), "--epochs", "1", "--out", str(out),
                 "--quiet", "--device", "cpu"]) == 0
    run = load_run(out)
    resp = run.table("next_responses")
    assert len(resp) == len(run.samples) and resp["learner"].str.contains(" · ").all()
    assert set(resp["position"]) <= set(run.samples["position"]) and resp["position"].min() >= 1
    assert {"phi_profile", "phi_clickstream", "phi_assessments"} <= set(resp.columns)
    assert run.has_table("next_input_clickstream_steps")
    before = run.table("next_shapley")
    assert main(["explain", str(out), "--quiet"]) == 0
    after = load_run(out).table("next_shapley")
    pd.testing.assert_frame_equal(before, after)
