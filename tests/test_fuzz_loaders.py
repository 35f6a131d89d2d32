"""Property-based tests: the table reader and the OULAD loader, fed random malformed tables, either
raise a clean DsrsdError or return a valid result, never any other exception; every dataset they
do return passes the leakage invariant (nothing dated on or after the cut-off reaches a tensor).

Bounded: 100 examples for read_table, 60 for the loader, no deadline. The counts of examples and
outcomes are printed by the last test (run with -s to see them).
"""
from __future__ import annotations

import gzip
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oulad_fixture import VARIANTS, tiny_cohort, write_cohort, write_table

from dsrsd_core.data.oulad import load_final_outcome
from dsrsd_core.data.schema import TABLES
from dsrsd_core.data.tables import read_table
from dsrsd_core.errors import DsrsdError

OUTCOMES: dict[str, Counter] = {"read_table": Counter(), "load_final_outcome": Counter()}
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)

WEIRD_TEXT = st.sampled_from(["", "?", " ", "NaN", "inf", "-1", "1e309", "abc", "é", "Zoë", "€", "\x00", "a,b",
                              '"quoted"', "x" * 20_000, "１２", "½", "0x10", "1_000", "--", "\ufeff1"])
NUMBER = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([-1, 0, -500, 10**9, 2**63, -2**63 - 1]))
CELL = st.one_of(WEIRD_TEXT, NUMBER, st.text(max_size=30))


# ---- byte-level changes to a written file ------------------------------------------------
def reencode(raw: bytes, how: str) -> bytes:
    if how == "bom":
        return b"\xef\xbb\xbf" + raw
    if how in ("cp1252", "latin-1"):
        return raw.decode("utf-8").encode(how, errors="replace")
    if how == "mixed":  # one line in Latin-1 inside a UTF-8 file
        lines = raw.split(b"\n")
        if len(lines) > 2:
            lines[1] = lines[1] + ",caf\xe9".encode("latin-1")
        return b"\n".join(lines) + "\n,é".encode()
    if how == "truncate":
        return raw[: max(1, len(raw) * 2 // 3)]
    return raw


def write_bytes(path: Path, raw: bytes, gz: bool) -> None:
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)


# ---- read_table -------------------------------------------------------------------------------
def mutate_frame(frame: pd.DataFrame, draw) -> pd.DataFrame:
    frame = frame.copy()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["shuffle", "dup_col", "rename", "drop_col", "cell", "extra", "dup_row",
                                     "long", "empty_rows"]))
        cols = list(frame.columns)
        if kind == "shuffle":
            frame = frame[draw(st.permutations(cols))]
        elif kind == "dup_col" and cols:
            c = draw(st.sampled_from(cols))
            frame = pd.concat([frame, frame[[c]]], axis=1)
        elif kind == "rename" and cols:
            c = draw(st.sampled_from(cols))
            frame = frame.rename(columns={c: draw(st.sampled_from([c.upper(), c + "x", c[:-1], " " + c, "é" + c]))})
        elif kind == "drop_col" and cols:
            frame = frame.drop(columns=[draw(st.sampled_from(cols))])
        elif kind == "cell" and cols and len(frame):
            c = draw(st.sampled_from(cols))
            frame[c] = frame[c].astype(object)
            frame.iloc[draw(st.integers(0, len(frame) - 1)), frame.columns.get_loc(c)] = draw(CELL)
        elif kind == "extra":
            frame["comment"] = draw(st.sampled_from(["", "café", "Zoë — 5 €", "x" * 5000, "a\tb"]))
        elif kind == "dup_row" and len(frame):
            frame = pd.concat([frame, frame.iloc[[draw(st.integers(0, len(frame) - 1))]]], ignore_index=True)
        elif kind == "long" and cols and len(frame):
            c = draw(st.sampled_from(cols))
            frame[c] = frame[c].astype(object)
            frame.iloc[0, frame.columns.get_loc(c)] = "y" * draw(st.sampled_from([1000, 100_000]))
        elif kind == "empty_rows":
            frame = frame.iloc[:0]
    return frame


def check_table_result(frame: pd.DataFrame, name: str) -> None:
    kinds = TABLES[name]
    assert list(frame.columns) == list(kinds)
    assert len(frame) > 0
    for col, kind in kinds.items():
        if kind == "int":
            assert frame[col].dtype == np.int64, col
        elif kind == "float":
            assert frame[col].dtype == np.float64, col
            assert not np.isinf(frame[col].to_numpy()).any(), col


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_read_table_gives_a_valid_table_or_a_clean_error(data):
    draw = data.draw
    name = draw(st.sampled_from(list(TABLES)))
    frame = mutate_frame(tiny_cohort()[name], draw)
    variant = draw(st.sampled_from(list(VARIANTS)))
    ext = VARIANTS[variant][0]
    how = draw(st.sampled_from(["none", "none", "bom", "cp1252", "latin-1", "mixed", "truncate"]))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{name}{ext}"
        write_table(frame, path, variant)
        if how != "none":
            raw = path.read_bytes()
            gz = ext.endswith(".gz")
            if gz and how == "truncate":
                path.write_bytes(raw[: len(raw) * 2 // 3])  # a cut gzip stream
            else:
                write_bytes(path, reencode(gzip.decompress(raw) if gz else raw, how), gz)
        try:
            result = read_table(path, name)
        except DsrsdError as e:
            assert str(e) and "Traceback" not in str(e)
            OUTCOMES["read_table"]["DsrsdError"] += 1
            return
        check_table_result(result, name)
        OUTCOMES["read_table"]["valid table"] += 1


# ---- the OULAD loader -------------------------------------------------------------------------
STUDENT_TABLES = ["studentInfo", "studentRegistration", "studentAssessment", "studentVle"]


def mutate_cohort(frames: dict, draw) -> dict:
    for _ in range(draw(st.integers(0, 3))):
        # malformed changes, and (listed twice) ones a loader must survive, so that enough valid
        # datasets reach the leakage check
        kind = draw(st.sampled_from(["dup_key", "no_join", "negative", "absurd", "date_outside", "shuffle_cols",
                                     "drop_rows", "empty_vs_missing", "unknown_category", "text_in_number",
                                     "long_field", "date_outside", "shuffle_cols", "drop_rows", "no_join",
                                     "long_field"]))
        name = draw(st.sampled_from(list(frames) + ["studentVle", "studentAssessment", "studentRegistration"]))
        f = frames[name]
        if not len(f):
            continue
        i = draw(st.integers(0, len(f) - 1))
        numeric = [c for c, k in TABLES[name].items() if k != "str"]
        if kind == "dup_key":
            frames[name] = pd.concat([f, f.iloc[[i]]], ignore_index=True)
        elif kind == "no_join":
            col = "id_student" if "id_student" in f else "id_assessment" if "id_assessment" in f else \
                "id_site" if "id_site" in f else "code_presentation"
            f[col] = f[col].astype(object)
            f.loc[f.index[i], col] = draw(st.sampled_from([999_999, 0, "2099Z", 4_000_000_000]))
        elif kind in ("negative", "absurd") and numeric:
            col = draw(st.sampled_from(numeric))
            f[col] = f[col].astype(float)
            f.loc[f.index[i], col] = draw(st.sampled_from([-1, -10**6])) if kind == "negative" else \
                draw(st.sampled_from([10**9, 1e15, 2**40]))
        elif kind == "date_outside":
            for col in ("date", "date_submitted", "date_registration", "date_unregistration"):
                if col in f:
                    f[col] = f[col].astype(float)
                    f.loc[f.index[i], col] = draw(st.sampled_from([-1000, 5000, 10**7, 200, 90, 100, 99]))
        elif kind == "shuffle_cols":
            frames[name] = f[draw(st.permutations(list(f.columns)))]
        elif kind == "drop_rows":
            keep = draw(st.lists(st.booleans(), min_size=len(f), max_size=len(f)))
            frames[name] = f[np.array(keep)]
        elif kind == "empty_vs_missing":
            str_cols = [c for c, k in TABLES[name].items() if k == "str"] + numeric
            col = draw(st.sampled_from(str_cols))
            f[col] = f[col].astype(object)
            f.loc[f.index[i], col] = draw(st.sampled_from(["", "?", None, " "]))
        elif kind == "unknown_category" and name == "studentInfo":
            f.loc[f.index[i], draw(st.sampled_from(["region", "gender", "imd_band", "final_result"]))] = \
                draw(st.sampled_from(["Atlantis", "Région Île", "f", "pass"]))
        elif kind == "text_in_number" and numeric:
            col = draw(st.sampled_from(numeric))
            f[col] = f[col].astype(object)
            f.loc[f.index[i], col] = draw(st.sampled_from(["12a", "N/A", "1,5", "é"]))
        elif kind == "long_field":
            frames[name] = f.assign(comment=draw(st.sampled_from(["x" * 50_000, "Zoë — €", ""])))
    return frames


def perturb_after_cutoff(frames: dict, data) -> dict:
    """Change everything dated on or after each presentation's cut-off (clicks moved later and
    counted higher, late scores changed, late unregistrations moved): no tensor may change."""
    out = {k: v.copy() for k, v in frames.items()}
    cut = data.report["cutoff"]["per_presentation"]

    def cutoff_of(mod, pres):
        return (mod.astype(str) + " " + pres.astype(str)).map(cut)

    v = out.get("studentVle")
    if v is not None and len(v):
        late = (pd.to_numeric(v["date"], errors="coerce") >= cutoff_of(v["code_module"], v["code_presentation"])).to_numpy()
        v.loc[late, "sum_click"] = pd.to_numeric(v.loc[late, "sum_click"]) + 7
        v.loc[late, "date"] = pd.to_numeric(v.loc[late, "date"]) + 3
    a, s = out["assessments"], out["studentAssessment"]
    pres_of = a.drop_duplicates("id_assessment").set_index("id_assessment")[["code_module", "code_presentation"]]
    m = s["id_assessment"].map(pres_of["code_module"])
    p = s["id_assessment"].map(pres_of["code_presentation"])
    late = (pd.to_numeric(s["date_submitted"], errors="coerce") >= cutoff_of(m, p)).to_numpy()
    s.loc[late, "score"] = 3.0
    r = out["studentRegistration"]
    late = (pd.to_numeric(r["date_unregistration"], errors="coerce")
            >= cutoff_of(r["code_module"], r["code_presentation"])).to_numpy()
    r["date_unregistration"] = r["date_unregistration"].astype(float)
    r.loc[late, "date_unregistration"] = pd.to_numeric(r.loc[late, "date_unregistration"]) + 11
    return out


def tensors(data) -> dict:
    out = {"present": data.present, "y": data.y}
    for name, m in data.modalities.items():
        out[f"{name}.x"] = m.x
        for k in ("steps", "cat"):
            if getattr(m, k) is not None:
                out[f"{name}.{k}"] = getattr(m, k)
    return out


def check_dataset(data) -> None:
    n = len(data.y)
    assert n > 0 and data.present.shape[0] == n and len(data.meta) == n
    assert data.present[:, 0].all()
    for m in data.modalities.values():
        assert m.x.shape[0] == n and np.isfinite(m.x).all()
    assert set(np.unique(data.y)) <= set(range(len(data.classes)))


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_oulad_loader_gives_a_leak_free_dataset_or_a_clean_error(data):
    draw = data.draw
    frames = mutate_cohort(tiny_cohort(), draw)
    variant = draw(st.sampled_from(list(VARIANTS)))
    how = draw(st.sampled_from(["none", "none", "none", "bom", "cp1252", "mixed"]))
    fraction = draw(st.sampled_from([0.5, 0.5, 0.3, 0.9, 1.0]))
    with tempfile.TemporaryDirectory() as d:
        directory = write_cohort(frames, Path(d) / "data", variant)
        if how != "none":
            target = draw(st.sampled_from(sorted(directory.rglob("*.*"))))
            gz = target.name.endswith(".gz")
            raw = gzip.decompress(target.read_bytes()) if gz else target.read_bytes()
            write_bytes(target, reencode(raw, how), gz)
        try:
            result = load_final_outcome(directory, cutoff_fraction=fraction)
        except DsrsdError as e:
            assert str(e) and "Traceback" not in str(e)
            OUTCOMES["load_final_outcome"]["DsrsdError"] += 1
            return
        check_dataset(result)
        OUTCOMES["load_final_outcome"]["valid dataset"] += 1
        if how != "none":
            return  # the perturbation rewrites the tables in UTF-8; the encoded case is checked above
        changed = write_cohort(perturb_after_cutoff(frames, result), Path(d) / "late", variant)
        try:
            again = load_final_outcome(changed, cutoff_fraction=fraction)
        except DsrsdError as e:  # only late values were touched: they must not make the data invalid
            pytest.fail(f"changing data after the cut-off made the data unreadable: {e}")
        a, b = tensors(result), tensors(again)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), f"{k} changed: data after the cut-off leaked"
        OUTCOMES["load_final_outcome"]["leakage invariant checked"] += 1


def test_zz_report_example_counts():
    for loader, counts in OUTCOMES.items():
        print(f"\n{loader}: {sum(v for k, v in counts.items() if k != 'leakage invariant checked')} examples: "
              f"{dict(counts)}")


def test_absurd_module_length_is_a_clear_error_not_an_out_of_memory(tmp_path):
    """Found by the fuzzer: a module_presentation_length of 10**9 sized the click tensor by it and
    exhausted memory; now it is a data error."""
    frames = tiny_cohort()
    frames["courses"].loc[0, "module_presentation_length"] = 10**9
    with pytest.raises(DsrsdError, match="module_presentation_length 1000000000"):
        load_final_outcome(write_cohort(frames, tmp_path / "data"))
