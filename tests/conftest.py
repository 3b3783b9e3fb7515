"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


#: Test-only environment variables start with this, never with ``STREAM_ENGINE_`` (which names
#: settings: the server refuses unknown ones).
TEST_ENV_PREFIX = "TEST_STREAM_ENGINE_"
OOI_DIR_VARIABLE = TEST_ENV_PREFIX + "OOI_DIR"


def _shared_ooi_dir() -> Path:
    """The OOI reference data folder: ``../shared/ooi`` beside the repository (CI lays it there)."""
    override = os.environ.get(OOI_DIR_VARIABLE)
    return Path(override) if override else REPO_ROOT.parent / "shared" / "ooi"


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


OOI_DIR = _shared_ooi_dir()
requires_ooi = pytest.mark.skipif(
    not (OOI_DIR / "samples").is_dir(),
    reason=f"OOI reference data not found at {OOI_DIR} (set {OOI_DIR_VARIABLE})",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI, missing reference data fails the run instead of skipping a tenth of it."""
    if in_ci() and not (OOI_DIR / "samples").is_dir():
        pytest.exit(
            f"CI=true but the OOI reference data is not at {OOI_DIR}: lay it out as ../shared/ooi "
            f"beside the repository (or set {OOI_DIR_VARIABLE}); refusing to skip its tests",
            returncode=1,
        )


@pytest.fixture(scope="session")
def ooi_dir() -> Path:
    if not (OOI_DIR / "samples").is_dir():
        pytest.skip(f"OOI reference data not found at {OOI_DIR} (set {OOI_DIR_VARIABLE})")
    return OOI_DIR


@pytest.fixture(scope="session")
def samples_dir(ooi_dir: Path) -> Path:
    return ooi_dir / "samples"


from cassandra_node import (  # noqa: E402,F401  (session fixture for @pytest.mark.cassandra tests)
    cassandra_node,
    drop_keyspaces_after_module,
)
from cassandra_postmortem import (  # noqa: E402,F401  (a dead node said once, its logs kept)
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_terminal_summary,
)
