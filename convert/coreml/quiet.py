"""Keep coremltools quiet: its log lines, Python warnings and tqdm bars are recorded, not printed.

coremltools talks a lot on stderr: "Torch version 2.13.0 has not been tested ..." and "Failed to
load _MLModelProxy" when it is imported, "Support for converting Torch Script Models is
experimental" on every scripted or frozen module, an "ERROR - converting 'diff' op (located at:
...)" line before re-raising a conversion error, and one tqdm bar per conversion phase. None of that
belongs on a torchready user's terminal. Everything it logs goes to the "coremltools" logger (and
its children), so a handler installed on that logger before coremltools is even imported records
all of it; the records are kept on a `ConverterLog` so the pipeline can turn the useful ones into
diagnostics (the error location) and notes. Its tqdm bars are swapped for a shim that reports
progress to a callback (our rich progress) while a conversion runs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

COREMLTOOLS_LOGGER = "coremltools"

# A progress callback receives (phase description, items done, total items or None).
ProgressCallback = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class ConverterMessage:
    level: str  # "warning", "error", ...
    text: str
    source: str  # "log" (coremltools logger) or "warning" (warnings.warn)


@dataclass
class ConverterLog:
    """Everything coremltools said while a block of our code ran."""

    messages: list[ConverterMessage] = field(default_factory=list)

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


class _RecordingHandler(logging.Handler):
    """Sends coremltools' log records to the innermost active `ConverterLog`."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.stack: list[ConverterLog] = []
        # Messages logged outside any `recording()` block (e.g. at import time).
        self.background = ConverterLog()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage().strip()
        except Exception:  # a malformed log call in coremltools must not break a conversion
            text = str(record.msg).strip()
        if not text:
            return
        target = self.stack[-1] if self.stack else self.background
        target.messages.append(ConverterMessage(record.levelname.lower(), text, "log"))


_handler: _RecordingHandler | None = None


def install() -> _RecordingHandler:
    """Route coremltools' logger into torchready (idempotent). Call before importing coremltools."""
    global _handler
    if _handler is None:
        _handler = _RecordingHandler()
        logger = logging.getLogger(COREMLTOOLS_LOGGER)
        logger.addHandler(_handler)
        logger.propagate = False  # nothing reaches Python's last-resort stderr handler
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            # coremltools logs one INFO line per converted node; recording them costs time.
            logger.setLevel(logging.WARNING)
    return _handler


def import_coremltools() -> Any:
    """`import coremltools` with its import-time chatter recorded instead of printed."""
    handler = install()
    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import coremltools
    for item in caught:
        handler.background.messages.append(
            ConverterMessage("warning", str(item.message).strip(), "warning")
        )
    return coremltools


def import_time_messages() -> list[ConverterMessage]:
    """What coremltools said while being imported (the untested-torch-version warning etc.)."""
    return list(install().background.messages)


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

    def _report(self) -> None:
        callback = _progress_callbacks[-1] if _progress_callbacks else None
        if callback is not None:
            callback(self.desc, self.n, self.total)

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


_progress_callbacks: list[ProgressCallback | None] = []


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


@contextlib.contextmanager
def recording(progress: ProgressCallback | None = None) -> Iterator[ConverterLog]:
    """Record everything coremltools logs/warns in this block; replace its tqdm bars.

    `progress`, if given, is called with coremltools' own phase names ("Converting PyTorch
    Frontend ==> MIL Ops", "Running MIL default pipeline", ...) and counts.
    """
    handler = install()
    log = ConverterLog()
    handler.stack.append(log)
    patched = _tqdm_references()
    for module, attribute, _original in patched:
        setattr(module, attribute, _ProgressShim)
    _progress_callbacks.append(progress)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield log
            finally:
                for item in caught:
                    if issubclass(item.category, DeprecationWarning) and "jit" in str(item.message):
                        continue  # torch.jit's own deprecation notice; capture already reported it
                    log.messages.append(
                        ConverterMessage("warning", str(item.message).strip(), "warning")
                    )
    finally:
        _progress_callbacks.pop()
        for module, attribute, original in patched:
            setattr(module, attribute, original)
        handler.stack.remove(log)
