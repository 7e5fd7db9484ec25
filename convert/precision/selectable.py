"""The ops coremltools' fp16 pass may convert, named as an `op_selector` sees them.

`ct.transform.FP16ComputePrecision(op_selector=...)` asks its selector about every op at the
point of coremltools' pipeline where the `add_fp16_cast` pass runs: after the fusions, before the
backend sanitises names. Those are the names a selector must answer for, and they are not the
names of the saved program: an op the pass converts is replaced by one named `<name>_cast_fp16`,
the casts it inserts are named after the value they cast (`<value>_to_fp16`), and the backend
prefixes names that start with a digit (`18` -> `op_18` for ops, `var_18` for values).

`record_selectable` converts once with a selector that keeps every op in fp32 and writes down
what it was asked: each op, the float values it reads and writes, the TorchScript node it came
from. `SelectableGraph` is that dataflow graph; it maps a value or op of any later conversion of
the same capture (whatever ops it kept in fp32) back to those names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# What add_fp16_cast appends to the names it creates (and the output index of a multi-output op).
_PASS_SUFFIX = re.compile(r"(_cast_fp16|_to_fp16|_to_fp32)$")
_INDEXED_OUTPUT = re.compile(r"^(.*)_cast_fp16_(\d+)$")


@dataclass(frozen=True)
class SelectableOp:
    name: str  # as the op_selector sees it
    op_type: str
    reads: tuple[str, ...]  # the fp32 values it reads (var names at selection time)
    writes: tuple[str, ...]  # every value it writes
    torch_node: str | None  # the TorchScript node (or fx debug handle) it was converted from

    @property
    def computes_floats(self) -> bool:
        """An op the fp16 pass changes: it reads fp32 values (a const or a shape op does not)."""
        return bool(self.reads)


@dataclass
class SelectableGraph:
    ops: dict[str, SelectableOp] = field(default_factory=dict)  # program order
    producer: dict[str, str] = field(default_factory=dict)  # value -> op name
    readers: dict[str, list[str]] = field(default_factory=dict)  # value -> op names
    _saved_op: dict[str, str] = field(default_factory=dict)  # saved op name -> op name
    _saved_value: dict[str, str] = field(default_factory=dict)  # saved var name -> value
    _op_as_value: dict[str, str] = field(default_factory=dict)  # op name as a var -> op name

    def add(self, op: SelectableOp) -> None:
        if op.name in self.ops:  # names are unique in a program (coremltools de-duplicates
            return  # them right before the fp16 pass): a repeat is the same op asked again
        self.ops[op.name] = op
        for value in op.writes:
            self.producer[value] = op.name
            self._saved_value.setdefault(_sanitized(value, "var_"), value)
        # Values read are named too: coremltools never asks about an op it keeps in fp32
        # itself (a constant beyond fp16's range), yet its readers may need fp32.
        for value in op.reads:
            self.readers.setdefault(value, []).append(op.name)
            self._saved_value.setdefault(_sanitized(value, "var_"), value)
        self._op_as_value.setdefault(_sanitized(op.name, "var_"), op.name)
        saved = _sanitized(op.name, "op_")
        self._saved_op.setdefault(saved, op.name)
        self._saved_op.setdefault(saved + "_cast_fp16", op.name)

    @property
    def float_ops(self) -> list[str]:
        return [name for name, op in self.ops.items() if op.computes_floats]

    def op_of_saved(self, saved_op_name: str) -> str | None:
        """The selectable op a saved program's op is (fp32 as it was, or its fp16 rewrite)."""
        return self._saved_op.get(saved_op_name)

    def value_of_saved(self, saved_var_name: str) -> str | None:
        """The selectable value a saved program's value holds, through the pass's casts
        (`weights_to_fp16`, `var_16_cast_fp16_to_fp32` -> `weights`, `16`)."""
        name = saved_var_name
        while True:
            if name in self._saved_value:
                return self._saved_value[name]
            indexed = _INDEXED_OUTPUT.match(name)  # output i of a multi-output fp16 rewrite
            if indexed and indexed[1] in self._op_as_value:
                writes = self.ops[self._op_as_value[indexed[1]]].writes
                position = int(indexed[2])
                return writes[position] if position < len(writes) else None
            # An fp16 rewrite's value is named after its op (`var_40_cast_fp16`, op `40`).
            op = self._saved_op.get(name) or self._op_as_value.get(name)
            if op is not None and self.ops[op].writes:
                return self.ops[op].writes[0]
            stripped = _PASS_SUFFIX.sub("", name)
            if stripped == name:
                return None
            name = stripped

    def ops_of_node(self, torch_node: str | None) -> list[str]:
        if torch_node is None:
            return []
        return [name for name, op in self.ops.items()
                if op.torch_node == torch_node and op.computes_floats]

    def float_readers(self, value: str) -> list[str]:
        return [name for name in self.readers.get(value, []) if self.ops[name].computes_floats]


def record_selectable(convert: Any) -> tuple[SelectableGraph, Any]:
    """Run `convert(op_selector)` with a selector that records every op and selects none (the
    whole program stays fp32); returns the graph and whatever `convert` returned."""
    graph = SelectableGraph()

    def selector(op: Any) -> bool:
        graph.add(describe(op))
        return False

    return graph, convert(selector)


def selector_keeping(fp32_ops: Iterable[str], seen: set[str] | None = None) -> Any:
    """An op_selector that leaves `fp32_ops` in fp32 and turns every other op to fp16; with
    `seen`, it collects the names it was asked about (to prove the names still exist)."""
    keep = frozenset(fp32_ops)

    def selector(op: Any) -> bool:
        if seen is not None:
            seen.add(op.name)
        return op.name not in keep

    return selector


def describe(op: Any) -> SelectableOp:
    from coremltools.converters.mil.mil import Var

    reads = []
    for value in op.inputs.values():
        for var in value if isinstance(value, (list, tuple)) else (value,):
            # Computed fp32 values and function inputs; weights are consts, not dataflow.
            if isinstance(var, Var) and var.is_tensor_or_scalar_of(dtype="fp32") \
                    and (var.op is None or var.op.op_type != "const"):
                reads.append(var.name)
    return SelectableOp(op.name, op.op_type, tuple(dict.fromkeys(reads)),
                        tuple(var.name for var in op.outputs), _torch_node(op))


def saved_op_name(name: str) -> str:
    """The name an op the fp16 pass left in fp32 has in the saved program."""
    return _sanitized(name, "op_")


def _torch_node(op: Any) -> str | None:
    from coremltools.converters.mil.mil.scope import ScopeSource

    scopes = op.scopes
    names = scopes.get(ScopeSource.TORCHSCRIPT_MODULE_NAME) or []
    if names:
        return str(names[-1])
    handles = [h for h in scopes.get(ScopeSource.EXIR_DEBUG_HANDLE) or [] if h is not None]
    return f"debug_handle:{handles[-1]}" if handles else None


def _sanitized(name: str, prefix: str) -> str:
    """The name coremltools' backend gives `name` (`NameSanitizer`, without its de-duplication
    suffixes, which only a collision adds)."""
    from coremltools.converters.mil.mil.passes.defs.preprocess import NameSanitizer

    return NameSanitizer(prefix=prefix).sanitize_name(name)
