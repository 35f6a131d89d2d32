"""One row per modality: its colour and the words that stand for it, for figures, the report and
the learner summary. The knowledge-tracing modalities (content, behaviour, history) are listed
for the next-step tasks."""
from __future__ import annotations

from dataclasses import dataclass

OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7", "black": "#000000",
}


@dataclass(frozen=True)
class ModalityWords:
    colour: str    # one Okabe-Ito colour per modality, everywhere (colour-blind safe)
    evidence: str  # what drives a prediction, as the subject of a sentence ("mostly driven by ...")
    source: str    # the modality as a source evidence is shared with ("shared with ...")


MODALITIES = {
    "profile": ModalityWords(OKABE_ITO["orange"], "the learner's background and enrolment details", "the profile"),
    "clickstream": ModalityWords(OKABE_ITO["sky_blue"], "online activity", "the clickstream"),
    "assessments": ModalityWords(OKABE_ITO["bluish_green"], "assessment results", "the assessment record"),
    "content": ModalityWords(OKABE_ITO["reddish_purple"], "the question content", "the question content"),
    "behaviour": ModalityWords(OKABE_ITO["yellow"], "answering behaviour", "the answering behaviour"),
    "history": ModalityWords(OKABE_ITO["vermillion"], "past answers", "the answer history"),
}
