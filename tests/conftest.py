"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_ooi_dir() -> Path:
    """The OOI reference data folder: ``../shared/ooi`` beside the repository (CI lays it there)."""
    override = os.environ.get("STREAM_ENGINE_TEST_OOI_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "ooi"


OOI_DIR = _shared_ooi_dir()
requires_ooi = pytest.mark.skipif(
    not (OOI_DIR / "samples").is_dir(),
    reason=f"OOI reference data not found at {OOI_DIR} (set STREAM_ENGINE_TEST_OOI_DIR)",
)


@pytest.fixture(scope="session")
def ooi_dir() -> Path:
    if not (OOI_DIR / "samples").is_dir():
        pytest.skip(f"OOI reference data not found at {OOI_DIR} (set STREAM_ENGINE_TEST_OOI_DIR)")
    return OOI_DIR


@pytest.fixture(scope="session")
def samples_dir(ooi_dir: Path) -> Path:
    return ooi_dir / "samples"


from cassandra_node import cassandra_node  # noqa: E402,F401  (session fixture for @pytest.mark.cassandra tests)
