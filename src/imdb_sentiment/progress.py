"""Progress on long work: a bar on a terminal, one line with the elapsed seconds elsewhere
(DVC's log, CI), where a redrawn bar would be a wall of noise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

log = logging.getLogger(__name__)

Advance = Callable[[int], object]  # called with how many more items are done


def on_terminal() -> bool:
    """Whether a person watches: stderr is a terminal (tqdm and the log lines write there)."""
    return sys.stderr.isatty()


@contextmanager
def progress(what: str, total: int, unit: str = "review") -> Iterator[Advance]:
    """Yield ``advance(n)`` for a step of ``total`` items: a bar on a terminal; elsewhere
    one line when the step ends, with its items and seconds."""
    started = time.perf_counter()
    if on_terminal():
        with tqdm(total=total, desc=what, unit=unit, leave=False, dynamic_ncols=True) as bar:
            yield bar.update
    else:
        yield lambda n: None
    log.info("%s: %d %ss in %.1fs", what, total, unit, time.perf_counter() - started)
