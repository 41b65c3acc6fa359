"""The project's own imports, read with `ast`: which package modules a file reaches.

Shared by the dvc.yaml deps check (tests/pipeline/test_stages.py) and the layout check
(tests/project/test_layout.py). A subpackage's `__init__.py` holds only its docstring (the
layout test holds it to that), so it is never counted as code a file runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = "imdb_sentiment"
SOURCE = Path("src") / PACKAGE


def module_path(dotted: str) -> Path | None:
    """``imdb_sentiment.data.text`` -> src/imdb_sentiment/data/text.py (a repo path), or None
    for a name that is not a module of the package (a function, a class, a subpackage)."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    path = SOURCE.joinpath(*parts[1:-1], f"{parts[-1]}.py")
    return path if (REPO / path).exists() else None


def imported_files(path: Path) -> set[Path]:
    """The package modules ``path`` imports anywhere in it (module-level or lazily)."""
    found = set()
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {module for module in map(module_path, names) if module is not None}
    return found


def package_modules() -> list[Path]:
    return sorted(p.relative_to(REPO) for p in (REPO / SOURCE).rglob("*.py"))
