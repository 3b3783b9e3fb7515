"""README and config/default.py say what the code does."""

from __future__ import annotations

import ast
import os
import re

from stream_engine.config import NOT_SETTINGS, REPO_ROOT, load_settings

README = (REPO_ROOT / "README.rst").read_text(encoding="utf-8")


def test_readme_setup_commands_exist_and_are_executable() -> None:
    for script in ("manage-streamng", "run-tests", ".ci/run"):
        assert os.access(REPO_ROOT / script, os.X_OK), script
    assert "\n    ./manage-streamng demo\n" in README
    assert "\n    ./run-tests\n" in README
    assert "./run-tests" in (REPO_ROOT / ".ci" / "run").read_text()


def test_readme_names_only_real_settings() -> None:
    settings = load_settings(environ={})
    # settings only: test-only variables are TEST_STREAM_ENGINE_* (not settings), and the few
    # STREAM_ENGINE_* variables the loader knows are not settings
    named = set(re.findall(r"(?<![A-Z_])STREAM_ENGINE_([A-Z_]+[A-Z])", README)) - NOT_SETTINGS
    assert named, "README documents no settings"
    assert named <= set(settings), named - set(settings)


def test_readme_names_every_manage_command() -> None:
    script = (REPO_ROOT / "manage-streamng").read_text()
    commands = set(re.findall(r"^    ([a-z]+)\) cmd_", script, re.MULTILINE)) | {"restart"}
    assert {"start", "stop", "reload", "status", "install", "demo"} <= commands
    for command in commands:
        assert f"./manage-streamng {command}" in README, command


def test_every_default_setting_has_a_comment() -> None:
    lines = (REPO_ROOT / "config" / "default.py").read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    undocumented = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id.isupper():
            above = node.lineno - 2
            while above >= 0 and re.fullmatch(r"[A-Z_]+ = .*", lines[above]):
                above -= 1  # a group of settings shares the comment above it
            if above < 0 or not lines[above].startswith("#"):
                undocumented.append(node.targets[0].id)
    assert undocumented == []
