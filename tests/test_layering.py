"""DESIGN.md's import direction: web/dap_handlers -> engine/outputs -> store.

Nothing under ``stream_engine/`` except ``stream_engine/web/`` may import ``dap_handlers`` or
``stream_engine.web`` (at module level or inside a function).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stream_engine.config import REPO_ROOT

PACKAGE = Path(REPO_ROOT) / "stream_engine"
FORBIDDEN = ("dap_handlers", "stream_engine.web")


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _upward(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted({name for name in _imported_modules(tree)
                   if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)})


def _engine_side_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "web" not in p.relative_to(PACKAGE).parts[:1]]


def test_engine_side_files_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _engine_side_files()}
    assert {"outputs/layout.py", "outputs/attributes.py", "engine/query_run.py"} <= names
    assert not any(name.startswith("web/") for name in names)


@pytest.mark.parametrize("path", _engine_side_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_upward_import(path: Path) -> None:
    assert _upward(path) == [], f"{path} imports the web layer"


def test_the_check_sees_upward_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from dap_handlers import attributes\n"
                      "import stream_engine.web.views.dap\nfrom stream_engine import web\n")
    assert _upward(sample) == ["dap_handlers", "dap_handlers.attributes", "stream_engine.web",
                               "stream_engine.web.views.dap"]
