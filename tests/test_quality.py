"""dsrsd_core.quality (the Model quality page's numbers) against scikit-learn and by hand."""
import numpy as np
import pandas as pd
import pytest

from dsrsd_core import quality as Q

sk = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_curves_match_scikit_learn(seed, ties):
    rng = np.random.default_rng(seed)
    y = rng.random(400) < 0.3
    score = np.clip(0.3 * y + rng.normal(0.4, 0.2, 400), 0, 1)
    if ties:  # rounded scores: many ties, which both curves must treat as one threshold
        score = np.round(score, 1)
    assert Q.roc_auc(y, score) == pytest.approx(sk.roc_auc_score(y, score), abs=1e-12)
    assert Q.average_precision(y, score) == pytest.approx(sk.average_precision_score(y, score), abs=1e-12)
    fpr, tpr, _ = sk.roc_curve(y, score, drop_intermediate=False)
    ours = Q.roc_curve(y, score)
    assert np.allclose(ours["fpr"], fpr) and np.allclose(ours["tpr"], tpr)
    prec, rec, _ = sk.precision_recall_curve(y, score, drop_intermediate=False)
    mine = Q.pr_curve(y, score)
    assert np.allclose(mine["precision"].to_numpy()[1:][::-1], prec[:-1])
    assert np.allclose(mine["recall"].to_numpy()[1:][::-1], rec[:-1])
    assert np.isnan(Q.roc_auc(np.ones(5, bool), np.arange(5.0)))


def test_confusion_calibration_and_groups_by_hand():
    labels, preds = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0])
    cm = Q.confusion(labels, preds, ["no", "yes"])
    assert cm.loc["no", "yes"] == 1 and cm.loc["yes", "no"] == 1 and cm.loc["yes", "yes"] == 2
    assert (cm.to_numpy() == sk.confusion_matrix(labels, preds)).all()
    y = np.array([0, 1, 1, 0, 1, 1])
    score = np.array([0.05, 0.15, 0.95, 0.85, 0.9, 1.0])  # 1.0 falls in the last bin
    table, ece = Q.calibration(y, score)
    assert list(table["bin"]) == ["0.0–0.1", "0.1–0.2", "0.8–0.9", "0.9–1.0"]
    assert list(table["n"]) == [1, 1, 1, 3]
    by_hand = (abs(0 - 0.05) + abs(1 - 0.15) + abs(0 - 0.85) + 3 * abs(1 - (0.95 + 0.9 + 1.0) / 3)) / 6
    assert ece == pytest.approx(by_hand)
    frame = pd.DataFrame({"label": labels, "pred": preds})
    per = Q.group_metrics(frame, pd.Series(["a", "a", "b", "b", "b"]), labels.astype(bool),
                          np.array([0.2, 0.6, 0.7, 0.8, 0.4])).set_index("group")
    assert per.loc["b", "n"] == 3 and per.loc["b", "recall"] == pytest.approx(2 / 3)
    assert per.loc["a", "precision"] == 0.0 and np.isnan(per.loc["a", "AUC"])
    assert per.loc["a", "accuracy"] == 0.5
