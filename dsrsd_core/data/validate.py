"""Check an OULAD folder before training on it, and say in plain words what is there.

Meant for a person who just pointed the tool at a folder: every table is read with the same
rules as the loader, every problem is listed (not only the first), and when the tables are
sound the samples are built at the default cut-off so the report can say who would be
excluded and which presentations have click data.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DsrsdError
from .oulad import load_final_outcome
from .schema import REQUIRED_TABLES, TABLES
from .tables import ENCODING_NAMES, detect_encoding, find_table, read_table, require_table

CHUNK_ROWS = 1_000_000


def validate_data(data_dir) -> tuple[str, bool]:
    """(human-readable report, ok). Never raises for a problem in the data; it is reported instead."""
    data_dir = Path(data_dir)
    from .kt import detect_source, validate_kt

    if detect_source(data_dir) is not None:
        return validate_kt(data_dir)
    lines = [f"OULAD data check: {data_dir}"]
    if not data_dir.is_dir():
        return "\n".join(lines + [f"PROBLEM: {data_dir} is not a folder", "Result: NOT OK"]), False

    problems, notes = [], []
    lines.append("Tables:")
    for name in TABLES:
        path = find_table(data_dir, name)
        if path is None:
            if name in REQUIRED_TABLES:
                try:
                    require_table(data_dir, name)
                except DsrsdError as e:
                    problems.append(str(e))
            else:
                notes.append(f"table '{name}' is missing; the clickstream modality will be missing for every learner")
            lines.append(f"  {name:<20} missing")
            continue
        try:
            rows = _count_rows(path, name)
        except DsrsdError as e:
            problems.append(str(e))
            lines.append(f"  {name:<20} {path.relative_to(data_dir).as_posix():<28} unreadable")
            continue
        enc = detect_encoding(path)
        lines.append(f"  {name:<20} {path.relative_to(data_dir).as_posix():<28} {rows:>10,} rows"
                     + ("" if enc == "utf-8-sig" else f" (not UTF-8: read as {ENCODING_NAMES[enc]})"))

    if not problems:
        try:
            report = load_final_outcome(data_dir).report
        except DsrsdError as e:
            problems.append(str(e))
        else:
            lines += _describe(report)
            notes += _notes(report)

    lines += [f"Note: {n}" for n in notes]
    lines += [f"PROBLEM: {p}" for p in problems] or ["Problems: none"]
    lines.append("Result: OK" if not problems else "Result: NOT OK")
    return "\n".join(lines), not problems


def _count_rows(path: Path, name: str) -> int:
    if name == "studentVle":
        return sum(len(chunk) for chunk in read_table(path, name, chunksize=CHUNK_ROWS))
    return len(read_table(path, name))


def _describe(report: dict) -> list[str]:
    cut = report["cutoff"]
    pres = report["presentations"]
    lines = [f"Presentations: {len(pres)} ({', '.join(pres)})",
             f"Click coverage at the default cut-off ({cut['fraction']:.0%} of each presentation's length):"]
    for key, c in report["click_coverage"].items():
        day = cut["per_presentation"][key]
        if not c["rows"]:
            lines.append(f"  {key:<10} no clicks{'':>20} cut-off day {day:>4}: clickstream missing")
        else:
            state = "covered" if c["covered"] else "ends before the cut-off: clickstream missing"
            span = (f", {c['click_days']} days of clicks (day {c['first_date']}..{c['last_date']})"
                    if c.get("click_days") else "")
            lines.append(f"  {key:<10} {c['rows']:>9,} rows, last day {c['last_date']:>4}, cut-off day {day:>4}{span}: {state}")
    counts = ", ".join(f"{k} {v:,}" for k, v in report["class_counts"].items())
    lines.append(f"Samples at the default cut-off: {report['n_samples']:,} ({counts})")
    ex = report["excluded"]
    lines.append("Excluded at the default cut-off:")
    lines.append(f"  {ex['unregistered_before_cutoff']:,} unregistered before the cut-off (their outcome is already known)")
    if ex["presentation_not_in_courses"]:
        lines.append(f"  {ex['presentation_not_in_courses']:,} enrolled in a presentation that courses does not list")
    return lines


def _notes(report: dict) -> list[str]:
    notes = []
    if report["clickstream_note"]:
        notes.append(report["clickstream_note"])
    if report.get("without_registration_row"):
        notes.append(f"{report['without_registration_row']:,} enrolments have no studentRegistration row "
                     "(registration date treated as missing)")
    clicks = report.get("click_rows") or {}
    for k, what in (("unknown_presentation", "a presentation courses does not list"),
                    ("unknown_site", "an id_site that vle does not list")):
        if clicks.get(k):
            notes.append(f"{clicks[k]:,} studentVle rows have {what}; they are ignored")
    if report.get("submissions_unknown_assessment"):
        notes.append(f"{report['submissions_unknown_assessment']:,} studentAssessment rows name an id_assessment "
                     "that assessments does not list; they are ignored")
    return notes
