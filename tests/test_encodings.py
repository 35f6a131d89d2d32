"""Tables exported in Windows-1252 / Latin-1 are read (and the encoding used is said); UTF-8, with
or without a byte-order mark, stays the default."""
import numpy as np
import pytest
from oulad_fixture import tiny_cohort, write_cohort

from dsrsd_core.data.oulad import load_final_outcome
from dsrsd_core.data.tables import detect_encoding, read_table
from dsrsd_core.data.validate import validate_data
from dsrsd_core.errors import DsrsdError

NOTE = "Zoë Ñandú, «élève» motivé — 5 €"  # em dash and euro sign exist in Windows-1252, not in Latin-1


def reencode(path, encoding, bom=False):
    text = path.read_bytes().decode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))


def cohort_with_accents(tmp_path, encoding=None, bom=False, note=NOTE):
    frames = tiny_cohort()
    frames["studentInfo"] = frames["studentInfo"].assign(note=note)
    for name in ("courses", "assessments", "studentInfo", "studentRegistration", "vle", "studentVle"):
        frames[name] = frames[name].assign(code_module=frames[name]["code_module"].str.replace("AAA", "AÉA"))
    directory = write_cohort(frames, tmp_path / "data")
    if encoding:
        for f in directory.glob("*.csv"):
            reencode(f, encoding, bom)
    return directory


@pytest.mark.parametrize("encoding,bom,expected", [
    (None, False, "utf-8-sig"), ("utf-8", True, "utf-8-sig"), ("cp1252", False, "cp1252")])
def test_utf8_bom_and_windows_1252_load_the_same_samples(tmp_path, encoding, bom, expected):
    reference = load_final_outcome(cohort_with_accents(tmp_path / "ref"))
    directory = cohort_with_accents(tmp_path, encoding, bom)
    assert detect_encoding(directory / "studentInfo.csv") == expected
    data = load_final_outcome(directory)
    assert "AÉA" in set(data.meta["code_module"])
    assert np.array_equal(data.y, reference.y) and np.array_equal(data.present, reference.present)
    for name, m in data.modalities.items():
        assert np.array_equal(m.x, reference.modalities[name].x), name
    # studentAssessment has no module code, so it stays plain ASCII, i.e. UTF-8
    assert data.report["encodings"] == ({} if expected == "utf-8-sig" else
                                        {n: "Windows-1252" for n in ("courses", "assessments", "studentInfo",
                                                                     "studentRegistration", "vle",
                                                                     "studentVle")})
    text, ok = validate_data(directory)
    assert ok
    assert ("read as Windows-1252" in text) == (expected == "cp1252")


def test_latin1_byte_undefined_in_windows_1252_reads_as_latin1(tmp_path):
    directory = cohort_with_accents(tmp_path, note="x")
    f = directory / "studentInfo.csv"
    f.write_bytes(f.read_bytes().replace(b",x\n", b",caf\xe9\x81\n", 1))
    assert detect_encoding(f) == "latin-1"
    frame = read_table(f, "studentInfo")
    assert len(frame) > 0


def test_bom_with_non_utf8_body_and_utf16_are_clear_errors(tmp_path):
    directory = cohort_with_accents(tmp_path, "cp1252", bom=True)
    with pytest.raises(DsrsdError, match="byte-order mark but is not valid UTF-8"):
        read_table(directory / "studentInfo.csv", "studentInfo")
    u16 = tmp_path / "courses.csv"
    u16.write_bytes("code_module,code_presentation,module_presentation_length\nAAA,2013J,268\n".encode("utf-16"))
    with pytest.raises(DsrsdError, match="UTF-16"):
        read_table(u16, "courses")
