"""Stream Engine: on-demand data products for ocean observatory streams."""

from __future__ import annotations

import re
from pathlib import Path

_RELEASE_NOTES = Path(__file__).resolve().parent.parent / "RELEASE_NOTES.md"
_VERSION_LINE = re.compile(r"^##\s+.*?Release\s+(\d+\.\d+\.\d+)", re.MULTILINE)


def _read_version() -> str:
    """The newest version named in RELEASE_NOTES.md, the single source of the version."""
    try:
        text = _RELEASE_NOTES.read_text(encoding="utf-8")
    except OSError:
        from importlib.metadata import version

        return version("stream-engine")
    match = _VERSION_LINE.search(text)
    if match is None:
        raise RuntimeError(f"no '## ... Release X.Y.Z' heading in {_RELEASE_NOTES}")
    return match.group(1)


__version__ = _read_version()
