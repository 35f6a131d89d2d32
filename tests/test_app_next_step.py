"""The next-step pages (Learner timeline, Attribution by position) under AppTest on a tiny
explained next-step run, and the final-outcome pages' message for such a run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT / "app" / "main.py"

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture(scope="module")
def next_run(tmp_path_factory, one_torch_thread):
    """A 1-epoch DSRSD-Net next-step run on a 40-learner synthetic log, explained (UMAP replaced by
    a linear stand-in: the pages only read the table)."""
    from dsrsd_core.cli import main
    from tests.test_kt_baselines import synthetic_lpp

    tmp = tmp_path_factory.mktemp("next_app")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DSRSD_CACHE", str(tmp / "cache"))
        mp.setattr("dsrsd_core.explain.embeddings.umap_2d", lambda points, seed, n_neighbors=15, fit=None: points[:, :2])
        data = synthetic_lpp(tmp, users=40, length=20)
        cfg = tmp / "cfg.toml"
        cfg.write_text('task = "next_step"\nd_model = 16\nd_stream = 8\nbatch_size = 128\nmin_epochs = 1\n'
                       'val_fraction = 0.2\ntest_fraction = 0.2\n')
        assert main(["train", "--data", data.report["source"], "--config", str(cfg), "--epochs", "1", "--out",
                     str(tmp / "run"), "--quiet", "--device", "cpu"]) == 0
    return tmp / "run"


def test_recorder_writes_per_response_tables(next_run, capsys):
    """`dsrsd train --task next_step` explained the run: predictions for every response, the measures
    on a bounded subsample of whole learners, tables keyed by learner and position."""
    from dsrsd_core.explain.next_step import explained_rows
    from dsrsd_core.run_dir import load_run

    run = load_run(next_run)
    responses = run.table("next_responses")
    assert len(run.table("predictions")) == len(run.samples) == len(responses)  # 760 < the default bound
    assert {"learner", "position", "driver", "phi_content", "phi_behaviour", "phi_history"} <= set(responses.columns)
    summary = run.doc("summary")
    assert summary["shapley_efficiency_max_error"] < 1e-4
    assert summary["explained"]["n_responses"] == len(responses)
    shapley = run.table("next_shapley").set_index("sample").loc[responses["sample"]]
    for m in run.modalities:  # next_responses' per-modality value = shared + private towards the last class
        c = run.classes[-1]
        assert np.allclose(responses[f"phi_{m}"].to_numpy(),
                           (shapley[f"phi_{c}_{m}.shared"] + shapley[f"phi_{c}_{m}.private"]).to_numpy(), atol=1e-6)
    pos = run.table("next_position")
    assert set(pos["group"]) == {"test", "all"}
    assert np.allclose(pos[[f"share_{m}" for m in run.modalities]].sum(axis=1), 1.0, atol=1e-5)
    for name in ("next_modality_drop", "next_robustness", "next_umap", "next_stream_ig"):
        assert len(run.table(name))
    # the bound: whole learners, seeded, at least the bound covered
    meta = run.samples.assign(user_id=run.samples["user_id"].astype(str))
    rows = explained_rows(meta, 0, 100)
    users = meta["user_id"].to_numpy()
    assert len(rows) >= 100 and set(np.flatnonzero(np.isin(users, users[rows]))) == set(rows)
    assert np.array_equal(rows, explained_rows(meta, 0, 100)) and not np.array_equal(rows, explained_rows(meta, 1, 100))


def open_page(run: Path, page: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(run))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    if page != "pages_/overview.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_timeline_shows_the_learners_responses(next_run, monkeypatch):
    from dsrsd_core.run_dir import load_run

    responses = load_run(next_run).table("next_responses")
    at = open_page(next_run, "pages_/timeline.py", monkeypatch)
    learner = at.selectbox(key="tl_learner").value
    mine = responses[responses["learner"] == learner]
    assert [m.value for m in at.metric if m.label == "Responses"] == [f"{len(mine):,}"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    line = next(t for t in spec["data"] if t.get("mode") == "lines")
    assert len(line["x"] if isinstance(line["x"], list) else mine) == len(mine)
    other = next(k for k in responses["learner"].unique() if k != learner)
    at.selectbox(key="tl_learner").set_value(other).run()
    assert not at.exception
    n_other = int((responses["learner"] == other).sum())
    assert [m.value for m in at.metric if m.label == "Responses"] == [f"{n_other:,}"]


def test_positions_page_shows_shares_by_position(next_run, monkeypatch):
    from dsrsd_core.run_dir import load_run

    pos = load_run(next_run).table("next_position")
    at = open_page(next_run, "pages_/positions.py", monkeypatch)
    assert len(at.get("plotly_chart")) == 2
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    test = pos[pos["group"] == "test"].sort_values("bin_order")
    history = next(t for t in spec["data"] if t["name"] == "history")
    from tests.test_app import values

    assert np.allclose(values(history["y"]), test["share_history"].to_numpy(), atol=1e-6)
    at.radio(key="pos_group").set_value("all").run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("page", ["pages_/dominance.py", "pages_/learner.py", "pages_/embedding.py",
                                  "pages_/drop_lab.py"])
def test_final_outcome_pages_say_they_are_not_for_next_step_runs(next_run, monkeypatch, page):
    at = open_page(next_run, page, monkeypatch)
    assert any("not for next-step runs" in w.value for w in at.warning)


def test_next_step_pages_on_a_final_outcome_run_say_so(default_run, monkeypatch):
    at = open_page(default_run, "pages_/timeline.py", monkeypatch)
    assert any("final-outcome run" in w.value for w in at.warning)


def test_overview_data_card_and_sidebar_of_a_knowledge_tracing_run(next_run, monkeypatch):
    """A KT run's data card speaks of responses and learners (no presentations, no "?"), and the sidebar
    counts responses, not learners."""
    from dsrsd_core import views as V
    from dsrsd_core.run_dir import load_run

    run = load_run(next_run)
    card = V.data_card(run.info, run.samples)
    facts = card["facts"]
    assert "Presentations" not in facts and len(card["presentations"]) == 0
    assert facts["Samples"].startswith(f"{len(run.samples):,} scored responses of ")
    assert "learners" in facts["Samples"] and "?" not in facts["Samples"] and "?" not in facts["History window"]
    assert V.sample_unit(run.info) == "responses"
    at = open_page(next_run, "pages_/overview.py", monkeypatch)
    page = " ".join(m.value for m in at.markdown)
    assert "scored responses" in page and "**Presentations**" not in page and "**Cut-off**" not in page
    assert any(f"All {len(run.samples):,} responses" in c.value for c in at.sidebar.caption)
