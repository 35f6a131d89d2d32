"""The shipped default run opens with the reader, has the current format, and the current model
code reproduces its stored predictions from the regenerated synthetic cohort."""
from pathlib import Path

import numpy as np
import pytest

from dsrsd_core.run_dir import FORMAT_VERSION, load_run
from dsrsd_core.train.pipeline import load_training_data
from dsrsd_core.train.batching import to_tensors
from dsrsd_core.train.trainer import predict

DEFAULT = Path(__file__).resolve().parents[1] / "checkpoints" / "default"


def test_default_run_is_complete_current_and_small():
    run = load_run(DEFAULT)  # raises with a message if missing, partial or old
    assert run.info["format_version"] == FORMAT_VERSION
    assert run.info["data"]["source"] == "synthetic"
    assert run.explained and "planted_truth" in run.metrics
    size = sum(f.stat().st_size for f in DEFAULT.rglob("*") if f.is_file())
    assert size < 20 * 2**20, f"default run is {size / 2**20:.1f} MiB"


def test_current_model_code_reproduces_the_stored_predictions():
    run = load_run(DEFAULT)
    model = run.model()  # strict state_dict load: fails if the model code changed shape
    data = load_training_data(run)  # regenerates the cohort; refuses it if the files differ
    proba = predict(model, to_tensors(data))["proba"]
    stored = run.table("predictions")[[f"proba_{c}" for c in run.classes]].to_numpy()
    assert np.allclose(proba, stored, atol=1e-4)
