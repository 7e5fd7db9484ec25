"""What torchready's MIL passes did during one `ct.convert`, at the user's lines.

The passes (`torchready.convert.mil_passes`) record each value they rewrote or could not rewrite
with the scopes of the MIL op that created it; coremltools copies onto every op the TorchScript
node name it came from (or, in export mode, the fx node's debug handle), so the graph index of
the conversion finds the node, and the node its source line.

A value of rank > 5 that could not be folded makes coremltools reject the program ("Core ML only
supports tensors with rank <= 5"); that failure becomes TR304 at the line that creates the value,
naming the op that stopped the folding, instead of a TR303 somewhere in the model.
"""

from __future__ import annotations

from typing import Any

from torchready.convert.findings import finding
from torchready.lint.types import Diagnostic

RANK_ERROR = "only supports tensors with rank <= 5"


def locate_scopes(scopes: dict[str, list[Any]], index: Any, root: Any = None
                  ) -> dict[str, Any] | None:
    """{"path", "line"[, "origin"]} of the node a MIL op's scopes name, or None."""
    from torchready.convert.coreml.fx_graph import FxGraphIndex, locate_fx
    from torchready.convert.coreml.torch_graph import locate_nearest

    if isinstance(index, FxGraphIndex):
        handles = [h for h in scopes.get("EXIR_DEBUG_HANDLE", []) if h is not None]
        node = index.node_of_handle(handles[-1]) if handles else None
        return locate_fx(node) if node is not None else None
    names = scopes.get("TORCHSCRIPT_MODULE_NAME", [])
    node = index.node(names[-1]) if names and index is not None else None
    return locate_nearest(node, root) if node is not None else None


def rank_diagnostic(record: Any, index: Any, fallback: tuple[str, int], root: Any = None
                    ) -> Diagnostic:
    """TR304 for a rank > 5 value the folding pass refused."""
    created = locate_scopes(record.scopes, index, root)
    blocking = locate_scopes(record.details.get("blocking_scopes", {}), index, root)
    path, line = (created["path"], created["line"]) if created else fallback
    shape = record.details.get("shape", "")
    rank = shape.count(",") + 1 if shape else 6
    stopped_at = f" at {blocking['path']}:{blocking['line']}" if blocking else ""
    message = (
        f"This line makes a rank-{rank} tensor {shape} (MIL {record.op_type}); Core ML supports "
        f"rank <= 5. torchready merges leading dimensions while the following ops act on the "
        f"trailing ones, but not here: {record.message} "
        f"({record.details.get('blocking_op', record.op_type)}{stopped_at}). Keep the tensor at "
        "five dimensions or fewer: merge the leading ones yourself (view(b * h * w, 1, h, w) "
        "rather than view(b, h, w, 1, h, w)), or apply that op before the reshape.")
    details = {"op": record.op_type, "shape": shape, "blocking_op":
               record.details.get("blocking_op"), "coremltools": "rank > 5"}
    if blocking:
        details["blocking_location"] = f"{blocking['path']}:{blocking['line']}"
    return finding("TR304", path, line, message, origin="convert", details=details)


def folded_notes(records: list[Any], index: Any, root: Any = None) -> list[str]:
    notes = []
    for record in records:
        if record.outcome != "folded":
            continue
        where = locate_scopes(record.scopes, index, root)
        at = f" (made at {where['path']}:{where['line']})" if where else ""
        notes.append(f"MIL pass {record.pass_name}: {record.message}{at}")
    return notes


def folded_lines(records: list[Any], index: Any, root: Any = None) -> list[tuple[str, int]]:
    """(path, line) of every value the folding pass rewrote."""
    found = (locate_scopes(record.scopes, index, root) for record in records
             if record.outcome == "folded")
    return [(where["path"], where["line"]) for where in found if where]


def settled_by_folding(diagnostics: list[Diagnostic], folded: list[tuple[str, int]]
                       ) -> list[Diagnostic]:
    """The static TR304 at a line whose value the conversion folded becomes a warning: the
    linter cannot know that torchready merges the leading dimensions, the conversion did."""
    import dataclasses

    from torchready.convert.coreml.torch_graph import display_path
    from torchready.lint.types import Severity

    lines = {(display_path(path), line) for path, line in folded}
    return [dataclasses.replace(
        d, severity=Severity.WARNING,
        message=f"{d.message}. torchready's conversion merged the leading dimensions of this "
                "tensor (MIL pass fold_rank_over_five), so this model converts; plain "
                "ct.convert does not",
        details={**d.details, "resolved_by": "fold_rank_over_five"})
        if d.code == "TR304" and d.origin == "lint" and (display_path(d.path), d.line) in lines
        else d for d in diagnostics]


def refusal(records: list[Any], error: BaseException | None) -> Any:
    """The refused folding that explains a rank error, if the conversion failed with one."""
    if error is None or RANK_ERROR not in str(error):
        return None
    return next((record for record in records if record.outcome == "refused"), None)
