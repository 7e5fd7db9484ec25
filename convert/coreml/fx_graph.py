"""The fx graph of an ExportedProgram, indexed the ways coremltools refers to its nodes.

coremltools' export frontend names the MIL value of an fx node after `node.name` (`conv2d_3`,
then `conv2d_3_cast_fp16` after its fp16 pass) and copies `node.meta["debug_handle"]` and
`node.meta["stack_trace"]` onto every MIL op it builds for the node (`ScopeSource.
EXIR_DEBUG_HANDLE` / `EXIR_STACK_TRACE`). Export mode numbers the nodes (`capture.export`), so a
MIL op's debug handle finds its fx node exactly, and the node's stack trace gives the user's line.
The index plays the role `torch_graph.GraphIndex` plays for TorchScript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# torch.fx stack traces are Python tracebacks, outermost frame first.
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


@dataclass
class FxGraphIndex:
    """fx nodes of one ExportedProgram by name and by debug handle."""

    graph: Any = None  # the ExportedProgram (parity runs its graph to get every intermediate)
    nodes: dict[str, Any] = field(default_factory=dict)  # node.name -> torch.fx.Node
    handles: dict[int, Any] = field(default_factory=dict)  # debug_handle -> torch.fx.Node

    @classmethod
    def of(cls, program: Any) -> FxGraphIndex:
        index = cls(graph=program)
        if program is not None:
            for node in program.graph.nodes:
                index.nodes[node.name] = node
                handle = node.meta.get("debug_handle")
                if isinstance(handle, int):
                    index.handles[handle] = node
        return index

    def node(self, name: str) -> Any | None:
        return self.nodes.get(name) if name else None

    def node_of_handle(self, handle: Any) -> Any | None:
        return self.handles.get(handle) if isinstance(handle, int) else None


def kind_of(node: Any) -> str:
    """`aten::convolution`-style kind of an fx node (what coverage tables show). A non-default
    overload is kept ("aten::where.ScalarSelf"): coremltools registers converters per overload
    name, so it can have `where` and lack `where.ScalarSelf`."""
    target = node.target
    name = getattr(target, "name", None)
    if callable(name):
        try:
            return str(name()).removesuffix(".default")
        except Exception:  # some targets' name() needs arguments
            pass
    return getattr(target, "__name__", str(target))


def frames_of_stack_trace(text: str | None) -> list[tuple[str, int]]:
    """(path, line) frames of an fx node's `meta["stack_trace"]`, outermost first."""
    return [(match["path"], int(match["line"])) for match in _FRAME.finditer(text or "")]


def locate_fx(node: Any) -> dict[str, Any] | None:
    """{"path", "line"[, "origin"]} for an fx node: the innermost frame in the user's files, and
    the innermost frame overall when that differs (the library line that emitted the op)."""
    from torchready.convert.coreml.torch_graph import display_path
    from torchready.convert.source_lines import is_user_file

    frames = frames_of_stack_trace(node.meta.get("stack_trace"))
    if not frames:
        return None
    users = [frame for frame in frames if is_user_file(frame[0])]
    path, line = users[-1] if users else frames[-1]
    located: dict[str, Any] = {"path": display_path(path), "line": line}
    if frames[-1] != (path, line):
        located["origin"] = {"path": display_path(frames[-1][0]), "line": frames[-1][1]}
    return located


def torch_entry(node: Any) -> dict[str, Any]:
    """The source map's "torch" entry for an fx node (same keys as for a TorchScript node;
    "scope" is the nn.Module path torch.export records)."""
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    scope = str(stack[-1][0]).replace(".", "/") if stack else ""  # innermost module's path
    entry: dict[str, Any] = {"node": node.name, "kind": kind_of(node),
                             "scope": f"{scope}/{node.name}" if scope else node.name,
                             "debug_handle": node.meta.get("debug_handle")}
    located = locate_fx(node)
    if located is not None:
        entry.update(located)
    return entry
