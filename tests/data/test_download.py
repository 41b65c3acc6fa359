import hashlib
import socket

import pytest

from imdb_sentiment.data.download import DownloadError, fetch_archive
from imdb_sentiment.params import Source


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def archive_bytes(tmp_path):
    data = b"pretend this is a tarball" * 1000
    (tmp_path / "good.tar.gz").write_bytes(data)
    return data


def test_local_path_relative_to_the_project_root(tmp_path, archive_bytes):
    dest = tmp_path / "raw" / "archive.tar.gz"
    used = fetch_archive(
        [Source(url="good.tar.gz", sha256=sha(archive_bytes))], dest, root=tmp_path
    )
    assert used.url == "good.tar.gz"
    assert dest.read_bytes() == archive_bytes


def test_checksum_mismatch_and_unreachable_source_fall_through_to_the_next(
    tmp_path, archive_bytes, caplog
):
    (tmp_path / "truncated.tar.gz").write_bytes(archive_bytes[:100])
    dest = tmp_path / "raw" / "archive.tar.gz"
    sources = [
        Source(
            url=f"http://127.0.0.1:{closed_port()}/aclImdb_v1.tar.gz", sha256=sha(archive_bytes)
        ),
        Source(url="truncated.tar.gz", sha256=sha(archive_bytes)),
        Source(url=str(tmp_path / "good.tar.gz"), sha256=sha(archive_bytes)),
    ]
    used = fetch_archive(sources, dest, root=tmp_path)
    assert used is sources[2]
    assert dest.read_bytes() == archive_bytes
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "unreachable: cannot connect to 127.0.0.1" in warnings[0]
    assert "sha256 mismatch" in warnings[1]


def test_when_nothing_verifies_the_error_lists_every_source_and_nothing_is_left(tmp_path):
    (tmp_path / "other.tar.gz").write_bytes(b"not the dataset")
    dest = tmp_path / "raw" / "archive.tar.gz"
    sources = [
        Source(url="missing.tar.gz", sha256="0" * 64),
        Source(url="other.tar.gz", sha256="1" * 64),
    ]
    with pytest.raises(DownloadError) as failure:
        fetch_archive(sources, dest, root=tmp_path)
    message = str(failure.value)
    assert "missing.tar.gz: cannot read" in message
    assert "other.tar.gz: sha256 mismatch" in message
    assert "data.sources in params.yaml" in message
    assert list((tmp_path / "raw").iterdir()) == []  # no output, no leftover temp file


def test_a_failed_download_keeps_an_earlier_good_archive_untouched(tmp_path, archive_bytes):
    dest = tmp_path / "raw" / "archive.tar.gz"
    dest.parent.mkdir()
    dest.write_bytes(b"previous good archive")
    with pytest.raises(DownloadError):
        fetch_archive([Source(url="good.tar.gz", sha256="2" * 64)], dest, root=tmp_path)
    assert dest.read_bytes() == b"previous good archive"
    assert [p.name for p in dest.parent.iterdir()] == ["archive.tar.gz"]
