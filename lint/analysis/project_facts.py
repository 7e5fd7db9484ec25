"""What the rest of the project tells the analysis of one file.

A file alone cannot see that a forward of another file calls one of its helpers, passes it
tensors or sizes, that a class is a module through a base class of another file, or what an
imported helper returns. The project's link step works that out from every file's summary and
hands each file only the facts that differ from what the file says by itself, so a file no
other file touches gets empty facts (and its one-file result stands).

Everything here is plain data with a JSON form: the facts are cached and they key the result
cache of the file they are for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from torchready.lint.analysis.returns import Returns


@dataclass(frozen=True)
class Entry:
    """A function of this file that code of other files runs under capture."""

    traced: bool = False
    scripted: bool = False
    reached_from: str = ""  # the traced path: "RAFT.forward via raft.py:426"
    scripted_from: str = ""  # the scripted path (script may reach it from elsewhere)


@dataclass(frozen=True)
class ProjectFacts:
    # qualname ("helper", "Class.method") -> how other files reach it
    entries: Mapping[str, Entry] = field(default_factory=dict)
    # qualname -> parameters that callers in other files pass tensors / traced sizes to
    tensor_parameters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    size_parameters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # qualname -> parameters that every caller (of any file) passes a model weight to; present
    # only for functions that other files call
    weight_parameters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # classes that are nn.Module subclasses through bases of other files
    module_classes: frozenset[str] = frozenset()
    # classes that module classes of other files instantiate (parts of a bigger model)
    submodule_classes: frozenset[str] = frozenset()
    # index of a call in the file (CallIndex order) -> what the function of another file that
    # it runs returns
    call_returns: Mapping[int, Returns] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries or self.tensor_parameters or self.size_parameters
                    or self.weight_parameters or self.module_classes or self.submodule_classes
                    or self.call_returns)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.entries:
            data["entries"] = {name: [entry.traced, entry.scripted, entry.reached_from,
                                      entry.scripted_from]
                               for name, entry in sorted(self.entries.items())}
        for key in ("tensor_parameters", "size_parameters", "weight_parameters"):
            table = getattr(self, key)
            if table:
                data[key] = {name: sorted(params) for name, params in sorted(table.items())}
        for key in ("module_classes", "submodule_classes"):
            if getattr(self, key):
                data[key] = sorted(getattr(self, key))
        if self.call_returns:
            data["call_returns"] = {str(index): returns_to_json(returns)
                                    for index, returns in sorted(self.call_returns.items())}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ProjectFacts":
        return cls(
            entries={name: Entry(bool(traced), bool(scripted), reached_from, scripted_from)
                     for name, (traced, scripted, reached_from, scripted_from)
                     in data.get("entries", {}).items()},
            tensor_parameters=_parameter_table(data.get("tensor_parameters", {})),
            size_parameters=_parameter_table(data.get("size_parameters", {})),
            weight_parameters=_parameter_table(data.get("weight_parameters", {})),
            module_classes=frozenset(data.get("module_classes", ())),
            submodule_classes=frozenset(data.get("submodule_classes", ())),
            call_returns={int(index): returns_from_json(value)
                          for index, value in data.get("call_returns", {}).items()},
        )

    def key(self) -> str:
        """A short digest of the facts (part of the file's result-cache key)."""
        if not self:
            return ""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _parameter_table(data: Mapping[str, list[str]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(params) for name, params in data.items()}


def returns_to_json(returns: Returns) -> list:
    return [returns.tensor, returns.size, returns.sequence,
            *(list(flags) if flags is not None else None for flags in
              (returns.elements, returns.element_sizes, returns.element_sequences))]


def returns_from_json(data: list) -> Returns:
    tensor, size, sequence, *flags = data
    return Returns(tensor, size, sequence,
                   *(tuple(item) if item is not None else None for item in flags))

