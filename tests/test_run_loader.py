"""The project's own loader (`Run.model()`, used by `dsrsd explain`, the app and the report) never
unpickles: a `model.pt` carrying a pickle payload is refused and the payload never runs."""

import numpy as np
import pytest
import torch
from factories import trained_run

from dsrsd_core.cli import main
from dsrsd_core.errors import DsrsdError
from dsrsd_core.run_dir import load_run
from dsrsd_core.train.batching import to_tensors
from dsrsd_core.train.trainer import predict


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("loader") / "run"
    data, _, _ = trained_run(path)
    return path, data


class Payload:
    """Unpickles by calling eval: it leaves a marker file, then hands back the genuine weights, so a
    loader that unpickles would even load a working model and never notice."""

    def __init__(self, marker, genuine):
        self.marker, self.genuine = str(marker), str(genuine)

    def __reduce__(self):
        code = (f"(__import__('pathlib').Path({self.marker!r}).write_text('ran'), "
                f"__import__('torch').load({self.genuine!r}, weights_only=True))[1]")
        return eval, (code,)


def _poison(run_dir, tmp_path):
    genuine = tmp_path / "genuine.pt"
    genuine.write_bytes((run_dir / "model.pt").read_bytes())
    marker = tmp_path / "payload_ran"
    torch.save(Payload(marker, genuine), run_dir / "model.pt")
    # the payload really runs and returns working weights (called directly: nothing is unpickled here)
    func, args = Payload(marker, genuine).__reduce__()
    state = func(*args)
    assert marker.exists() and set(state) == set(torch.load(genuine, weights_only=True))
    marker.unlink()
    return marker


def test_genuine_weights_load_and_reproduce_the_stored_predictions(tiny_run):
    path, data = tiny_run
    run = load_run(path, require_explain=False)
    proba = predict(run.model(), to_tensors(data))["proba"]
    stored = run.samples[[f"proba_{c}" for c in run.classes]].to_numpy()
    assert np.allclose(proba, stored, atol=1e-5)


def test_run_model_refuses_a_pickle_payload_and_never_runs_it(tiny_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run[0], run_dir)
    marker = _poison(run_dir, tmp_path)
    with pytest.raises(DsrsdError, match="cannot be loaded"):
        load_run(run_dir, require_explain=False).model()
    assert not marker.exists(), "Run.model() unpickled model.pt and ran its payload"


def test_dsrsd_explain_refuses_a_pickle_payload_and_never_runs_it(tiny_run, tmp_path, capsys):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run[0], run_dir)
    marker = _poison(run_dir, tmp_path)
    assert main(["explain", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot be loaded" in err and "Traceback" not in err
    assert not marker.exists(), "dsrsd explain unpickled model.pt and ran its payload"
    assert not (run_dir / "explain").exists()
