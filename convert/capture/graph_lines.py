"""What a traced graph recorded for each source line.

A TracerWarning says "this value may be baked in"; the graph says whether it was. For every node
we take its line (the user's frame, and the innermost frame when that is library code) and keep,
per line: the node kinds, whether the line still computes sizes (`aten::size`, `prim::NumToTensor`,
`aten::Int`: the shape follows the input) and the constants it holds (a tensor-valued
`prim::Constant` such as `Double() = prim::Constant[value={4}]` is a Python number frozen into the
trace). Comparing two traces of the same model on different inputs line by line shows exactly
which lines baked an input-dependent value: their constants change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.source_lines import iter_nodes, node_source

# Nodes that carry a size through the graph: a line with them still follows the input's shape.
SIZE_KINDS = {"aten::size", "prim::NumToTensor", "aten::Int", "aten::Float",
              "aten::ScalarImplicit", "aten::numel", "aten::dim", "aten::sym_size"}


@dataclass
class LineFacts:
    kinds: list[str] = field(default_factory=list)
    constants: list[Any] = field(default_factory=list)  # described constant values, in order
    tensor_constants: list[str] = field(default_factory=list)  # e.g. "4.0", "Long[2]: 4, 3"

    @property
    def computes_size(self) -> bool:
        return any(kind in SIZE_KINDS for kind in self.kinds)

    def signature(self) -> tuple:
        return tuple(self.kinds), tuple(self.constants)


def describe_constant(node: Any) -> tuple[Any, str | None]:
    """(comparable value, description if it is a tensor constant) of a prim::Constant."""
    import torch

    try:
        if node.hasAttribute("value") and node.kindOf("value") == "t":
            value = node.t("value")  # toIValue() would turn a 0-dim tensor into a float
        else:
            value = node.output().toIValue()
    except Exception:
        return None, None

    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        shown = [round(float(v), 6) if value.is_floating_point() else int(v)
                 for v in flat[:8].tolist()]
        if value.numel() == 1:
            description = str(shown[0])
        else:
            description = f"{list(value.shape)} tensor [{', '.join(map(str, shown))}" \
                          f"{', ...' if value.numel() > 8 else ''}]"
        return ("tensor", tuple(value.shape), tuple(shown)), description
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value, None
    return repr(value), None


def index_graph_lines(graph: Any, root: Any = None) -> dict[tuple[str, int], LineFacts]:
    """LineFacts per (file, line), for the user's line of every node and for the innermost
    (emitting) line when that differs (warnings raised inside libraries point there)."""
    lines: dict[tuple[str, int], LineFacts] = defaultdict(LineFacts)
    for node in iter_nodes(graph):
        source = node_source(node, root)
        if source is None:
            continue
        keys = [(source.path, source.line)]
        if source.origin_path is not None:
            keys.append((source.origin_path, source.origin_line))
        kind = node.kind()
        value, description = describe_constant(node) if kind == "prim::Constant" else (None, None)
        for key in keys:
            facts = lines[key]
            facts.kinds.append(kind)
            if kind == "prim::Constant":
                facts.constants.append(value)
                if description is not None:
                    facts.tensor_constants.append(description)
    return dict(lines)


def changed_lines(base: dict[tuple[str, int], LineFacts],
                  other: dict[tuple[str, int], LineFacts]) -> set[tuple[str, int]]:
    """Lines whose recorded kinds or constants differ between two traces."""
    return {key for key in set(base) | set(other)
            if (base.get(key) or LineFacts()).signature()
            != (other.get(key) or LineFacts()).signature()}
