"""Every intermediate value of the TorchScript graph coremltools converted, by its value name.

The source map names, for each MIL op, the TorchScript node it came from by the value name in
coremltools' own processed copy of the graph (`Conversion.graph_index.graph`: inlined,
canonicalised, attribute reads lowered). Running *that* graph gives PyTorch's value for each of
those names directly, with no name translation. A copy of the graph is rewritten to return a
clone of every tensor its top-level nodes produce (a clone, because in-place ops such as
`relu_` later overwrite the storage: the MIL value is the one right after the node ran) and is
compiled into a function called with the captured module as `self`.

Values computed inside `prim::Loop` / `prim::If` blocks are not returned (a block's values
change every iteration); the loop's or branch's own outputs are.
"""

from __future__ import annotations

from typing import Any

_SKIPPED_KINDS = {"prim::GetAttr", "prim::Constant", "prim::Param"}


class GraphValues:
    """Compiled once per graph; `run(module, inputs)` -> {value name: tensor}."""

    def __init__(self, graph: Any) -> None:
        import torch

        self.names: list[str] = []
        copy = graph.copy()
        values = []
        for node in list(copy.nodes()):
            if node.kind() in _SKIPPED_KINDS:
                continue
            for output in node.outputs():
                if isinstance(output.type(), torch._C.TensorType):
                    values.append(output)
        none = copy.insertConstant(None)
        none.node().moveBefore(next(iter(copy.nodes())))
        clones = []
        for value in values:
            clone = copy.create("aten::clone", [value, none], 1)
            clone.insertAfter(value.node())
            clone.output().setType(value.type())
            clones.append(clone.output())
            self.names.append(value.debugName())
        returned = copy.create("prim::TupleConstruct", clones, 1)
        returned.insertBefore(copy.return_node())
        returned.output().setType(torch._C.TupleType([v.type() for v in clones]))
        while len(list(copy.outputs())):
            copy.eraseOutput(0)
        copy.registerOutput(returned.output())
        self._function = torch._C._create_function_from_graph("torchready_all_values", copy)

    def run(self, module: Any, inputs: tuple) -> dict[str, Any]:
        import torch

        owner = getattr(module, "_c", module)
        with torch.no_grad(), torch.jit.optimized_execution(False):
            values = self._function(owner, *inputs)
        if not isinstance(values, tuple):
            values = (values,)
        return dict(zip(self.names, values))


def graph_values(graph: Any, module: Any, inputs: tuple) -> dict[str, Any]:
    """PyTorch's value of every top-level tensor in `graph` for `inputs` (see module doc)."""
    return GraphValues(graph).run(module, inputs)
