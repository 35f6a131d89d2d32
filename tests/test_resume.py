"""Training continues after an interruption and ends exactly where an uninterrupted run ends."""
import json

import numpy as np
import pytest
import torch
from factories import random_data

from dsrsd_core.data.splits import learner_split
from dsrsd_core.errors import DsrsdError
from dsrsd_core.models import build_model
from dsrsd_core.train.checkpoint import Checkpointer
from dsrsd_core.train.config import Config
from dsrsd_core.train.trainer import NonFiniteLoss, train_model


def setup(n=240, **kw):
    data = random_data(n, seed=4)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(**{"epochs": 6, "min_epochs": 2, "patience": 6, "d_model": 16, "d_stream": 8, "batch_size": 32, **kw})
    return data, split, cfg, (lambda: build_model(data.specs(), len(data.classes), cfg))


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_same_result(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert np.array_equal(a.proba, b.proba)
    assert json.dumps(a.metrics, sort_keys=True) == json.dumps(b.metrics, sort_keys=True)
    assert without_seconds(a.history) == without_seconds(b.history)
    assert a.best_epoch == b.best_epoch


class Stop(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("kill_after", [1, 4])
def test_interrupted_training_resumes_bit_identically(tmp_path, one_torch_thread, kill_after):
    data, split, cfg, make = setup()
    plain = train_model(make, data, split, cfg, "cpu", progress=False)

    def interrupt(epoch):
        if epoch == kill_after:
            raise Stop

    ckpt = Checkpointer(tmp_path / "ckpt", {"data_fingerprint": "x"})
    with pytest.raises(Stop):
        train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch_end=interrupt)
    assert ckpt.load()["epoch"] == kill_after
    # torch's global RNG is disturbed in between, as it would be in a new process
    torch.manual_seed(12345)
    resumed = train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=ckpt)
    assert_same_result(plain, resumed)
    assert len(resumed.history) == len(plain.history)


def test_checkpoint_of_other_data_is_refused(tmp_path, one_torch_thread):
    data, split, cfg, make = setup(epochs=1)
    train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=Checkpointer(tmp_path, {"data_fingerprint": "a"}))
    with pytest.raises(DsrsdError, match="different data fingerprint"):
        train_model(make, data, split, cfg, "cpu", progress=False,
                    checkpoint=Checkpointer(tmp_path, {"data_fingerprint": "b"}))


def test_non_finite_loss_names_epoch_and_term_and_keeps_last_checkpoint(tmp_path, one_torch_thread, monkeypatch):
    import dsrsd_core.train.trainer as trainer

    data, split, cfg, make = setup()
    real = trainer.loss_terms
    calls = {"epoch": 0}

    def poisoned(out, y, present, cfg):
        terms = real(out, y, present, cfg)
        if calls["epoch"] >= 3:
            terms["orthogonality"] = terms["orthogonality"] * float("nan")
            terms["total"] = terms["total"] + terms["orthogonality"]
        return terms

    monkeypatch.setattr(trainer, "loss_terms", poisoned)
    ckpt = Checkpointer(tmp_path / "ckpt")

    def count(epoch):
        calls["epoch"] = epoch

    with pytest.raises(NonFiniteLoss) as e:
        train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch_end=count)
    msg = str(e.value)
    assert "epoch 4" in msg and "'orthogonality'" in msg and "nan" in msg and "epoch 3" in msg
    assert ckpt.load()["epoch"] == 3


def test_training_that_pruned_its_codes_resumes_bit_identically(tmp_path, one_torch_thread):
    """Codes pruned at epoch 2 (buffers created then, optimiser moments of the re-expressed weights
    reset): an interruption after it resumes to the same result, and no checkpoint predates it."""
    data, split, cfg, make = setup(code_prune_r2=0.99, code_prune_epoch=2, min_epochs=1)
    plain = train_model(make, data, split, cfg, "cpu", progress=False)
    assert plain.model.code_masks() is not None and plain.best_epoch >= cfg.code_prune_epoch
    assert {"code_r2_profile_1", "code_r2_assessments_3", "code_width_profile"} <= set(plain.history[1])
    assert plain.history[1]["code_width_profile"] == 1 and plain.history[1]["code_r2_profile_1"] <= 1

    def interrupt(epoch):
        if epoch == 3:
            raise Stop

    ckpt = Checkpointer(tmp_path / "ckpt", {"data_fingerprint": "x"})
    with pytest.raises(Stop):
        train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch_end=interrupt)
    torch.manual_seed(12345)
    assert_same_result(plain, train_model(make, data, split, cfg, "cpu", progress=False, checkpoint=ckpt))
