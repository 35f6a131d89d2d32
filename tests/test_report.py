"""``dsrsd report``: a static HTML report, self-contained (plotly.js inline once, no network), built
from the same figure builders as the dashboard; friendly failures for runs it cannot read."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from dsrsd_core.cli import main
from dsrsd_core.errors import DsrsdError
from dsrsd_core.report import write_report


@pytest.fixture(scope="module")
def report(default_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run.html"
    assert main(["report", str(default_run), "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report):
    from plotly.offline import get_plotlyjs

    assert report.startswith("<!DOCTYPE html>")
    library = get_plotlyjs()
    assert report.count(library) == 1, "plotly.js is embedded inline, exactly once"
    rest = report.replace(library, "")
    assert "Plotly.newPlot(" in rest
    assert not re.search(r"<script[^>]+src=", rest), "no script may be fetched"
    assert not re.search(r"<link[^>]+href=[\"']https?:", rest), "no stylesheet may be fetched"
    assert "cdn.plot.ly" not in rest and "https://" not in rest.replace("https://plotly.com", "")


def test_report_has_the_main_views(report, default_run):
    from dsrsd_core.run_dir import load_run

    run = load_run(default_run)
    for anchor in ("overview", "dominance", "embedding", "drop", "diagnostics"):
        assert f'id="{anchor}"' in report
    shares = run.summary["attribution"]["test"]["modality_share"]
    top = max(shares, key=shares.get)
    assert f"The {top} modality" in report
    assert f"{run.metrics['test']['auc']:.4g}" in report
    assert report.count("Plotly.newPlot(") >= 15
    # every modality keeps its colour from the dashboard's palette
    from dsrsd_core.figures import modality_colour

    for m in run.modalities:
        assert modality_colour(m).lower() in report.lower()


def test_report_of_a_run_without_explanation(default_run, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(default_run, partial, ignore=shutil.ignore_patterns("explain"))
    assert main(["report", str(partial), "--out", str(tmp_path / "partial.html")]) == 0
    said = capsys.readouterr().out
    assert "note: This run has no explanation" in said and f"dsrsd explain {partial}" in said  # in the terminal too
    text = (tmp_path / "partial.html").read_text()
    assert "This run has no explanation" in text and f"dsrsd explain {partial}" in text
    assert 'id="diagnostics"' in text and "Plotly.newPlot(" in text  # the training history still shows


def test_report_failures_are_messages(tmp_path, capsys, default_run):
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no run directory" in capsys.readouterr().err
    old = tmp_path / "old"
    shutil.copytree(default_run, old, ignore=shutil.ignore_patterns("explain"))
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    with pytest.raises(DsrsdError, match="format version 0"):
        write_report(old, tmp_path / "old.html")
    assert not (tmp_path / "old.html").exists()
    corrupt = tmp_path / "corrupt"
    shutil.copytree(default_run, corrupt)
    (corrupt / "explain" / "shapley.parquet").write_bytes(b"garbage")
    out = write_report(corrupt, tmp_path / "corrupt.html")
    assert "unreadable" in out.read_text()  # the section says so; the rest of the report is there


def test_report_states_the_split_verdict_and_the_stream_drop(tmp_path):
    from pathlib import Path

    from dsrsd_core.report import write_report
    from dsrsd_core.views import verdict_view

    default = Path(__file__).resolve().parents[1] / "checkpoints" / "default"
    html_text = write_report(default, tmp_path / "r.html").read_text()
    doc = json.loads((default / "explain" / "decomposition.json").read_text())
    assert f"Shared/private split: {verdict_view(doc)['label']}" in html_text
    assert "Removing one stream (test)" in html_text
    assert "without its shared stream" in html_text
    # the educators' section: the test split's learners at risk, counted from the stored samples
    import pandas as pd

    samples = pd.read_parquet(default / "samples.parquet")
    test = samples[samples["split"] == "test"]
    flagged = int((test["proba_at_risk"] >= 0.5).sum())
    assert f"{flagged:,} of the {len(test):,} learners of the test split" in html_text
    assert html_text.count("points)") >= flagged  # each flagged learner's reasons carry their points
