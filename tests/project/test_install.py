"""What an install needs: every imported package declared, the lock pinning all of it, and
library chatter kept below WARNING unless asked for."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from imdb_sentiment.serving.requirements import locked_versions

REPO = Path(__file__).resolve().parents[2]
CODE = ["src", "stages", "tests", "bench", "noxfile.py"]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def declared() -> set[str]:
    project = pyproject()["project"]
    lines = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return {canonicalize_name(Requirement(line).name) for line in lines}


def imported_modules() -> set[str]:
    """Top-level names the project's code imports, less the stdlib and its own modules."""
    files = [p for entry in CODE for p in ([REPO / entry] if entry.endswith(".py") else [])]
    files += [p for entry in CODE for p in (REPO / entry).rglob("*.py")]
    local = {p.stem for p in files} | {"imdb_sentiment", "bench"}
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - local - {"__future__"}


def test_every_imported_package_is_declared_in_pyproject():
    distributions = importlib.metadata.packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in imported_modules()
        if not {canonicalize_name(d) for d in distributions.get(module, [])} & declared()
    }
    assert undeclared == {}


def test_the_lock_pins_every_installed_requirement_of_the_project():
    """The lock covers what the installed project needs, at the installed versions."""
    lock = locked_versions()
    for extra in ("", "test", "team"):
        for line in importlib.metadata.requires("imdb-sentiment") or []:
            requirement = Requirement(line)
            package = canonicalize_name(requirement.name)
            if package == "imdb-sentiment":  # the test extra names the team one
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                assert lock.get(package) == importlib.metadata.version(package), package


def test_the_claimed_pythons_are_the_classifiers_and_requires_python_agrees():
    project = pyproject()["project"]
    claimed = [
        c.rsplit(" ", 1)[1] for c in project["classifiers"] if c.startswith("Programming Language")
    ]
    assert claimed == ["3.11", "3.12", "3.13"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert "Python 3.11–3.13" in (REPO / "README.md").read_text()


CHATTY_STAGE = """
import logging, sys
import mlflow
from imdb_sentiment.cli import configure_logging
configure_logging()
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run(log_system_metrics=True):  # MLflow's INFO lines on start and end
    logging.getLogger("imdb_sentiment.stage").info("the project's own line")
"""


@pytest.mark.parametrize("level", [None, "INFO"])
def test_library_info_lines_show_only_when_asked_for(tmp_path, level):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_LOGGING")}
    env.pop("IMDB_SENTIMENT_LOG_LEVEL", None)
    if level:
        env["IMDB_SENTIMENT_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-c", CHATTY_STAGE, f"sqlite:///{tmp_path / 'mlflow.db'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert "the project's own line" in result.stderr
    assert ("system metrics" in result.stderr) == bool(level), result.stderr
