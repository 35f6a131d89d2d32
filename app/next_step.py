"""What the next-step pages share: their registry, the check that the run is an explained
next-step run, and the cached tables they read (``next_responses``, ``next_position``)."""
from __future__ import annotations

import pandas as pd

from app import runs
from dsrsd_core.errors import DsrsdError
from dsrsd_core.run_dir import Run

PAGES = {  # page id -> (file relative to app/, title, material icon); registered by app/main.py
    "timeline": ("pages_/timeline.py", "Learner timeline", ":material/timeline:"),
    "positions": ("pages_/positions.py", "Attribution by position", ":material/stacked_bar_chart:"),
}
NOT_FOR_NEXT_STEP = ("This page is not for next-step runs: it shows final-outcome explanations (one prediction "
                     "per enrolment). For this run, open Learner timeline or Attribution by position.")


def is_next_step(run: Run) -> bool:
    return run.config.get("task") == "next_step"


def require_next_step(ctx: runs.Context) -> Run:
    """The selected run, when it is an explained next-step run; else a message saying what to do."""
    run = ctx.require_run()
    if not is_next_step(run):
        raise DsrsdError(f"{run.path} is a final-outcome run; this page shows next-step runs (`dsrsd train --task "
                         "next_step`). Final-outcome learners are on Learner explorer and Modality dominance.")
    if run.info.get("model", "dsrsd_net") != "dsrsd_net":
        raise DsrsdError(f"{run.path} is a {run.info.get('model')} run: attributions exist for DSRSD-Net runs only.")
    problem = runs.explain_problem(run.path)
    if problem:
        raise DsrsdError(problem)
    return run


def positive_class(run: Run) -> str:
    """The class whose probability next_responses holds (the last one: ``correct``, ``at_risk``)."""
    return run.classes[-1]


def responses(run: Run) -> pd.DataFrame:
    return runs.frame(run, "next_responses")


def positions(run: Run) -> pd.DataFrame:
    return runs.frame(run, "next_position")
