"""Record the warnings torch emits while capturing, with the Python stack that raised each one.

`warnings.catch_warnings(record=True)` keeps only the innermost frame, which for a TracerWarning
raised inside transformers is a library line. We install our own `showwarning` instead: Python
calls it synchronously inside `warnings.warn` (also for warnings raised from C++ through
`PyErr_WarnEx`), so the stack at that moment still holds the user's frames, and the frame that
converts the value is still live: `value_origin` asks the tracer where that value came from.

Filters: everything is recorded ("always", so a warning on a line already seen in this process
is not swallowed), except torch's "torch.jit.trace is deprecated" DeprecationWarning, and the
TracerWarnings that torch itself filters from its own modules (`TracerWarning.ignore_lib_warnings`:
every shape check in torch.nn would trigger one).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordedWarning:
    category: str  # "TracerWarning", "UserWarning", ...
    message: str
    filename: str
    lineno: int
    stack: tuple[traceback.FrameSummary, ...]  # outermost first, up to the warning
    # TracerWarnings: what the converted value depends on ("data", "shape", "parameter",
    # "constant"), from the live trace; empty when unknown.
    origin: frozenset[str] = frozenset()

    @property
    def first_line(self) -> str:
        return (self.message.strip().splitlines() or [""])[0]


@contextlib.contextmanager
def recording_warnings() -> Iterator[list[RecordedWarning]]:
    import torch

    from torchready.convert.capture.value_origin import find_frame, origin_at

    records: list[RecordedWarning] = []

    def record(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        stack = traceback.extract_stack()[:-1]
        # Drop the warnings machinery itself from the end of the stack.
        while stack and stack[-1].filename.endswith(("warnings.py", "recording.py")):
            stack.pop()
        origin: frozenset[str] = frozenset()
        if category is torch.jit.TracerWarning:
            try:
                origin = origin_at(find_frame(sys._getframe(1), filename, lineno),
                                   filename, lineno)
            except Exception:  # best effort: a warning is never lost over its origin
                origin = frozenset()
        records.append(RecordedWarning(category.__name__, str(message), filename, lineno,
                                       tuple(stack), origin))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        torch.jit.TracerWarning.ignore_lib_warnings()
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated",
                                category=DeprecationWarning)
        warnings.showwarning = record
        yield records
