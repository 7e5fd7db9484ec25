"""From a TorchScript graph node (or a Python stack) to the line of the USER's code behind it.

TorchScript records where every node came from, in two formats:

* traced nodes carry the Python call stack at trace time, innermost frame first:
  "site-packages/torch/nn/functional.py(2615): embedding\\nmodels/net.py(31): forward\\n..."
  so the user's line is the first frame outside installed libraries;
* scripted nodes carry the compiler's excerpt, 'File "models/net.py", line 47' plus the code.
  After inlining, a node compiled from library code (the scripted `nn.Linear.forward`) points
  into torch itself; its module hierarchy ("encoder(Encoder).proj(Linear)") says which submodule
  it belongs to, so we walk up to the first module whose class the user wrote and return the line
  where that class uses the child (`self.proj(...)` in `Encoder.forward`).

coremltools names nodes of its own processed copy of the graph ("converting 'eq' op (located at:
'33')"); `coreml_graph` rebuilds that copy so those names can be looked up here too.
"""

from __future__ import annotations

import functools
import re
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchready.convert.python_source import attribute_use_lines, source_file_of

_TRACE_FRAME = re.compile(r"^(?P<path>.+?)\((?P<line>\d+)\): (?P<function>.+)$")
_SCRIPT_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
_HIERARCHY_PART = re.compile(r"^(?P<name>[^()]*)\((?P<type>[^()]*)\)$")
# Frames from the tracer's entry point outwards belong to whoever called torch.jit.trace.
_TRACER_ENTRY = "torch/jit/_trace.py"


def _normalise(path: str) -> str:
    return path.replace("\\", "/")


def _library_roots() -> tuple[str, ...]:
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update({sys.base_prefix + "/lib", sys.prefix + "/lib"})
    # torchready's own modules (the generated output-flattening wrapper, the capture code) are on
    # every stack but are never where the user should look.
    here = Path(__file__).resolve().parent
    roots.update({str(here), str(here.parent / "lint")})
    return tuple(sorted(_normalise(str(Path(root).resolve())) + "/" for root in roots))


_LIBRARY_ROOTS = _library_roots()
_LIBRARY_MARKERS = ("/site-packages/", "/dist-packages/")


@functools.lru_cache(maxsize=4096)
def is_user_file(path: str | None) -> bool:
    """True for a file the user wrote (not an installed package, the stdlib or torchready)."""
    if not path or path.startswith("<"):
        return False
    normalised = _normalise(path)
    try:
        resolved = _normalise(str(Path(path).resolve()))
    except OSError:
        resolved = normalised
    if any(marker in resolved or marker in normalised for marker in _LIBRARY_MARKERS):
        return False
    return not any(resolved.startswith(root) or normalised.startswith(root)
                   for root in _LIBRARY_ROOTS)


@dataclass(frozen=True)
class NodeSource:
    """Where a node came from: the user's line and, when different, the line that emitted it."""

    path: str
    line: int
    user: bool  # False when no frame of the user's code was found (path/line is a library line)
    origin_path: str | None = None
    origin_line: int | None = None


def frames_of_range(text: str) -> list[tuple[str, int]]:
    """(path, line) frames of a node's sourceRange() text, innermost first."""
    frames: list[tuple[str, int]] = []
    for raw in (text or "").splitlines():
        match = _TRACE_FRAME.match(raw.strip())
        if match:
            if _normalise(match["path"]).endswith(_TRACER_ENTRY):
                break
            frames.append((match["path"], int(match["line"])))
    if frames:
        return frames
    match = _SCRIPT_FRAME.search(text or "")
    return [(match["path"], int(match["line"]))] if match else []


def frames_of_node(node: Any) -> list[tuple[str, int]]:
    try:
        return frames_of_range(node.sourceRange())
    except Exception:  # nodes created by graph passes may have no range at all
        return []


def first_user_frame(frames: Iterable[tuple[str, int]]) -> tuple[str, int] | None:
    return next(((path, line) for path, line in frames if is_user_file(path)), None)


def user_frame_of_stack(stack: list[traceback.FrameSummary]) -> tuple[str, int] | None:
    """Innermost frame of a Python stack (outermost first, as traceback gives it) in user code."""
    for frame in reversed(stack):
        if is_user_file(frame.filename) and frame.lineno:
            return frame.filename, frame.lineno
    return None


def user_frame_of_exception(error: BaseException) -> tuple[str, int] | None:
    return user_frame_of_stack(traceback.extract_tb(error.__traceback__))


def _modules_along(root: Any, hierarchy: str) -> list[tuple[Any, str]] | None:
    """[(parent module, child attribute), ...] from the root down the node's module hierarchy."""
    if not hierarchy:
        return None
    steps = []
    module = root
    for part in hierarchy.split("."):
        match = _HIERARCHY_PART.match(part)
        if match is None:
            return None
        name = match["name"]
        child = getattr(module, name, None) if name else None
        if child is None:
            break
        steps.append((module, name))
        module = child
    return steps


def _call_site_in_user_class(root: Any, hierarchy: str) -> tuple[str, int] | None:
    for parent, attribute in reversed(_modules_along(root, hierarchy) or []):
        cls = type(parent)
        path = source_file_of(cls)
        if not is_user_file(path):
            continue
        lines = attribute_use_lines(cls, attribute)
        if lines:
            return path, lines[0]  # type: ignore[return-value]
    return None


def node_source(node: Any, root: Any = None) -> NodeSource | None:
    """The user's line behind a TorchScript node; `root` (the nn.Module that was captured) lets
    scripted nodes of library modules resolve to the user's call site."""
    frames = frames_of_node(node)
    user = first_user_frame(frames)
    innermost = frames[0] if frames else None
    if user is None and root is not None:
        try:
            hierarchy = node.getModuleHierarchy()
        except Exception:
            hierarchy = ""
        user = _call_site_in_user_class(root, hierarchy)
    if user is None:
        if innermost is None:
            return None
        return NodeSource(innermost[0], innermost[1], user=False)
    if innermost is None or innermost == user:
        return NodeSource(user[0], user[1], user=True)
    return NodeSource(user[0], user[1], user=True, origin_path=innermost[0],
                      origin_line=innermost[1])


def user_line_of_node(node: Any, root: Any = None) -> tuple[str, int] | None:
    """(file, line) of the first frame of the USER's code behind a node, or None."""
    source = node_source(node, root)
    if source is None or not source.user:
        return None
    return source.path, source.line


def iter_nodes(block: Any) -> Iterator[Any]:
    """Every node of a graph or block, nested blocks (loops, ifs) included, in order."""
    for node in block.nodes():
        yield node
        for sub_block in node.blocks():
            yield from iter_nodes(sub_block)


def inlined_graph(script_module: Any) -> Any:
    """A copy of the module's forward graph with every call inlined (the module is untouched)."""
    import torch

    graph = script_module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    return graph


def coreml_graph(script_module: Any) -> Any:
    """The graph as coremltools' TorchScript frontend sees it (its `_expand_and_optimize_ir`
    passes, applied to a copy), so value names match its 'located at' messages."""
    import torch

    graph = script_module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    torch._C._jit_pass_inline_fork_wait(graph)
    torch._C._jit_pass_dce(graph)
    torch._C._jit_pass_lint(graph)
    torch._C._jit_pass_canonicalize_graph_fuser_ops(graph)
    torch._C._jit_pass_lint(graph)
    return torch._C._jit_pass_canonicalize(graph)


def node_for_coreml_location(script_module: Any, location: str) -> Any | None:
    """The node coremltools means by "located at: 'a/b/33'" (the last part is its output name)."""
    name = (location or "").rsplit("/", 1)[-1]
    if not name:
        return None
    for node in iter_nodes(coreml_graph(script_module)):
        if any(output.debugName() == name for output in node.outputs()):
            return node
    return None


def source_of_coreml_location(script_module: Any, location: str,
                              root: Any = None) -> NodeSource | None:
    node = node_for_coreml_location(script_module, location)
    return node_source(node, root) if node is not None else None
