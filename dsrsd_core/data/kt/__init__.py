"""Knowledge tracing (task ``next_step`` on response logs): predict the correctness of a learner's
next response from ``content`` / ``behaviour`` / ``history`` (see :mod:`.samples`).

Sources are detected from the folder's files (:func:`detect_source`):

=============================  ===============================================================
``lpp``                        ``preprocessed_data[_train|_test].csv[.gz]`` (ASSISTments 2009, Statics 2011)
``assistments_skill_builder``  ``skill_builder_data*.csv`` (the raw ASSISTments export)
``ednet_kt1``                  ``u<id>.csv`` files and/or one concatenated KT1 log + ``questions.csv``
=============================  ===============================================================
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from ...errors import DsrsdError
from ..dataset import MultimodalData
from . import assistments, ednet, lpp
from .samples import DEFAULT_WINDOW, build_samples

KT_LOADER_VERSION = 2  # 2: recency features in history (EWMA, last outcomes on skill and item)
SOURCES = {"lpp": lpp, "assistments_skill_builder": assistments, "ednet_kt1": ednet}


def detect_source(folder) -> str | None:
    """The knowledge-tracing source in ``folder``, or None when it holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if lpp.find_files(folder):
        return "lpp"
    if assistments.find_files(folder):
        return "assistments_skill_builder"
    f = ednet.find_files(folder)
    if f["users"] or f["concatenated"]:
        return "ednet_kt1"
    return None


def source_files(folder: Path, source: str) -> list[Path]:
    if source == "lpp":
        files = list(lpp.find_files(folder).values())
        return files + ([folder / "q_mat.npz"] if (folder / "q_mat.npz").is_file() else [])
    if source == "assistments_skill_builder":
        return assistments.find_files(folder)
    f = ednet.find_files(folder)
    return [p for p in [f["questions"], *f["users"], *f["concatenated"]] if p is not None]


def load_next_step(folder, window: int = DEFAULT_WINDOW) -> MultimodalData:
    """Build the samples of the knowledge-tracing source in ``folder`` (no cache)."""
    folder = Path(folder)
    source = detect_source(folder)
    if source is None:
        raise DsrsdError(f"{folder}: no knowledge-tracing files found (preprocessed_data*.csv, skill_builder_data*.csv, "
                         "or EdNet-KT1 u<id>.csv / KT1 log with questions.csv)")
    if int(window) < 1:
        raise DsrsdError(f"window must be at least 1, got {window}")
    t0 = time.perf_counter()
    resp, report = SOURCES[source].load_responses(folder)
    report = {"source": str(folder), "source_kind": source, **report}
    data = build_samples(resp, report, window)
    if data.report["n_samples"] == 0:
        raise DsrsdError(f"{folder}: no response can be predicted (every learner has a single response or none is scored)")
    data.report["seconds_prepare"] = round(time.perf_counter() - t0, 2)
    return data


def fingerprint(folder: Path, source: str) -> dict:
    out = {}
    for path in source_files(folder, source):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        out[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    return out


def load_next_step_cached(folder, root=None, window: int = DEFAULT_WINDOW) -> MultimodalData:
    """:func:`load_next_step`, from the cache when the input files are unchanged (keyed by their contents)."""
    from ..cache import cached_samples

    folder = Path(folder)
    source = detect_source(folder)
    if source is None:
        return load_next_step(folder, window)  # raises the "nothing found" message
    fp = fingerprint(folder, source)
    fields = {"fingerprint": fp, "task": "next_step", "source": source, "window": int(window),
              "loader_version": KT_LOADER_VERSION}
    return cached_samples("kt", fields, fp, folder, lambda: load_next_step(folder, window), KT_LOADER_VERSION, root)


def validate_kt(folder) -> tuple[str, bool]:
    """(human-readable report, ok) for a knowledge-tracing folder; never raises for a data problem."""
    folder = Path(folder)
    source = detect_source(folder)
    lines = [f"Knowledge-tracing data check: {folder}", f"Source: {source}"]
    problems, notes = [], []
    try:
        files = source_files(folder, source)
        lines.append(f"Files: {len(files)} ({', '.join(p.name for p in files[:6])}{', ...' if len(files) > 6 else ''})")
        data = load_next_step(folder)
    except DsrsdError as e:
        problems.append(str(e))
    else:
        r = data.report
        lines += [
            f"Responses: {r['n_responses']:,} from {r['n_users']:,} learners",
            f"Samples (next-response predictions): {r['n_samples']:,} "
            f"({', '.join(f'{k} {v:,}' for k, v in r['class_counts'].items())})",
            f"Scored: {r['scored']}",
            f"Window: last {r['window']['last_responses']} responses; counts over {r['window']['counts']}",
            f"Behaviour fields: {', '.join(r['behaviour_fields']) or 'none beyond the practice pattern'}",
            f"Split: {'the files own user-disjoint train/test' if r.get('fixed_split') else 'by learner at training time'}",
            f"Prepared in {r['seconds_prepare']:.1f} s",
        ]
        if r["users_with_one_response"]:
            notes.append(f"{r['users_with_one_response']:,} learner(s) have a single response: nothing to predict, skipped")
        for s in r.get("skipped_files", []):
            notes.append(f"skipped file: {s}")
        uq = r.get("unknown_questions", {})
        if uq.get("rows"):
            notes.append(f"{uq['rows']:,} row(s) name a question not in questions.csv and are skipped; first: {uq['first']}")
        if r.get("encoding_note"):
            notes.append(r["encoding_note"])
        so = r.get("skipped_orders", {})
        if so.get("orders"):
            notes.append(f"{so['orders']:,} order(s) skipped; first: {so['first']}")
        ro = r.get("rows_per_order", {})
        if ro.get("orders_split_over_rows"):
            notes.append(f"{ro['orders_split_over_rows']:,} multi-skill order(s) have rows that are not adjacent; collapsed by order_id")
        if r.get("empty_answers_counted_wrong"):
            notes.append(f"{r['empty_answers_counted_wrong']:,} response(s) have no answer; counted wrong")
    lines += [f"Note: {n}" for n in notes]
    lines += [f"PROBLEM: {p}" for p in problems] or ["Problems: none"]
    lines.append("Result: OK" if not problems else "Result: NOT OK")
    return "\n".join(lines), not problems
