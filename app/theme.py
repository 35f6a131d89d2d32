"""Colours of the dashboard. The palette lives in ``dsrsd_core.figures`` so that the static report
(``dsrsd report``) and the app draw every modality in the same colour; this module re-exports it."""
from dsrsd_core.figures import (  # noqa: F401
    CATEGORY_COLOURS,
    CLASS_COLOURS,
    CORRECT_COLOURS,
    GREY,
    MODALITY_COLOURS,
    OKABE_ITO,
    class_colours,
    lighten,
    modality_colour,
    stream_marker,
)


def modality_badge(modality: str, modalities=()) -> str:
    """A coloured square and the modality name, for markdown captions."""
    return f'<span style="color:{modality_colour(modality, modalities)}">■</span> {modality}'
