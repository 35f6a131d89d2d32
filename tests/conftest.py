"""Shared pytest setup. Keep fixtures here generic; table-specific helpers live in their own modules."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL_OULAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "oulad"


@pytest.fixture
def real_oulad_dir() -> Path:
    """The real OULAD folder, or a skip saying why not."""
    if not (REAL_OULAD / "courses.csv").is_file():
        pytest.skip(f"real OULAD data not found at {REAL_OULAD}")
    return REAL_OULAD


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Tests never read or fill the user's ~/.cache/dsrsd."""
    monkeypatch.setenv("DSRSD_CACHE", str(tmp_path_factory.getbasetemp() / "dsrsd-cache"))
