"""Plain-language text an educator can read: the learner summary.

Pure functions of stored numbers (Shapley contributions per stream), unit-tested in tests/test_text.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from dsrsd_core.vocabulary import MODALITIES

# Raw input names as words (profile features and categorical fields of the OULAD loader).
INPUT_WORDS = {
    "num_of_prev_attempts": "previous attempts at the module",
    "log1p_studied_credits": "studied credits",
    "date_registration_100": "registration date",
    "date_registration_missing": "a missing registration date",
    "highest_education": "highest education",
    "imd_band": "deprivation (IMD) band",
    "age_band": "age band",
}
CHANNEL_MAJORITY = 0.6   # a stream carries "most" of a modality's supporting evidence from this share
CO_LEAD = 0.75           # a second modality this close to the first is named beside it
OPPOSING_MIN = 0.10      # counter-evidence is mentioned from this share of all evidence


def input_words(modality: str, name: str) -> str:
    """One raw input (a step of a sequence or a tabular feature) in words."""
    if modality == "clickstream":
        return f"activity in {name}"
    if modality == "assessments":
        return str(name)
    return INPUT_WORDS.get(name, str(name).replace("_", " "))


def evidence(m: str) -> str:
    return MODALITIES[m].evidence if m in MODALITIES else f"the {m} data"


def source(m: str) -> str:
    return MODALITIES[m].source if m in MODALITIES else f"the {m} data"


def join_words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def learner_summary(pred_name: str, proba: float, phi: Mapping[str, float],
                    present: Mapping[str, bool] | None = None, top_inputs: Sequence[str] = ()) -> str:
    """A few sentences on what drives one learner's prediction.

    ``phi``: Shapley contribution of each stream (``<modality>.shared`` / ``<modality>.private``) to the
    probability of the predicted class ``pred_name``; positive values support the prediction.
    ``present``: which modalities the learner has data for. ``top_inputs``: already-worded inputs
    (e.g. "the score of assessment 3") to name as most influential.
    """
    mods = list(dict.fromkeys(s.rpartition(".")[0] for s in phi))
    present = {m: bool((present or {}).get(m, True)) for m in mods}

    def part(m: str, kind: str) -> float:
        return float(phi.get(f"{m}.{kind}", 0.0))

    total = {m: part(m, "shared") + part(m, "private") for m in mods}
    abs_all = sum(abs(float(v)) for v in phi.values())
    label = pred_name.replace("_", " ")
    out = [f"The model predicts “{label}” ({proba:.0%})."]
    if abs_all < 1e-9:
        out.append("None of the learner's data moves this prediction away from the model's baseline.")
    else:
        support = sorted((m for m in mods if present[m] and total[m] > 0), key=lambda m: -total[m])
        if not support:
            out.append("No source of data supports it on balance: it rests on the model's baseline.")
        else:
            top = support[0]
            share = total[top] / sum(total[m] for m in support)
            co = [m for m in support[1:] if total[m] >= CO_LEAD * total[top]]
            if co:
                each = [f"{evidence(m)} ({_channel(m, mods, present, part)})" for m in [top] + co]
                out.append(f"This prediction is driven about equally by {join_words(each)}.")
            else:
                lead = f"{'mostly' if share >= 0.5 else 'mainly'} driven by {evidence(top)}"
                out.append(f"This prediction is {lead}, {_channel(top, mods, present, part)}.")
            rest = [m for m in support[1:] if m not in co and total[m] >= OPPOSING_MIN * abs_all]
            if rest:
                out.append(f"It is supported as well by {join_words([evidence(m) for m in rest])}.")
        against = [m for m in mods if present[m] and total[m] < 0 and -total[m] >= OPPOSING_MIN * abs_all]
        if against:
            out.append(f"Pulling the other way: {join_words([evidence(m) for m in against])}.")
    missing = [m for m in mods if not present[m]]
    if missing:
        out.append(f"No {join_words(missing)} data {'was' if len(missing) == 1 else 'were'} available for this "
                   f"learner, so the prediction rests on the other sources.")
    if top_inputs:
        out.append(f"The most influential inputs: {join_words(list(top_inputs))}.")
    return " ".join(out)


def _channel(top: str, mods: Sequence[str], present: Mapping[str, bool], part) -> str:
    """Does the leading modality act through its shared stream (and with whom) or its private one?"""
    shared, private = part(top, "shared"), part(top, "private")
    positive = max(shared, 0.0) + max(private, 0.0)
    if positive <= 0:
        return "although neither of its streams supports it strongly"
    if shared >= CHANNEL_MAJORITY * positive:
        partners = sorted((m for m in mods if m != top and present[m] and part(m, "shared") > 0),
                          key=lambda m: -part(m, "shared"))
        if partners:
            return f"through evidence shared with {source(partners[0])}"
        return "through evidence it shares with the other data sources"
    if private >= CHANNEL_MAJORITY * positive:
        return f"through patterns only {source(top)} shows"
    return "both through evidence shared with the other sources and through patterns of its own"
