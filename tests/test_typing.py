"""mypy passes, strict, on the store, the preload dictionary and the engine (STYLE 14)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from typing import Any

import pytest

from stream_engine.config import REPO_ROOT

ENGINE = {
    "stream_engine.store.*",
    "stream_engine.preload.*",
    "stream_engine.engine.*",
    "stream_engine.assets",
    "stream_engine.config",
    "stream_engine.errors",
}


def _strict_override() -> dict[str, Any]:
    """The ``[[tool.mypy.overrides]]`` entry of pyproject.toml that holds the strict flags."""
    overrides = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    strict = [o for o in overrides if o.get("disallow_untyped_defs")]
    assert len(strict) == 1, "expected one mypy override with the strict flags in pyproject.toml"
    return strict[0]


def _targets(patterns: list[str]) -> list[str]:
    """mypy arguments for module patterns: ``pkg.*`` is the package, anything else one module."""
    args: list[str] = []
    for pattern in patterns:
        if pattern.endswith(".*"):
            args += ["-p", pattern.removesuffix(".*")]
        else:
            args += ["-m", pattern]
    return args


def test_strict_set_is_the_store_and_the_engine() -> None:
    override = _strict_override()
    assert set(override["module"]) >= ENGINE
    assert override["warn_return_any"] and override["disallow_any_generics"]
    assert override["implicit_reexport"] is False


def test_strict_set_type_checks() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed in this interpreter; pip install -e '.[test]'")
    command = [
        sys.executable, "-m", "mypy", "--config-file", "pyproject.toml",
        *_targets(_strict_override()["module"]),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"mypy found type errors in the strict set:\n{output}"
    assert "Success" in result.stdout
