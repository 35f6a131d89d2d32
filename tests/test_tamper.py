"""Run directories from elsewhere: tampered, mistyped or inconsistent files get one clear message
naming the file and what to do; nothing in a run is ever executed."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from factories import trained_run

from dsrsd_core.cli import main
from dsrsd_core.errors import DsrsdError
from dsrsd_core.run_dir import load_run, write_explanation
from test_run_loader import _poison

MESSAGES = {}  # case -> message, printed at the end (-s) for the closing note


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("tamper") / "run"
    data, split, result = trained_run(path)
    n = len(data)
    tables = {"predictions": pd.DataFrame({"sample": np.arange(n), "split": split, "label": data.y,
                                           "pred": result.proba.argmax(1),
                                           **{f"proba_{c}": result.proba[:, i] for i, c in enumerate(data.classes)}}),
              "neighbours": pd.DataFrame({"sample": np.arange(n), **{f"n{k}": (np.arange(n) + k + 1) % n
                                                                      for k in range(3)}})}
    docs = {"summary": {"attribution": {}}, "diagnostics": {}}
    write_explanation(path, tables, docs, {"shared": np.zeros((n, 3, 2))})
    return path


@pytest.fixture
def run_copy(made_run, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(made_run, path)
    return path


def expect(case, fn, *parts):
    with pytest.raises(DsrsdError) as e:
        fn()
    msg = str(e.value)
    MESSAGES[case] = msg
    for p in parts:
        assert p in msg, msg
    assert "Traceback" not in msg
    return msg


def rewrite(path, name, change, rehash=False):
    """Change a table; with ``rehash`` also fix the recorded sha256 (a consistent forgery, or an
    older run with nothing recorded), so the value checks below the hash are what answers."""
    frame = pd.read_parquet(path / name)
    frame = change(frame)
    frame.to_parquet(path / name, index=False)
    if rehash:
        info = json.loads((path / "run.json").read_text())
        info.pop("files", None)
        (path / "run.json").write_text(json.dumps(info))
        manifest = path / "explain" / "manifest.json"
        if manifest.exists():
            manifest.unlink()


def test_untouched_run_reads_cleanly(made_run):
    run = load_run(made_run, require_explain=False)
    assert set(run.info["files"]) == {"config.json", "metrics.json", "history.parquet", "samples.parquet", "model.pt"}
    run.samples, run.history, run.table("predictions"), run.table("neighbours"), run.summary, run.embeddings()
    run.model()


def test_pickle_payload_refused_for_safety_without_torchs_advice(run_copy, tmp_path):
    marker = _poison(run_copy, tmp_path)
    msg = expect("model.pt pickle payload", load_run(run_copy, require_explain=False).model,
                 "holds more than tensors", "refused for safety", "retrain", "from its author")
    assert "weights_only" not in msg
    assert not marker.exists()


def test_modified_files_are_reported(run_copy):
    rewrite(run_copy, "samples.parquet", lambda f: f.assign(pred=1 - f["pred"]))
    expect("samples.parquet edited", lambda: load_run(run_copy, require_explain=False).samples,
           "samples.parquet was modified after it was written")
    m = json.loads((run_copy / "metrics.json").read_text())
    m["test"]["auc"] = 0.99
    (run_copy / "metrics.json").write_text(json.dumps(m))
    expect("metrics.json edited", lambda: load_run(run_copy, require_explain=False),
           "metrics.json was modified after it was written")


def test_modified_model_weights_are_reported(run_copy):
    state = torch.load(run_copy / "model.pt", weights_only=True)
    k = next(iter(state))
    state[k] = state[k] + 1
    torch.save(state, run_copy / "model.pt")
    expect("model.pt weights edited", load_run(run_copy, require_explain=False).model,
           "model.pt was modified after it was written")


def test_modified_explain_file_says_rerun_explain(run_copy):
    rewrite(run_copy, "explain/predictions.parquet", lambda f: f.assign(pred=0))
    expect("explain/predictions.parquet edited", lambda: load_run(run_copy, require_explain=False).table("predictions"),
           "predictions.parquet was modified after it was written", f"dsrsd explain {run_copy}")


@pytest.mark.parametrize("case,file,change,parts", [
    ("NaN probability", "samples.parquet",
     lambda f: f.assign(**{f.columns[f.columns.str.startswith("proba_")][0]: np.nan}), ["not a probability"]),
    ("inf probability", "explain/predictions.parquet",
     lambda f: f.assign(**{f.columns[f.columns.str.startswith("proba_")][0]: np.inf}), ["not a probability"]),
    ("probabilities as text", "samples.parquet",
     lambda f: f.assign(**{f.columns[f.columns.str.startswith("proba_")][0]: "0.5"}), ["not numbers"]),
    ("probabilities not summing to 1", "samples.parquet",
     lambda f: f.assign(**{f.columns[f.columns.str.startswith("proba_")][0]: 0.0, f.columns[f.columns.str.startswith("proba_")][1]: 0.2}),
     ["sum to"]),
    ("row counts disagree", "explain/predictions.parquet", lambda f: f.iloc[:-5], ["disagree"]),
    ("samples vs run.json rows", "samples.parquet", lambda f: f.iloc[:-1], ["disagree"]),
    ("neighbour index out of range", "explain/neighbours.parquet", lambda f: f.assign(n0=10_000), ["out of range"]),
    ("label out of range", "samples.parquet", lambda f: f.assign(label=7), ["class numbers"]),
])
def test_bad_values_named_with_file(run_copy, case, file, change, parts):
    rewrite(run_copy, file, change, rehash=True)
    run = load_run(run_copy, require_explain=False)
    name = file.split("/")[-1].removesuffix(".parquet")
    read = (lambda: run.samples) if name == "samples" else (lambda: run.table(name))
    expect(case, read, str(run_copy / file), *parts)


def test_future_and_mistyped_run_json(run_copy):
    info = json.loads((run_copy / "run.json").read_text())
    (run_copy / "run.json").write_text(json.dumps({**info, "format_version": 99}))
    expect("format_version from the future", lambda: load_run(run_copy), "newer dsrsd", "version 99", "upgrade")
    (run_copy / "run.json").write_text(json.dumps({**info, "classes": "at_risk"}))
    expect("run.json classes not a list", lambda: load_run(run_copy), "'classes' must be a list")
    (run_copy / "run.json").write_text(json.dumps([1, 2]))
    expect("run.json not an object", lambda: load_run(run_copy), "not a JSON object")


def test_cli_gives_one_line(run_copy, capsys):
    info = json.loads((run_copy / "run.json").read_text())
    (run_copy / "run.json").write_text(json.dumps({**info, "format_version": 2}))
    assert main(["explain", str(run_copy), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsrsd explain: error: ") and err.count("\n") == 1 and "newer dsrsd" in err


def test_explain_replaced_while_reading_never_mixes(run_copy):
    run = load_run(run_copy, require_explain=False)
    first = run.table("predictions")
    # another `dsrsd explain` replaces explain/ (same tables, new files, new folder)
    n = len(first)
    write_explanation(run_copy, {"predictions": first.assign(pred=0), "neighbours": pd.DataFrame(
        {"sample": np.arange(n), "n0": np.zeros(n, dtype=int)})}, {"summary": {"new": 1}, "diagnostics": {}},
        {"shared": np.zeros((n, 3, 2))})
    expect("explain/ replaced while reading", lambda: run.table("neighbours"), "was replaced", "reload")
    fresh = load_run(run_copy, require_explain=False)
    assert fresh.summary == {"new": 1} and (fresh.table("neighbours")["n0"] == 0).all()


def test_zz_print_messages():
    for case, msg in MESSAGES.items():
        print(f"\n[{case}] {msg}")


def test_explained_metrics_stay_valid_when_explain_is_removed(run_copy):
    """explain adds planted_truth to metrics.json; deleting explain/ afterwards is not tampering."""
    m = json.loads((run_copy / "metrics.json").read_text())
    from dsrsd_core.io import write_json

    write_json(run_copy / "metrics.json", {**m, "planted_truth": {"rank_correlation": 1.0}})
    shutil.rmtree(run_copy / "explain")
    assert load_run(run_copy, require_explain=False).metrics["planted_truth"] == {"rank_correlation": 1.0}
    write_json(run_copy / "metrics.json", {**m, "test": {**m["test"], "auc": 0.5}, "planted_truth": {}})
    expect("metrics.json edited after explain", lambda: load_run(run_copy, require_explain=False), "modified")
