"""What `lint_truth.py` records: events located in a model's own code, and those it could not
locate. Shared by the probes; imports nothing heavy."""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

KINDS = ("trace_bool", "trace_index", "trace_number", "trace_constant", "trace_iterate",
         "trace_len", "trace_other", "trace_error", "trace_divergence", "script_error",
         "export_guard", "export_data_dependent", "export_error", "convert_failure")


@dataclass(frozen=True)
class Event:
    path: str  # relative to the package's parent ("transformers/models/...") or the repository
    line: int
    kind: str
    subject: str
    probe: str  # "trace_a", "script:LlamaAttention", "export", ...
    message: str
    via: str | None = None  # the emitting frame, when it was outside the model's code

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class Unlocated:
    kind: str
    probe: str
    message: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelCode:
    """The trees that hold a model's own code, and where a frame lands in them."""

    roots: dict[str, Path]  # label ("transformers", "fixtures") -> folder

    @classmethod
    def for_packages(cls, packages: Iterable[str]) -> ModelCode:
        import importlib.util

        roots = {}
        for package in packages:
            if package == "fixtures":
                roots[package] = ROOT / "fixtures"
                continue
            spec = importlib.util.find_spec(package)
            if spec is not None and spec.origin is not None:
                roots[package] = Path(spec.origin).resolve().parent
        return cls(roots)

    def relative(self, path: str | None) -> str | None:
        if not path or path.startswith("<"):
            return None
        try:
            resolved = Path(path).resolve()
        except OSError:
            return None
        for label, root in self.roots.items():
            if resolved.is_relative_to(root):
                return f"{label}/{resolved.relative_to(root).as_posix()}"
        return None

    def innermost(self, frames: Iterable[tuple[str, int]]) -> tuple[str, int] | None:
        """The first (path, line) of `frames` (innermost first) inside the model's code."""
        for path, line in frames:
            relative = self.relative(path)
            if relative is not None and line:
                return relative, int(line)
        return None


@dataclass
class Recorder:
    code: ModelCode
    events: list[Event] = field(default_factory=list)
    unlocated: list[Unlocated] = field(default_factory=list)
    _seen: set[tuple] = field(default_factory=set)

    def add(self, frames: Iterable[tuple[str, int]], kind: str, subject: str, probe: str,
            message: str) -> None:
        frames = list(frames)
        located = self.code.innermost(frames)
        message = first_line(message)
        if located is None:
            innermost = f"{frames[0][0]}:{frames[0][1]}" if frames else "no frame"
            self.unlocated.append(Unlocated(kind, probe, message,
                                            f"no frame in the model's code ({innermost})"))
            return
        via = None
        if frames and self.code.relative(frames[0][0]) is None:
            via = f"{_short(frames[0][0])}:{frames[0][1]}"
        event = Event(located[0], located[1], kind, subject, probe, message, via)
        key = (event.path, event.line, kind, subject, probe)
        if key not in self._seen:  # a layer repeated N times warns N times
            self._seen.add(key)
            self.events.append(event)


def first_line(text: str) -> str:
    for line in str(text).strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _short(path: str) -> str:
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path


def traceback_frames(error: BaseException) -> list[tuple[str, int]]:
    """(path, line) of an exception's traceback, innermost first, through its causes."""
    frames: list[tuple[str, int]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames.extend((frame.filename, frame.lineno or 0)
                      for frame in reversed(traceback.extract_tb(current.__traceback__)))
        current = current.__cause__ or current.__context__
    return frames


