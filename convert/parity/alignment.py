"""Which MIL value corresponds to which PyTorch value.

Three clues:

* names: coremltools names the MIL value that holds a TorchScript node's result after the node
  (`input.3` -> `input_3`, `176` -> `var_176`), and its fp16 pass appends `_cast_fp16`;
  stripping that suffix and sanitising the torch name the same way lines them up. Not for the
  function's own inputs and outputs: torchready named those after the model's arguments and
  output keys, which may equal an unrelated TorchScript value's name (a wrapper that reassigns
  `x`, a transformers local called `extract_features`);
* casts: a cast holds its input's value, rounded to its dtype, so it is aligned with whatever
  its input is aligned with, and being later it is the value compared (fp16 overflow appears
  exactly at the cast coremltools inserts after an fp32 op);
* the source map, for what has no usable name: every MIL op records the TorchScript node it was
  converted from. A node usually becomes several ops (pads and strides as consts, a transpose,
  the op itself); the last op of the node whose value has the node's shape holds its result.

Names survive graph passes that fuse ops (a conv carrying a fused batch-norm is named after the
batch-norm's value); the source map covers values coremltools renamed (`var_*` numbering, the
outputs). Only top-level values are aligned; PyTorch values inside loop bodies are not available
(see `torch_values`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# `_cast_fp16`: an op rewritten to fp16 by coremltools' add_fp16_cast pass; `_to_fp16`: the cast
# that pass inserts after a value it left in fp32.
_CAST_SUFFIX = re.compile(r"(_cast_fp(16|32)|_to_fp(16|32))+$")


@dataclass(frozen=True)
class AlignedValue:
    index: int  # position of the MIL op in the program (main block)
    op_name: str
    op_type: str
    mil_var: str
    torch_name: str
    how: str  # "name" | "sourcemap"


def mil_base_name(var_name: str) -> str:
    """A MIL value's name without the fp16 pass's cast suffixes."""
    return _CAST_SUFFIX.sub("", var_name)


def torch_as_mil_name(torch_name: str) -> str:
    """The name coremltools gives the MIL value of a TorchScript value."""
    name = re.sub(r"\W", "_", torch_name)
    return f"var_{name}" if name[:1].isdigit() else name


def align(ops: Sequence[Any], sourcemap: Mapping[str, Any] | None,
          mil_values: Mapping[str, Any], torch_values: Mapping[str, Any],
          reserved: Collection[str] = ()) -> list[AlignedValue]:
    """Aligned (MIL value, PyTorch value) pairs in program order.

    ops: the main block's pymil operations in program order; mil_values / torch_values: the
    values both sides computed (by MIL var name / TorchScript value name); reserved: the
    function's input and output names, which torchready chose (from the model's argument and
    output names) and which may equal an unrelated TorchScript value's name.

    A cast holds its input's value (rounded to its dtype): it is aligned with whatever its input
    is aligned with, never by its own name, and the latest value (the rounded one) is compared.
    """
    by_mil_name = {torch_as_mil_name(name): name for name in torch_values}
    chosen: dict[str, AlignedValue] = {}  # torch name -> latest name/cast-based alignment
    var_to_torch: dict[str, str] = {}
    by_node: dict[str, list[AlignedValue]] = {}
    op_entries = (sourcemap or {}).get("ops", {})
    for index, op in enumerate(ops):
        if op.op_type == "const" or op.op_type.startswith("constexpr_"):
            continue
        if op.op_type == "cast":
            source = op.inputs.get("x")
            named = var_to_torch.get(getattr(source, "name", ""))
            value = mil_values.get(op.outputs[0].name)
            if named is not None and value is not None and \
                    _comparable(value, torch_values[named]):
                aligned = AlignedValue(index, op.name, op.op_type, op.outputs[0].name, named,
                                       "name")
                chosen[named] = aligned
                var_to_torch[op.outputs[0].name] = named
            continue
        entry = op_entries.get(op.name) or {}
        node = (entry.get("torch") or {}).get("node")
        for position, var in enumerate(op.outputs):
            value = mil_values.get(var.name)
            if value is None:
                continue
            named = None if var.name in reserved else by_mil_name.get(mil_base_name(var.name))
            if named is not None and _comparable(value, torch_values[named]):
                chosen[named] = AlignedValue(index, op.name, op.op_type, var.name, named, "name")
                var_to_torch[var.name] = named
            # A node is named after its first output: only a first output can hold its value
            # (q, k, v of a chunk all have its shape).
            if position == 0 and node is not None and node in torch_values and \
                    _comparable(value, torch_values[node]):
                by_node.setdefault(node, []).append(
                    AlignedValue(index, op.name, op.op_type, var.name, node, "sourcemap"))
    for node, candidates in by_node.items():
        if node not in chosen:
            chosen[node] = candidates[-1]
            var_to_torch.setdefault(candidates[-1].mil_var, node)
    # Casts of values aligned only through the source map are resolved now.
    for index, op in enumerate(ops):
        if op.op_type != "cast":
            continue
        source = op.inputs.get("x")
        named = var_to_torch.get(getattr(source, "name", ""))
        value = mil_values.get(op.outputs[0].name)
        if named is None or value is None or not _comparable(value, torch_values[named]):
            continue
        if chosen[named].index < index:
            chosen[named] = AlignedValue(index, op.name, op.op_type, op.outputs[0].name, named,
                                         "name" if chosen[named].how == "name" else "sourcemap")
    return sorted(chosen.values(), key=lambda a: (a.index, a.mil_var))


def _comparable(mil_value: Any, torch_value: Any) -> bool:
    """Same number of elements, the same sizes up to size-1 dimensions and their order (graph
    passes such as reduce_transposes keep values in another layout), same kind (float / int)."""
    import numpy as np

    mil_shape = tuple(np.shape(mil_value))
    torch_shape = tuple(getattr(torch_value, "shape", ()))
    if int(np.prod(mil_shape)) != int(np.prod(torch_shape)):
        return False
    if sorted(s for s in mil_shape if s != 1) != sorted(s for s in torch_shape if s != 1):
        return False
    mil_float = np.asarray(mil_value).dtype.kind == "f"
    torch_float = bool(getattr(torch_value, "is_floating_point", lambda: False)())
    return mil_float == torch_float


def layouts(reference: Any, shape: tuple[int, ...]) -> list[Any]:
    """`reference` arranged to `shape`: reshaped when only size-1 dimensions differ, else every
    axis permutation that produces `shape` (a value a graph pass keeps transposed)."""
    import itertools

    import numpy as np

    reference = np.asarray(reference)
    shape = tuple(shape)
    found = []
    if tuple(s for s in reference.shape if s != 1) == tuple(s for s in shape if s != 1):
        found.append(reference.reshape(shape))
    squeezed = reference.reshape([s for s in reference.shape if s != 1])
    target = tuple(s for s in shape if s != 1)
    if squeezed.ndim <= 6:
        for order in itertools.permutations(range(squeezed.ndim)):
            if order == tuple(range(squeezed.ndim)):
                continue
            if tuple(squeezed.shape[i] for i in order) == target:
                found.append(np.transpose(squeezed, order).reshape(shape))
    return found
