"""Keep coremltools quiet: its log lines, Python warnings and tqdm bars are recorded, not printed.

coremltools talks a lot on stderr: "Torch version 2.13.0 has not been tested ..." and "Failed to
load _MLModelProxy" when it is imported, "Support for converting Torch Script Models is
experimental" on every scripted or frozen module, an "ERROR - converting 'diff' op (located at:
...)" line before re-raising a conversion error, and one tqdm bar per conversion phase. None of that
belongs on a torchready user's terminal, and none of what torchready changes to prevent it may
outlive the call (`process_state.SharedPatch`):

* `routed()` (around every torchready call): a handler on the "coremltools" logger, which stops
  propagating to the root logger. Records from the calling thread are kept on the innermost
  `recording()`'s `ConverterLog` (WARNING and above; outside a recording, a small bounded
  background log: the import-time chatter). Records from any other thread go where they went
  before: the logger's own handlers run as always, and the parents' handlers (or Python's
  last-resort stderr handler) get the record when the logger propagated. The logger's level is
  never changed. When the last call leaves, the handler is removed and `propagate` restored.
* `recording()` (around ct.convert): Python warnings of the calling thread are recorded (every
  occurrence: an "always" filter is in front while a recording runs; other threads' warnings go
  to the `warnings.showwarning` that was there), and coremltools' tqdm bars become a shim that
  reports progress to a callback (our rich progress) in the recording thread and is the real
  tqdm in any other.

Every `ConverterLog` keeps at most `MAX_MESSAGES` messages and counts the rest.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.process_state import SharedPatch

COREMLTOOLS_LOGGER = "coremltools"
MAX_MESSAGES = 500  # per log: a model with thousands of nodes can repeat one warning per node

# A progress callback receives (phase description, items done, total items or None).
ProgressCallback = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class ConverterMessage:
    level: str  # "warning", "error", ...
    text: str
    source: str  # "log" (coremltools logger) or "warning" (warnings.warn)


@dataclass
class ConverterLog:
    """Everything coremltools said while a block of our code ran (at most `MAX_MESSAGES`)."""

    messages: list[ConverterMessage] = field(default_factory=list)
    dropped: int = 0  # messages beyond MAX_MESSAGES, not kept

    def add(self, message: ConverterMessage) -> None:
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)
        else:
            self.dropped += 1

    def errors(self) -> list[str]:
        return [m.text for m in self.messages if m.level in ("error", "critical")]

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]

    def unique(self) -> list[ConverterMessage]:
        """Messages without repeats (coremltools repeats some per node or per loop)."""
        seen: set[tuple[str, str]] = set()
        kept = []
        for message in self.messages:
            key = (message.level, message.text)
            if key not in seen:
                seen.add(key)
                kept.append(message)
        return kept


class _Recordings(threading.local):
    """The calling thread's open `recording()` logs and progress callbacks, innermost last."""

    def __init__(self) -> None:
        self.logs: list[ConverterLog] = []
        self.progress: list[ProgressCallback | None] = []


_recordings = _Recordings()
_background = ConverterLog()  # routed-thread messages outside any recording (import time)


def _current_log() -> ConverterLog | None:
    return _recordings.logs[-1] if _recordings.logs else None


# --- the logger ------------------------------------------------------------------------------


class _RoutingHandler(logging.Handler):
    """On the coremltools logger while torchready calls run: records from threads inside a
    call are kept, others are handed on as if the logger still propagated as it did."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.propagated = True  # the logger's `propagate` before we set it to False

    def emit(self, record: logging.LogRecord) -> None:
        if _routing.inside():
            if record.levelno >= logging.WARNING:
                target = _current_log() or _background
                target.add(ConverterMessage(record.levelname.lower(), _text(record), "log"))
            return
        if self.propagated:
            _propagate(record, logging.getLogger(COREMLTOOLS_LOGGER), self)

    def handle(self, record: logging.LogRecord) -> bool:
        # logging.Handler.handle takes the handler's lock; emit only touches thread-safe state.
        self.emit(record)
        return True


def _text(record: logging.LogRecord) -> str:
    try:
        return record.getMessage().strip()
    except Exception:  # a malformed log call in coremltools must not break a conversion
        return str(record.msg).strip()


def _propagate(record: logging.LogRecord, logger: logging.Logger, ours: logging.Handler) -> None:
    """What `Logger.callHandlers` does after the logger's own handlers: its parents' handlers,
    up to one that does not propagate; Python's last resort when nobody handled it."""
    found = sum(1 for handler in logger.handlers if handler is not ours)
    parent = logger.parent
    while parent is not None:
        for handler in parent.handlers:
            found += 1
            if record.levelno >= handler.level:
                handler.handle(record)
        if not parent.propagate:
            break
        parent = parent.parent
    if not found and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
        logging.lastResort.handle(record)


_handler = _RoutingHandler()


def _route_logger() -> bool:
    logger = logging.getLogger(COREMLTOOLS_LOGGER)
    _handler.propagated = logger.propagate
    logger.addHandler(_handler)
    logger.propagate = False  # nothing of ours reaches the root logger or the last resort
    return _handler.propagated


def _unroute_logger(propagated: bool) -> None:
    logger = logging.getLogger(COREMLTOOLS_LOGGER)
    logger.removeHandler(_handler)
    if logger.propagate is False:  # unless somebody set it meanwhile
        logger.propagate = propagated


_routing = SharedPatch(_route_logger, _unroute_logger)


def routed() -> contextlib.AbstractContextManager[None]:
    """coremltools' log lines from this thread recorded while the block runs (re-entrant; see
    the module docstring for other threads)."""
    return _routing.active()


def import_coremltools() -> Any:
    """`import coremltools` with its import-time chatter recorded instead of printed."""
    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    with routed(), recording() as log:
        import coremltools
    for message in log.messages:
        _background.add(message)
    return coremltools


def import_time_messages() -> list[ConverterMessage]:
    """What coremltools said while torchready imported it (the untested-torch-version warning)."""
    return list(_background.messages)


# --- warnings and progress bars, while a recording runs --------------------------------------


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    log = _current_log()
    if log is None:
        _warnings_saved[0](message, category, filename, lineno, file, line)
        return
    if issubclass(category, DeprecationWarning) and "jit" in str(message):
        return  # torch.jit's own deprecation notice; capture already reported it
    log.add(ConverterMessage("warning", str(message).strip(), "warning"))


_warnings_saved: list[Any] = []


def _record_warnings() -> tuple[Any, Any]:
    saved = (warnings.showwarning, warnings.filters)
    _warnings_saved[:] = [saved[0]]
    warnings.filters = [("always", None, Warning, None, 0), *warnings.filters]
    warnings._filters_mutated()  # type: ignore[attr-defined]
    warnings.showwarning = _show_warning
    return saved


def _restore_warnings(saved: tuple[Any, Any]) -> None:
    showwarning, filters = saved
    if warnings.showwarning is _show_warning:
        warnings.showwarning = showwarning
    warnings.filters = filters
    warnings._filters_mutated()  # type: ignore[attr-defined]


class _ProgressShim:
    """Stands in for `tqdm.tqdm` inside coremltools: iterates, reports, draws nothing."""

    def __init__(self, iterable: Any = None, desc: str | None = None, total: Any = None,
                 **_ignored: Any) -> None:
        self.iterable = iterable
        self.desc = (desc or "").strip()
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = int(total) if total is not None else None
        self.n = 0
        self.callback = _recordings.progress[-1] if _recordings.progress else None

    def _report(self) -> None:
        if self.callback is not None:
            self.callback(self.desc, self.n, self.total)

    def __iter__(self) -> Iterator[Any]:
        self._report()
        for item in self.iterable:
            yield item
            self.n += 1
            self._report()

    def __len__(self) -> int:
        return self.total or 0

    def __enter__(self) -> _ProgressShim:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._report()

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = (desc or "").strip()

    def set_postfix(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def _tqdm_references() -> list[tuple[Any, str, Any]]:
    """(module, attribute, tqdm class) wherever a loaded coremltools module holds tqdm."""
    try:
        import tqdm as tqdm_module
        from tqdm import std
    except ImportError:  # pragma: no cover - coremltools depends on tqdm
        return []
    classes = {id(tqdm_module.tqdm), id(std.tqdm)}
    found = []
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("coremltools"):
            continue
        for attribute in ("tqdm", "_tqdm"):
            value = getattr(module, attribute, None)
            if id(value) in classes:
                found.append((module, attribute, value))
    return found


def _progress_bar_for(original: Any) -> Callable[..., Any]:
    def progress_bar(*args: Any, **kwargs: Any) -> Any:
        if _recordings.logs:  # this thread is recording: report, draw nothing
            return _ProgressShim(*args, **kwargs)
        return original(*args, **kwargs)

    progress_bar.torchready_original = original  # type: ignore[attr-defined]
    return progress_bar


def _patch_progress_bars() -> list[tuple[Any, str, Any, Any]]:
    patched = []
    for module, attribute, original in _tqdm_references():
        replacement = _progress_bar_for(original)
        setattr(module, attribute, replacement)
        patched.append((module, attribute, original, replacement))
    return patched


def _restore_progress_bars(patched: list[tuple[Any, str, Any, Any]]) -> None:
    for module, attribute, original, replacement in patched:
        if getattr(module, attribute, None) is replacement:
            setattr(module, attribute, original)


def _apply_recording() -> tuple[Any, Any]:
    return _record_warnings(), _patch_progress_bars()


def _restore_recording(saved: tuple[Any, Any]) -> None:
    warnings_saved, progress_saved = saved
    _restore_progress_bars(progress_saved)
    _restore_warnings(warnings_saved)


_recording_patch = SharedPatch(_apply_recording, _restore_recording)


@contextlib.contextmanager
def recording(progress: ProgressCallback | None = None) -> Iterator[ConverterLog]:
    """Record everything coremltools logs/warns in this thread in this block; replace its tqdm
    bars.

    `progress`, if given, is called with coremltools' own phase names ("Converting PyTorch
    Frontend ==> MIL Ops", "Running MIL default pipeline", ...) and counts.
    """
    log = ConverterLog()
    with routed(), _recording_patch.active():
        _recordings.logs.append(log)
        _recordings.progress.append(progress)
        try:
            yield log
        finally:
            _recordings.progress.pop()
            _recordings.logs.remove(log)
