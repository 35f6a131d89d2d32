"""Modality dominance: attribution shares per modality x stream, by class and cohort; gates;
input variance against attribution; agreement of the two attribution methods."""
import streamlit as st

from app import runs, ui
from dsrsd_core import figures as F
from dsrsd_core import views as V

def shares_columns(long) -> list:
    """The columns of :func:`V.shares_wide` that hold shares (every stream and modality total)."""
    return list(dict.fromkeys(long["stream"])) + list(dict.fromkeys(long["modality"]))


ctx = ui.context()
st.title("Modality dominance", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_explained()
    cohort = ctx.cohort_learners()
    words, table, prefix = ui.attribution_method(run, "dom_method")
    attr = runs.frame(run, table).loc[cohort.index]
    st.caption(f"{len(cohort):,} learners ({ctx.cohort.describe()}). Attribution = share of mean absolute "
               f"{words} per stream, for each learner's predicted class.")

    overall = V.share_table(attr, run.streams, prefix=prefix)
    mods = overall.groupby("modality", sort=False)["share"].sum()
    cols = st.columns(len(mods))
    for col, (m, v) in zip(cols, mods.items()):
        own = overall[(overall["modality"] == m) & (overall["kind"] == "shared")]["share"].sum()
        col.metric(f"{m} share", f"{v:.1%}", help=f"of which {own:.1%} through its shared stream")
    st.markdown(f"**{V.headline(mods.to_dict(), dict(zip(overall['stream'], overall['share'])), 'this cohort')}**")

    c1, c2 = st.columns([1, 1])
    with c1:
        ui.chart(F.modality_stream_bar(overall, "Overall"), key="dom_overall")
    with c2:
        ui.dataframe(overall.drop(columns="group").round(4), "stream shares", key="dom_overall_table")
        st.caption(f"mean_abs: mean absolute {words[:-1] if words.endswith('values') else words} (probability "
                   "points); share: its share of the total.")

    st.subheader("By class and cohort", anchor=False)
    t1, t2, t3 = st.tabs(["By true class", "By predicted class", "By cohort"])
    with t1:
        by_true = V.share_table(attr, run.streams, cohort["label_name"], prefix=prefix)
        ui.chart(F.share_bars(by_true, group_title="true class"), key="dom_true")
        ui.dataframe(V.shares_wide(by_true).round(4), "shares by true class", key="dom_true_table",
                     percent=shares_columns(by_true))
    with t2:
        by_pred = V.share_table(attr, run.streams, cohort["pred_name"], prefix=prefix)
        ui.chart(F.share_bars(by_pred, group_title="predicted class"), key="dom_pred")
        ui.dataframe(V.shares_wide(by_pred).round(4), "shares by predicted class", key="dom_pred_table",
                     percent=shares_columns(by_pred))
    with t3:
        choices = {c: l for c, l in V.COHORT_COLUMNS.items() if c in cohort and c != "pred_name"}
        col = st.selectbox("Group learners by", list(choices), format_func=choices.get, key="dom_group",
                           index=list(choices).index("code_presentation") if "code_presentation" in choices else 0)
        by_cohort = V.share_table(attr, run.streams, cohort[col], prefix=prefix)
        ui.chart(F.share_bars(by_cohort, group_title=choices[col]), key="dom_cohort")
        ui.dataframe(V.shares_wide(by_cohort).round(4), f"shares by {col}", key="dom_cohort_table",
                     percent=shares_columns(by_cohort))

    st.subheader("Gate weights", anchor=False)
    st.caption("The fusion gate's weight on each stream (softmax over the streams present). A stream can "
               "carry a large weight and little attribution, or the reverse: the gate says where the model "
               "looks, attribution what changes the prediction.")
    gates = V.mean_by_group(cohort, [f"gate_{s}" for s in run.streams], run.streams, cohort["pred_name"], "gate")
    ui.chart(F.share_bars(gates, value="gate", group_title="predicted class", title="Mean gate weight"),
             key="dom_gates")
    g1, g2 = st.columns([1.3, 1])
    with g1:
        ui.chart(F.gate_box(cohort, run.streams, "Distribution per stream"), key="dom_gate_box")
    with g2:
        ui.dataframe(V.shares_wide(gates, "gate").round(4), "mean gate weights", key="dom_gate_table")

    st.subheader("Does the loudest modality dominate?", anchor=False)
    vs = V.variance_share_table(run.summary)
    v1, v2 = st.columns([1.2, 1])
    with v1:
        ui.chart(F.variance_share_figure(vs), key="dom_variance")
    with v2:
        st.markdown(V.loudest_check(dict(zip(vs["modality"], vs["input_variance"])),
                                    dict(zip(vs["modality"], vs["attribution_share"]))))
        st.caption("Raw variance: total variance of each modality's continuous inputs before standardisation "
                   "(summary.json). Share: test split.")
        ui.dataframe(vs.round(4), "input variance vs share", key="dom_variance_table")

    st.subheader("Agreement between the two attribution methods", anchor=False)
    agree = run.summary.get("method_agreement", {})
    ig = runs.frame(run, "stream_ig").loc[cohort.index]
    shapley_shares = V.share_table(runs.frame(run, "shapley").loc[cohort.index], run.streams)
    a1, a2, a3 = st.columns(3)
    a1.metric("Mean Spearman (all learners)", f"{agree.get('mean_spearman', float('nan')):.2f}")
    a2.metric("Median Spearman", f"{agree.get('median_spearman', float('nan')):.2f}")
    a3.metric("Learners with positive agreement", f"{agree.get('share_positive', float('nan')):.0%}")
    st.caption(f"Second opinion: {agree.get('method', 'integrated gradients')}; per learner, the rank "
               "correlation between the streams' Shapley values and their integrated gradients.")
    h1, h2 = st.columns(2)
    with h1:
        ui.chart(F.agreement_histogram(ig["rank_agreement"], "This cohort"), key="dom_agree_hist")
    with h2:
        ig_shares = V.share_table(ig, run.streams, prefix="ig_")
        ui.chart(F.method_agreement_figure(shapley_shares, ig_shares, "Shares under both methods"),
                 key="dom_agree_bars")
    both = shapley_shares[["stream", "share"]].rename(columns={"share": "shapley_share"}).merge(
        ig_shares[["stream", "share"]].rename(columns={"share": "ig_share"}), on="stream")
    ui.dataframe(both.round(4), "shapley vs ig shares", key="dom_agree_table")
