"""Progress on stderr while the pipeline runs: one line per stage, live detail for long ones.

A spinner shows the running stage and its elapsed time; during `ct.convert` it also shows
coremltools' own phases ("Converting PyTorch Frontend ==> MIL Ops 120/251", "Running MIL default
pipeline 40/95"), fed from the tqdm shim in `torchready.convert.coreml.quiet` instead of coremltools' bars.
Each finished stage leaves a line ("✓ convert  1.21s"). `--quiet` (enabled=False) shows nothing.
stdout stays clean for results (diagnostics, JSON).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any


class StageHandle:
    """Lets a stage that returns normally still say it failed (e.g. coremltools could not
    convert: a diagnostic, not an exception)."""

    def __init__(self) -> None:
        self.failed = False
        self.detail = ""

    def fail(self, detail: str = "") -> None:
        self.failed = True
        self.detail = detail


class StageProgress:
    def __init__(self, enabled: bool = True, console: Any = None) -> None:
        self.enabled = enabled
        self._console = console
        self._progress: Any = None
        self._task: Any = None
        self._label = ""

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)
        return self._console

    @contextlib.contextmanager
    def stage(self, name: str, description: str) -> Iterator[StageHandle]:
        """Show `description` while the block runs; afterwards a ✓ (or ✗) line with the time."""
        handle = StageHandle()
        if not self.enabled:
            yield handle
            return
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        started = time.perf_counter()
        self._label = escape(description)
        if not self.console.is_terminal:
            # No live display in logs and pipes: just the line per finished stage.
            failed = False
            try:
                yield handle
            except BaseException:
                failed = True
                raise
            finally:
                self._finished(name, description, handle, failed, started)
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[stage]:<9}[/] {task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        failed = False
        with progress:
            self._progress = progress
            self._task = progress.add_task(self._label, total=None, stage=name, count="")
            try:
                yield handle
            except BaseException:
                failed = True
                raise
            finally:
                self._progress = None
                self._task = None
                progress.stop()
                self._finished(name, description, handle, failed, started)

    def _finished(self, name: str, description: str, handle: StageHandle, failed: bool,
                  started: float) -> None:
        from rich.markup import escape

        failed = failed or handle.failed
        mark = "[red]✗[/]" if failed else "[green]✓[/]"
        elapsed = time.perf_counter() - started
        detail = escape(handle.detail or description)
        self.console.print(f"{mark} [bold]{name:<9}[/] {elapsed:6.2f}s  [dim]{detail}[/]")

    def converter_phase(self, phase: str, done: int, total: int | None) -> None:
        """Callback for coremltools' phases (see torchready.convert.coreml.quiet.recording)."""
        if self._progress is None or self._task is None:
            return
        from rich.markup import escape

        description = f"{self._label} [dim]· {escape(phase)}[/]" if phase else self._label
        count = f"{done}/{total}" if total else ""
        self._progress.update(self._task, description=description, total=total or None,
                              completed=done, count=count)
