"""Classification metrics reported for every split."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def classification_metrics(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 and AUC (one-vs-rest per class and their macro mean for >2 classes)."""
    pred = proba.argmax(1)
    out = {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(len(classes))), zero_division=0)),
    }
    present = np.unique(y)
    if len(classes) == 2:
        out["auc"] = float(roc_auc_score(y, proba[:, 1])) if len(present) == 2 else float("nan")
    else:
        per = {}
        for c, name in enumerate(classes):
            pos = y == c
            per[name] = float(roc_auc_score(pos, proba[:, c])) if 0 < pos.sum() < len(y) else float("nan")
        out["auc_per_class"] = per
        out["auc"] = float(np.nanmean(list(per.values()))) if per else float("nan")
    return out
