"""Read-side helpers shared by the dashboard and the static report: joins and aggregations of the
tables a run directory stores (docs/run_format.md), never model computation.

Every function takes plain DataFrames / dicts and returns DataFrames or text, so the app pages and
``dsrsd report`` show exactly the same numbers.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .data.decode import assessment_record
from .shares import attribution_shares

# Filters that apply across the dashboard's pages: samples.parquet column -> label.
COHORT_COLUMNS = {
    "code_module": "Module",
    "code_presentation": "Presentation",
    "gender": "Gender",
    "age_band": "Age band",
    "imd_band": "IMD band",
    "region": "Region",
    "disability": "Disability",
    "pred_name": "Predicted class",
    "split": "Split",
}


def split_stream(stream: str) -> tuple[str, str]:
    """``'clickstream.shared'`` -> ``('clickstream', 'shared')``."""
    modality, _, kind = stream.rpartition(".")
    return modality, kind


def humanize(name: str) -> str:
    """Class names as text: ``not_at_risk`` -> ``not at risk``."""
    return str(name).replace("_", " ")


# ---- risk -----------------------------------------------------------------------------------
def risk_classes(classes: Sequence[str]) -> list[str]:
    """The classes that mean 'at risk': ``at_risk`` when the target is binary, Fail + Withdrawn
    for the four-class outcome, else the last class."""
    if "at_risk" in classes:
        return ["at_risk"]
    bad = [c for c in classes if c in ("Fail", "Withdrawn")]
    return bad or [classes[-1]]


def risk_score(samples: pd.DataFrame, classes: Sequence[str]) -> pd.Series:
    cols = [f"proba_{c}" for c in risk_classes(classes) if f"proba_{c}" in samples]
    if not cols:
        return pd.Series(np.nan, index=samples.index)
    return samples[cols].sum(axis=1)


def risk_label(classes: Sequence[str]) -> str:
    return "p(" + " or ".join(humanize(c) for c in risk_classes(classes)) + ")"


# ---- attribution shares -----------------------------------------------------------------------
def stream_frame(streams: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([{"stream": s, "modality": split_stream(s)[0], "kind": split_stream(s)[1]} for s in streams])


def share_table(attribution: pd.DataFrame, streams: Sequence[str], groups: pd.Series | None = None,
                prefix: str = "phi_") -> pd.DataFrame:
    """Share of mean absolute attribution per stream (predicted class), overall or per group.

    Long table: ``group``, ``stream``, ``modality``, ``kind``, ``mean_abs``, ``share``, ``n``.
    Shares are :func:`dsrsd_core.shares.attribution_shares` within each group (as in ``summary.json``).
    """
    values = attribution[[f"{prefix}{s}" for s in streams]].to_numpy()
    keys = groups.reindex(attribution.index).astype("string").fillna("(missing)") if groups is not None else \
        pd.Series("all", index=attribution.index)
    rows = []
    for group in sorted(keys.unique()):
        rows_of = (keys == group).to_numpy()
        s = attribution_shares(values[rows_of], streams)
        rows += [{"group": group, "n": int(rows_of.sum()), "stream": st, "mean_abs": s["mean_abs"][st],
                  "share": s["share"][st]} for st in streams]
    long = pd.DataFrame(rows).merge(stream_frame(streams), on="stream")
    return long[["group", "n", "stream", "modality", "kind", "mean_abs", "share"]]


def mean_by_group(frame: pd.DataFrame, columns: Sequence[str], names: Sequence[str],
                  groups: pd.Series | None = None, value: str = "value") -> pd.DataFrame:
    """Mean of ``columns`` per group, as the same long shape as :func:`share_table`."""
    values = frame[list(columns)].copy()
    values.columns = list(names)
    keys = groups.reindex(values.index).astype("string").fillna("(missing)") if groups is not None else \
        pd.Series("all", index=values.index)
    means = values.groupby(keys, observed=True).mean()
    counts = keys.value_counts()
    long = means.reset_index(names="group").melt(id_vars="group", var_name="stream", value_name=value)
    long["n"] = long["group"].map(counts).astype(int)
    return long.merge(stream_frame(names), on="stream")


def shares_wide(long: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """One row per group: ``n``, one column per stream and one total per modality (for tables and CSV)."""
    streams = list(dict.fromkeys(long["stream"]))
    wide = long.pivot_table(index=["group", "n"], columns="stream", values=value, aggfunc="first", sort=False)
    wide = wide.reindex(columns=streams)
    for m in dict.fromkeys(split_stream(st)[0] for st in streams):
        wide[m] = wide[[st for st in streams if split_stream(st)[0] == m]].sum(axis=1)
    wide.columns.name = None
    return wide.reset_index()


def headline(modality_share: Mapping[str, float], stream_share: Mapping[str, float] | None = None,
             scope: str = "the test split") -> str:
    """One line answering "which modality drives this model?"."""
    if not modality_share:
        return "No attribution was recorded for this run."
    ranked = sorted(modality_share.items(), key=lambda kv: -kv[1])
    top, top_share = ranked[0]
    rest = ", ".join(f"{m} {s:.0%}" for m, s in ranked[1:])
    verb = "drives" if len(ranked) == 1 or top_share - ranked[1][1] >= 0.05 else "narrowly leads"
    text = f"The {top} modality {verb} this model: {top_share:.0%} of the stream attribution on {scope}"
    text += f" ({rest})." if rest else "."
    if stream_share:
        shared = sum(v for s, v in stream_share.items() if s.endswith(".shared"))
        own = stream_share.get(f"{top}.shared", 0.0)
        tot = own + stream_share.get(f"{top}.private", 0.0)
        if tot > 0:
            part = "through the stream it shares with the other modalities" if own / tot >= 0.5 else \
                "mostly through its private stream"
            text += f" It acts {part} ({own / tot:.0%} shared);"
        text += f" {shared:.0%} of all attribution flows through shared streams."
    return text


def loudest_check(input_variance: Mapping[str, float], modality_share: Mapping[str, float]) -> str:
    """Does the modality with the largest raw input variance also get the largest attribution?"""
    common = [m for m in input_variance if m in modality_share]
    if not common:
        return "No input variance was recorded for this run."
    loud = max(common, key=lambda m: input_variance[m])
    top = max(common, key=lambda m: modality_share[m])
    if loud == top:
        return (f"Yes: {loud}, the loudest modality (raw variance {input_variance[loud]:.2g}), also takes the "
                f"largest share of attribution ({modality_share[loud]:.0%}). Check that this is signal and not "
                f"scale: the modality-drop lab shows what the model loses without it.")
    return (f"No: {loud} is the loudest modality (raw variance {input_variance[loud]:.2g}) but holds "
            f"{modality_share[loud]:.0%} of the attribution; {top} leads with {modality_share[top]:.0%}.")


def variance_share_table(summary: Mapping, split: str = "test") -> pd.DataFrame:
    var = summary.get("input_variance", {}) or {}
    share = summary.get("attribution", {}).get(split, {}).get("modality_share", {}) or {}
    mods = [m for m in share] + [m for m in var if m not in share]
    return pd.DataFrame({"modality": mods, "input_variance": [var.get(m, np.nan) for m in mods],
                         "attribution_share": [share.get(m, np.nan) for m in mods]})


# ---- run documents ------------------------------------------------------------------------------
def metrics_table(metrics: Mapping) -> pd.DataFrame:
    rows = []
    for split in ("train", "val", "test"):
        m = metrics.get(split)
        if isinstance(m, Mapping):
            rows.append({"split": split, **{k: m.get(k) for k in ("n", "accuracy", "macro_f1", "auc")}})
    return pd.DataFrame(rows, columns=["split", "n", "accuracy", "macro_f1", "auc"])


def sample_unit(info: Mapping | None) -> str:
    """What one sample of a run is, in words, plural: learners (final outcome), responses (knowledge
    tracing) or assessments (OULAD's next assessment, one sample per enrolment and assessment)."""
    info = info or {}
    report = (info.get("data", {}) or {}).get("report", {}) or {}
    if report.get("source_kind"):
        return "responses"
    return "assessments" if info.get("task") == "next_step" else "learners"


def _kt_card(info: Mapping, report: Mapping, samples: pd.DataFrame | None) -> dict:
    """The data card of a knowledge-tracing run (``dsrsd_core/data/kt``): responses, not presentations."""
    classes = list(info.get("classes", []))
    if samples is not None and "label_name" in samples:
        found = samples["label_name"].astype(str).value_counts()
        counts = {c: int(found.get(c, 0)) for c in classes or found.index}
    else:
        counts = report.get("class_counts", {}) or {}
    window = report.get("window", {}) or {}
    sizes = info.get("split_sizes", {}) or {}
    files = report.get("files", {}) or {}
    split_rule = ("the files' own train / test learners, validation learners held out of train"
                  if report.get("fixed_split")
                  else "by learner, seeded (the validation and test fractions of the run's config)")
    n, n_resp, n_users = report.get("n_samples"), report.get("n_responses"), report.get("n_users")
    facts = {
        "Source": f"{data_source(info)} ({report.get('source_kind', '?')}"
                  + (f": {', '.join(files)}" if files else "") + ")",
        "Task": f"is the learner's next response correct? ({', '.join(humanize(c) for c in classes)})",
        "Samples": (f"{n:,} scored responses of {n_resp:,}, from {n_users:,} learners"
                    if all(isinstance(v, int) for v in (n, n_resp, n_users)) else "?"),
        "Scored": str(report.get("scored", "?")),
        "History window": (f"the last {window['last_responses']} responses; counts over {window.get('counts', '?')}"
                           if "last_responses" in window else "?"),
        "Leakage guards": "splits are by learner: no learner is in two splits; a response's own attempts, hints, "
                          "times and answer are never its features; " + str(window.get("visible", "")),
        "Behaviour inputs": ", ".join(report.get("behaviour_fields", []) or []) or "none in this source",
        "Split": split_rule + (" · " + " · ".join(f"{k} {v:,}" for k, v in sizes.items()) if sizes else ""),
        "Class counts": " · ".join(f"{humanize(k)} {v:,}" for k, v in counts.items()) or "?",
        "Model": f"{info.get('model', '?')} · seed {info.get('seed', '?')} · trained on {info.get('device', '?')} "
                 f"· best epoch {info.get('best_epoch', '?')}",
    }
    return {"facts": facts, "presentations": pd.DataFrame()}


def data_source(info: Mapping) -> str:
    source = str((info.get("data", {}) or {}).get("source", "?"))
    return Path(source).name or source


def data_card(info: Mapping, samples: pd.DataFrame | None = None) -> dict:
    """The facts of the data card as ``{label: text}`` plus a per-presentation table, for the samples the run
    used: when it was trained on a selection of presentations (``report.presentations_selected``), the
    presentations, class counts, exclusions and click coverage are those of the selection, not of the folder.
    ``samples``: the run's samples.parquet (class counts per presentation are counted from it)."""
    data = info.get("data", {}) or {}
    report = data.get("report", {}) or {}
    if report.get("source_kind"):  # knowledge tracing: no presentations, cut-off or clickstream
        return _kt_card(info, report, samples)
    cutoff = report.get("cutoff", {}) or {}
    source = data.get("source", "?")
    if source == "synthetic":
        source = "synthetic cohort in the OULAD schema (project generator, planted ground truth)"
    if cutoff.get("rule") == "fraction":
        rule = f"{cutoff.get('fraction', 0):.0%} of each presentation's length"
    elif cutoff.get("rule"):
        rule = f"day {cutoff.get('day')}"
    else:
        rule = "?"
    in_folder = list(report.get("presentations", []) or [])
    selected = list(report.get("presentations_selected", []) or [])
    used = selected or in_folder
    excluded = report.get("excluded", {}) or {}
    by_pres = report.get("unregistered_by_presentation")
    guards = ["splits are by learner: no learner is in two splits",
              "only data dated before the cut-off is used; date_unregistration is never a feature"]
    if selected and isinstance(by_pres, Mapping):
        n_out = sum(int(by_pres.get(p, 0)) for p in selected)
        guards.insert(0, f"{n_out:,} enrolments of the selected presentations unregistered before the cut-off and "
                         f"are not predicted (their outcome is already known)")
    elif selected and excluded.get("unregistered_before_cutoff") is not None:
        guards.insert(0, f"enrolments that unregistered before the cut-off are not predicted "
                         f"({excluded['unregistered_before_cutoff']:,} across all {len(in_folder)} presentations of "
                         f"the data folder; this run did not record how many of them are in its selection)")
    elif excluded.get("unregistered_before_cutoff") is not None:
        guards.insert(0, f"{excluded['unregistered_before_cutoff']:,} enrolments that unregistered before the "
                         f"cut-off are not predicted (their outcome is already known)")
    sizes = info.get("split_sizes", {}) or {}
    classes = list(info.get("classes", []))
    if samples is not None and "label_name" in samples:
        found = samples["label_name"].astype(str).value_counts()
        counts = {c: int(found.get(c, 0)) for c in classes or found.index}
    elif selected:
        counts = {}
    else:
        counts = report.get("class_counts", {}) or {}
    cover = report.get("click_coverage", {}) or {}
    if selected and cover:
        covered = sum(bool((cover.get(p) or {}).get("covered")) for p in selected)
        clicks = f"clicks cover {covered} of the {len(selected)} selected presentations up to their cut-off"
    else:
        clicks = report.get("clickstream_note", "?")
    n_samples = len(samples) if samples is not None else report.get("n_samples")
    facts = {
        "Source": str(source),
        "Task": f"{info.get('task', '?')} · target {info.get('target', '?')} "
                f"({', '.join(humanize(c) for c in classes)})",
        "Presentations": (", ".join(used) or "?") + (f" ({len(selected)} of the {len(in_folder)} in the data "
                                                      f"folder, selected for this run)" if selected else ""),
        "Samples": (f"{n_samples:,} " + ("(enrolment, assessment) pairs" if info.get("task") == "next_step"
                                         else "enrolments")) if isinstance(n_samples, int) else "?",
        "Cut-off": rule,
        "Leakage guards": "; ".join(guards),
        "Split sizes": " · ".join(f"{k} {v:,}" for k, v in sizes.items()) or "?",
        "Class counts": " · ".join(f"{humanize(k)} {v:,}" for k, v in counts.items()) or
                        "not recorded for the selected presentations (open the run's samples)",
        "Clickstream": clicks,
        "Model": f"{info.get('model', '?')} · seed {info.get('seed', '?')} · trained on {info.get('device', '?')} "
                 f"· best epoch {info.get('best_epoch', '?')}",
    }
    per = cutoff.get("per_presentation", {}) or {}
    pres = [p for p in sorted(set(per) | set(cover)) if p in used] if used else sorted(set(per) | set(cover))
    table = pd.DataFrame({
        "presentation": pres,
        "cutoff_day": [per.get(p) for p in pres],
        "click_rows": [cover.get(p, {}).get("rows") for p in pres],
        "click_days": [cover.get(p, {}).get("click_days") for p in pres],
        "last_click_day": [cover.get(p, {}).get("last_date") for p in pres],
        "clicks_cover_cutoff": [cover.get(p, {}).get("covered") for p in pres],
    })
    if isinstance(by_pres, Mapping):
        table["unregistered_before_cutoff"] = [by_pres.get(p) for p in pres]
    if samples is not None and {"code_module", "code_presentation", "label_name"} <= set(samples.columns):
        names = samples["code_module"].astype(str) + " " + samples["code_presentation"].astype(str)
        per_class = pd.crosstab(names, samples["label_name"].astype(str))
        table["samples"] = [int(per_class.loc[p].sum()) if p in per_class.index else 0 for p in pres]
        for c in classes:
            if c in per_class.columns:
                table[humanize(c)] = [int(per_class.loc[p, c]) if p in per_class.index else 0 for p in pres]
    return {"facts": facts, "presentations": table}


def data_identity(info: Mapping | None) -> tuple[str, str]:
    """What makes two runs comparable: the data files (fingerprint), the presentations selected, the task, the
    target and the cut-off. Returns ``(key, label)``: equal keys mean like with like; ``label`` says it in words."""
    if not info:
        return "unknown", "unknown data (run.json unreadable)"
    data = info.get("data", {}) or {}
    report = data.get("report", {}) or {}
    cutoff = report.get("cutoff", {}) or {}
    selected = sorted(report.get("presentations_selected", []) or [])
    parts = {"fingerprint": data.get("fingerprint"), "selected": selected, "task": info.get("task"),
             "target": info.get("target"), "cutoff": [cutoff.get("rule"), cutoff.get("fraction"), cutoff.get("day")]}
    import hashlib
    import json

    key = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
    source = str(data.get("source", "?"))
    source = "synthetic" if source == "synthetic" else Path(source).name or source
    pres = report.get("presentations", []) or []
    where = (f"{len(selected)} of {len(pres)} presentations" if selected else f"all {len(pres)} presentations") \
        if pres else "?"
    cut = (f"cut-off {cutoff.get('fraction', 0):.0%}" if cutoff.get("rule") == "fraction" else
           f"cut-off day {cutoff.get('day')}" if cutoff.get("rule") else "cut-off ?")
    return key, f"{source} · {where} · {info.get('task', '?')} · {info.get('target', '?')} · {cut} · data {key[:6]}"


def drop_table(drop: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Modality-drop metrics for one split with the change from the full model."""
    d = drop[drop["split"] == split].copy()
    full = d[d["removed"] == "none"]
    for metric in ("accuracy", "macro_f1", "auc"):
        base = float(full[metric].iloc[0]) if len(full) else np.nan
        d[f"delta_{metric}"] = d[metric] - base
    d["n_removed"] = d["removed"].map(lambda r: 0 if r == "none" else r.count("+") + 1)
    return d.sort_values(["n_removed", "removed", "mode"]).drop(columns="n_removed").reset_index(drop=True)


def results_summary(results: pd.DataFrame) -> pd.DataFrame:
    """A benchmark's ``results.csv`` (model, seed, split, metric, value) as mean ± std per model and metric."""
    need = {"model", "metric", "value"}
    if not need <= set(results.columns):
        raise ValueError(f"results.csv needs the columns model, seed, split, metric, value; it has {list(results.columns)}")
    keys = ["model", "split", "metric"] if "split" in results else ["model", "metric"]
    values = pd.to_numeric(results["value"], errors="coerce")
    g = results.assign(value=values).groupby(keys, observed=True, sort=False)["value"]
    out = g.agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["text"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(out["mean"], out["std"])]
    return out


MAIN_METRICS = ("auc", "macro_f1", "accuracy")


def results_wide(summary: pd.DataFrame, split: str | None = None, value: str = "text") -> pd.DataFrame:
    """Models as rows (in the benchmark's order), metrics as columns (main metrics first)."""
    s = summary if split is None or "split" not in summary else summary[summary["split"] == split]
    models = list(dict.fromkeys(s["model"]))
    metrics = list(dict.fromkeys(s["metric"]))
    metrics = [m for m in MAIN_METRICS if m in metrics] + [m for m in metrics if m not in MAIN_METRICS]
    wide = s.pivot_table(index="model", columns="metric", values=value, aggfunc="first")
    wide = wide.reindex(index=models, columns=metrics)
    wide.columns.name = None
    return wide.reset_index()


def results_dominance(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean modality shares per model from a benchmark's ``share_<modality>`` metrics (test split)."""
    s = summary[summary["metric"].astype(str).str.startswith("share_")]
    if "split" in s:
        s = s[s["split"] == "test"]
    if s.empty:
        return pd.DataFrame(columns=["model"])
    wide = results_wide(s.assign(metric=s["metric"].str.removeprefix("share_")), None, "mean")
    return wide


def waterfall_frame(shapley_row: Mapping, streams: Sequence[str], cls: str) -> tuple[float, pd.DataFrame]:
    """Base value (the empty coalition's probability) and each stream's Shapley contribution to the
    probability of class ``cls``; base + sum(phi) equals the model's probability (efficiency)."""
    base = float(shapley_row[f"empty_{cls}"])
    frame = stream_frame(streams)
    frame["phi"] = [float(shapley_row[f"phi_{cls}_{s}"]) for s in streams]
    return base, frame


def assessment_points(features: pd.DataFrame, learner: Mapping, cutoff: Mapping,
                      attribution: pd.Series | None) -> tuple[pd.DataFrame, str, float | None]:
    """A learner's assessments (``timeline_assessments`` rows) as points against their due dates.

    Returns the points (``assessment``, ``kind``, ``x``, ``score``, ``status``, ``weight``,
    ``days_early``, ``banked``, ``attribution``, hover ``label``), the x-axis title and the cut-off's
    x (None when due days cannot be recovered: then x is the % of the module).
    """
    record = assessment_record(features)
    if cutoff.get("rule") == "fraction" and cutoff.get("fraction"):
        length = float(learner["cutoff_day"]) / float(cutoff["fraction"])
        x, x_title, cut_x = record["due_fraction"] * length, "due day (from the share of the module)", learner["cutoff_day"]
    else:
        x, x_title, cut_x = record["due_fraction"] * 100, "due (% of the module)", None
    out = pd.DataFrame({"assessment": [f"assessment {int(s) + 1}" for s in features["step"]], "kind": record["kind"],
                        "x": np.round(x.to_numpy(float), 0), "score": np.round(record["score"].to_numpy(), 1),
                        "status": record["status"], "weight": record["weight"],
                        "days_early": np.round(record["days_early"], 0), "banked": record["banked"]},
                       index=features.index)
    out["attribution"] = out["assessment"].map(attribution) if attribution is not None else np.nan
    out["label"] = [f"{a}: {k}, weight {w:.0f}%, due {x:.0f}<br>{st_}"
                    + (f" {s:.0f}" if st_ == "scored" else "")
                    + (f", {abs(d):.0f} days {'early' if d >= 0 else 'late'}" if st_ != "not submitted" else "")
                    + (" (banked)" if b else "")
                    + (f"<br>attribution {at:+.3f}" if pd.notna(at) else "")
                    for a, k, w, x, st_, s, d, b, at in zip(out["assessment"], out["kind"], out["weight"], out["x"],
                                                          out["status"], out["score"], out["days_early"],
                                                          out["banked"], out["attribution"])]
    return out, x_title, cut_x


def test_shares(summary: Mapping, metrics: Mapping, streams: Sequence[str]) -> pd.DataFrame:
    """The test split's stream shares from ``summary.json``, in :func:`share_table`'s long shape."""
    frame = stream_frame(streams)
    frame["share"] = [summary["attribution"]["test"]["stream_share"].get(s, 0.0) for s in streams]
    frame["group"], frame["n"] = "test", metrics.get("test", {}).get("n", 0)
    return frame


def planted_truth_sentence(pt: Mapping) -> str:
    """The planted-truth check of a synthetic run in one sentence."""
    verdict = "matches" if pt.get("measured_ranking") == pt.get("expected_ranking") else "differs from"
    return (f"Planted truth (synthetic data): the measured ranking {' > '.join(pt.get('measured_ranking', []))} "
            f"{verdict} the planted one {' > '.join(pt.get('expected_ranking', []))} "
            f"(rank correlation {pt.get('rank_correlation', float('nan')):.2f}). The dominance trap "
            f"({pt.get('dominance_trap')}: loud, weakly predictive) {'wins' if pt.get('trap_wins') else 'does not win'}; "
            f"shared streams hold {pt.get('shared_attribution_fraction', 0):.0%} of the attribution "
            f"(planted shared signal {pt.get('planted_shared_signal_fraction', 0):.0%}).")


def learners(samples: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """samples.parquet plus ``risk``, ``correct`` and ``presentation``."""
    out = samples.copy()
    out["risk"] = risk_score(out, classes)
    out["correct"] = out["label"] == out["pred"]
    if "code_module" in out:  # knowledge-tracing (next-step) samples have no presentation
        out["presentation"] = out["code_module"].astype(str) + " " + out["code_presentation"].astype(str)
    return out


def map_points(umap: pd.DataFrame, name: str, learners: pd.DataFrame, modalities: Sequence[str]) -> pd.DataFrame:
    """The points of one stored UMAP map with their learner's columns (:func:`learners`, indexed by sample)
    and ``correctness``; points of modalities a learner does not have are left out (they are the model's output
    for zero input)."""
    pts = umap[(umap["map"] == name) & umap["sample"].isin(learners.index)]
    info = learners[["id_student", "presentation", "label_name", "pred_name", "risk", "correct", "split"] +
                    [c for c in COHORT_COLUMNS if c in learners and c not in ("pred_name", "split")] +
                    [f"present_{m}" for m in modalities if f"present_{m}" in learners]]
    pts = pts.join(info, on="sample")
    present = np.ones(len(pts), bool)
    for m in modalities:
        if f"present_{m}" in pts:
            present &= ~((pts["modality"] == m).to_numpy() & ~pts[f"present_{m}"].astype(bool).to_numpy())
    pts = pts[present].copy()
    pts["correctness"] = np.where(pts["correct"], "correct", "wrong")
    return pts


# ---- decomposition: do the shared and private streams mean what they say? ------------------------------
VERDICT_WORDS = {
    "trusted": ("trusted", "green",
                "“Driven through its shared stream” can be trusted: the shared streams hold what the modalities "
                "have in common and the private streams what each has alone."),
    "partly": ("partly trusted", "orange",
               "Read “shared” and “private” with care: some of what the streams hold is not where the split "
               "says (see the table), so “driven through its shared stream” is a hint, not a finding."),
    "not": ("not trusted", "red",
            "“Shared” and “private” should not be read as “what the modalities have in common” and “what each has "
            "alone” for this run: the streams do not hold what their names say."),
}
NOT_MEASURED = ("What the shared and private streams hold was not measured for this run; run "
                "`dsrsd explain RUN` to measure it.")
PLACEMENT_LEGEND = ("✓ where the factor should be and is, ✗ where it should be and is not, — not checked. "
                    "A shared factor (seen by two or more modalities) must reach R² ≥ {shared:g} in the shared stream "
                    "of each modality that observes it; a private factor (seen by one modality) must stay at "
                    "R² ≤ {leak:g} in its modality's shared stream and reach R² ≥ {held:g} in its private stream.")


def verdict_view(decomposition: Mapping | None) -> dict:
    """The decomposition verdict as words for the dashboard: ``level``, ``label``, ``colour`` (a badge colour),
    ``reason``, ``skipped`` (text, '' when nothing was skipped), ``basis``, ``meaning`` (what it means for
    reading the shared/private split). ``measured`` is False (and ``meaning`` says what to run) without one."""
    if not decomposition or not isinstance(decomposition.get("verdict"), Mapping):
        return {"measured": False, "level": None, "label": "not measured", "colour": "gray", "reason": "",
                "skipped": "", "basis": "", "meaning": NOT_MEASURED}
    v = {k: (x.replace("R^2", "R²") if isinstance(x, str) else x) for k, x in decomposition["verdict"].items()}
    level = str(v.get("level", "not"))
    label, colour, meaning = VERDICT_WORDS.get(level, (level, "gray", ""))
    skipped = [str(s) for s in v.get("skipped") or []]
    return {"measured": True, "level": level, "label": label, "colour": colour, "reason": str(v.get("reason", "")),
            "skipped": ("Not measured (too few samples), so the verdict does not rest on: " + "; ".join(skipped) + ".")
            if skipped else "",
            "basis": str(v.get("basis", "")), "meaning": meaning}


def _bound_ok(r2: float, want: str) -> bool | None:
    """Whether ``r2`` meets a bound written as ``'>= 0.5'`` or ``'<= 0.15'`` (None if unreadable)."""
    op, _, num = str(want).strip().partition(" ")
    try:
        bound = float(num)
    except ValueError:
        return None
    if not np.isfinite(r2):
        return False
    return r2 >= bound if op == ">=" else r2 <= bound if op == "<=" else None


def placement_legend(decomposition: Mapping) -> str:
    t = decomposition.get("thresholds", {}) or {}
    return PLACEMENT_LEGEND.format(shared=t.get("shared_held_min", 0.5), leak=t.get("private_leak_max", 0.15),
                                   held=t.get("private_held_min", 0.5))


def factor_table(decomposition: Mapping, probes: pd.DataFrame | None, streams: Sequence[str],
                 probe: str = "best") -> pd.DataFrame:
    """Planted factor x stream probe R² with each checked cell marked against where the factor was planted.

    One row per factor: ``factor``, ``kind`` (``shared`` / ``private``), ``as planted`` (✓/✗ for the chosen
    probe), per stream a text cell ``'0.88 ✓'`` (checked and met), ``'0.21 ✗'`` (checked, not met) or
    ``'0.02 —'`` (not checked), and ``observed by`` (the modalities that see it). ``probe``: ``best`` (the
    larger R² of the probes, as the verdict uses), ``linear`` or ``mlp``. R² comes from
    ``decomposition_probes`` when given, else from the checks only ('n/a' elsewhere). Empty without
    planted factors.
    """
    placement = decomposition.get("placement") or {}
    r2: dict[tuple[str, str], float] = {}
    if probes is not None and len(probes):
        p = probes if probe == "best" else probes[probes["probe"] == probe]
        r2 = p.groupby(["factor", "stream"])["r2"].max().to_dict()
    rows = []
    for factor, spec in placement.items():
        checks = {c["stream"]: c for c in spec.get("checks", [])}
        row = {"factor": factor, "kind": spec.get("kind", "?")}
        oks = []
        for s in streams:
            value = r2.get((factor, s), checks[s]["r2"] if s in checks and not r2 else np.nan)
            value = float(value) if value is not None else np.nan
            if s in checks:
                ok = bool(_bound_ok(value, checks[s].get("want", "")))
                oks.append(ok)
                mark = "✓" if ok else "✗"
            else:
                mark = "—"
            row[s] = f"{round(value, 2) + 0.0:.2f} {mark}" if np.isfinite(value) else ("n/a" if mark == "—" else
                                                                                      f"n/a {mark}")
        row["as planted"] = "✓" if oks and all(oks) else "✗"
        row["observed by"] = " + ".join(spec.get("modalities", []))
        rows.append(row)
    return pd.DataFrame(rows, columns=["factor", "kind", "as planted", *streams, "observed by"])


def cross_modal_table(decomposition: Mapping, modalities: Sequence[str]) -> pd.DataFrame:
    """Per modality the cross-modal measures (real-data verdict): R² of its shared stream from the other
    modalities' shared streams and the same for its private stream, the shared ↔ private dependence (CKA),
    collapse, and whether each real-data criterion holds (✓/✗)."""
    cm = decomposition.get("cross_modal_r2", {}) or {}
    spectrum = (decomposition.get("cross_modal_spectrum", {}) or {}).get("shared", {}) or {}
    dep = decomposition.get("shared_private_dependence", {}) or {}
    collapsed = set(decomposition.get("collapsed", []) or [])
    t = decomposition.get("thresholds", {}) or {}
    r2_min, gap, dep_max = t.get("cross_modal_min", 0.3), t.get("cross_modal_gap", 0.15), t.get("dependence_max", 0.2)
    rows = []
    for m in modalities:
        sh = (cm.get("shared") or {}).get(m, np.nan)
        pr = (cm.get("private") or {}).get(m, np.nan)
        d = dep.get(m, {}) or {}
        rbf = d.get("rbf_cka", np.nan)
        sh, pr, rbf = (float(x) if x is not None else np.nan for x in (sh, pr, rbf))
        carried = np.isfinite(sh) and np.isfinite(pr) and sh >= r2_min and sh - pr >= gap
        rows.append({"modality": m, "shared R² from others": sh, "private R² from others": pr,
                     "shared carried by others": "✓" if carried else "✗",
                     "linear CKA": d.get("linear_cka", np.nan), "RBF CKA": rbf,
                     "streams independent": "✓" if np.isfinite(rbf) and rbf <= dep_max else "✗",
                     "collapsed": "yes" if m in collapsed else "no"})
        if spectrum:  # runs explained before the spectrum was recorded have no column
            rows[-1]["shared directions the others predict"] = shared_directions_text(
                spectrum.get(m) or [], t.get("shared_direction_min", 0.3))
    return pd.DataFrame(rows)


def code_pruning_note(history: pd.DataFrame, config: Mapping) -> str | None:
    """One sentence on how each modality's shared code was narrowed in training (``code_prune_r2``),
    from the history row of the pruning epoch; None when the run pruned nothing or predates it."""
    widths = [c for c in history.columns if c.startswith("code_width_")]
    if not widths:
        return None
    row = history.dropna(subset=widths).iloc[0]
    parts = []
    for col in widths:
        m = col.removeprefix("code_width_")
        r2 = [float(row[c]) for c in history.columns if c.startswith(f"code_r2_{m}_") and pd.notna(row[c])]
        values = " · ".join(f"{v:.2f}" for v in r2)
        parts.append(f"{m} kept {int(row[col])} of {len(r2) or config.get('code_dim', '?')}"
                     + (f" (R² {values})" if values else ""))
    return (f"At epoch {int(row['epoch'])} each modality's shared code was narrowed to the directions the other "
            f"modalities predict on the validation split (R² ≥ {config.get('code_prune_r2', '?')}, the best one "
            f"always): {join_and(parts)}. The rest would have had to vary anyway, and would have filled with "
            "what only that modality carries.")


def shared_direction_count(values: Sequence[float], threshold: float) -> int:
    """How many directions of a shared stream the other modalities predict at R² ≥ ``threshold``, from
    its ``decomposition.json:cross_modal_spectrum`` values (``thresholds.shared_direction_min``)."""
    return sum(v >= threshold for v in values or [])


def shared_directions_text(values: Sequence[float], threshold: float) -> str:
    """``"1 of 3 (R² 0.49 · 0.16 · 0.01)"``: :func:`shared_direction_count` out of the directions the
    stream spans, and the R² of each."""
    if not values:
        return "n/a"
    n = shared_direction_count(values, threshold)
    return f"{n} of {len(values)} (R² {' · '.join(f'{max(v, 0.0):.2f}' for v in values)})"


def cross_modal_legend(decomposition: Mapping) -> str:
    t = decomposition.get("thresholds", {}) or {}
    return (f"A modality's shared stream should be predictable from the other modalities' shared streams "
            f"(R² ≥ {t.get('cross_modal_min', 0.3):g} and ≥ {t.get('cross_modal_gap', 0.15):g} above its private "
            f"stream's), and its shared and private streams should not depend on each other (RBF CKA ≤ "
            f"{t.get('dependence_max', 0.2):g}; 0 = independent, 1 = the same information)."
            + (f" “Shared directions the others predict”: how many of the directions a shared stream spans the "
               f"other modalities predict at R² ≥ {t.get('shared_direction_min', 0.3):g}, and each direction's "
               f"R²; the rest are spare, content the others do not carry."
               if (decomposition.get("cross_modal_spectrum") or {}).get("shared") else ""))


# ---- training diagnostics in plain words ------------------------------------------------------------
def join_and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]



COLLAPSE_RANK = 1.2
LOW_RANK_FRACTION = 0.25
CHANCE_FACTOR = 2.0  # top-1 retrieval, for runs recorded before the mean rank
CHANCE_RANK_SDS = 3.0  # a mean rank within 3 chance standard deviations of 0.5 is at chance


def alignment_label(key: str) -> str:
    """``diagnostics.json:alignment`` key in words: "a~b" -> "a ~ b", "a~others" -> "a ~ the others"."""
    a, _, b = key.partition("~")
    return f"{a} ~ {'the others' if b == 'others' else b}"


def diagnostic_flags(diagnostics: Mapping | None, decomposition: Mapping | None = None,
                     config: Mapping | None = None) -> list[dict]:
    """What to worry about in the shared space, in plain words.

    Each flag: ``kind`` (``collapsed``, ``retrieval_at_chance``, ``low_rank``, ``spare_directions``,
    ``by_design``), ``severity``
    (``warning`` or ``info``), ``subject`` (modality or pair) and ``text``. A shared stream is *collapsed*
    when ``decomposition.json:collapsed`` names it or its effective rank is below 1.2 (unless the model lets it
    span one direction only: ``decomposition.json:shared_widths``, a code pruned to width 1); retrieval is
    *at chance* when the mean rank of each learner's own partner (``diagnostics.json:alignment``, 0 first,
    1 last) is within 3 chance standard deviations of 0.5, or before the rank was recorded, top-1 ≤ 2 x chance; a rank is *low* below a quarter of the stream width, except
    that with the low-rank code (``alignment == "rest"``) a rank at most the code's width (``shared_widths``,
    else ``code_dim``) is by design (an info, not a flag).
    *Spare directions* (info): a shared stream spans directions the other modalities do not predict
    (``decomposition.json:cross_modal_spectrum`` below ``shared_direction_min``).
    """
    diagnostics, config = diagnostics or {}, config or {}
    per = diagnostics.get("per_modality", {}) or {}
    collapsed = set((decomposition or {}).get("collapsed", []) or [])
    rest = config.get("alignment") == "rest"
    code_dim = config.get("code_dim") if rest else None
    widths = (decomposition or {}).get("shared_widths", {}) or {}
    flags: list[dict] = []
    by_design: list[tuple[str, float, int]] = []
    for m in list(per) + sorted(collapsed - set(per)):
        d = per.get(m, {}) or {}
        rank, dims = d.get("shared_effective_rank"), d.get("dims")
        width = widths.get(m, code_dim)
        if m in collapsed or (rank is not None and rank < COLLAPSE_RANK and (width is None or width > 1)):
            flags.append({"kind": "collapsed", "severity": "warning", "subject": m,
                          "text": f"The {m} shared stream has collapsed"
                                  + (f" (effective rank {rank:.2f})" if rank is not None else "")
                                  + ": it barely varies between learners, so it carries almost nothing, and any "
                                    f"attribution to “{m}, shared” says little."})
            continue
        if rank is None:
            continue
        if width and rest and rank <= width + 0.05:
            by_design.append((m, rank, width))
        elif dims and rank < LOW_RANK_FRACTION * dims:
            flags.append({"kind": "low_rank", "severity": "warning", "subject": m,
                          "text": f"The {m} shared stream uses only about {rank:.1f} of its {dims} directions "
                                  f"(under a quarter): most of its width is unused, close to collapsing."})
    at_chance, top1_only = [], False
    for pair, a in (diagnostics.get("alignment", {}) or {}).items():
        label = alignment_label(pair)
        if a.get("mean_rank") is not None and a.get("chance_rank_sd") is not None:
            if a["mean_rank"] >= 0.5 - CHANCE_RANK_SDS * a["chance_rank_sd"]:
                at_chance.append((pair, f"{label} (own partner ranked at {a['mean_rank']:.0%} on average, "
                                        f"chance 50%)"))
        elif a.get("top1_retrieval") is not None and a.get("chance_top1") is not None:  # recorded before the rank
            if a["top1_retrieval"] <= CHANCE_FACTOR * a["chance_top1"]:
                at_chance.append((pair, f"{label} (top-1 {a['top1_retrieval']:.1%} vs chance {a['chance_top1']:.1%})"))
                top1_only = True
    if at_chance:
        # a run explained before the mean rank existed: top-1 cannot single a learner out of a low-dimensional code
        note = (" This run was explained before retrieval was ranked: with a low-dimensional code top-1 says "
                "little; `dsrsd explain` again records the mean rank.") if top1_only and code_dim else ""
        flags.append({"kind": "retrieval_at_chance", "severity": "warning",
                      "subject": ", ".join(p for p, _ in at_chance),
                      "text": f"Cross-modal retrieval at chance for {join_and([t for _, t in at_chance])}: a learner's "
                              "aligned code ranks the same learner's partner no higher than a random learner, so "
                              f"these codes are not aligned learner by learner.{note}"})
    threshold = ((decomposition or {}).get("thresholds", {}) or {}).get("shared_direction_min", 0.3)
    spare = []
    for m, values in (((decomposition or {}).get("cross_modal_spectrum", {}) or {}).get("shared", {}) or {}).items():
        n = shared_direction_count(values, threshold)
        if values and n < len(values) and m not in collapsed:
            rest_r2 = join_and([f"{max(v, 0.0):.2f}" for v in values[n:]])
            spare.append((m, f"{m} ({n} of {len(values)}; the rest R² {rest_r2})"))
    if spare:
        flags.append({"kind": "spare_directions", "severity": "info", "subject": ", ".join(m for m, _ in spare),
                      "text": f"Shared streams spanning directions the other modalities do not predict (R² under "
                              f"{threshold:g} on the test split): {join_and([t for _, t in spare])}. What those "
                              "directions hold, the other modalities do not carry: a narrower shared code "
                              "(`code_dim`, or pruned per modality with `code_prune_r2`) may suit this data better "
                              "(docs/benchmarks.md, sections 9 and 10)."})
    if by_design:
        mods = join_and([f"{m} {r:.1f}" for m, r, _ in by_design])
        pruned = any(w != code_dim for _, _, w in by_design)
        code = (f"a code per modality pruned to the directions the other modalities predict "
                f"({join_and([f'{m} {w}' for m, _, w in by_design])} of {code_dim})" if pruned
                else f"a {code_dim}-dimensional code per modality")
        flags.append({"kind": "by_design", "severity": "info", "subject": ", ".join(m for m, *_ in by_design),
                      "text": f"Shared streams using few directions ({mods} of {per[by_design[0][0]].get('dims', '?')}"
                              f"): by design, since this model aligns {code} (alignment “rest”), so a rank up to "
                              f"the code's width is expected. Not a problem."})
    return flags


# ---- stream-level drop: is a modality's contribution something the others also carry? ------------------
STREAM_DROP_TOL = {"metric": 0.01, "probability": 0.02}


STREAM_DROP_COLUMNS = {"whole": "without the modality", "shared": "without its shared stream",
                       "private": "without its private stream"}


def has_stream_drop(drop: pd.DataFrame) -> bool:
    return "mode" in drop and bool((drop["mode"] == "stream").any())


def stream_drop_frame(rows: pd.DataFrame, modalities: Sequence[str], value: str) -> pd.DataFrame:
    """Per modality the change ``value`` when removing the whole modality (mode ``mask``), its shared stream
    alone and its private stream alone (mode ``stream``). ``rows``: ``removed``, ``mode``, ``value``
    (e.g. :func:`drop_table` rows and ``delta_auc``, or one learner's drop rows and ``delta_<class>``).
    Columns: ``modality``, ``whole``, ``shared``, ``private`` (NaN where absent)."""
    first = {}  # (removed, mode) -> value of its first row; one pass, not a filter per cell (learner switch)
    for key, v in zip(zip(rows["removed"], rows["mode"]), rows[value]):
        first.setdefault(key, float(v))

    def get(removed: str, mode: str) -> float:
        return first.get((removed, mode), np.nan)
    return pd.DataFrame([{"modality": m, "whole": get(m, "mask"), "shared": get(f"{m}.shared", "stream"),
                          "private": get(f"{m}.private", "stream")} for m in modalities])


def stream_drop_sentence(modality: str, whole: float, shared: float, private: float, what: str,
                         tol: float, signed: bool = True) -> str:
    """Answer “is this modality's contribution something the others also carry?” from the changes in
    ``what`` (e.g. 'test AUC') when removing its whole modality, its shared stream and its private stream
    (``signed``: the changes carry a sign; else they are sizes, e.g. mean absolute changes)."""
    if not (np.isfinite(shared) and np.isfinite(private)):
        return f"{modality}: no stream-level removal was recorded."
    fmt = "+.3f" if signed else ".3f"
    shared, private, whole = (round(float(x), 3) + 0.0 for x in (shared, private, whole))  # no '-0.000'
    ds, dp = abs(shared), abs(private)
    nums = f"(without its shared stream {shared:{fmt}}, without its private stream {private:{fmt}} {what})"
    if max(ds, dp) < tol:
        if np.isfinite(whole) and abs(whole) >= tol:
            return (f"{modality}: removing either stream alone changes little {nums}, but removing the whole "
                    f"modality does ({whole:{fmt}}): its two streams stand in for each other.")
        return (f"{modality}: removing either stream changes little {nums}: the model gets what {modality} "
                f"contributes from elsewhere, or it contributes little.")
    if dp >= 2 * ds:
        return (f"{modality}: its contribution is its own {nums}: the model loses what only {modality} shows, "
                f"which the other modalities do not carry.")
    if ds >= 2 * dp:
        return (f"{modality}: its contribution goes through what it shares with the others {nums}, and the "
                f"other modalities' shared streams do not make up for losing it.")
    return f"{modality}: both its streams matter {nums}: part of its contribution is shared, part its own."


def stream_drop_sentences(frame: pd.DataFrame, what: str, tol: float, signed: bool = True) -> list[str]:
    return [stream_drop_sentence(r.modality, r.whole, r.shared, r.private, what, tol, signed)
            for r in frame.itertuples(index=False)]


def cohort_drop_summary(samples_drop: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Per removal (``removed``, ``mode``) over the cohort's learners: ``n``, ``flipped``, ``flip_rate``,
    ``mean_abs_change`` (mean over learners of the largest absolute change in a class probability),
    ``accuracy_before`` and ``accuracy_after``. ``cohort``: :func:`learners` rows (indexed by sample)."""
    mine = samples_drop[samples_drop["sample"].isin(cohort.index)]
    delta_cols = [c for c in mine.columns if c.startswith("delta_")]
    label = cohort["label"].reindex(mine["sample"]).to_numpy()
    mine = mine.assign(correct=mine["pred"].to_numpy() == label,
                       change=mine[delta_cols].abs().max(axis=1) if delta_cols else np.nan)
    by = mine.groupby(["removed", "mode"], sort=False).agg(
        n=("sample", "size"), flipped=("flipped", "sum"), mean_abs_change=("change", "mean"),
        accuracy_after=("correct", "mean")).reset_index()
    by["flip_rate"] = by["flipped"] / by["n"]
    by["accuracy_before"] = float(cohort["correct"].mean()) if len(cohort) else np.nan
    return by[["removed", "mode", "n", "flipped", "flip_rate", "mean_abs_change", "accuracy_before",
               "accuracy_after"]]
