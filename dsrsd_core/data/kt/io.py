"""Read one knowledge-tracing export, whatever form the copy on disk takes.

Comma or tab separated (sniffed from the header line), gzip-compressed or plain, CRLF or LF,
quoted or not, ``?`` or empty for a missing value, UTF-8 with or without a byte-order mark.
A file that is not valid UTF-8 is re-read as Latin-1 (the ASSISTments skill-builder export is
Latin-1) and the fallback is reported, never a traceback. Every problem names the file, the
column and the 1-based data row a person can look up (the header is row 0).
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DsrsdError, located

MISSING_TOKENS = ["?", ""]
DATA_EXTENSIONS = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")


def strip_ext(name: str) -> str | None:
    """``name`` without a data-file extension (lower-cased), or None when it is not a data file."""
    low = name.lower()
    for ext in sorted(DATA_EXTENSIONS, key=len, reverse=True):
        if low.endswith(ext):
            return low[: -len(ext)]
    return None


def _raw(path: Path) -> bytes:
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")) as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise DsrsdError(f"{path}: cannot read the file ({getattr(e, 'strerror', None) or e})") from None


def decode(path: Path) -> tuple[str, str]:
    """(text, encoding): UTF-8 (a BOM is dropped) or, when that fails, Latin-1."""
    raw = _raw(path)
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_csv_any(path, needed: list[str], optional: list[str] = (), what: str = "file") -> tuple[pd.DataFrame, dict]:
    """All columns as strings (missing -> NaN), and {"encoding", "rows"}.

    ``needed`` columns must be in the header (case and surrounding spaces ignored); a missing one
    is a :class:`DsrsdError` that lists the header found. Only needed + optional columns are kept.
    """
    path = Path(path)
    text, encoding = decode(path)
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first.strip():
        raise DsrsdError(located(f"the {what} is empty (no header line)", path))
    sep = "\t" if "\t" in first else ","
    header = [c.strip().strip('"').strip() for c in next(csv.reader([first], delimiter=sep))]
    lower = {c.lower(): c for c in header}
    missing = [c for c in needed if c.lower() not in lower]
    if missing:
        raise DsrsdError(located(f"the {what} lacks column(s) {', '.join(missing)}; its header is: {', '.join(header)}", path))
    keep = [lower[c.lower()] for c in list(needed) + list(optional) if c.lower() in lower]
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=0, names=header, usecols=keep, dtype=str,
                            na_values=MISSING_TOKENS, keep_default_na=False, skipinitialspace=True,
                            on_bad_lines="error", engine="c")
    except (pd.errors.ParserError, ValueError) as e:
        raise DsrsdError(located(f"cannot parse the {what} ({str(e).strip()})", path)) from None
    frame.columns = [c.lower() for c in frame.columns]
    return frame, {"encoding": encoding, "rows": int(len(frame))}


def numeric(frame: pd.DataFrame, column: str, path, allow_missing: bool = False, integer: bool = False) -> np.ndarray:
    """Column as float64; a non-number (or a missing value, unless allowed) names file, column, row."""
    s = frame[column]
    x = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
    bad = np.isnan(x) & s.notna().to_numpy()
    if not allow_missing:
        bad |= s.isna().to_numpy()
    if integer:
        bad |= ~np.isnan(x) & (x != np.round(x))
    if bad.any():
        i = int(np.argmax(bad))
        value = s.iloc[i]
        what = "is empty" if pd.isna(value) else f"is {value!r}, not {'a whole number' if integer else 'a number'}"
        raise DsrsdError(located(f"{what} ({int(bad.sum())} such row(s))", path, column=column, row=i + 1))
    return x


def binary(frame: pd.DataFrame, column: str, path) -> np.ndarray:
    """A 0/1 column (1.0 and 0.0 accepted) as int8."""
    x = numeric(frame, column, path)
    bad = ~np.isin(x, (0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise DsrsdError(located(f"is {frame[column].iloc[i]!r}; correctness must be 0 or 1 "
                                 f"({int(bad.sum())} such row(s))", path, column=column, row=i + 1))
    return x.astype(np.int8)
