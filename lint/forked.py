"""Compute a value in a forked child while this process goes on: the lint daemon's other core.

When the daemon lints an edited file of a project, the file's summary (for the link) and its
lint are independent computations on the same parse, each a few tenths of a second on a big
file, and the developer waits for both. A child forked after the parse inherits the tree, so it
computes the summary while the parent lints, and sends it back pickled (a few kilobytes).

Only a process that asks for it forks (the daemon: single-threaded, its own process), never a
library caller's: forking a process that runs threads can copy a lock some other thread holds
into the child. Whatever goes wrong in the child (an exception, a crash, a value that does not
pickle), the parent computes the value itself: the fork changes when, never what.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")

_allowed = False


def allow_forking() -> None:
    """Let `start` fork from now on (the daemon calls this once; a library caller never does)."""
    global _allowed
    _allowed = True


class Pending(Generic[T]):
    """A value being computed; `result()` gives it (waiting for the child, if any)."""

    def __init__(self, compute: Callable[[], T], child: int | None = None,
                 pipe: int | None = None) -> None:
        self._compute, self._child, self._pipe = compute, child, pipe

    def result(self) -> T:
        if self._child is None:
            return self._compute()
        with os.fdopen(self._pipe, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._child, 0)
        self._child = None
        if status == 0 and data:
            try:
                return pickle.loads(data)
            except Exception:  # noqa: BLE001 - whatever failed, compute here instead
                pass
        return self._compute()

    def cancel(self) -> None:
        """The value is not wanted after all (the caller failed): end the child."""
        if self._child is not None:
            os.close(self._pipe)
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = None


def start(compute: Callable[[], T]) -> Pending[T]:
    """Start computing `compute()` in a forked child if this process allows it."""
    if not _allowed or not hasattr(os, "fork") or threading.active_count() > 1:
        return Pending(compute)
    read_end, write_end = os.pipe()
    try:
        child = os.fork()
    except OSError:  # no memory or processes left for a child: compute here
        os.close(read_end)
        os.close(write_end)
        return Pending(compute)
    if child == 0:
        _serve_as_child(compute, read_end, write_end)
    os.close(write_end)
    return Pending(compute, child, read_end)


def _serve_as_child(compute: Callable[[], object], read_end: int, write_end: int) -> None:
    """Compute, send, and leave without running the parent's exit handlers or flushing its
    buffers (os._exit): the child must not touch anything the parent owns."""
    os.close(read_end)
    code = 1
    try:
        data = pickle.dumps(compute(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)
