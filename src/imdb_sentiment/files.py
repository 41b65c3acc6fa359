"""Where the project is, and writing outputs so that a failure never leaves a half-written one
behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(dest: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``dest``; on success it replaces ``dest``, on error it vanishes.

    The temp path sits in the same folder so the final rename is atomic on one filesystem.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp make owner-only files; an output gets the permissions a plain
        # open() would give it (0666 or 0777 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~umask)
        if directory and dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_outputs(outputs: Sequence[str | Path], name: str) -> Iterator[Path]:
    """Yield a staging folder that stands in for the working directory while a stage writes
    ``outputs`` (relative paths) under it; when the block succeeds each output replaces its
    namesake, one rename apiece, and when it fails or the process is killed none is touched.

    Per-file atomic writes are not enough for a stage with many outputs: DVC deletes them all
    before the stage runs, so a stage killed half-way would leave a few new files beside
    missing ones, which `dvc metrics show` and a reader take for a result. The folder has a
    fixed name (``.NAME.partial``), so the one a killed run leaves is cleared by the next run.
    """
    for output in outputs:
        if Path(output).is_absolute() or ".." in Path(output).parts:
            raise ValueError(f"atomic_outputs takes paths inside the working directory: {output}")
    staging = Path(f".{name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        for output in outputs:
            _replace(staging / output, Path(output))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(staged: Path, dest: Path) -> None:
    """Put ``staged`` where ``dest`` is; an output the run did not write is not left over."""
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    if staged.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, dest)


def write_json(dest: str | Path, data: Any) -> None:
    """Write JSON atomically, pretty-printed so `git diff` and `dvc metrics` read it well."""
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_secret(path: Path, text: str) -> None:
    """Write a password or key readable by its owner only, from the first byte on."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def project_root() -> Path:
    """The repository root: DVC's ``DVC_ROOT`` inside a stage, else the nearest dvc.yaml up."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here
