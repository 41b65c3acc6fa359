"""dvc.yaml lists, for every stage, all the project code that stage runs.

DVC re-runs a stage only when a listed dependency changes, so a module a stage imports but
does not list leaves stale cached outputs behind. The stages list their modules (rather than
the whole package) so that editing the report does not retrain every model; this test keeps
the lists complete by following the imports, including those inside functions.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import REPO
from package_imports import SOURCE, imported_files


def code_run_by(script: Path) -> set[str]:
    """The script and every project module it reaches through imports, as repo paths."""
    seen: set[Path] = set()
    pending = imported_files(script)
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending |= imported_files(module)
    return {str(script)} | {str(module) for module in seen}


def test_every_stage_lists_all_the_code_it_runs():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages
    for name, stage in stages.items():
        definition = stage.get("do", stage)
        script = Path(definition["cmd"].split()[1])
        missing = code_run_by(script) - set(definition["deps"])
        assert not missing, f"dvc.yaml stage {name} runs {sorted(missing)} but does not list it"


def test_the_import_walk_follows_lazy_imports():
    # train.py imports models/training.py inside main(), after the params are checked
    assert str(SOURCE / "models" / "training.py") in code_run_by(Path("stages/train.py"))
