"""Keep model libraries' training-time remarks off the user's terminal while we run a model.

transformers logs remarks on a model's first forward that say nothing about inference or
conversion (e.g. "`loss_type=None` was set in the config but it is unrecognized"); they would
interleave with torchready's progress. Most are `warning_once`, so silencing the first run
silences them for good. Errors still show. The levels are restored when the last torchready
call that quieted them leaves (`process_state.SharedPatch`; other threads' warnings from these
libraries are held back meanwhile).
"""

from __future__ import annotations

import contextlib
import logging

from torchready.convert.process_state import SharedPatch

QUIETED_LIBRARIES = ("transformers",)


def _quiet() -> list[tuple[logging.Logger, int]]:
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in QUIETED_LIBRARIES]
    for logger, _level in saved:
        logger.setLevel(logging.ERROR)
    return saved


def _restore(saved: list[tuple[logging.Logger, int]]) -> None:
    for logger, level in saved:
        logger.setLevel(level)


_quieted = SharedPatch(_quiet, _restore)


def library_logging_quiet() -> contextlib.AbstractContextManager[None]:
    return _quieted.active()
