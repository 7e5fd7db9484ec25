"""Turn a failed `ct.convert` into one diagnostic at the user's source line.

coremltools stops at the first node it cannot convert. Before re-raising it logs
"ERROR - converting 'eq' op (located at: 'm/embeddings/35')", where the location is the node's
module path plus the node's name in the graph coremltools built (see `torch_graph`). We read that
line from the recorded log (the first one: when the failure is inside a loop or `if` block,
each enclosing block logs again on the way out), find the TorchScript node by its name, and take
its source range to the user's file and line.

Codes (design.md §4, TR3xx = Core ML hazards):
* TR301 coreml-unsupported-op: coremltools has no converter for the op ("PyTorch convert function
  for op 'diff' not implemented"). Same code as the static rule and the coverage check.
* TR303 coreml-conversion-failed: anything else coremltools raises while converting (a converter
  that crashes on this input, a graph pass that fails, an invalid program). Dynamic only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from torchready.convert.coreml.quiet import ConverterLog
from torchready.convert.python_source import line_span
from torchready.convert.coreml.torch_graph import GraphIndex, locate_nearest
from torchready.lint.types import Diagnostic, Severity

UNSUPPORTED_OP = ("TR301", "coreml-unsupported-op")
CONVERSION_FAILED = ("TR303", "coreml-conversion-failed")

# coremltools' own log and error lines; the export frontend's failures use the same ones.
CONVERTING = re.compile(r"converting '(?P<kind>[^']+)' op \(located at: '(?P<location>[^']*)'\)")
GRAPH_PASS = re.compile(r"'(?P<name>[^']+)' graph pass produces the following error")
NOT_IMPLEMENTED = re.compile(r"convert function for op '(?P<kind>[^']+)' not implemented")


@dataclass(frozen=True)
class FailedNode:
    """The TorchScript node coremltools was converting when it failed."""

    kind: str  # coremltools' name for the op ("diff"); the torch kind is node.kind() if known
    scope: str  # coremltools' "located at" path
    torch_kind: str | None
    location: dict[str, Any] | None  # see torch_graph.locate

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "scope": self.scope,
                                "torch_kind": self.torch_kind}
        if self.location is not None:
            data["location"] = self.location
        return data


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0].strip() if text else ""
    return line or type(error).__name__


def failed_node(log: ConverterLog, index: GraphIndex, root: Any = None) -> FailedNode | None:
    for message in log.errors():
        match = CONVERTING.search(message)
        if match:
            node = index.node(match["location"])
            return FailedNode(
                kind=match["kind"],
                scope=match["location"],
                torch_kind=node.kind() if node is not None else None,
                location=locate_nearest(node, root) if node is not None else None,
            )
    return None


def failing_graph_pass(log: ConverterLog) -> str | None:
    for message in log.errors():
        match = GRAPH_PASS.search(message)
        if match:
            return match["name"]
    return None


_DIALECT_OP = re.compile(r"\btorch_([a-z][a-z0-9_]*)")


def graph_pass_suspects(error_text: str, index: GraphIndex, root: Any = None
                        ) -> tuple[str | None, list[dict[str, Any]]]:
    """For a graph pass that names a torch-dialect MIL op ("Unable to map torch_upsample_bilinear
    to core upsample"), the TorchScript op it came from and the located nodes of that kind.

    coremltools does not say which op instance failed, so every node of the matching kind is a
    suspect; the kind is matched by name (`upsample_bilinear` <-> `aten::upsample_bilinear2d`).
    """
    match = _DIALECT_OP.search(error_text)
    if match is None or index.graph is None:
        return None, []
    stem = match[1]
    kind = None
    suspects: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for node in dict.fromkeys(index.nodes.values()):
        op = node.kind().split("::")[-1]
        if not (op.startswith(stem) or stem.startswith(op)) or node.kind().startswith("prim::"):
            continue
        kind = kind or node.kind()
        located = locate_nearest(node, root)
        if located is not None and (located["path"], located["line"]) not in seen:
            seen.add((located["path"], located["line"]))
            suspects.append(located)
    return kind, suspects


def conversion_diagnostic(
    error: BaseException,
    log: ConverterLog,
    index: GraphIndex,
    fallback: tuple[str, int],
    root: Any = None,
) -> tuple[Diagnostic, FailedNode | None]:
    """The diagnostic for a `ct.convert` that raised `error`.

    `fallback` is the (path, line) used when coremltools gives no node (e.g. the model's forward);
    `root` is the captured nn.Module, which helps place nodes of scripted library modules.
    """
    node = failed_node(log, index, root)
    message_line = first_line(error)
    unsupported = NOT_IMPLEMENTED.search(str(error))
    location = node.location if node is not None else None

    details: dict[str, Any] = {"exception": type(error).__name__, "coremltools": message_line}
    if node is not None:
        details["node"] = node.to_json()
    graph_pass = failing_graph_pass(log)
    suspect_kind, suspects = None, []
    if graph_pass:
        details["graph_pass"] = graph_pass
        if node is None:
            suspect_kind, suspects = graph_pass_suspects(str(error), index, root)
            if suspects:
                location = suspects[0]
                details["op"] = suspect_kind
                details["suspects"] = [f"{s['path']}:{s['line']}" for s in suspects]
    path, line = (location["path"], location["line"]) if location else fallback

    where = ""
    if location is not None and "origin" in location:
        where = f" (emitted at {location['origin']['path']}:{location['origin']['line']})"
    if unsupported:
        kind = unsupported["kind"]
        torch_kind = (node.torch_kind if node and node.torch_kind else f"aten::{kind}")
        code, name = UNSUPPORTED_OP
        message = (
            f"coremltools has no converter for {torch_kind}{where}: \"{message_line}\". "
            "Rewrite this line with supported ops, or register a composite op for it with "
            "coremltools' register_torch_op (torchready's own are in convert/composite_ops/)."
        )
        details["op"] = torch_kind
    else:
        code, name = CONVERSION_FAILED
        if node is not None:
            torch_kind = node.torch_kind or node.kind
            subject = f"converting {torch_kind}{where}"
            details["op"] = torch_kind
        elif graph_pass and suspects:
            lines = ", ".join(details["suspects"])
            subject = (f"in its graph pass '{graph_pass}' on an op made from {suspect_kind} "
                       f"({lines}; coremltools does not say which one)")
        elif graph_pass:
            subject = f"in its graph pass '{graph_pass}'"
        else:
            subject = "converting the model"
        message = f"coremltools failed {subject}: {type(error).__name__}: {message_line}"
    span = line_span(path, line)
    diagnostic = Diagnostic(
        path=path, line=line, column=span.column, end_line=span.end_line,
        end_column=span.end_column, code=code, name=name, severity=Severity.ERROR,
        message=message, origin="convert", details=details,
    )
    return diagnostic, node
