"""A logged model's requirements: every package it needs, pinned at requirements.lock's
versions, so a served model rebuilds the stack it was trained on."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from imdb_sentiment.errors import UserError

# The one list of pinned packages (`make lock` writes it): installs come from it, and so do a
# logged model's requirements. The lock the package was installed with: `make install` installs
# it editable, so its checkout's, also for a stage DVC runs in a temporary copy.
LOCK_FILE = "requirements.lock"
LOCK_PATH = Path(__file__).resolve().parents[3] / LOCK_FILE
REFRESH_HINT = "run `make install` (or `make lock` after changing pyproject.toml)"


class LockError(UserError, RuntimeError):
    """The environment is not the one requirements.lock pins."""


def locked_versions(lock: Path | None = None) -> dict[str, str]:
    """Package (canonical name) -> pinned version, for this interpreter and platform.

    The lock is universal: a package pinned differently per Python version appears once per
    version, each line with its environment marker; only the line whose marker holds here counts.
    """
    lock = lock or LOCK_PATH
    if not lock.exists():
        raise LockError(f"{lock} is missing; a model's requirements come from it ({REFRESH_HINT})")
    versions = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (version,) = (spec.version for spec in requirement.specifier)
            versions[canonicalize_name(requirement.name)] = version
    return versions


def installed_closure(packages: Iterable[str]) -> set[str]:
    """``packages`` and every package they require here (extras left out), as installed."""
    seen: set[str] = set()
    todo = [canonicalize_name(name) for name in packages]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def model_requirements(packages: Iterable[str], lock: Path | None = None) -> list[str]:
    """``name==version`` for ``packages`` and all they pull in, at the lock's versions.

    Refuses an environment that differs from the lock: the model would name versions it was
    not trained with.
    """
    pinned = locked_versions(lock)
    requirements = []
    for name in sorted(installed_closure(packages)):
        installed = importlib.metadata.version(name)
        if pinned.get(name) != installed:
            locked = pinned.get(name, "not in the lock")
            raise LockError(
                f"{name} {installed} is installed, the lock pins {locked}: this environment "
                f"was not installed from {LOCK_FILE}; {REFRESH_HINT}"
            )
        requirements.append(f"{name}=={installed}")
    return requirements
