"""The declared dependencies agree everywhere they are written."""

from __future__ import annotations

import re
import tomllib

from stream_engine.config import REPO_ROOT


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(requirement.split("==") for requirement in requirements)


def test_environment_yml_mirrors_pyproject_pins() -> None:
    text = (REPO_ROOT / "environment.yml").read_text()
    conda_pins = dict(re.findall(r"^\s+- ([A-Za-z0-9_.-]+)==(\S+)$", text, re.MULTILINE))
    assert conda_pins == _pyproject_pins()
    assert re.search(r"^\s+- python=3\.11$", text, re.MULTILINE)


def test_every_dependency_is_pinned() -> None:
    assert all(re.fullmatch(r"\d+(\.\d+)*(\.post\d+)?", v) for v in _pyproject_pins().values())
