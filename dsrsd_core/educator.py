"""What a learner did before the cut-off, and why the model flags them, in an educator's words.

Read-side only (like :mod:`dsrsd_core.views`): every number comes from tables a run stores
(``samples``, ``timeline_assessments``, ``timeline_clickstream``, ``shapley``), so the dashboard's
Learner explorer, its at-risk export and ``dsrsd report`` say the same thing.

* :func:`assessment_facts`, :func:`click_facts`: per learner, vectorised (a 25k-learner run in well
  under a second): assessments due so far, missed, scores; clicks, active weeks, the last active week.
* :func:`presentation_medians`: the comparison an educator asks for ("against a median of 71").
* :func:`risk_contributions`: each modality's exact Shapley contribution to the probability of the
  risk classes (``at_risk``, or Fail + Withdrawn), in probability points.
* :func:`record_sentences`, :func:`meaning_sentence`, :func:`top_reasons`: the words.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .data.decode import assessment_record
from .views import humanize, risk_classes

MODALITY_WORDS = {"assessments": "the assessment record", "clickstream": "the clicks in the learning environment",
                  "profile": "the learner's profile"}
SEEN = {"train": "yes: trained on", "val": "partly: chose the epoch", "test": "no"}  # per split, for educators
RECENT_WEEKS = 4  # "no clicks in the last 4 weeks before the cut-off" is the sign of disengagement we name


def week_number(step_name: str) -> int | None:
    """``'week -2'`` -> -2 (None when the name is not a week)."""
    m = re.fullmatch(r"week (-?\d+)", str(step_name).strip())
    return int(m.group(1)) if m else None


def cutoff_week(cutoff_day) -> int:
    """The last week with a day before the cut-off (week w covers days 7w .. 7w+6)."""
    return (int(cutoff_day) - 1) // 7


def assessment_facts(timeline: pd.DataFrame) -> pd.DataFrame:
    """Per sample (index): ``n_due`` (assessments due or submitted before the cut-off), ``missed`` (not
    submitted), ``n_scored``, ``mean_score`` and ``scores`` (the scores in due order, as a tuple)."""
    if timeline is None or timeline.empty:
        return pd.DataFrame(columns=["n_due", "missed", "n_scored", "mean_score", "scores"])
    rec = assessment_record(timeline).assign(sample=timeline["sample"].to_numpy(), step=timeline["step"].to_numpy())
    rec = rec.sort_values(["sample", "step"], kind="stable")
    scored = rec["status"] == "scored"
    g = rec.groupby("sample", sort=True)
    out = pd.DataFrame({"n_due": g.size(), "missed": (rec["status"] == "not submitted").groupby(rec["sample"]).sum(),
                        "n_scored": scored.groupby(rec["sample"]).sum()})
    out["mean_score"] = rec["score"].where(scored).groupby(rec["sample"]).mean()
    out["scores"] = rec.loc[scored].groupby("sample")["score"].agg(lambda s: tuple(np.round(s.to_numpy(), 0)))
    out["scores"] = out["scores"].apply(lambda v: v if isinstance(v, tuple) else ())
    return out


def click_facts(timeline: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per sample of ``samples`` (indexed by sample, with ``cutoff_day``): ``clicks`` before the cut-off,
    ``active_weeks``, ``last_week`` (NaN without a click), ``weeks_since_last`` (from the cut-off's week) and
    ``recent_clicks`` (in the last :data:`RECENT_WEEKS` weeks before the cut-off)."""
    out = pd.DataFrame(index=samples.index)
    cut = samples["cutoff_day"].map(cutoff_week)
    if timeline is None or timeline.empty:
        out["clicks"], out["active_weeks"], out["last_week"] = 0.0, 0, np.nan
    else:
        names = timeline["step_name"]
        if isinstance(names.dtype, pd.CategoricalDtype):  # parse each week name once, not once per row
            lookup = np.array([week_number(c) if week_number(c) is not None else np.nan for c in names.cat.categories])
            weeks = np.where(names.cat.codes.to_numpy() >= 0, lookup[names.cat.codes.to_numpy()], np.nan)
        else:
            weeks = names.astype(str).map(week_number).to_numpy(float)
        t = timeline.assign(week=weeks)
        per_week = t.groupby(["sample", "week"], sort=False)["value"].sum().reset_index()
        per_week = per_week[per_week["value"] > 0]
        g = per_week.groupby("sample")
        out["clicks"] = g["value"].sum().reindex(out.index).fillna(0.0)
        out["active_weeks"] = g.size().reindex(out.index).fillna(0).astype(int)
        out["last_week"] = g["week"].max().reindex(out.index)
        recent = per_week.merge(cut.rename("cut"), left_on="sample", right_index=True)
        recent = recent[recent["week"] > recent["cut"] - RECENT_WEEKS]
        out["recent_clicks"] = recent.groupby("sample")["value"].sum().reindex(out.index).fillna(0.0)
    out["weeks_since_last"] = cut - out["last_week"]
    if "recent_clicks" not in out:
        out["recent_clicks"] = 0.0
    return out


def presentation_medians(samples: pd.DataFrame, timeline_assessments: pd.DataFrame | None,
                         clicks: pd.DataFrame | None) -> pd.DataFrame:
    """Per presentation ("AAA 2013J"): ``median_score`` (of every score given before the cut-off) and
    ``median_clicks`` (of the learners' clicks before the cut-off, learners with click data)."""
    pres = samples["code_module"].astype(str) + " " + samples["code_presentation"].astype(str)
    out = pd.DataFrame(index=pd.Index(sorted(pres.unique()), name="presentation"))
    if timeline_assessments is not None and len(timeline_assessments):
        rec = assessment_record(timeline_assessments)
        p = pres.reindex(timeline_assessments["sample"].to_numpy()).to_numpy()
        scored = (rec["status"] == "scored").to_numpy()
        out["median_score"] = pd.Series(rec["score"].to_numpy()[scored]).groupby(p[scored]).median()
    if clicks is not None and len(clicks):
        has = samples["present_clickstream"].astype(bool) if "present_clickstream" in samples else \
            pd.Series(True, index=samples.index)
        c = clicks["clicks"].reindex(samples.index)[has]
        out["median_clicks"] = c.groupby(pres[has]).median()
    return out


def risk_contributions(shapley: pd.DataFrame, classes: Sequence[str], modalities: Sequence[str],
                       streams: Sequence[str]) -> tuple[pd.Series, pd.DataFrame]:
    """The empty coalition's probability of the risk classes (base) and each modality's contribution to it
    (shared + private exact Shapley values, summed over the risk classes), per sample."""
    risk = [c for c in risk_classes(classes) if f"empty_{c}" in shapley]
    base = shapley[[f"empty_{c}" for c in risk]].sum(axis=1)
    contrib = pd.DataFrame(index=shapley.index)
    for m in modalities:
        cols = [f"phi_{c}_{s}" for c in risk for s in streams if s.rpartition(".")[0] == m
                and f"phi_{c}_{s}" in shapley]
        contrib[m] = shapley[cols].sum(axis=1) if cols else 0.0
    return base, contrib


def _num(x: float) -> str:
    return f"{x:,.0f}"


def _scores(scores: Sequence[float]) -> str:
    s = [_num(v) for v in scores]
    if len(s) > 4:
        return ", ".join(s[:3]) + f" … ({len(s)} scores)"
    return s[0] if len(s) == 1 else ", ".join(s[:-1]) + " and " + s[-1]


def assessment_sentence(facts: Mapping | None, median_score: float | None, presentation: str) -> str:
    if not facts or not facts.get("n_due"):
        return "No assessment was due or submitted before the cut-off."
    n, missed, scored = int(facts["n_due"]), int(facts["missed"]), int(facts["n_scored"])
    if missed == n:
        text = f"Missed all {n} assessment{'s' if n > 1 else ''} due so far" if n > 1 else \
            "Missed the one assessment due so far"
    elif missed:
        text = f"Missed {missed} of {n} assessments so far"
    else:
        text = f"Submitted all {n} assessment{'s' if n > 1 else ''} due so far" if n > 1 else \
            "Submitted the one assessment due so far"
    if scored:
        many = scored > 1
        text += f"; score{'s' if many else ''} {_scores(facts.get('scores') or ())}"
        if median_score is not None and np.isfinite(median_score):
            mean = float(facts["mean_score"])
            rel = "below" if mean < median_score - 2 else "above" if mean > median_score + 2 else "close to"
            text += (f" ({'mean ' + _num(mean) + ', ' if many else ''}{rel} the median of {_num(median_score)} "
                     f"in {presentation})")
    return text + "."


def click_sentence(facts: Mapping | None, median_clicks: float | None, presentation: str, present: bool = True) -> str:
    if not present:
        return "No click data for this learner's presentation, so the clicks cannot count for or against them."
    clicks = float((facts or {}).get("clicks", 0) or 0)
    median = f" (median in {presentation}: {_num(median_clicks)})" if median_clicks is not None and \
        np.isfinite(median_clicks) else ""
    if clicks <= 0:
        return f"No clicks in the learning environment before the cut-off{median}."
    since = facts.get("weeks_since_last")
    last = facts.get("last_week")
    text = f"{_num(clicks)} click{'s' if clicks != 1 else ''} before the cut-off{median}, active in " \
           f"{int(facts.get('active_weeks', 0))} week{'s' if facts.get('active_weeks', 0) != 1 else ''}"
    if since is not None and np.isfinite(since):
        since = int(since)
        when = "in the week of the cut-off" if since <= 0 else \
            f"{since} week{'s' if since != 1 else ''} before the cut-off"
        text += f"; the last in week {int(last)}, {when}"
        if since >= RECENT_WEEKS:
            text += f" (none in the last {since} weeks)"
    return text + "."


def meaning_sentence(proba_risk: float, base: float, contrib: Mapping[str, float], risk_name: str) -> str:
    """What the record means for the prediction: from the model's starting point to this learner's chance of
    being at risk, modality by modality (exact Shapley values, in percentage points)."""
    parts_up = [(m, v) for m, v in sorted(contrib.items(), key=lambda kv: -kv[1]) if v >= 0.005]
    parts_down = [(m, v) for m, v in sorted(contrib.items(), key=lambda kv: kv[1]) if v <= -0.005]
    text = (f"The model puts this learner's chance of being {risk_name} at {proba_risk:.0%} (for a learner it "
            f"knows nothing about: {base:.0%}).")
    if parts_up:
        text += " Raising it: " + "; ".join(f"{MODALITY_WORDS.get(m, m)} (+{v * 100:.0f} points)" for m, v in parts_up) + "."
    if parts_down:
        text += " Lowering it: " + "; ".join(f"{MODALITY_WORDS.get(m, m)} ({v * 100:.0f} points)" for m, v in parts_down) + "."
    if not parts_up and not parts_down:
        text += " No part of the record moves it noticeably."
    return text


def short_reason(modality: str, a: Mapping | None, c: Mapping | None, med: Mapping, present: bool,
                 profile_input: str | None = None) -> str:
    """One modality's part of the record in a few words, for the at-risk export."""
    if modality == "assessments":
        if not a or not a.get("n_due"):
            return "no assessment yet"
        n, missed = int(a["n_due"]), int(a["missed"])
        if missed:
            return f"missed {missed} of {n} assessments"
        ms = med.get("median_score")
        if a.get("n_scored") and ms is not None and np.isfinite(ms) and float(a["mean_score"]) < ms - 2:
            return f"scores below the median ({_num(a['mean_score'])} vs {_num(ms)})"
        return f"assessment record ({n} submitted)"
    if modality == "clickstream":
        if not present:
            return "no click data"
        clicks = float((c or {}).get("clicks", 0) or 0)
        mc = med.get("median_clicks")
        if clicks <= 0:
            return "no clicks before the cut-off"
        since = (c or {}).get("weeks_since_last")
        if since is not None and np.isfinite(since) and since >= RECENT_WEEKS:
            return f"no clicks in the last {int(since)} weeks"
        if mc is not None and np.isfinite(mc) and clicks < mc:
            return f"few clicks ({_num(clicks)} vs median {_num(mc)})"
        return f"click pattern ({_num(clicks)} clicks)"
    if modality == "profile":
        return f"profile ({profile_input})" if profile_input else "profile"
    return modality


def top_reasons(samples: pd.DataFrame, contrib: pd.DataFrame, afacts: pd.DataFrame, cfacts: pd.DataFrame,
                medians: pd.DataFrame, k: int = 2, profile_inputs: Mapping[int, str] | None = None) -> pd.Series:
    """Per sample: the ``k`` modalities that raise its risk most, each as a few words with its points
    ("missed 3 of 4 assessments (+31 points); no clicks in the last 6 weeks (+12 points)")."""
    pres = samples["code_module"].astype(str) + " " + samples["code_presentation"].astype(str)
    out = {}
    for s in samples.index:
        row = contrib.loc[s]
        up = [(m, float(v)) for m, v in row.sort_values(ascending=False).items() if float(v) >= 0.005][:k]
        med = medians.loc[pres[s]].to_dict() if pres[s] in medians.index else {}
        a = afacts.loc[s].to_dict() if s in afacts.index else None
        c = cfacts.loc[s].to_dict() if s in cfacts.index else None
        present = bool(samples.at[s, "present_clickstream"]) if "present_clickstream" in samples else True
        words = [f"{short_reason(m, a, c, med, present, (profile_inputs or {}).get(s))} (+{v * 100:.0f} points)"
                 for m, v in up]
        out[s] = "; ".join(words) if words else "nothing in the record raises the risk much (model baseline)"
    return pd.Series(out, name="top reasons")


def record_tables(samples: pd.DataFrame, classes: Sequence[str], shapley: pd.DataFrame, modalities: Sequence[str],
                  streams: Sequence[str], timeline_assessments: pd.DataFrame | None,
                  timeline_clicks: pd.DataFrame | None) -> dict:
    """Everything the educator's words need, for every learner of a run (``samples``: :func:`views.learners`):
    ``assessments`` and ``clicks`` facts, presentation ``medians``, the risk ``base`` and per-modality ``contrib``."""
    afacts = assessment_facts(timeline_assessments) if timeline_assessments is not None else None
    cfacts = click_facts(timeline_clicks, samples) if timeline_clicks is not None else None
    base, contrib = risk_contributions(shapley, classes, modalities, streams)
    return {"assessments": afacts, "clicks": cfacts, "base": base, "contrib": contrib,
            "medians": presentation_medians(samples, timeline_assessments, cfacts)}


def at_risk_export(samples: pd.DataFrame, record: Mapping, threshold: float = 0.5,
                   profile_inputs: Mapping[int, str] | None = None) -> pd.DataFrame:
    """The at-risk list an educator can act on: learners of ``samples`` (the chosen cohort, indexed by sample,
    with ``risk``) whose chance of being at risk is at least ``threshold``, most at risk first, with the top
    reasons in words and whether the model saw them in training. ``record``: :func:`record_tables` of the run
    (the medians compare with the whole presentation, not with the cohort)."""
    flagged = samples[samples["risk"] >= threshold].sort_values("risk", ascending=False, kind="stable")
    cols = ["student", "presentation", "chance at risk", "top reasons", "assessments", "clicks", "seen in training",
            "split", "sample"]
    if flagged.empty:
        return pd.DataFrame(columns=cols)
    empty = pd.DataFrame(columns=["n_due", "missed", "n_scored", "mean_score", "scores"])
    afacts = record["assessments"] if record["assessments"] is not None else empty
    cfacts = record["clicks"] if record["clicks"] is not None else pd.DataFrame(index=samples.index, data={"clicks": 0.0})
    reasons = top_reasons(flagged, record["contrib"].reindex(flagged.index), afacts, cfacts, record["medians"],
                          profile_inputs=profile_inputs)
    pres = flagged["code_module"].astype(str) + " " + flagged["code_presentation"].astype(str)
    a = afacts.reindex(flagged.index)
    return pd.DataFrame({
        "student": flagged["id_student"].to_numpy(), "presentation": pres.to_numpy(),
        "chance at risk": (flagged["risk"] * 100).round(0).astype(int).astype(str).to_numpy() + "%",
        "top reasons": reasons.reindex(flagged.index).to_numpy(),
        "assessments": [f"missed {int(m)} of {int(n)}" if n == n and n else "none due" for m, n in
                        zip(a["missed"].fillna(0), a["n_due"].fillna(0))],
        "clicks": cfacts["clicks"].reindex(flagged.index).fillna(0).round(0).astype(int).to_numpy(),
        "seen in training": flagged["split"].map(SEEN).fillna(flagged["split"]).to_numpy(),
        "split": flagged["split"].to_numpy(), "sample": flagged.index.to_numpy()}, columns=cols)


def risk_name(classes: Sequence[str]) -> str:
    return " or ".join(humanize(c) for c in risk_classes(classes))
