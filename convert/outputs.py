"""The structure of a model's output, and the flat tuple of tensors Core ML gets instead.

`torch.jit.trace` records tensors and tuples of tensors; coremltools converts tensors. Models
return dicts (DeepLabV3's {"out", "aux"}), namedtuples, dataclasses, Hugging Face `ModelOutput`s,
lists and nestings of those. `OutputStructure` walks one real output once, remembers the access
path to every tensor leaf ("encoder" -> "last_hidden_state", or index 0 -> 1), drops what is not a
tensor (None, ints, cache objects) with a note, and names each leaf after its keys so the Core ML
outputs are called `out` and `aux`, not `var_1234`.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

# One step of an access path: ("key", "out") -> value["out"]; ("index", 0) -> value[0];
# ("attr", "logits") -> value.logits.
Step = tuple[str, Any]


@dataclass(frozen=True)
class OutputLeaf:
    name: str  # the Core ML output name (sanitised, unique, never an input name)
    path: tuple[Step, ...]
    raw_name: str  # dotted path before sanitising, e.g. "encoder.last_hidden_state"


@dataclass(frozen=True)
class DroppedLeaf:
    raw_name: str
    type_name: str


@dataclass
class OutputStructure:
    """How the flat output tuple maps back to what the model's forward returned."""

    type_name: str  # the forward's return type, e.g. "dict", "CausalLMOutputWithCrossAttentions"
    kind: str  # "tensor", "tuple", "list", "dict", "namedtuple", "dataclass", "model_output", ...
    leaves: list[OutputLeaf] = field(default_factory=list)
    dropped: list[DroppedLeaf] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [leaf.name for leaf in self.leaves]

    @property
    def is_plain(self) -> bool:
        """A tensor or a flat tuple of tensors: what the tracer accepts without help."""
        return not self.dropped and (
            self.kind == "tensor"
            or (self.kind == "tuple" and all(len(leaf.path) == 1 for leaf in self.leaves))
        )

    def flatten(self, value: Any) -> tuple:
        """The flat tuple of tensors the generated wrapper returns for this output value."""
        return tuple(follow(value, leaf.path) for leaf in self.leaves)

    def rebuild(self, flat: tuple) -> Any:
        """Nested dicts/lists from a flat tuple (dict-likes come back as dicts, sequences as
        lists): enough to show a user their output structure with converted values in it."""
        if self.kind == "tensor":
            return flat[0]
        root: Any = None
        for leaf, value in zip(self.leaves, flat):
            root = _insert(root, leaf.path, value)
        return root


def follow(value: Any, path: tuple[Step, ...]) -> Any:
    for how, key in path:
        value = getattr(value, key) if how == "attr" else value[key]
    return value


def _insert(container: Any, path: tuple[Step, ...], value: Any) -> Any:
    if not path:
        return value
    (how, key), rest = path[0], path[1:]
    if how == "index":
        container = container if isinstance(container, list) else []
        while len(container) <= key:
            container.append(None)
    else:
        container = container if isinstance(container, dict) else {}
        container.setdefault(key, None)
    container[key] = _insert(container[key], rest, value)
    return container


def kind_of(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return "tensor"
    if _is_model_output(value):
        return "model_output"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return "namedtuple"
    if isinstance(value, tuple):
        return "tuple"
    if isinstance(value, list):
        return "list"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "dataclass"
    return "other"


def _is_model_output(value: Any) -> bool:
    # transformers' ModelOutput (an OrderedDict subclass), recognised without importing it.
    return any(cls.__name__ == "ModelOutput" and cls.__module__.startswith("transformers")
               for cls in type(value).__mro__)


def describe_structure(value: Any, input_names: list[str],
                       wanted_names: list[str] | None = None) -> OutputStructure:
    """Walk one output value; name the tensor leaves for Core ML."""
    structure = OutputStructure(type_name=type(value).__name__, kind=kind_of(value))
    found: list[tuple[tuple[Step, ...], str]] = []
    _walk(value, (), [], found, structure.dropped)
    raw_names = [raw for _, raw in found]
    if wanted_names is not None:
        if len(wanted_names) != len(found):
            from torchready.lint.types import UsageError

            raise UsageError(f"{len(wanted_names)} output names given but the model returns "
                             f"{len(found)} tensors ({', '.join(raw_names) or 'none'}).")
        raw_names = list(wanted_names)
    names = core_ml_names(raw_names, taken=set(input_names))
    structure.leaves = [OutputLeaf(name, path, raw) for (path, raw), name in zip(found, names)]
    return structure


def _walk(value: Any, path: tuple[Step, ...], keys: list[str], found: list, dropped: list) -> None:
    kind = kind_of(value)
    if kind == "tensor":
        found.append((path, ".".join(keys) if keys else ("output" if not path else "")))
        return
    if kind in ("dict", "model_output"):
        for key, item in value.items():
            _walk(item, path + (("key", key),), keys + [str(key)], found, dropped)
    elif kind == "namedtuple":
        for name in type(value)._fields:
            _walk(getattr(value, name), path + (("attr", name),), keys + [name], found, dropped)
    elif kind == "dataclass":
        for data_field in dataclasses.fields(value):
            _walk(getattr(value, data_field.name), path + (("attr", data_field.name),),
                  keys + [data_field.name], found, dropped)
    elif kind in ("tuple", "list"):
        for index, item in enumerate(value):
            _walk(item, path + (("index", index),), keys + [str(index)], found, dropped)
    else:
        dropped.append(DroppedLeaf(".".join(keys) or "output", type(value).__name__))


_INVALID = re.compile(r"[^A-Za-z0-9_]+")


def core_ml_name(raw: str, fallback: str = "output") -> str:
    """A name Core ML accepts: letters, digits and '_', not starting with a digit, no keyword."""
    name = _INVALID.sub("_", raw).strip("_")
    if not name:
        return fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if keyword.iskeyword(name):
        name += "_"
    return name


def core_ml_names(raw_names: list[str], taken: set[str], fallback: str = "output") -> list[str]:
    """Sanitised, unique names; an output never reuses an input's name (coremltools fails late
    with "Var names [...] is used both as function's input and output")."""
    used = set(taken)
    names = []
    for raw in raw_names:
        base = core_ml_name(raw, fallback)
        if base in taken:
            base += "_out"
        name, counter = base, 2
        while name in used:
            name = f"{base}_{counter}"
            counter += 1
        used.add(name)
        names.append(name)
    return names
