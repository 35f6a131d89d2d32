"""The temporal split: earlier presentations train, a module's latest tests, no learner in two splits."""
import numpy as np
import pandas as pd
import pytest

from dsrsd_core.cli import main
from dsrsd_core.data.splits import make_split, presentation_key, temporal_split
from dsrsd_core.data.synth import write_cohort
from dsrsd_core.errors import DsrsdError
from dsrsd_core.train.config import Config
from dsrsd_core.train.pipeline import prepare


def _meta():
    """Module AAA: 2 presentations, BBB: 4, CCC: 1; some learners enrol more than once."""
    rows = []
    rng = np.random.default_rng(0)
    layout = {"AAA": ["2014J", "2013J"], "BBB": ["2014B", "2013B", "2014J", "2013J"], "CCC": ["2014J"]}
    for mod, codes in layout.items():
        for code in codes:
            for i in range(60):
                rows.append({"code_module": mod, "code_presentation": code, "id_student": int(rng.integers(0, 400))})
    meta = pd.DataFrame(rows).drop_duplicates().reset_index(drop=True)
    return meta


def _check(meta, split):
    used = split != "unused"
    per_learner = pd.Series(split[used]).groupby(meta["id_student"].to_numpy()[used]).nunique()
    assert (per_learner == 1).all(), "a learner spans two splits"
    for mod, g in meta.assign(split=split).groupby("code_module"):
        test = [presentation_key(p) for p in g.loc[g["split"] == "test", "code_presentation"]]
        earlier = [presentation_key(p) for p in g.loc[g["split"].isin(["train", "val"]), "code_presentation"]]
        if test and earlier:
            assert min(test) > max(earlier), f"{mod}: a test presentation is not later than every train one"


def test_presentation_codes_order_in_time():
    assert sorted(["2014J", "2013J", "2014B", "2013B"], key=presentation_key) == ["2013B", "2013J", "2014B", "2014J"]
    with pytest.raises(DsrsdError, match="YYYYB"):
        presentation_key("Spring-13")


def test_temporal_split_follows_the_rule():
    meta = _meta()
    split = temporal_split(meta["code_module"], meta["code_presentation"], meta["id_student"], seed=1)
    _check(meta, split)
    s = meta.assign(split=split)
    bbb = s[s["code_module"] == "BBB"]
    assert set(bbb.loc[bbb["code_presentation"] == "2014J", "split"]) == {"test"}  # the latest is tested whole
    assert set(bbb.loc[bbb["code_presentation"] == "2014B", "split"]) <= {"val", "unused"}
    assert set(bbb.loc[bbb["code_presentation"].isin(["2013B", "2013J"]), "split"]) <= {"train", "unused"}
    aaa = s[s["code_module"] == "AAA"]
    assert set(aaa.loc[aaa["code_presentation"] == "2014J", "split"]) == {"test"}
    assert set(aaa.loc[aaa["code_presentation"] == "2013J", "split"]) <= {"train", "val", "unused"}
    assert set(s.loc[s["code_module"] == "CCC", "split"]) == {"unused"}  # one presentation: nothing to test on
    # a test learner's earlier enrolment is left out, not trained on
    tested = set(s.loc[s["split"] == "test", "id_student"])
    assert not (s["split"].isin(["train", "val"]) & s["id_student"].isin(tested)).any()
    assert (s["split"] == "unused").sum() > 60  # CCC plus the dropped earlier enrolments
    assert {"train", "val", "test"} <= set(split)
    again = temporal_split(meta["code_module"], meta["code_presentation"], meta["id_student"], seed=1)
    assert (again == split).all()


def test_temporal_split_refuses_too_few_presentations():
    meta = _meta()
    one_each = meta[meta["code_presentation"] == "2014J"]
    with pytest.raises(DsrsdError, match="at least two presentations"):
        make_split(one_each, np.zeros(len(one_each)), "temporal", 0)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("temporal") / "cohort"
    write_cohort(out, enrolments=600, seed=5)
    return out


def test_prepare_and_cli_use_the_temporal_split(cohort, tmp_path, capsys):
    data, split, _ = prepare(str(cohort), Config(split="temporal"))
    _check(data.meta.reset_index(drop=True), split)
    assert {"train", "val", "test"} <= set(split)
    _, learner, _ = prepare(str(cohort), Config())
    assert set(learner) == {"train", "val", "test"}
    out = tmp_path / "b"
    code = main(["benchmark", "--data", str(cohort), "--seeds", "1", "--out", str(out), "--models", "gbm",
                 "--split", "temporal", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "--split temporal" in (out / "results.md").read_text() and "split temporal" in (out / "results.md").read_text()
    # the same --out with the other split: refused
    code = main(["benchmark", "--data", str(cohort), "--seeds", "1", "--out", str(out), "--models", "gbm", "--quiet"])
    assert code == 2 and "new --out" in capsys.readouterr().err
    # one presentation per module: a clear error, not a crash
    names = data.meta["code_module"].astype(str) + " " + data.meta["code_presentation"].astype(str)
    latest = sorted(set(names))[1::2]
    code = main(["benchmark", "--data", str(cohort), "--seeds", "1", "--out", str(tmp_path / "c"), "--models", "gbm",
                 "--split", "temporal", "--presentations", ",".join(latest), "--quiet"])
    assert code == 2 and "at least two presentations" in capsys.readouterr().err
