"""A tiny hand-written OULAD cohort, and a writer for every file form real copies come in.

Two presentations, 21 enrolments. At cutoff_fraction 0.5 the cut-offs are day 100 (AAA 2013J,
length 200) and day 90 (BBB 2014B, length 180). AAA has clicks; BBB has none. Learners worth
knowing by id:

* 1: clicks on both sides of the cut-off (days -40 ... 150), submissions before and after it.
* 2: a submission without a score, one 5 days late, one handed in early before the cut-off.
* 3: unregistered on day 50 (before the cut-off) -> excluded.
* 4: unregistered on day 150 (after the cut-off) -> kept.
* 6: unregistered on day 100, exactly at the cut-off -> kept (only *before* excludes).
* 8: in the click-covered presentation, but never clicked -> clickstream present, zeros.
* 14: BBB learner unregistered on day 20 -> excluded.
* 5: enrolled in both presentations.
"""
from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

NAN = np.nan

VARIANTS = {
    # name: (extension, delimiter, quoting, line end, missing token, studentVle under partial/)
    "quoted_crlf": (".csv", ",", csv.QUOTE_ALL, "\r\n", "", False),
    "plain_lf": (".csv", ",", csv.QUOTE_MINIMAL, "\n", "", False),
    "tab_gz_crlf": (".txt.gz", "\t", csv.QUOTE_MINIMAL, "\r\n", "", True),
    "question_mark": (".csv", ",", csv.QUOTE_MINIMAL, "\n", "?", False),
    "csv_gz": (".csv.gz", ",", csv.QUOTE_MINIMAL, "\n", "", False),
}


def tiny_cohort() -> dict[str, pd.DataFrame]:
    """Fresh DataFrames for the 7 tables (callers may modify them)."""
    courses = pd.DataFrame({"code_module": ["AAA", "BBB"], "code_presentation": ["2013J", "2014B"],
                            "module_presentation_length": [200, 180]})
    assessments = pd.DataFrame(
        [("AAA", "2013J", 101, "TMA", 30, 20), ("AAA", "2013J", 102, "CMA", 60, 0),
         ("AAA", "2013J", 103, "TMA", 120, 30), ("AAA", "2013J", 104, "Exam", NAN, 100),
         ("BBB", "2014B", 201, "TMA", 40, 25), ("BBB", "2014B", 202, "TMA", 110, 25),
         ("BBB", "2014B", 203, "Exam", NAN, 100)],
        columns=["code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight"])
    vle = pd.DataFrame(
        [(1001, "AAA", "2013J", "resource", NAN, NAN), (1002, "AAA", "2013J", "forumng", NAN, NAN),
         (1003, "AAA", "2013J", "quiz", 1, 2), (1004, "AAA", "2013J", "oucontent", NAN, NAN),
         (2001, "BBB", "2014B", "homepage", NAN, NAN)],
        columns=["id_site", "code_module", "code_presentation", "activity_type", "week_from", "week_to"])

    regions = ["East Anglian Region", "Scotland", "London Region", "Wales", "North Region"]
    educ = ["HE Qualification", "A Level or Equivalent", "Lower Than A Level", "No Formal quals"]
    imd = ["90-100%", "10-20", NAN, "0-10%", "50-60%", "20-30%"]
    results = {1: "Pass", 2: "Fail", 3: "Withdrawn", 4: "Withdrawn", 5: "Distinction", 6: "Withdrawn",
               7: "Pass", 8: "Fail", 9: "Pass", 10: "Distinction", 11: "Pass", 12: "Fail"}
    info, reg = [], []
    enrolments = [("AAA", "2013J", s) for s in range(1, 13)] + [("BBB", "2014B", s) for s in (5, *range(13, 21))]
    unreg = {("AAA", 3): 50, ("AAA", 4): 150, ("AAA", 6): 100, ("BBB", 14): 20}
    for i, (mod, pres, s) in enumerate(enrolments):
        result = results.get(s) if mod == "AAA" else ["Pass", "Fail", "Withdrawn", "Distinction"][i % 4]
        if (mod, s) == ("BBB", 14):
            result = "Withdrawn"
        info.append((mod, pres, s, "FM"[i % 2], regions[i % 5], educ[i % 4], imd[i % 6],
                     ["0-35", "35-55", "55<="][i % 3], i % 3, 30 * (1 + i % 4), "NY"[int(i % 7 == 0)], result))
        reg.append((mod, pres, s, NAN if s == 9 else -10.0 * (i + 1), unreg.get((mod, s), NAN)))
    student_info = pd.DataFrame(info, columns=[
        "code_module", "code_presentation", "id_student", "gender", "region", "highest_education", "imd_band",
        "age_band", "num_of_prev_attempts", "studied_credits", "disability", "final_result"])
    registration = pd.DataFrame(reg, columns=[
        "code_module", "code_presentation", "id_student", "date_registration", "date_unregistration"])

    student_assessment = pd.DataFrame(
        [(101, 1, 28, 0, 80), (102, 1, 61, 0, 70), (103, 1, 115, 0, 60),  # 103 after the cut-off
         (101, 2, 35, 0, NAN), (103, 2, 95, 0, 55),  # no score; 103 handed in early
         (101, 4, 30, 0, 40), (103, 4, 140, 0, 30),
         (101, 6, 29, 0, 65), (101, 7, -5, 1, 75),  # banked
         (101, 3, 31, 0, 50),  # excluded learner
         (201, 13, 38, 0, 90), (202, 13, 100, 0, 50), (201, 5, 41, 0, 66), (201, 15, 40, 0, 58)],
        columns=["id_assessment", "id_student", "date_submitted", "is_banked", "score"])

    clicks = [(1, 1001, -40, 2), (1, 1001, -28, 3), (1, 1002, -1, 4), (1, 1003, 0, 1), (1, 1003, 6, 2),
              (1, 1004, 7, 5), (1, 1004, 99, 7), (1, 1004, 100, 9), (1, 1002, 150, 11),
              (2, 1002, 10, 3), (2, 1002, 10, 4), (2, 1001, 55, 1), (2, 1003, 120, 6),
              (3, 1001, 20, 8), (4, 1004, 80, 2), (6, 1003, 42, 1), (7, 1001, -3, 2), (7, 1004, 190, 1)]
    student_vle = pd.DataFrame([("AAA", "2013J", s, site, d, n) for s, site, d, n in clicks], columns=[
        "code_module", "code_presentation", "id_student", "id_site", "date", "sum_click"])
    return {"courses": courses, "assessments": assessments, "vle": vle, "studentInfo": student_info,
            "studentRegistration": registration, "studentAssessment": student_assessment, "studentVle": student_vle}


def _cell(value, missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def write_table(frame: pd.DataFrame, path, variant: str = "plain_lf") -> Path:
    """Write one table in the form of ``variant`` (see VARIANTS) to ``path`` (extension included)."""
    _, delimiter, quoting, line_end, missing, _ = VARIANTS[variant]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=line_end)
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow([_cell(v, missing) for v in row])
    data = buffer.getvalue().encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def write_cohort(frames: dict[str, pd.DataFrame], directory, variant: str = "plain_lf") -> Path:
    """Write every table in ``frames`` to ``directory`` as real copies are laid out."""
    ext, *_, partial = VARIANTS[variant]
    directory = Path(directory)
    for name, frame in frames.items():
        sub = "partial/" if partial and name == "studentVle" else ""
        write_table(frame, directory / f"{sub}{name}{ext}", variant)
    return directory
