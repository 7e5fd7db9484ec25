"""Process-wide state torchready changes only while one of its calls runs, restored after the last.

coremltools keeps one op registry and one logger per process, Python one warnings filter list
and one `sys.stderr`. torchready has to change some of them to convert (its converters in the
registry, coremltools' log lines recorded instead of printed). A `SharedPatch` makes such a
change exactly as long as it is needed:

* the first torchready call to enter (in any thread) applies it, the last to leave restores
  what was there before, also when the call raises;
* entering and leaving are serialised by a lock, so concurrent calls in several threads never
  save one another's patched state as "the original" (what a plain save/restore context manager
  gets wrong when two threads nest it);
* `inside()` says whether the current thread is in a call, so a patch can route by thread: the
  registry's converters and the log handler only act for threads inside a torchready call and
  hand everything from other threads to what was there before.

What the patched code did during one call (which converters and passes ran) is kept per thread
too (`ThreadRecords`), so concurrent calls never see one another's records.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SharedPatch:
    """One process-wide change, applied while at least one thread is inside `active()`.

    `apply()` makes the change and returns what `restore(saved)` needs to undo it.
    """

    def __init__(self, apply: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._apply = apply
        self._restore = restore
        self._lock = threading.RLock()
        self._users = 0
        self._saved: Any = None
        self._local = threading.local()

    @property
    def lock(self) -> threading.RLock:
        """Held while the patch is applied or restored; take it to change patched state."""
        return self._lock

    @property
    def applied(self) -> bool:
        return self._users > 0

    def inside(self) -> bool:
        """Is the current thread inside `active()`?"""
        return getattr(self._local, "depth", 0) > 0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self._apply()
            self._users += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    saved, self._saved = self._saved, None
                    self._restore(saved)


class ThreadRecords(Generic[T]):
    """Items noted in a thread while it is inside `recording()`; the innermost block gets them."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _stack(self) -> list[list[T]]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def note(self, item: T) -> None:
        stack = self._stack()
        if stack:
            stack[-1].append(item)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[T]]:
        records: list[T] = []
        stack = self._stack()
        stack.append(records)
        try:
            yield records
        finally:
            stack.remove(records)
