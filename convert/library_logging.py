"""Keep model libraries' training-time remarks off the user's terminal while we run a model.

transformers logs remarks on a model's first forward that say nothing about inference or
conversion (e.g. "`loss_type=None` was set in the config but it is unrecognized"); they would
interleave with torchready's progress. Most are `warning_once`, so silencing the first run
silences them for good. Errors still show.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

QUIETED_LIBRARIES = ("transformers",)


@contextlib.contextmanager
def library_logging_quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIETED_LIBRARIES]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous):
            logger.setLevel(level)
