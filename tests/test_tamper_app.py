"""The dashboard on tampered runs: a message naming the file and what to run, never a traceback."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from test_app import assert_clean, open_page  # noqa: E402

from dsrsd_core.integrity import sha256_file  # noqa: E402


@pytest.fixture(scope="module")
def tampered(tmp_path_factory, default_run):
    root = tmp_path_factory.mktemp("tampered")
    nan = root / "nan_proba"
    shutil.copytree(default_run, nan)
    frame = pd.read_parquet(nan / "samples.parquet")
    col = [c for c in frame.columns if c.startswith("proba_")][0]
    frame.loc[3, col] = np.nan
    frame.to_parquet(nan / "samples.parquet", index=False)
    # rewritten with its hash too (the hashes are no signature): the value check must still catch it
    info = json.loads((nan / "run.json").read_text())
    info["files"]["samples.parquet"] = sha256_file(nan / "samples.parquet")
    (nan / "run.json").write_text(json.dumps(info))
    future = root / "future"
    shutil.copytree(default_run, future, ignore=shutil.ignore_patterns("explain"))
    info = json.loads((future / "run.json").read_text())
    (future / "run.json").write_text(json.dumps({**info, "format_version": 7}))
    return {"nan": nan, "future": future}


@pytest.mark.parametrize("kind,page,expected", [
    ("nan", "overview", ["samples.parquet", "not a probability", "dsrsd train"]),
    ("nan", "learner", ["samples.parquet", "not a probability", "dsrsd train"]),
    ("future", "overview", ["newer dsrsd", "upgrade"]),
])
def test_tampered_run_message_in_the_app(monkeypatch, tampered, kind, page, expected):
    monkeypatch.setenv("DSRSD_DEFAULT_RUN", str(tampered[kind]))
    monkeypatch.delenv("DSRSD_RUNS", raising=False)
    at = open_page(page)
    assert_clean(at)
    messages = [w.value for w in at.warning] + [i.value for i in at.info] + [c.value for c in at.caption]
    assert any(all(e in m for e in expected) for m in messages), messages
