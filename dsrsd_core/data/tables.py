"""Find and read one OULAD table, whatever form the copy on disk takes.

Real copies of OULAD come quoted or not, comma or tab separated, with CRLF or LF line ends,
gzip-compressed or plain, and with ``?`` or an empty field for a missing value. Every reader in
the project goes through :func:`read_table`, so each of those forms is handled once, and every
problem in a file is reported with the file, column and 1-based row a person can look up.

Numbers are parsed by pandas' C parser with explicit dtypes (fast, bounded memory in chunks);
only when that parse fails is the file re-read as text to find the row that broke it.
"""
from __future__ import annotations

import csv
import difflib
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DsrsdError, located
from .schema import CATEGORICAL_COLUMNS, TABLES, VOCAB

# Searched in this order; a top-level file wins over one in partial/ (the full table beats a cut).
EXTENSIONS = (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz")
SUBFOLDERS = (".", "partial")
MISSING_TOKENS = ["?", ""]
# Category columns that may be empty: the real studentInfo leaves imd_band blank for some learners.
MAY_BE_MISSING = {"imd_band"}


def candidate_names(name: str) -> list[str]:
    """The relative paths :func:`find_table` looks at, in order (for error messages)."""
    return [str(Path(sub) / f"{name}{ext}") for sub in SUBFOLDERS for ext in EXTENSIONS]


def find_table(directory, name: str) -> Path | None:
    """The file holding table ``name`` in ``directory`` (or its ``partial/`` folder), or None.

    An exact file name is preferred; a file that differs only in letter case is accepted too,
    because copies made on case-insensitive file systems often change it.
    """
    directory = Path(directory)
    for sub in SUBFOLDERS:
        folder = directory / sub
        if not folder.is_dir():
            continue
        for ext in EXTENSIONS:
            path = folder / f"{name}{ext}"
            if path.is_file():
                return path
        wanted = {f"{name}{ext}".lower() for ext in EXTENSIONS}
        for path in sorted(folder.iterdir()):
            if path.name.lower() in wanted and path.is_file():
                return path
    return None


def require_table(directory, name: str) -> Path:
    """Like :func:`find_table`, but a missing table is a :class:`DsrsdError` that says where we looked."""
    path = find_table(directory, name)
    if path is None:
        tried = ", ".join(candidate_names(name)[:4]) + ", ..."
        raise DsrsdError(f"{directory}: table '{name}' is missing (looked for {tried} and the same under partial/)")
    return path


def _open_raw(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


# (path, size, mtime_ns) -> encoding; a file is scanned once per process
_ENCODINGS: dict[tuple, str] = {}
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO-8859-1)"}


def detect_encoding(path) -> str:
    """The text encoding of a table file: ``utf-8-sig`` (UTF-8, byte-order mark or not: the default),
    else ``cp1252`` (Windows-1252, what spreadsheet tools and older platforms write; a superset of
    Latin-1's printable characters), else ``latin-1`` (every byte decodes). The whole file is
    scanned, since a single accented name can sit in its last row.
    """
    import codecs

    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as e:
        raise DsrsdError(located(f"cannot read the file ({e.strerror})", path)) from None
    if key in _ENCODINGS:
        return _ENCODINGS[key]
    utf8 = codecs.getincrementaldecoder("utf-8")()
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    ok_utf8 = ok_cp1252 = True
    first = True
    try:
        with _open_raw(path) as f:
            while block := f.read(1 << 22):
                if first and block[:2] in (b"\xff\xfe", b"\xfe\xff"):
                    raise DsrsdError(located("the file is saved as UTF-16 ('Unicode text'); save it as CSV in "
                                             "UTF-8 (or Windows-1252) and try again", path))
                first = False
                if block.isascii():
                    continue
                if ok_utf8:
                    try:
                        utf8.decode(block)
                    except UnicodeDecodeError:
                        ok_utf8 = False
                if not ok_utf8 and ok_cp1252:
                    try:
                        cp1252.decode(block)
                    except UnicodeDecodeError:
                        ok_cp1252 = False
            if ok_utf8:
                utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        ok_utf8 = False  # a multi-byte character cut at the end of the file
    except (OSError, EOFError) as e:
        raise DsrsdError(located(f"cannot read the file ({e})", path)) from None
    if not ok_utf8:
        with _open_raw(path) as f:
            if f.read(3) == b"\xef\xbb\xbf":
                raise DsrsdError(located("the file starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                                         "(mixed encodings); save it again as UTF-8", path))
    encoding = "utf-8-sig" if ok_utf8 else "cp1252" if ok_cp1252 else "latin-1"
    _ENCODINGS[key] = encoding
    return encoding


def _open_text(path: Path):
    return io.TextIOWrapper(_open_raw(path), encoding=detect_encoding(path), newline="")


def read_header(path) -> tuple[list[str], str]:
    """The column names (stripped) and the separator, sniffed from the first line.

    A tab anywhere in the header means tab-separated; otherwise comma. An empty file is an error.
    """
    path = Path(path)
    try:
        with _open_text(path) as f:
            line = f.readline()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DsrsdError(located(f"cannot read the file ({e})", path)) from None
    if not line.strip():
        raise DsrsdError(located("the file is empty (no header line)", path))
    sep = "\t" if "\t" in line else ","
    names = [c.strip() for c in next(csv.reader([line.rstrip("\r\n")], delimiter=sep))]
    return names, sep


def check_header(path, name: str, header: list[str], needed=None) -> None:
    """Every schema column must be in the header; a misspelling gets a suggestion."""
    needed = list(TABLES[name]) if needed is None else list(needed)
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DsrsdError(located(f"the header names column '{dupes[0]}' more than once", path))
    for col in needed:
        if col in header:
            continue
        extra = [c for c in header if c not in TABLES[name]]
        close = difflib.get_close_matches(col, extra, n=1, cutoff=0.6) or difflib.get_close_matches(
            col.lower(), [c.lower() for c in extra], n=1, cutoff=0.6)
        hint = f"; did you mean '{_original(close[0], extra)}'? (rename it to '{col}')" if close else ""
        raise DsrsdError(located(
            f"the {name} table needs column '{col}', which the header lacks{hint}. "
            f"Header: {', '.join(header)}", path, column=col))


def _original(match: str, names: list[str]) -> str:
    for n in names:
        if n == match or n.lower() == match:
            return n
    return match


def read_table(path, name: str, usecols=None, chunksize: int | None = None):
    """Read table ``name`` from ``path``: a DataFrame, or an iterator of them if ``chunksize``.

    Columns are those of ``schema.TABLES[name]`` (or ``usecols``), in schema order, converted:
    "int" -> int64 (a missing value is an error), "float" -> float64 (NaN where missing),
    "str" -> string, checked against ``schema.VOCAB`` where the column is categorical.
    Every problem raises :class:`DsrsdError` naming the file, column and 1-based data row.
    A file with no data rows is an error too.
    """
    path = Path(path)
    if name not in TABLES:
        raise DsrsdError(f"unknown table '{name}'; known tables: {', '.join(TABLES)}")
    kinds = TABLES[name]
    cols = list(kinds) if usecols is None else [c for c in kinds if c in set(usecols)]
    unknown = set(usecols or ()) - set(kinds)
    if unknown:
        raise DsrsdError(f"table '{name}' has no column(s) {sorted(unknown)}")
    header, sep = read_header(path)
    check_header(path, name, header)
    # No usecols: with it pandas silently accepts rows with too many fields; we want those reported.
    options = dict(
        sep=sep, header=0, names=header, encoding=detect_encoding(path),
        dtype={c: ("float64" if kinds.get(c, "str") != "str" else "str") for c in header},
        na_values=MISSING_TOKENS, keep_default_na=False,
    )
    if chunksize is None:
        frames = list(_read_chunks(path, name, options, cols, None))
        return frames[0]
    return _read_chunks(path, name, options, cols, int(chunksize))


def _read_chunks(path: Path, name: str, options: dict, cols: list[str], chunksize) -> Iterator[pd.DataFrame]:
    offset = 0
    try:
        if chunksize is None:
            frame = pd.read_csv(path, **options)[cols]
            if len(frame):
                yield _convert(frame, path, name, offset)
            offset = len(frame)
        else:
            with pd.read_csv(path, chunksize=chunksize, **options) as reader:
                for frame in reader:
                    frame = frame[cols]
                    if len(frame):
                        yield _convert(frame, path, name, offset)
                    offset += len(frame)
    except ValueError as e:  # the C parser met a value it cannot turn into a number
        if isinstance(e, pd.errors.ParserError):
            raise DsrsdError(located(f"cannot parse the file ({e})", path)) from None
        _raise_bad_number(path, name, options, cols, e)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DsrsdError(located(f"cannot read the file ({e})", path)) from None
    if offset == 0:
        raise DsrsdError(located(f"the file has a header but no data rows; the {name} table cannot be empty", path))


def _convert(frame: pd.DataFrame, path: Path, name: str, offset: int) -> pd.DataFrame:
    """Turn parsed columns into their schema kinds, raising on the first bad value."""
    kinds = TABLES[name]
    categorical = set(CATEGORICAL_COLUMNS.get(name, ()))
    for col in frame.columns:
        kind = kinds[col]
        if kind == "str":
            values = frame[col]
            missing = values.isna().to_numpy()
            if missing.any() and col not in MAY_BE_MISSING:
                raise DsrsdError(located("missing value; this column must be filled in", path, col, offset + _first(missing)))
            if col in categorical:
                bad = ~values.isin(VOCAB[col]).to_numpy() & ~missing
                if bad.any():
                    i = _first(bad) - 1
                    raise DsrsdError(located(
                        f"unknown category {values.iloc[i]!r}; allowed values: {', '.join(VOCAB[col])}"
                        + (" (or empty)" if col in MAY_BE_MISSING else ""), path, col, offset + i + 1))
            continue
        v = frame[col].to_numpy(dtype=np.float64)
        nan = np.isnan(v)
        if np.isinf(v).any():
            raise DsrsdError(located("not a finite number", path, col, offset + _first(np.isinf(v))))
        if kind == "int":
            if nan.any():
                raise DsrsdError(located("missing value; this column needs a whole number", path, col, offset + _first(nan)))
            frac = v != np.floor(v)
            if frac.any():
                raise DsrsdError(located(f"not a whole number: {float(v[_first(frac) - 1])!r}", path, col, offset + _first(frac)))
            frame[col] = v.astype(np.int64)
    return frame


def _first(mask: np.ndarray) -> int:
    """1-based position of the first True."""
    return int(np.argmax(mask)) + 1


def _raise_bad_number(path: Path, name: str, options: dict, cols: list[str], error: Exception):
    """Slow path, only after a failed parse: re-read as text and name the first bad value."""
    kinds = TABLES[name]
    text_options = dict(options, dtype="str")
    offset = 0
    with pd.read_csv(path, chunksize=500_000, **text_options) as reader:
        for frame in reader:
            for col in cols:
                if kinds[col] == "str":
                    continue
                raw = frame[col]
                num = pd.to_numeric(raw.str.strip(), errors="coerce")
                bad = (raw.notna() & num.isna()).to_numpy()
                if bad.any():
                    i = _first(bad) - 1
                    raise DsrsdError(located(f"not a number: {raw.iloc[i]!r}", path, col, offset + i + 1)) from None
            offset += len(frame)
    raise DsrsdError(located(f"cannot parse the file ({error})", path)) from None
