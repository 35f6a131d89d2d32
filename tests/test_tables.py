"""Reading one table: file forms, header checks, located errors, chunking."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from dsrsd_core.data.tables import find_table, read_table
from dsrsd_core.errors import DsrsdError
from oulad_fixture import VARIANTS, tiny_cohort, write_table


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_file_form_reads_the_same(tmp_path, variant):
    frames = tiny_cohort()
    ext = VARIANTS[variant][0]
    for name in ("studentInfo", "studentRegistration", "studentAssessment", "assessments"):
        path = write_table(frames[name], tmp_path / f"{name}{ext}", variant)
        got = read_table(path, name)
        want = read_table(write_table(frames[name], tmp_path / "ref" / f"{name}.csv"), name)
        pd.testing.assert_frame_equal(got, want)
    info = read_table(tmp_path / f"studentInfo{ext}", "studentInfo")
    assert info["id_student"].dtype == np.int64 and info["imd_band"].isna().sum() == 4
    reg = read_table(tmp_path / f"studentRegistration{ext}", "studentRegistration")
    assert reg["date_unregistration"].notna().sum() == 4


def test_find_table_prefers_top_level_then_partial_and_ignores_case(tmp_path):
    assert find_table(tmp_path, "studentVle") is None
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "studentVle.txt.gz").write_bytes(b"")
    assert find_table(tmp_path, "studentVle") == tmp_path / "partial" / "studentVle.txt.gz"
    (tmp_path / "studentvle.CSV").write_text("x")
    assert find_table(tmp_path, "studentVle") == tmp_path / "studentvle.CSV"
    (tmp_path / "studentVle.tsv").write_text("x")
    assert find_table(tmp_path, "studentVle") == tmp_path / "studentVle.tsv"


def test_chunked_reading_matches_whole_and_counts_rows_across_chunks(tmp_path):
    frame = tiny_cohort()["studentVle"]
    path = write_table(frame, tmp_path / "studentVle.txt.gz", "tab_gz_crlf")
    whole = read_table(path, "studentVle")
    chunks = list(read_table(path, "studentVle", chunksize=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 3]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)

    frame = frame.astype({"sum_click": object})
    frame.loc[12, "sum_click"] = "lots"  # data row 13, in the third chunk
    path = write_table(frame, tmp_path / "bad.csv")
    with pytest.raises(DsrsdError, match=r"bad\.csv, column 'sum_click', row 13: not a number: 'lots'"):
        for _ in read_table(path, "studentVle", chunksize=5):
            pass


def test_usecols_keeps_schema_order(tmp_path):
    path = write_table(tiny_cohort()["vle"], tmp_path / "vle.csv")
    assert list(read_table(path, "vle", usecols=["activity_type", "id_site"]).columns) == ["id_site", "activity_type"]


def _bad(tmp_path, name, edit, variant="plain_lf"):
    frame = tiny_cohort()[name].astype(object)
    frame = edit(frame) if edit else frame
    return write_table(frame, tmp_path / f"{name}.csv", variant)


@pytest.mark.parametrize("variant", ["plain_lf", "quoted_crlf"])
def test_misspelled_column_is_named_with_a_suggestion(tmp_path, variant):
    path = _bad(tmp_path, "studentAssessment", lambda f: f.rename(columns={"score": "scroe"}), variant)
    with pytest.raises(DsrsdError) as e:
        read_table(path, "studentAssessment")
    msg = str(e.value)
    assert "studentAssessment.csv" in msg and "column 'score'" in msg and "did you mean 'scroe'" in msg


def test_non_numeric_value_names_file_column_row_and_value(tmp_path):
    def edit(f):
        f.loc[3, "score"] = "abc"
        return f
    with pytest.raises(DsrsdError, match=r"studentAssessment\.csv, column 'score', row 4: not a number: 'abc'"):
        read_table(_bad(tmp_path, "studentAssessment", edit), "studentAssessment")


def test_missing_whole_number_is_an_error_but_missing_float_is_not(tmp_path):
    def edit(f):
        f.loc[1, "date_submitted"] = np.nan
        return f
    with pytest.raises(DsrsdError, match=r"column 'date_submitted', row 2: missing value"):
        read_table(_bad(tmp_path, "studentAssessment", edit), "studentAssessment")
    scores = read_table(_bad(tmp_path, "studentAssessment", None), "studentAssessment")["score"]
    assert scores.isna().sum() == 1


def test_fractional_whole_number_is_an_error(tmp_path):
    def edit(f):
        f.loc[0, "studied_credits"] = 2.5
        return f
    with pytest.raises(DsrsdError, match=r"column 'studied_credits', row 1: not a whole number: 2.5"):
        read_table(_bad(tmp_path, "studentInfo", edit), "studentInfo")


def test_unknown_category_lists_the_allowed_values(tmp_path):
    def edit(f):
        f.loc[6, "gender"] = "X"
        return f
    with pytest.raises(DsrsdError, match=r"studentInfo\.csv, column 'gender', row 7: unknown category 'X'; allowed values: F, M"):
        read_table(_bad(tmp_path, "studentInfo", edit), "studentInfo")


def test_missing_category_only_allowed_for_imd_band(tmp_path):
    def edit(f):
        f.loc[2, "age_band"] = np.nan
        return f
    with pytest.raises(DsrsdError, match=r"column 'age_band', row 3: missing value"):
        read_table(_bad(tmp_path, "studentInfo", edit), "studentInfo")


@pytest.mark.parametrize("content", [b"", b"\r\n", b"id_assessment,id_student,date_submitted,is_banked,score\r\n"])
@pytest.mark.parametrize("gz", [False, True])
def test_empty_file_is_a_clear_error(tmp_path, content, gz):
    path = tmp_path / ("studentAssessment.csv.gz" if gz else "studentAssessment.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DsrsdError, match="empty|no data rows") as e:
        read_table(path, "studentAssessment")
    assert path.name in str(e.value)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "courses.csv.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DsrsdError, match="courses.csv.gz: cannot read the file"):
        read_table(path, "courses")


def test_ragged_row_is_a_clear_error(tmp_path):
    path = tmp_path / "courses.csv"
    path.write_text("code_module,code_presentation,module_presentation_length\nAAA,2013J,200\nAAA,2014J,200,7,8\n")
    with pytest.raises(DsrsdError, match="courses.csv: cannot parse the file"):
        read_table(path, "courses")
