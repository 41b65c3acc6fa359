"""Outputs are written atomically, with ordinary permissions."""

import os
import stat

from imdb_sentiment.files import write_json


def test_an_atomically_written_output_gets_the_permissions_open_would_give(tmp_path):
    write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode)
    assert mode == 0o666 & ~umask  # not mkstemp's owner-only 0600
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left
