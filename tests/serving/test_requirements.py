"""A logged model names the versions it was trained with; an environment that is not the lock's
is warned about once, at the start of a stage that logs a model, and never refused after the
training."""

from __future__ import annotations

import ast
import importlib.metadata
import logging
from pathlib import Path

import pytest
from conftest import REPO

from imdb_sentiment.serving.requirements import (
    PROJECT,
    LockError,
    check_model_environment,
    installed_closure,
    model_requirements,
)

ABSENT = "imdb-sentiment-absent-package"  # a name no index holds, so it is installed nowhere


def lock_of_installed(path: Path, **changed: str) -> Path:
    """A lock pinning the project's installed closure at its installed versions, but for
    ``changed`` (name with underscores -> the version the lock pins instead)."""
    pins = {name: v for name, v in installed_closure([PROJECT]).items() if v and name != PROJECT}
    pins |= {name.replace("_", "-"): version for name, version in changed.items()}
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    return path


def test_a_models_requirements_name_the_installed_versions_where_the_lock_differs(tmp_path, caplog):
    lock = lock_of_installed(tmp_path / "requirements.lock", numpy="1.0.0")
    with caplog.at_level(logging.DEBUG, logger="imdb_sentiment"):
        requirements = model_requirements(["pandas"], lock)
    assert f"numpy=={importlib.metadata.version('numpy')}" in requirements
    assert f"pandas=={importlib.metadata.version('pandas')}" in requirements
    assert caplog.records == []  # the stage start warns; logging the model stays quiet


def test_a_package_that_is_not_installed_is_named_at_the_locks_pin(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"{ABSENT}==1.2.3\n")
    assert model_requirements([ABSENT], lock) == [f"{ABSENT}==1.2.3"]


def test_a_package_neither_installed_nor_locked_is_refused_naming_the_fix(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("")
    with pytest.raises(LockError, match=rf"{ABSENT}: .* neither installed nor pinned .* install"):
        model_requirements([ABSENT], lock)


def test_an_environment_that_is_not_the_locks_is_warned_about_once_and_not_refused(
    tmp_path, caplog
):
    lock = lock_of_installed(tmp_path / "requirements.lock", numpy="1.0.0", pandas="1.0.0")
    with caplog.at_level(logging.INFO, logger="imdb_sentiment"):
        differing = check_model_environment(lock)
    installed = importlib.metadata.version("numpy")
    assert differing["numpy"] == (installed, "1.0.0") and set(differing) == {"numpy", "pandas"}
    (warning,) = (r for r in caplog.records if r.levelno >= logging.WARNING)
    assert warning.name.startswith("imdb_sentiment.")
    assert warning.getMessage().startswith("2 installed package(s) differ from requirements.lock: ")
    assert f"numpy {installed} (lock: 1.0.0)" in warning.getMessage()
    assert "`make install` builds the environment from requirements.lock" in warning.getMessage()
    assert any(f"numpy=={installed}" in r.getMessage() for r in caplog.records)


def test_the_locks_own_environment_gets_no_warning(tmp_path, caplog):
    lock = lock_of_installed(tmp_path / "requirements.lock")
    with caplog.at_level(logging.INFO, logger="imdb_sentiment"):
        assert check_model_environment(lock) == {}
    assert caplog.records == []


def test_without_a_lock_the_check_warns_and_the_model_names_the_installed_versions(
    tmp_path, caplog
):
    lock = tmp_path / "requirements.lock"  # not written
    with caplog.at_level(logging.INFO, logger="imdb_sentiment"):
        check_model_environment(lock)
    (warning,) = caplog.records
    assert "is missing, so this environment is unchecked" in warning.getMessage()
    assert f"numpy=={importlib.metadata.version('numpy')}" in model_requirements(["numpy"], lock)


@pytest.mark.parametrize("stage", ["train", "baseline", "ensemble"])
def test_a_stage_that_logs_a_model_checks_the_environment_before_any_work(stage):
    """What could refuse a model's requirements refuses before the training, not after it."""
    tree = ast.parse((REPO / "stages" / f"{stage}.py").read_text())
    (main,) = (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = [
        node.value.func.id
        for node in main.body[:2]
        if isinstance(node, ast.Expr | ast.Assign) and isinstance(node.value, ast.Call)
    ]
    assert calls == ["model_stage", "check_model_environment"]
