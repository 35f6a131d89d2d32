"""The plain-language texts of the dashboard: the learner summary (app/text.py) and the run-level
sentences (dsrsd_core/views.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.text import join_words, learner_summary  # noqa: E402
from dsrsd_core.views import headline, loudest_check  # noqa: E402


def phi(**kw) -> dict:
    """phi(assessments=(shared, private), ...) -> {'assessments.shared': .., 'assessments.private': ..}."""
    out = {}
    for m in ("profile", "clickstream", "assessments"):
        s, p = kw.get(m, (0.0, 0.0))
        out[f"{m}.shared"], out[f"{m}.private"] = s, p
    return out


def test_shared_evidence_names_the_partner_modality():
    text = learner_summary("at_risk", 0.81, phi(assessments=(0.20, 0.05), clickstream=(0.08, 0.0), profile=(0.01, 0.0)))
    assert text.startswith("The model predicts “at risk” (81%).")
    assert "mostly driven by assessment results, through evidence shared with the clickstream" in text


def test_private_evidence():
    text = learner_summary("at_risk", 0.7, phi(assessments=(0.02, 0.25), clickstream=(0.01, 0.02)))
    assert "mostly driven by assessment results, through patterns only the assessment record shows" in text


def test_mixed_channel_and_support_and_counter_evidence():
    text = learner_summary("not_at_risk", 0.66, phi(clickstream=(0.10, 0.10), assessments=(0.02, 0.04),
                                                    profile=(-0.03, -0.05)))
    assert "driven by online activity, both through evidence shared with the other sources and through patterns" in text
    assert "It is supported as well by assessment results." in text
    assert "Pulling the other way: the learner's background and enrolment details." in text


def test_co_leading_modalities_are_named_together():
    text = learner_summary("at_risk", 0.9, phi(clickstream=(0.1, 0.1), assessments=(0.09, 0.09)))
    assert ("driven about equally by online activity (both through evidence shared with the other sources and "
            "through patterns of its own) and assessment results (both through") in text


def test_missing_modality_and_top_inputs():
    text = learner_summary("at_risk", 0.6, phi(assessments=(0.1, 0.0), profile=(0.02, 0.0)),
                           present={"clickstream": False}, top_inputs=["assessment 3", "activity in week 5"])
    assert "No clickstream data was available for this learner" in text
    assert "shared with the profile" in text  # the absent clickstream is never a partner
    assert text.endswith("The most influential inputs: assessment 3 and activity in week 5.")


def test_no_evidence_and_no_support():
    assert "baseline" in learner_summary("at_risk", 0.5, phi())
    text = learner_summary("at_risk", 0.55, phi(assessments=(-0.1, 0.0)))
    assert "No source of data supports it on balance" in text
    assert "Pulling the other way: assessment results." in text


def test_unknown_modality_words():
    text = learner_summary("correct", 0.8, {"content.shared": 0.3, "content.private": 0.0,
                                            "gaze.shared": 0.2, "gaze.private": 0.0})
    assert "driven by the question content, through evidence shared with the gaze data" in text


def test_input_words():
    from app.text import input_words

    assert input_words("clickstream", "week 5") == "activity in week 5"
    assert input_words("assessments", "assessment 3") == "assessment 3"
    assert input_words("profile", "num_of_prev_attempts") == "previous attempts at the module"
    assert input_words("profile", "some_new_field") == "some new field"


@pytest.mark.parametrize("items,expected", [([], ""), (["a"], "a"), (["a", "b"], "a and b"),
                                            (["a", "b", "c"], "a, b and c")])
def test_join_words(items, expected):
    assert join_words(items) == expected


def test_headline():
    text = headline({"profile": 0.12, "clickstream": 0.37, "assessments": 0.51},
                    {"profile.shared": 0.04, "profile.private": 0.08, "clickstream.shared": 0.12,
                     "clickstream.private": 0.25, "assessments.shared": 0.19, "assessments.private": 0.32})
    assert text.startswith("The assessments modality drives this model: 51% of the stream attribution on the test "
                           "split (clickstream 37%, profile 12%).")
    assert "It acts mostly through its private stream (37% shared)" in text
    assert "35% of all attribution flows through shared streams" in text
    assert "narrowly leads" in headline({"a": 0.41, "b": 0.40, "c": 0.19})
    assert headline({}) == "No attribution was recorded for this run."


def test_loudest_check():
    assert loudest_check({"clickstream": 8.0, "assessments": 1.2}, {"clickstream": 0.37, "assessments": 0.51}) \
        .startswith("No: clickstream is the loudest modality")
    assert loudest_check({"clickstream": 8.0, "assessments": 1.2}, {"clickstream": 0.6, "assessments": 0.4}) \
        .startswith("Yes: clickstream, the loudest modality")
