"""`dsrsd benchmark`: the grid on a tiny synthetic cohort, its outputs, and resuming."""
import json

import numpy as np

import pandas as pd
import pytest

import dsrsd_core.benchmark as bench
from dsrsd_core.benchmark import grid
from dsrsd_core.cli import main
from dsrsd_core.data.synth import write_cohort
from dsrsd_core.errors import DsrsdError
from dsrsd_core.train.config import Config

FAST = dict(epochs=1, patience=1, d_model=8, d_stream=4, batch_size=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "cohort"
    write_cohort(out, enrolments=200, seed=2)
    return out


def test_benchmark_writes_documented_tables_and_resumes(cohort, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    info = bench.run_benchmark(str(cohort), out, seeds=2, models=["dsrsd_net", "early_fusion"],
                               config=Config(**FAST), device="cpu", progress=False, command="dsrsd benchmark ...")
    assert info["cells"] == 4 and info["invocations"][-1]["cells_run"] == 4 and info["planted_truth"]
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == ["model", "seed", "split", "metric", "value"]
    assert set(results["model"]) == {"dsrsd_net", "early_fusion"} and set(results["seed"]) == {0, 1}
    test = results[results["split"] == "test"]
    metrics = set(test["metric"])
    assert {"auc", "macro_f1", "accuracy", "auc_without_clickstream", "macro_f1_without_profile",
            "dominance_top_share", "dominance_entropy", "share_assessments", "planted_rank_correlation",
            "planted_trap_wins"} <= metrics
    assert set(results["split"]) == {"train", "val", "test"}
    # dominance numbers follow from the stored shares (shares summing to 1 would hold by construction)
    import numpy as np

    for (model, seed), cell in test.groupby(["model", "seed"]):
        values = cell.set_index("metric")["value"]
        shares = values[values.index.str.startswith("share_")].to_numpy()
        assert len(shares) == 3 and (shares > 0).all()
        assert values["dominance_top_share"] == pytest.approx(shares.max())
        nz = shares[shares > 0]
        assert values["dominance_entropy"] == pytest.approx(-(nz * np.log(nz)).sum() / np.log(len(shares)))
    cell = json.loads((out / "cells" / "early_fusion" / "seed1.json").read_text())
    assert cell["config"]["seed"] == 1 and cell["shapley_efficiency_max_error"] < 1e-6
    assert cell["full_matches_prediction_max_error"] < 1e-5
    md = (out / "results.md").read_text()
    # decomposition measures: DSRSD-Net only (early fusion has no shared/private streams)
    dec = test[test["metric"].isin(["decomp_verdict", "decomp_shared_attribution", "cka_profile",
                                    "cross_shared_assessments", "cross_private_clickstream"])]
    assert set(dec["model"]) == {"dsrsd_net"} and len(dec) == 5 * 2
    assert cell.get("decomposition") is None
    for heading in ("## Test metrics", "## Robustness", "## Modality dominance", "## Planted truth", "Δ AUC (p)",
                    "## Decomposition"):
        assert heading in md
    assert "dsrsd benchmark ..." in md

    # rerun: nothing is retrained, tables are rewritten from the cells on disk
    def no_training(*a, **k):
        raise AssertionError("a finished cell was retrained")

    monkeypatch.setattr(grid, "run_cell", no_training)
    mtime = (out / "cells" / "dsrsd_net" / "seed0.json").stat().st_mtime_ns
    info = bench.run_benchmark(str(cohort), out, seeds=2, models=["dsrsd_net", "early_fusion"],
                               config=Config(**FAST), device="cpu", progress=False)
    assert info["invocations"][-1]["cells_skipped"] == 4 and len(info["invocations"]) == 2
    assert (out / "cells" / "dsrsd_net" / "seed0.json").stat().st_mtime_ns == mtime
    # a cell from other input columns of the same files (a newer loader): refuse; one written before the
    # input columns were recorded is taken on trust
    cell_file = out / "cells" / "dsrsd_net" / "seed0.json"
    stored = json.loads(cell_file.read_text())
    assert len(stored["inputs"]) == 16
    cell_file.write_text(json.dumps({**stored, "inputs": "0" * 16}))
    with pytest.raises(DsrsdError, match="other input columns"):
        bench.run_benchmark(str(cohort), out, seeds=2, models=["dsrsd_net", "early_fusion"],
                            config=Config(**FAST), device="cpu", progress=False)
    cell_file.write_text(json.dumps({k: v for k, v in stored.items() if k != "inputs"}))
    info = bench.run_benchmark(str(cohort), out, seeds=2, models=["dsrsd_net", "early_fusion"],
                               config=Config(**FAST), device="cpu", progress=False)
    assert info["invocations"][-1]["cells_skipped"] == 4
    # other settings for a finished cell: refuse, and say what to do
    with pytest.raises(DsrsdError, match="new --out"):
        bench.run_benchmark(str(cohort), out, seeds=1, models=["dsrsd_net"], config=Config(**{**FAST, "epochs": 2}),
                            device="cpu", progress=False)
    assert len(json.loads((out / "benchmark.json").read_text())["invocations"]) == 3  # the refusals left no record
    # a cell written before a setting existed is reused when today's value is the one it had then, not otherwise
    path = out / "cells" / "dsrsd_net" / "seed0.json"
    written = json.loads(path.read_text())
    assert written["config"]["kt_window"] == 10 and Config().w_infonce != 1.0
    path.write_text(json.dumps({**written, "config": {k: v for k, v in written["config"].items() if k != "kt_window"}}))
    bench.run_benchmark(str(cohort), out, seeds=1, models=["dsrsd_net"], config=Config(**FAST), device="cpu",
                        progress=False)
    path.write_text(json.dumps({**written, "config": {k: v for k, v in written["config"].items() if k != "w_infonce"}}))
    with pytest.raises(DsrsdError, match="w_infonce"):
        bench.run_benchmark(str(cohort), out, seeds=1, models=["dsrsd_net"], config=Config(**FAST), device="cpu",
                            progress=False)


def test_benchmark_cli_runs_gbm_and_reports_errors(cohort, tmp_path, capsys):
    out = tmp_path / "b"
    code = main(["benchmark", "--data", str(cohort), "--seeds", "1", "--out", str(out), "--models",
                 "gbm,single_profile", "--epochs", "1", "--patience", "1", "--device", "cpu", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "results.md" in capsys.readouterr().out
    results = pd.read_csv(out / "results.csv")
    assert set(results["model"]) == {"gbm", "single_profile"}
    prof = results[(results["model"] == "single_profile") & (results["metric"] == "share_profile")]
    assert prof["value"].iloc[0] == pytest.approx(1.0)  # a single-modality model: all attribution on its modality
    assert "--models gbm,single_profile" in (out / "results.md").read_text()
    code = main(["benchmark", "--data", str(cohort), "--seeds", "1", "--out", str(tmp_path / "c"),
                 "--models", "transformer_xl", "--quiet"])
    assert code == 2 and "unknown model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cohort_600(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench600") / "cohort"
    write_cohort(out, enrolments=600, seed=3)
    return out


def test_benchmark_decomposition_metrics_are_computed(cohort_600, tmp_path):
    """Enough test samples for the probes: planted-factor R^2, placement, cross-modal R^2, CKA, attribution."""
    from dsrsd_core.explain.planted import planted_factors, shared_signal_fraction

    out = tmp_path / "bench"
    bench.run_benchmark(str(cohort_600), out, seeds=1, models=["dsrsd_net", "dsrsd_paper_form"],
                        config=Config(**FAST, min_epochs=0), device="cpu", progress=False)
    truth = json.loads((cohort_600 / "ground_truth.json").read_text())
    factors = planted_factors(truth)
    results = pd.read_csv(out / "results.csv")
    for name in ("dsrsd_net", "dsrsd_paper_form"):
        r = results[(results["model"] == name) & (results["split"] == "test")].set_index("metric")["value"]
        assert r["decomp_verdict"] in (0, 1, 2)
        assert 0 <= r["decomp_shared_attribution"] <= 1
        assert r["decomp_planted_shared_fraction"] == pytest.approx(shared_signal_fraction(truth))
        observed = [f for f, v in factors.items() if v["modalities"]]
        for f in observed:
            assert r[f"placed_{f}"] in (0, 1)
            for m in ("profile", "clickstream", "assessments"):
                for kind in ("shared", "private"):
                    assert np.isfinite(r[f"r2_{f}_{m}.{kind}"])  # probes ran (enough test samples)
        for m in ("profile", "clickstream", "assessments"):
            assert np.isfinite(r[f"cross_shared_{m}"]) and np.isfinite(r[f"cross_private_{m}"])
            assert 0 <= r[f"cka_{m}"] <= 1 + 1e-6
            assert r[f"shared_directions_{m}"] in range(0, 33)
        cell = json.loads((out / "cells" / name / "seed0.json").read_text())
        d = cell["decomposition"]
        assert d["verdict"] in ("trusted", "partly", "not") and d["verdict_basis"] == "planted factors"
        assert sum(d["stream_mean_abs"].values()) > 0
        shared = sum(v for k, v in d["stream_mean_abs"].items() if k.endswith(".shared"))
        assert d["shared_attribution"] == pytest.approx(shared / sum(d["stream_mean_abs"].values()))
        if name == "dsrsd_net":  # a 3-dimensional code spans at most 3 directions
            assert all(0 <= n <= 3 for n in d["shared_directions"].values())
    md = (out / "results.md").read_text()
    assert "## Decomposition" in md and "verdict T/P/N" in md and "min sh" in md


def test_input_fingerprint_follows_the_input_columns_only():
    from dataclasses import replace

    from factories import random_data

    data = random_data(40, seed=1)
    same = random_data(60, seed=2)  # other values and sizes, the same columns
    assert grid.input_fingerprint(data) == grid.input_fingerprint(same)
    name, mod = next(iter(data.modalities.items()))
    renamed = {**data.modalities, name: replace(mod, feature_names=list(mod.feature_names[:-1]) + ["new"])}
    assert grid.input_fingerprint(replace(data, modalities=renamed)) != grid.input_fingerprint(data)
