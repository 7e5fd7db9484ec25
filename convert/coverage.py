"""Op coverage: every TorchScript op coremltools has no converter for, all at once, with lines.

coremltools stops at the first unsupported op and names it by a value number ("located at:
'33'"). Here the captured graph is prepared the way coremltools' TorchScript frontend prepares it
(`_expand_and_optimize_ir`: inline calls and forks, dead-code elimination, canonicalisation), every
node (nested blocks of loops and ifs included) is looked up in coremltools' op registry with the
registry's own lookup (`get_func`: namespace and overload stripped, lower-cased, in-place `x_`
resolved to `x`, aliases included), and each unsupported kind is reported with every user line
that produces it.

Kinds that never need a converter because coremltools removes them before converting:
`prim::GetAttr` (`remove_getattr_nodes`: weights become consts). Everything else it converts node
by node, both branches of an `if` and loop bodies included (`mb.cond` / `mb.while_loop` build all
blocks). At the top level it stops converting once every graph output exists (`convert_nodes`
early exit), so trailing nodes that feed no output (a side effect after the last output) are
skipped here too. Composite ops registered with `@register_torch_op` before the check (torchready's
own or the user's) are found by the same lookup, and reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchready.convert.findings import finding
from torchready.convert.graph_passes import apply_graph_passes
from torchready.convert.source_lines import coreml_graph, node_source
from torchready.lint.types import Diagnostic, Severity

COMPOSITE_GUIDE = "https://apple.github.io/coremltools/docs-guides/source/composite-operators.html"
# Removed by coremltools' torch IR passes before any converter is looked up.
REMOVED_BEFORE_CONVERSION = {"prim::GetAttr"}
# Our own composite ops live here; a converter registered from this package is "ours".
TORCHREADY_PACKAGE = "torchready.convert."


@dataclass
class OpUse:
    kind: str  # the TorchScript kind, e.g. "aten::diff"
    count: int = 0
    # (path, line) of the user's code producing it, in graph order, without repeats.
    lines: list[tuple[str, int]] = field(default_factory=list)
    library_lines: list[tuple[str, int]] = field(default_factory=list)  # when no user frame


@dataclass
class CoverageReport:
    kinds: dict[str, OpUse] = field(default_factory=dict)  # every kind in the converted graph
    supported: set[str] = field(default_factory=set)
    unsupported: dict[str, OpUse] = field(default_factory=dict)
    # Kinds handled by composite ops registered by torchready (kind -> converter module).
    composite: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported


def _registry() -> Any:
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    return _TORCH_OPS_REGISTRY


def _walk_converted(block: Any, top_level: bool) -> list[Any]:
    """The nodes coremltools converts, in order, nested blocks included."""
    nodes = []
    pending = {output for output in block.outputs()} if top_level else set()
    for node in block.nodes():
        if top_level and not pending:
            break  # convert_nodes(early_exit=True): every output already exists
        nodes.append(node)
        for sub_block in node.blocks():
            nodes += _walk_converted(sub_block, top_level=False)
        if top_level:
            pending.difference_update(node.outputs())
    return nodes


def _script_module_of(captured: Any) -> Any:
    module = getattr(captured, "module", captured)
    if module is None:
        raise ValueError("capture failed: there is no TorchScript module to check")
    return module


def check_op_coverage(captured: Any, root: Any = None) -> CoverageReport:
    """Check a `Captured` (or a ScriptModule) against coremltools' converters. `root` is the
    eager module that was captured (lets scripted library nodes resolve to the user's line)."""
    from torchready.convert.composite_ops import installed

    with installed():
        return _check_op_coverage(_script_module_of(captured), root)


def _check_op_coverage(module: Any, root: Any) -> CoverageReport:
    registry = _registry()
    graph = coreml_graph(module)
    apply_graph_passes(graph)  # what the conversion stage rewrites before ct.convert
    report = CoverageReport()
    for node in _walk_converted(graph, top_level=True):
        kind = node.kind()
        if kind in REMOVED_BEFORE_CONVERSION:
            continue
        use = report.kinds.setdefault(kind, OpUse(kind))
        use.count += 1
        source = node_source(node, root)
        if source is not None:
            target = use.lines if source.user else use.library_lines
            if (source.path, source.line) not in target:
                target.append((source.path, source.line))
        converter = registry.get_func(_as_coremltools_names_it(kind))
        if converter is None:
            report.unsupported[kind] = use
        else:
            report.supported.add(kind)
            owner = getattr(converter, "__module__", "") or ""
            if owner.startswith(TORCHREADY_PACKAGE):
                report.composite[kind] = owner
    report.diagnostics = [d for use in report.unsupported.values()
                          for d in unsupported_op_diagnostics(use, report)]
    return report


def _as_coremltools_names_it(kind: str) -> str:
    """coremltools sanitises a kind when it builds its graph (`aten::__and__` -> `__and__`) and
    again in `get_func` (-> `and`); looking up the raw kind once would miss `and`."""
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    return sanitize_op_kind(kind)


def unsupported_op_diagnostics(use: OpUse, report: CoverageReport,
                               stops_with: str | None = None) -> list[Diagnostic]:
    """One TR301 per user line of an unsupported kind. `stops_with` is the error ct.convert
    would raise (the TorchScript frontend's by default; the torch.export frontend words it
    differently, see torchready.convert.capture.export_readiness)."""
    import coremltools

    others = sorted(kind for kind in report.unsupported if kind != use.kind)
    also = f" Also unsupported in this model: {', '.join(others)}." if others else ""
    places = use.lines or use.library_lines
    stops_with = stops_with or ("PyTorch convert function for op "
                                f"'{use.kind.split('::')[-1]}' not implemented")
    message = (f"coremltools {coremltools.__version__} has no converter for `{use.kind}` "
               f"({use.count} use{'s' if use.count != 1 else ''} in the captured graph), so "
               f"ct.convert would stop here with \"{stops_with}\". Rewrite this code with "
               "supported ops, or add a composite operator: a function decorated with "
               "`@register_torch_op` (coremltools.converters.mil.frontend.torch) that builds it "
               f"from MIL ops, imported before conversion; see {COMPOSITE_GUIDE}.{also}")
    details = {"op": use.kind, "uses": use.count,
               "lines": [f"{path}:{line}" for path, line in places]}
    if not use.lines:
        details["library"] = True
    return [finding("TR301", path, line, message, origin="coverage", severity=Severity.ERROR,
                    details=details) for path, line in places]
