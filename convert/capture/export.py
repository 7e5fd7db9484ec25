"""Export mode: `torch.export.export` on the prepared wrapper, ready for coremltools 9.

    export_capture(prepared) -> Captured   (mode "export", `exported_program` set)

Steps, each for a reason:
* the prepared wrapper is exported, not the user's module: its outputs are already a flat tuple
  of tensors named after the user's dict keys, so the Core ML outputs get the same names as in
  trace mode (coremltools' export frontend would otherwise call them `add`, `mul`, ...);
* flexible dimensions declared by the user (`spec.flexible`, `--input x:1x(16..64)`) become
  `torch.export.Dim(name, min=, max=)`: coremltools turns the program's range constraints into
  Core ML shape ranges, and torch.export itself proves the model really follows those sizes
  (a dimension the code specializes is an export error, not a silent wrong model);
* `run_decompositions({})`: torch 2.13 exports the TRAINING dialect, which coremltools 9 refuses
  ("Conversion for models with only ATEN or EDGE dialect is supported");
* every fx node gets `meta["debug_handle"]` (its position in the graph): coremltools copies it
  onto each MIL op's scopes, which is how the source map finds the fx node behind a MIL op
  (`torchready.convert.coreml.fx_graph`).

When export fails, the readiness diagnostics of `torchready.convert.capture.export_readiness` (draft_export
turned into TR103/TR104 findings at the user's lines) explain why.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from torchready.convert.capture.result import Captured, Check
from torchready.convert.findings import finding
from torchready.lint.types import Diagnostic

REQUESTED = "requested"


def export_dynamic_shapes(prepared: Any) -> dict[str, dict[int, Any]] | None:
    """`dynamic_shapes` for torch.export from the user's flexible dimensions (None: all static).

    Keyed by the wrapper's forward parameter names, which are the input names. An unbounded
    upper limit (-1/None) stays unbounded (torch's default max)."""
    if not prepared.flexible:
        return None
    import torch

    shapes: dict[str, dict[int, Any]] = {}
    for name in prepared.input_names:
        dims = prepared.flexible.get(name)
        if not dims:
            continue
        rank = prepared.example_inputs[prepared.input_names.index(name)].dim()
        shapes[name] = {}
        for dim, (lower, upper) in dims.items():
            dim = int(dim) % rank
            upper = None if upper is None or upper < 0 else int(upper)
            # torch.export specializes sizes 0 and 1 (it cannot export them as a symbol): a range
            # starting below 2 is exported from 2; the Core ML range keeps the user's bounds
            # (export_capture notes it).
            maximum = {} if upper is None else {"max": upper}
            shapes[name][dim] = torch.export.Dim(f"{name}_dim{dim}", min=max(int(lower), 2),
                                                 **maximum)
    return {name: shapes.get(name) for name in prepared.input_names} if shapes else None


def export_program(prepared: Any) -> Any:
    """The decomposed (ATEN dialect) ExportedProgram of the prepared wrapper; raises on failure."""
    import torch

    dynamic_shapes = export_dynamic_shapes(prepared)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        with torch.no_grad():
            program = torch.export.export(prepared.module, tuple(prepared.example_inputs),
                                          dynamic_shapes=dynamic_shapes)
            program = program.run_decompositions({})
    for handle, node in enumerate(program.graph.nodes):
        node.meta["debug_handle"] = handle
    return program


def export_capture(prepared: Any, reason: str = REQUESTED) -> Captured:
    from torchready.convert.capture.probes import outputs_match, run

    started = time.perf_counter()
    try:
        program = export_program(prepared)
    except Exception as error:  # torch.export raises many types: user code and guards alike
        return export_failure(prepared, error, reason, started)
    module = program.module()
    captured = Captured(module=module, mode="export", reason=reason,
                        timings={"export": time.perf_counter() - started})
    captured.exported_program = program
    actual, error = run(module, tuple(prepared.example_inputs))
    if error is not None:
        captured.checks.append(Check("example", False, f"fails on the example: {error}"))
    else:
        matched = outputs_match(tuple(prepared.reference_outputs), actual)
        captured.checks.append(Check("example", matched, "matches eager on the example"
                                     if matched else "differs from eager on the example"))
    low = [f"{name}[{dim}]" for name, dims in prepared.flexible.items()
           for dim, (lower, _) in dims.items() if int(lower) < 2]
    if low:
        captured.notes.append(f"torch.export cannot export sizes 0 and 1 as symbols: "
                              f"{', '.join(low)} exported from size 2; the Core ML model keeps "
                              "the declared lower bound, and parity checks sizes from 2")
    if prepared.flexible:
        captured.notes.append("torch.export: flexible dimensions exported as "
                              + ", ".join(f"{name}[{dim}] in {_range_text(program, name, dim)}"
                                          for name, dims in prepared.flexible.items()
                                          for dim in dims))
    return captured


def _range_text(program: Any, name: str, dim: int) -> str:
    """The range torch.export proved for one input dimension ("16..64"), from the program."""
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name != name:
            continue
        value = node.meta.get("val")
        if value is None or dim >= value.dim():
            break
        size = value.shape[dim]
        for symbol, ranges in program.range_constraints.items():
            if str(symbol) == str(size):
                return f"{ranges.lower}..{ranges.upper}"
        return f"static {size}"
    return "?"


def export_failure(prepared: Any, error: BaseException, reason: str,
                   started: float) -> Captured:
    """A failed export: the readiness diagnostics say why, at the user's lines."""
    from torchready.convert.coreml.errors import first_line

    diagnostics = readiness_diagnostics(prepared, error)
    return Captured(module=None, mode="export", reason=reason, diagnostics=diagnostics,
                    timings={"export": time.perf_counter() - started},
                    error=f"torch.export failed: {type(error).__name__}: {first_line(error)}")


def readiness_diagnostics(prepared: Any, error: BaseException) -> list[Diagnostic]:
    """Why export failed, at the user's lines: draft_export's findings
    (`export_readiness.diagnose_export`), else torch's own error mapped the same way."""
    from torchready.convert.capture.export_readiness import diagnose_export, export_error_diagnostics

    readiness_error = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            found = list(diagnose_export(prepared.module, tuple(prepared.example_inputs),
                                         export_dynamic_shapes(prepared)))
    except Exception as failure:  # diagnostics explain; they never hide the export error
        found, readiness_error = [], f"{type(failure).__name__}: {failure}"
    if found:
        return found
    found = export_error_diagnostics(error, prepared.module) or [_unlocated(prepared, error)]
    if readiness_error is not None:
        for diagnostic in found:
            diagnostic.details["readiness_error"] = readiness_error
    return found


def _unlocated(prepared: Any, error: BaseException) -> Diagnostic:
    """No frame of the user's anywhere (not in torch's error, not in its traceback): the
    finding goes to the model's class."""
    from torchready.convert.coreml.errors import first_line
    from torchready.convert.python_source import definition_line
    from torchready.convert.source_lines import is_user_file

    found = definition_line(type(prepared.original)) if prepared.original is not None else None
    where = found if found is not None and is_user_file(found[0]) else ("<model>", 1)
    data_dependent = ("data-dependent" in str(error)
                      or "GuardOnDataDependent" in type(error).__name__)
    code = "TR104" if data_dependent else "TR203"
    message = (f"torch.export.export failed: {type(error).__name__}: {first_line(error)}"
               + (" Express the branch with torch.cond, or use --mode trace/hybrid."
                  if data_dependent else ""))
    return finding(code, where[0], where[1], message, origin="export",
                   details={"exception": type(error).__name__})
