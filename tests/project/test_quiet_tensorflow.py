"""TensorFlow's start-up lines stay hidden in every process the project starts, children
included, unless the user set TF_CPP_MIN_LOG_LEVEL."""

import os
import subprocess
import sys

from imdb_sentiment.runtime import QUIET_MARK

SHOW = f"""
import os
from imdb_sentiment.runtime import import_tensorflow, training_device
import_tensorflow()
print(training_device())
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"), os.environ.get("{QUIET_MARK}"))
"""


def start(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", QUIET_MARK)}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_child_of_a_quiet_process_starts_quietly_too():
    """A tuning worker or a pipeline run inherits the level the parent's import set."""
    child = start(TF_CPP_MIN_LOG_LEVEL="3", **{QUIET_MARK: "1"})
    assert child.returncode == 0, child.stderr
    assert "absl::InitializeLog" not in child.stderr and "cudart_stub" not in child.stderr
    device, levels = child.stdout.splitlines()
    assert device.startswith(("CPU:", "GPU:")) and levels == "3 1"


def test_a_level_the_user_set_is_kept():
    shown = start(TF_CPP_MIN_LOG_LEVEL="1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == "1 None"
