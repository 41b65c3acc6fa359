"""A logged model's requirements: every package it needs, at the versions it was trained with,
so a served model rebuilds the stack it ran on; and the stage-start check of this environment
against requirements.lock."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from imdb_sentiment.errors import UserError

# The one list of pinned packages (`make lock` writes it): installs come from it. The lock the
# package was installed with: `make install` installs it editable, so its checkout's, also for
# a stage DVC runs in a temporary copy.
LOCK_FILE = "requirements.lock"
LOCK_PATH = Path(__file__).resolve().parents[3] / LOCK_FILE
REFRESH_HINT = "run `make install` (or `make lock` after changing pyproject.toml)"
PROJECT = "imdb-sentiment"
EXAMPLES = 3  # differing packages the warning names; the full list goes to an INFO line

log = logging.getLogger(__name__)


class LockError(UserError, RuntimeError):
    """No version to pin for a package a model needs (neither installed nor in the lock), or
    no lock to read."""


def locked_versions(lock: Path | None = None) -> dict[str, str]:
    """Package (canonical name) -> pinned version, for this interpreter and platform.

    The lock is universal: a package pinned differently per Python version appears once per
    version, each line with its environment marker; only the line whose marker holds here counts.
    """
    lock = lock or LOCK_PATH
    if not lock.exists():
        raise LockError(f"{lock} is missing; {REFRESH_HINT}")
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


def installed_closure(packages: Iterable[str]) -> dict[str, str | None]:
    """``packages`` and every package they require here (extras left out) -> the installed
    version, None for one that is not installed (what that one requires is unknown without its
    metadata: a rebuild's pip finds it)."""
    closure: dict[str, str | None] = {}
    todo = [canonicalize_name(name) for name in packages]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            closure[name] = None
            continue
        closure[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return dict(sorted(closure.items()))


def _pins(lock: Path) -> dict[str, str]:
    # The lock only checks the environment and stands in for a package that is not installed,
    # so a missing one (a non-editable install has no checkout beside it) is no lock, not an
    # error: the installed versions still say what the model ran on.
    return locked_versions(lock) if lock.exists() else {}


def _named_versions(closure: dict[str, str | None], lock: Path) -> dict[str, str]:
    # The installed version is the one the model was trained with, whatever the lock says (a
    # user who installed with plain `pip install -e .` gets a model that names their stack). A
    # package that is not installed was never run (pip did not act on the metadata naming it,
    # or the environment is broken), so no version is the trained one: the lock's pin is what
    # `make install` would have put there, and keeps the rebuild reproducible. With neither,
    # no version can be named.
    pinned = _pins(lock)
    versions = {name: installed or pinned.get(name) for name, installed in closure.items()}
    missing = [name for name, version in versions.items() if version is None]
    if missing:
        raise LockError(
            f"{', '.join(missing)}: needed by a logged model but neither installed nor pinned in "
            f"{lock}, so the model's requirements cannot name a version; {REFRESH_HINT}"
        )
    return {name: version for name, version in versions.items() if version is not None}


def model_requirements(packages: Iterable[str], lock: Path | None = None) -> list[str]:
    """``name==version`` for ``packages`` and all they pull in, at the versions installed here
    (the lock's pin for one that is not installed).

    Raises LockError for a package neither installed nor in the lock; a stage that logs a
    model meets that at its start, through ``check_model_environment``.
    """
    versions = _named_versions(installed_closure(packages), lock or LOCK_PATH)
    return [f"{name}=={version}" for name, version in versions.items()]


def lock_differences(
    closure: dict[str, str | None], lock: Path | None = None
) -> dict[str, tuple[str, str | None]]:
    """Package -> (installed version, the lock's pin or None) for each installed package of
    ``closure`` (see ``installed_closure``) whose version is not the lock's."""
    pinned = _pins(lock or LOCK_PATH)
    return {
        name: (installed, pinned.get(name))
        for name, installed in closure.items()
        if installed is not None and pinned.get(name) != installed
    }


def check_model_environment(lock: Path | None = None) -> dict[str, tuple[str, str | None]]:
    """At the start of a stage that logs a model: refuse now, not after the training, what
    ``model_requirements`` would refuse, and warn once where this environment is not the lock's.

    Checks the closure of the project's own requirements: it holds every package any logged
    model names. Returns the differences (see ``lock_differences``).
    """
    lock = lock or LOCK_PATH
    closure = installed_closure([PROJECT])
    if closure.pop(PROJECT) is None:
        raise LockError(
            f"{PROJECT} is not installed, so what a logged model needs is unknown; "
            "run `make install` (or pip install -e .)"
        )
    _named_versions(closure, lock)  # what would refuse the model after its training refuses now
    if not lock.exists():
        log.warning(
            "%s is missing, so this environment is unchecked: a logged model's requirements "
            "name the installed versions; `make install` builds the environment from the lock",
            lock,
        )
        return {}
    differing = lock_differences(closure, lock)
    if differing:
        examples = ", ".join(
            f"{name} {installed} (lock: {locked or 'not in it'})"
            for name, (installed, locked) in list(differing.items())[:EXAMPLES]
        )
        more = f" and {len(differing) - EXAMPLES} more" if len(differing) > EXAMPLES else ""
        log.warning(
            "%d installed package(s) differ from %s: %s%s; this environment was not installed "
            "from the lock, so a logged model's requirements name the installed versions. "
            "`make install` builds the environment from %s",
            len(differing),
            LOCK_FILE,
            examples,
            more,
            LOCK_FILE,
        )
        log.info(
            "installed versions that differ from %s: %s",
            LOCK_FILE,
            " ".join(f"{name}=={installed}" for name, (installed, _) in differing.items()),
        )
    return differing
