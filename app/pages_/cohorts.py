"""Compare two cohorts side by side (two presentations, two IMD bands, any profile column): who they are,
how well the model does on them, which modality drives their predictions, and what removing a modality
or one stream does to them. Everything is read from the stored tables (dsrsd_core.views / quality)."""
import pandas as pd
import streamlit as st

from app import runs, ui
from dsrsd_core import figures as F
from dsrsd_core import quality as Q
from dsrsd_core import views as V

COLUMNS = {**{c: lbl for c, lbl in V.COHORT_COLUMNS.items() if c not in ("pred_name", "split")},
           "highest_education": "Highest education", "presentation": "Module and presentation",
           "label_name": "True class"}

ctx = ui.context()
st.title("Compare cohorts", anchor=False)  # also when the page cannot be drawn
with ui.guard():
    run = ctx.require_explained()
    pool = ctx.cohort_learners()
    st.caption(f"Two groups of the learners in the sidebar's cohort ({ctx.cohort.describe()}, {len(pool):,} "
               "learners), side by side.")
    cols = {c: lbl for c, lbl in COLUMNS.items() if c in pool}
    c0, c1, c2 = st.columns(3)
    col = c0.selectbox("Compare by", list(cols), format_func=cols.get, key="coh_column",
                       index=list(cols).index("code_presentation") if "code_presentation" in cols else 0)
    values = sorted(pool[col].dropna().astype(str).unique())
    if len(values) < 2:
        st.info(f"The cohort holds one value of {cols[col].lower()} only ({', '.join(values)}); choose another "
                "column or widen the cohort in the sidebar.")
        st.stop()
    for key, default in (("coh_a", values[0]), ("coh_b", values[1])):
        if st.session_state.get(key) not in values:
            st.session_state[key] = default
    a = c1.selectbox("Cohort A", values, key="coh_a")
    b = c2.selectbox("Cohort B", values, key="coh_b")
    if a == b:
        st.info("Choose two different values to compare.")
        st.stop()
    names = {a: f"A: {a}", b: f"B: {b}"}
    group = pool[col].astype(str).map(names)
    both = pool[group.notna()]
    group = group[group.notna()]

    st.subheader("Who they are and how the model does", anchor=False)
    positive = both["label_name"].isin(V.risk_classes(run.classes)).to_numpy()
    score = both["risk"].to_numpy(float)
    test = (both["split"] == "test").to_numpy()
    allsplits = Q.group_metrics(both, group, positive, score).set_index("group")
    on_test = Q.group_metrics(both[test], group[test], positive[test], score[test]).set_index("group")
    rows = []
    for g in names.values():
        r = {"cohort": g, "learners": int(allsplits.loc[g, "n"]) if g in allsplits.index else 0,
             "at risk (true)": allsplits["at risk (true)"].get(g), "mean chance": allsplits["mean chance"].get(g)}
        for k in ("n", "AUC", "accuracy", "recall", "precision"):
            r[f"test {k}"] = on_test[k].get(g) if g in on_test.index else None
        rows.append(r)
    summary = pd.DataFrame(rows)
    ui.dataframe(summary, "cohort comparison", key="coh_summary",
                 percent=["at risk (true)", "mean chance", "test accuracy", "test recall", "test precision"],
                 column_config={"test AUC": st.column_config.NumberColumn(format="%.3f")})
    st.caption("At risk (true) and mean chance: all splits. Test metrics: learners the model never saw; a "
               "cohort with few test learners has noisy numbers.")

    st.subheader("Which modality drives their predictions", anchor=False)
    words, table, prefix = ui.attribution_method(run, "coh_method")
    attr = runs.frame(run, table).loc[both.index]
    shares = V.share_table(attr, run.streams, group, prefix=prefix)
    s1, s2 = st.columns([1.3, 1])
    with s1:
        st.markdown(f"**Share of {words} per stream**")
        ui.chart(F.share_bars(shares, group_title="cohort"), key="coh_shares")
    with s2:
        for g in names.values():
            part = shares[shares["group"] == g]
            mods = part.groupby("modality", sort=False)["share"].sum().to_dict()
            st.markdown(f"**{g}**: {V.headline(mods, dict(zip(part['stream'], part['share'])), 'this cohort')}")
    wide = V.shares_wide(shares)
    ui.dataframe(wide.round(4), "cohort shares", key="coh_share_table",
                 percent=[c for c in wide.columns if c not in ("group", "n")])

    st.subheader("What removing a modality or one stream does to them", anchor=False)
    drops = runs.frame(run, "modality_drop_samples")
    frames = []
    for value, g in names.items():
        summ = V.cohort_drop_summary(drops, both[group == g])
        frames.append(summ.assign(cohort=g))
    effects = pd.concat(frames, ignore_index=True)
    effects = effects[effects["mode"].isin(["mask", "stream"]) & (effects["removed"] != "none")]
    effects["removal"] = "without " + effects["removed"]
    ui.chart(F.paired_bars(effects, "removal", "mean_abs_change", "cohort",
                           "Mean change in a learner's class probability", "mean |change| in probability", fmt=".2f"),
             key="coh_drop")
    wide = effects.pivot_table(index="removal", columns="cohort", values=["mean_abs_change", "flip_rate"], sort=False)
    wide.columns = [f"{c} · {v.replace('_', ' ')}" for v, c in wide.columns]
    ui.dataframe(wide.reset_index().round(4), "cohort drop effects", key="coh_drop_table",
                 percent=[c for c in wide.columns if "flip" in c])
    st.caption("Missing-modality path (mask) for whole modalities; one stream removed through its gate "
               "(stream). Flip rate: share of the cohort whose predicted class changes.")
