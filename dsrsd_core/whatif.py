"""What-if for one learner: change a few inputs and see the new prediction and stream contributions.

The dashboard's one on-demand computation (issue 11): one learner, one forward pass and the 2^(2M)
coalitions of its exact stream Shapley values (64 for three modalities), under a time limit. The model
is rebuilt from ``model.pt`` with ``weights_only=True`` (:meth:`Run.model`) and the learner's inputs
from the run's own data (:func:`load_training_data`, fingerprint-checked); the app caches both once per
run (``st.cache_resource``). Nothing here writes to the run.

Edits, in the loader's encodings (:mod:`dsrsd_core.data.oulad`):

* ``submit``: ``{assessment step: score 0-100}``: an assessment the learner did not submit becomes
  submitted on its due day with that score;
* ``clicks``: ``{week name: factor}``: every activity's clicks in that week multiplied by ``factor``
  (the model sees log1p(clicks)).
"""
from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import DsrsdError

TIME_LIMIT_S = 5.0
ASSESSMENT_COLUMNS = {"submitted": 1.0, "score_missing": 0.0, "days_early_30": 0.0, "is_banked": 0.0,
                      "overdue_unsubmitted": 0.0}


def unavailable(run) -> str | None:
    """Why the what-if cannot run for ``run``, from a cheap check (no torch, no data read), so the app can say
    so before anyone fills in the form; None when it may run (:func:`load` still checks the data's fingerprint).
    The data of a synthetic run is rebuilt by the project's generator, so only a folder source can be missing."""
    source = str(run.info.get("data", {}).get("source", ""))
    if source and source != "synthetic" and not Path(source).is_dir():
        return f"this run's training data ({source}) is not on this machine"
    return None


def load(run):
    """(model, data) for ``run``: slow (torch, the data); call once per run and cache."""
    from .train.pipeline import load_training_data

    model = run.model()
    data = load_training_data(run)
    if len(data) != len(run.samples):
        raise DsrsdError(f"{run.path}: the run has {len(run.samples)} samples but its data has {len(data)}; "
                         "the data changed since training")
    _evaluate(model, learner_inputs(data, 0), run.classes, run.streams)  # first-call costs (imports) paid here
    return model, data


def learner_inputs(data, sample: int) -> dict:
    """The one learner's inputs as numpy arrays: ``{modality: {"x", "steps", "cat"}}`` plus ``present``."""
    out = {"present": data.present[[sample]].copy()}
    for name, m in data.modalities.items():
        block = {"x": m.x[[sample]].astype(np.float32).copy()}
        if m.steps is not None:
            block["steps"] = m.steps[[sample]].copy()
        if m.cat is not None:
            block["cat"] = m.cat[[sample]].copy()
        out[name] = block
    return out


def apply_edits(inputs: dict, data, submit: Mapping[int, float] | None = None,
                clicks: Mapping[str, float] | None = None) -> dict:
    """A copy of ``inputs`` with the edits applied; raises DsrsdError for an edit the learner's record cannot take."""
    out = {k: ({kk: vv.copy() for kk, vv in v.items()} if isinstance(v, dict) else v.copy()) for k, v in inputs.items()}
    if submit:
        m = data.modalities.get("assessments")
        if m is None:
            raise DsrsdError("this run has no assessments modality")
        cols = {f: i for i, f in enumerate(m.feature_names)}
        for step, score in submit.items():
            if not out["assessments"]["steps"][0, step]:
                raise DsrsdError(f"assessment {step + 1} is not in this learner's record before the cut-off")
            x = out["assessments"]["x"][0, step]
            for f, v in ASSESSMENT_COLUMNS.items():
                if f in cols:
                    x[cols[f]] = v
            x[cols["score_100"]] = float(np.clip(score, 0, 100)) / 100.0
    if clicks:
        m = data.modalities.get("clickstream")
        if m is None:
            raise DsrsdError("this run has no clickstream modality")
        j = list(data.modalities).index("clickstream")
        if not out["present"][0, j]:
            raise DsrsdError("this learner has no click data, so there are no clicks to scale")
        for week, factor in clicks.items():
            t = list(m.step_names).index(week)
            x = out["clickstream"]["x"][0, t]
            out["clickstream"]["x"][0, t] = np.log1p(np.expm1(x.astype(np.float64)) * max(float(factor), 0.0))
    return out


def _evaluate(model, inputs: dict, classes: Sequence[str], streams: Sequence[str]) -> dict:
    import torch

    from .explain.shapley import exact_stream_shapley

    batch = {"present": torch.as_tensor(inputs["present"], dtype=torch.bool), "y": torch.zeros(1, dtype=torch.long)}
    for name, block in inputs.items():
        if name == "present":
            continue
        batch[name] = {"x": torch.as_tensor(block["x"], dtype=torch.float32)}
        if "steps" in block:
            batch[name]["steps"] = torch.as_tensor(block["steps"], dtype=torch.bool)
        if "cat" in block:
            batch[name]["cat"] = torch.as_tensor(block["cat"], dtype=torch.long)
    with torch.no_grad():
        out = model(batch)
        proba = torch.softmax(out["logits"].float(), -1)[0].numpy()
        enc = model.encode(batch)
        sh = exact_stream_shapley(model.predict_from_streams, model.stream_tensor(enc).float(),
                                  model.stream_mask(batch["present"]))
    phi = sh["phi"][0].numpy()  # (streams, classes)
    return {"proba": {c: float(proba[i]) for i, c in enumerate(classes)},
            "empty": {c: float(sh["empty"][0, i]) for i, c in enumerate(classes)},
            "phi": {c: {s: float(phi[k, i]) for k, s in enumerate(streams)} for i, c in enumerate(classes)}}


def what_if(model, data, sample: int, classes: Sequence[str], streams: Sequence[str],
            submit: Mapping[int, float] | None = None, clicks: Mapping[str, float] | None = None,
            time_limit: float = TIME_LIMIT_S) -> dict:
    """The learner's prediction and exact stream Shapley values as recorded (``before``) and with the edits
    (``after``), with ``seconds``. Raises DsrsdError when the edits cannot apply or time runs out."""
    t0 = time.perf_counter()
    base = learner_inputs(data, sample)
    edited = apply_edits(base, data, submit, clicks)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        job = pool.submit(lambda: (_evaluate(model, base, classes, streams), _evaluate(model, edited, classes, streams)))
        before, after = job.result(timeout=time_limit)
    except concurrent.futures.TimeoutError:
        raise DsrsdError(f"the what-if took longer than {time_limit:.0f} s and was stopped; try again when the "
                         "server is less busy") from None
    finally:
        pool.shutdown(wait=False)
    return {"before": before, "after": after, "seconds": time.perf_counter() - t0}
