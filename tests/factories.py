"""Small random datasets in the MultimodalData contract, for model and training tests."""
import numpy as np
import pandas as pd

from dsrsd_core.data.dataset import Modality, MultimodalData


def random_data(n: int = 64, seed: int = 0, n_classes: int = 2, signal: bool = True) -> MultimodalData:
    """A profile (tabular, with categories), clicks (sequence) and assessments (sequence, some empty).

    With ``signal`` the label depends on a factor shown in both sequences, so a model can learn it.
    """
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n)
    y = np.digitize(factor + 0.3 * rng.normal(size=n), np.quantile(factor, np.linspace(0, 1, n_classes + 1)[1:-1]))
    if not signal:
        y = rng.integers(0, n_classes, n)
    profile = Modality("profile", "tabular", rng.normal(size=(n, 3)).astype(np.float32), ["a", "b", "c"],
                       cat=rng.integers(0, 4, size=(n, 2)), cat_names=["gender", "imd_band"], cat_cardinalities=[4, 4])
    t_click, t_ass = 6, 4
    clicks = (rng.normal(size=(n, t_click, 5)) + factor[:, None, None]).astype(np.float32)
    click_steps = np.arange(t_click)[None, :] < rng.integers(1, t_click + 1, n)[:, None]
    ass = (rng.normal(size=(n, t_ass, 3)) + factor[:, None, None]).astype(np.float32)
    ass_steps = np.arange(t_ass)[None, :] < rng.integers(0, t_ass + 1, n)[:, None]  # some have none
    mods = {
        "profile": profile,
        "clickstream": Modality("clickstream", "sequence", clicks, [f"f{i}" for i in range(5)], click_steps,
                                [f"week {i}" for i in range(t_click)]),
        "assessments": Modality("assessments", "sequence", ass, ["x", "y", "z"], ass_steps,
                                [f"assessment {i + 1}" for i in range(t_ass)]),
    }
    present = np.ones((n, 3), dtype=bool)
    present[rng.random(n) < 0.2, 1] = False  # clicks missing for some samples
    meta = pd.DataFrame({"id_student": np.arange(n) // 2 + 1000, "code_module": "AAA", "code_presentation": "2013J"})
    classes = ["not_at_risk", "at_risk"] if n_classes == 2 else [f"c{i}" for i in range(n_classes)]
    return MultimodalData(mods, present, y.astype(np.int64), classes, meta, {"source": "random"})


def trained_run(path, n: int = 60, seed: int = 1, **config):
    """Train DSRSD-Net briefly on :func:`random_data` (one thread) and write the run at ``path``.

    Returns (data, split, result). ``config`` overrides the small default settings (1 epoch, d_model 8).
    """
    import torch

    from dsrsd_core.data.splits import learner_split
    from dsrsd_core.models import build_model
    from dsrsd_core.run_dir import write_training_run
    from dsrsd_core.train.config import Config
    from dsrsd_core.train.trainer import train_model

    torch.set_num_threads(1)
    data = random_data(n, seed=seed)
    split = learner_split(data.meta["id_student"].to_numpy(), data.y, seed=0)
    cfg = Config(**{"epochs": 1, "d_model": 8, "d_stream": 4, **config})
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, "cpu",
                         progress=False)
    write_training_run(path, data, result, cfg, "cpu", "random")
    return data, split, result
