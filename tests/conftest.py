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


# ---- the dashboard's tests ------------------------------------------------------------------
DEFAULT_RUN = Path(__file__).resolve().parents[1] / "checkpoints" / "default"


@pytest.fixture(scope="session")
def default_run() -> Path:
    """The shipped default run (checkpoints/default), complete with its explanation, or a skip saying why."""
    from dsrsd_core.errors import DsrsdError
    from dsrsd_core.run_dir import load_run

    if not DEFAULT_RUN.exists():
        pytest.skip(f"no shipped run at {DEFAULT_RUN}; build it with `bash scripts/build_default_run.sh`")
    try:
        load_run(DEFAULT_RUN, require_explain=True)
    except DsrsdError as e:
        pytest.skip(f"the shipped run is not complete: {e}")
    return DEFAULT_RUN


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train several times faster on one thread than on two busy shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
