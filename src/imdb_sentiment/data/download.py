"""Fetch the dataset archive from the first source that arrives and verifies."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests
from tqdm import tqdm

from imdb_sentiment.errors import UserError
from imdb_sentiment.params import Source

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Connect fast-fails an offline machine in seconds; read covers a slow but live mirror.
HTTP_TIMEOUT = (10, 60)


class DownloadError(UserError, RuntimeError):
    """No source produced a verified archive; the message lists every source and why."""


def fetch_archive(sources: Sequence[Source], dest: Path, root: Path) -> Source:
    """Copy the first source whose bytes match its sha256 to ``dest``; return that source.

    Each attempt streams into a temp file next to ``dest`` and only a verified file is renamed
    into place, so ``dest`` is either absent or complete. Relative local paths are read from
    ``root`` (the project root), not from wherever the command happened to start.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in sources:
        try:
            _fetch_one(source, dest, root)
        except DownloadError as exc:
            log.warning("source %s: %s; trying the next one", source.url, exc)
            failures.append(f"  {source.url}: {exc}")
            continue
        log.info("archive from %s verified (sha256 %s) -> %s", source.url, source.sha256, dest)
        return source
    raise DownloadError(
        "no source gave a verified archive; tried:\n"
        + "\n".join(failures)
        + "\nFix: add a reachable URL or a local copy of aclImdb_v1 (with its sha256) to "
        "data.sources in params.yaml."
    )


def _fetch_one(source: Source, dest: Path, root: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in _read_chunks(source.url, root):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != source.sha256:
            raise DownloadError(
                f"sha256 mismatch (expected {source.sha256}, got {digest.hexdigest()}): "
                "corrupt, truncated or a different file"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _read_chunks(url: str, root: Path) -> Iterator[bytes]:
    if url.startswith(("http://", "https://")):
        yield from _read_http(url)
        return
    path = Path(url).expanduser()
    path = path if path.is_absolute() else root / path
    try:
        total = path.stat().st_size
        with path.open("rb") as src, _progress(total, path.name) as bar:
            while chunk := src.read(CHUNK_BYTES):
                bar.update(len(chunk))
                yield chunk
    except OSError as exc:
        raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_http(url: str) -> Iterator[bytes]:
    try:
        with requests.get(url, stream=True, timeout=HTTP_TIMEOUT) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length", 0)) or None
            with _progress(total, url.rsplit("/", 1)[-1]) as bar:
                for chunk in response.iter_content(CHUNK_BYTES):
                    bar.update(len(chunk))
                    yield chunk
    except requests.HTTPError as exc:
        raise DownloadError(f"server answered HTTP {exc.response.status_code}") from None
    except requests.Timeout:
        raise DownloadError(
            f"timed out (connect {HTTP_TIMEOUT[0]}s, read {HTTP_TIMEOUT[1]}s)"
        ) from None
    except requests.ConnectionError:
        host = requests.utils.urlparse(url).hostname
        raise DownloadError(f"unreachable: cannot connect to {host} (offline?)") from None
    except requests.RequestException as exc:
        raise DownloadError(f"failed ({type(exc).__name__}: {_first_line(exc)})") from None


def _progress(total: int | None, name: str) -> tqdm:
    # A live bar on a terminal; in DVC logs and CI a redrawn bar is noise, so only the end shows.
    return tqdm(
        total=total,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not sys.stderr.isatty(),
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no details"
