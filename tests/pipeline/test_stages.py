"""dvc.yaml lists, for every stage, all the project code that stage runs.

DVC re-runs a stage only when a listed dependency changes, so a module a stage imports but
does not list leaves stale cached outputs behind. The stages list their modules (rather than
the whole package) so that editing the report does not retrain every model; this test keeps
the lists complete by following the imports, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from conftest import REPO

PACKAGE = "imdb_sentiment"
SOURCE = Path("src") / PACKAGE


def imported_modules(path: Path) -> set[str]:
    """The project modules ``path`` imports anywhere in it (module-level or lazily)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if (
                parts[0] == PACKAGE
                and len(parts) > 1
                and (REPO / SOURCE / f"{parts[1]}.py").exists()
            ):
                found.add(parts[1])
    return found


def code_run_by(script: Path) -> set[str]:
    """The script and every project module it reaches through imports, as repo paths."""
    seen: set[str] = set()
    pending = imported_modules(REPO / script)
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending |= imported_modules(REPO / SOURCE / f"{module}.py")
    return {str(script)} | {str(SOURCE / f"{module}.py") for module in seen}


def test_every_stage_lists_all_the_code_it_runs():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages
    for name, stage in stages.items():
        definition = stage.get("do", stage)
        script = Path(definition["cmd"].split()[1])
        missing = code_run_by(script) - set(definition["deps"])
        assert not missing, f"dvc.yaml stage {name} runs {sorted(missing)} but does not list it"


def test_the_import_walk_follows_lazy_imports():
    # train.py imports training.py inside main(), after the params are checked
    assert str(SOURCE / "training.py") in code_run_by(Path("stages/train.py"))
