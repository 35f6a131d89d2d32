"""Model quality on the stored predictions: confusion matrix, ROC and precision-recall curves, calibration
and metrics per cohort (dsrsd_core.quality; numpy on samples.parquet, nothing recomputed by the model)."""
import numpy as np
import streamlit as st

from app import ui
from dsrsd_core import figures as F
from dsrsd_core import quality as Q
from dsrsd_core import views as V

SPLITS = {"test": "test (never seen in training)", "val": "validation (chose the epoch)", "train": "training"}

ctx = ui.context()
st.title("Model quality", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_run()
    cohort = ctx.cohort_learners()
    splits = [s for s in SPLITS if s in set(cohort["split"])]
    c1, c2 = st.columns(2)
    split = c1.selectbox("Split", splits, format_func=SPLITS.get, key="quality_split")
    part = cohort[cohort["split"] == split]
    risk_words = V.risk_label(run.classes)
    positive = part["label_name"].isin(V.risk_classes(run.classes)).to_numpy()
    score = part["risk"].to_numpy(float)
    st.caption(f"{len(part):,} learners of the {split} split ({ctx.cohort.describe()}). “At risk” is "
               f"{' or '.join(V.humanize(c) for c in V.risk_classes(run.classes))}; the score is the stored "
               f"{risk_words}. Computed from the run's stored predictions.")
    auc, ap = Q.roc_auc(positive, score), Q.average_precision(positive, score)
    table, ece = Q.calibration(positive, score)
    m = st.columns(5)
    m[0].metric("Learners", f"{len(part):,}")
    m[1].metric("AUC", f"{auc:.3f}", help="Chance that a learner who is at risk gets a higher score than one who "
                "is not (0.5 = guessing, 1 = perfect ranking).")
    m[2].metric("Average precision", f"{ap:.3f}", help=f"Area under the precision-recall curve; guessing gives "
                f"the share at risk ({positive.mean():.0%}).")
    m[3].metric("Accuracy", f"{(part['label'] == part['pred']).mean():.1%}")
    m[4].metric("Calibration error", f"{ece:.1%}", help="Expected calibration error: how far, on average over the "
                "learners, the predicted chance is from the observed share at risk (10 equal-width bins).")

    q1, q2 = st.columns(2)
    with q1:
        cm = Q.confusion(part["label"], part["pred"], run.classes)
        ui.chart(F.confusion_figure(cm, "Confusion matrix"), key="quality_confusion")
        ui.csv_button(cm.reset_index(names="true class"), f"confusion {split}", key="csv_quality_confusion")
    with q2:
        ui.chart(F.calibration_figure({split: table}, "Calibration: predicted chance against what happened"),
                 key="quality_calibration")
        ui.csv_button(table, f"calibration {split}", key="csv_quality_calibration")
    r1, r2 = st.columns(2)
    with r1:
        ui.chart(F.roc_figure({split: Q.roc_curve(positive, score)}, {split: auc}, "ROC curve"), key="quality_roc")
    with r2:
        ui.chart(F.pr_figure({split: Q.pr_curve(positive, score)}, {split: ap}, {split: float(positive.mean())},
                             "Precision-recall curve"), key="quality_pr")

    st.subheader("Per cohort", anchor=False)
    choices = {c: lbl for c, lbl in V.COHORT_COLUMNS.items() if c in part and c != "split"}
    col = st.selectbox("Group learners by", list(choices), format_func=choices.get, key="quality_group",
                       index=list(choices).index("code_presentation") if "code_presentation" in choices else 0)
    per = Q.group_metrics(part, part[col], positive, score).rename(columns={"group": choices[col]})
    ui.dataframe(per, f"metrics by {col} {split}", key="quality_groups",
                 percent=["at risk (true)", "mean chance", "accuracy", "recall", "precision"],
                 column_config={"AUC": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Recall: of the learners truly at risk, the share the model flags (chance ≥ 50%). Precision: of "
               "the flagged, the share truly at risk. A group with few learners has noisy numbers; AUC is empty "
               "where a group holds one outcome only.")
    if np.isfinite(auc) and len(per) > 1:
        worst = per.dropna(subset=["AUC"]).sort_values("AUC").head(1)
        if len(worst):
            st.caption(f"Lowest AUC: {worst.iloc[0, 0]} ({worst['AUC'].iloc[0]:.3f}, {int(worst['n'].iloc[0]):,} "
                       f"learners) against {auc:.3f} overall.")
