"""`make test-pythons`: the fast suite on every Python version pyproject.toml claims.

Each session is a fresh environment built by uv from requirements.lock, the same lock
`make install` uses, so a version passes here only if a user's install on it would work.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
LOCK = "requirements.lock"

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]
# The versions the trove classifiers claim: the one list that pyproject.toml, README and CI use.
PYTHONS = nox.project.python_versions(nox.project.load_toml(ROOT / "pyproject.toml"))


def add_pyenv_interpreters() -> None:
    """Put pyenv's installed interpreters on PATH: its shims answer only for the versions
    `pyenv global` names, and uv, finding a shim first, would give up on the others."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    bins = sorted((root / "versions").glob("3.*/bin"), reverse=True)
    if bins:
        os.environ["PATH"] = os.pathsep.join([*map(str, bins), os.environ["PATH"]])


add_pyenv_interpreters()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Install from the lock, then run ``pytest -m "not slow"`` (extra args go to pytest)."""
    session.install("--compile-bytecode", "-r", LOCK)  # as `make install` (Makefile)
    session.install("--no-deps", "-e", ".")
    session.run("pytest", "-m", "not slow", *session.posargs)
