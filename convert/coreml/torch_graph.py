"""The TorchScript graph exactly as coremltools converts it, indexed by the names it uses.

coremltools does not convert `module.graph` as is: it inlines it, canonicalises it (which renumbers
every value: that is where names like '33' in "converting 'eq' op (located at: '33')" come from)
and lowers attribute reads. Its error messages and the scopes on the MIL ops it builds name nodes
of *that* graph. To map them back to TorchScript nodes (and so to source lines) we keep the very
graph coremltools produced, by wrapping its `_expand_and_optimize_ir` for the duration of one
`ct.convert` call (coremltools is pinned; if a future version renames the hook the index is
simply empty and locations degrade to the module path coremltools records).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_HOOK_MODULE = "coremltools.converters.mil.frontend.torch.internal_graph"
_HOOK_NAME = "_expand_and_optimize_ir"


@dataclass
class GraphIndex:
    """Maps the value names coremltools uses to the TorchScript nodes that produce them."""

    graph: Any = None  # torch._C.Graph, or None when nothing was captured
    nodes: dict[str, Any] = field(default_factory=dict)  # value debug name -> torch._C.Node

    @classmethod
    def of(cls, graph: Any) -> GraphIndex:
        index = cls(graph=graph)
        if graph is not None:
            index._add_block(graph)
        return index

    def _add_block(self, block: Any) -> None:
        for node in block.nodes():
            for output in node.outputs():
                self.nodes.setdefault(output.debugName(), node)
            for sub_block in node.blocks():
                self._add_block(sub_block)

    def node(self, name: str) -> Any | None:
        """The node whose output coremltools calls `name` (also accepts 'a/b/name' scope paths)."""
        if not name:
            return None
        found = self.nodes.get(name)
        if found is None and "/" in name:
            found = self.nodes.get(name.rsplit("/", 1)[-1])
        return found


@contextlib.contextmanager
def capturing_converted_graph() -> Iterator[dict[str, Any]]:
    """While the block runs, remember the graph coremltools builds from the TorchScript module.

    Yields a dict that holds "graph" once `ct.convert` has expanded the module.
    """
    import importlib

    holder: dict[str, Any] = {}
    module = importlib.import_module(_HOOK_MODULE)
    original = getattr(module, _HOOK_NAME, None)
    if original is None:
        yield holder
        return

    def expand_and_remember(torchscript: Any) -> Any:
        result = original(torchscript)
        # Only the outermost graph: coremltools expands once per conversion.
        holder.setdefault("graph", result[0])
        return result

    setattr(module, _HOOK_NAME, expand_and_remember)
    try:
        yield holder
    finally:
        setattr(module, _HOOK_NAME, original)



def display_path(path: str) -> str:
    """Relative to the working directory when the file is under it (as lint reports paths)."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def locate(node: Any, root: Any = None) -> dict[str, Any] | None:
    """{"path", "line"[, "origin": {"path", "line"}]} for a TorchScript node, or None.

    "path"/"line" is the user's line (`torchready.convert.source_lines`); "origin" is the innermost frame
    when it differs, typically the library line that emitted the op (transformers' masking code
    for GPT-2's `aten::diff`). With no user frame at all, "path"/"line" is the library line.
    """
    from torchready.convert.source_lines import node_source

    source = node_source(node, root)
    if source is None:
        return None
    located: dict[str, Any] = {"path": display_path(source.path), "line": source.line}
    if source.origin_path is not None:
        located["origin"] = {"path": display_path(source.origin_path),
                             "line": source.origin_line}
    return located


def locate_nearest(node: Any, root: Any = None, depth: int = 4) -> dict[str, Any] | None:
    """`locate`, or else the location of the nearest node feeding it (breadth first).

    Nodes the tracer adds itself carry no source range: `aten::Int` converting a traced size
    back to a Python int, list constructs, ... The value they convert comes from a line that
    does have one, and that line is what the user needs to see.
    """
    located = locate(node, root)
    frontier = [node]
    seen = {id(node)}
    for _ in range(depth):
        if located is not None:
            return located
        next_frontier = []
        for current in frontier:
            for value in current.inputs():
                producer = value.node()
                if id(producer) in seen or producer.kind() == "prim::Param":
                    continue
                seen.add(id(producer))
                located = located or locate(producer, root)
                next_frontier.append(producer)
        frontier = next_frontier
    return located
