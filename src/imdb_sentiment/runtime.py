"""TensorFlow start-up for the project's entry points: quiet by default, one device line."""

from __future__ import annotations

import functools
import os
from typing import Any

QUIET_MARK = "IMDB_SENTIMENT_QUIET_TENSORFLOW"  # set beside the level import_tensorflow chose


@functools.cache
def import_tensorflow() -> Any:
    """``import tensorflow``, without its C++ start-up lines unless the user asked for them.

    On a machine without a GPU, TensorFlow prints ``failed call to cuInit`` and cudart lines,
    which a new user reads as a failure. ``TF_CPP_MIN_LOG_LEVEL`` does not reach the lines
    printed before absl's logging is initialised (tensorflow#100442), so the import runs with
    file descriptor 2 pointed at /dev/null. Python errors raised by the import still show:
    they are printed after the descriptor is restored.
    """
    chosen = "TF_CPP_MIN_LOG_LEVEL" in os.environ and QUIET_MARK not in os.environ
    if chosen:  # the user chose a level: show what it lets by
        import tensorflow

        return tensorflow
    # Marked as this function's own setting: a child process inherits the level (a tuning
    # worker, a test's pipeline run) and must not take it for the user's choice.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[QUIET_MARK] = "1"
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import keras  # noqa: F401 - its backend start-up prints too
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    return tensorflow


def training_device() -> str:
    """What TensorFlow trains on here, in one line: the GPUs, or the CPU and its threads."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details
        names = [details(gpu).get("device_name", gpu.name) for gpu in gpus]
        return f"GPU: {', '.join(names)} (cuDNN kernels where the layer allows them)"
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    return f"CPU: {os.cpu_count()} cores, {threads} TensorFlow intra-op threads (no GPU found)"
