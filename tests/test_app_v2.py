"""Dashboard v2 (issue 11) under AppTest: the run and learner survive page switches and reloads (URL query
parameters), the data card describes the samples a run used, comparisons are like with like, the educator's
words name the learner's own values, the at-risk list defaults to unseen learners, the new views draw the
stored predictions, and incomplete runs say what is missing."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT / "app" / "main.py"

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import PAGES, assert_clean, charts, metric  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, default_run):
    """A runs folder holding one copy of the shipped run (same data: a like-for-like neighbour)."""
    folder = tmp_path_factory.mktemp("v2runs")
    shutil.copytree(default_run, folder / "copy_run")
    return folder


@pytest.fixture
def env(monkeypatch, default_run, two_runs):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(default_run))
    monkeypatch.setenv("DSRSD_RUNS", str(two_runs))
    return two_runs


def start(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(PAGES.get(page, page)).run()
    return at


def test_run_and_learner_survive_url_reload_and_page_switches(env):
    other = str(env / "copy_run")
    at = start({"run": other, "learner": "7"})
    assert_clean(at)
    assert at.session_state["run_choice"] == other
    assert int(at.session_state["learner_sample"]) == 7
    assert at.query_params.get("run") == other or at.query_params.get("run") == [other]
    for page in ("embedding", "learner", "drop", "overview", "learner"):
        at.switch_page(PAGES[page]).run()
        assert_clean(at)
        assert at.session_state["run_choice"] == other, page
    assert int(at.session_state["learner_sample"]) == 7
    assert any("Student" in s.value and "· " in s.value for s in at.subheader)
