"""Is this model ready for torch.export (and then coremltools)? Findings at the user's lines.

    diagnose_export(module, example_inputs, dynamic_shapes=None) -> [Diagnostic]
    export_error_diagnostics(error, module=None) -> [Diagnostic]
    export_op_coverage(exported_program) -> [Diagnostic]

`torch.export.export` stops at the first problem. `torch.export.draft_export` runs the same
(non-strict) export while propagating the example's real values through the fake tensors, so it
gets past every data-dependent question and lists them all in `ep._report.failures`
(`FailureReport(failure_type, data, xfail)`, torch/export/_draft_export.py). Each kind becomes
the TR code whose static rule describes the same mistake, pinned to the innermost frame of the
user's code in `data["user_stack"]` (the outer frames are nn.Module plumbing):

* DATA_DEPENDENT_ERROR in a branch (`if x.sum() > 0:`, `while`, a ternary, `assert`) -> TR104;
  anywhere else (`int(t)`, `.item()`/`.tolist()` values used as sizes or loop counts) -> TR103.
  torch's own advice is `torch._check(...)`; for a branch the export remedy is `torch.cond`,
  which coremltools 9 cannot convert (verified: "Only torch.Tensor attr handled yet" on its
  subgraph), so the message also gives the Core ML one (`torch.where`, or script the branch);
* GUARD_ADDED (a `Dim` the code specializes or narrows; draft_export reports these only after
  retrying with Dim.AUTO, i.e. when export raised a constraint violation) -> TR105 for a loop
  header, TR102 otherwise (Python math/comparisons on a size);
* MISSING_FAKE_KERNEL / MISMATCHED_FAKE_KERNEL (custom ops) -> TR301: export needs a fake kernel
  and coremltools a converter for the op. These carry no stack: the op's node in the draft
  program has the user's line in `meta["stack_trace"]`.

When draft_export itself raises (it also compares fake and real results, which plain export does
not), plain export decides: if it succeeds there is nothing to report, otherwise its error is
mapped like any export error (`export_error_diagnostics`).

`export_op_coverage` is the torch.export twin of `torchready.convert.coverage`: every call_function of the
decomposed program looked up the way coremltools' EXIR frontend does
(`InternalTorchIRNode.from_exir_node`: `target.name()`, `sanitize_op_kind`, registry membership).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

from torchready.convert.coreml.errors import first_line
from torchready.convert.coreml.fx_graph import frames_of_stack_trace, kind_of
from torchready.convert.findings import finding
from torchready.convert.python_source import (Span, definition_line, line_text, narrow_span,
                                   node_span, parse_file)
from torchready.convert.source_lines import is_user_file
from torchready.convert.process_state import SharedPatch
from torchready.lint.types import Diagnostic, Severity

COND_GUIDE = "https://pytorch.org/docs/stable/cond.html"
_SPECIALIZED = re.compile(r"^Eq\((?P<symbol>\w+), (?P<value>-?\d+)\)$")
_CONSTANT = re.compile(r"specialized it to be a constant \((?P<value>-?\d+)\)")
_SUGGESTED = re.compile(r"Suggested fixes:\s*\n(?P<fixes>(?:[ \t]+\S.*\n?)+)")
_TENSOR_TO_PYTHON = ("item", "tolist", "numpy", "int", "float", "bool")


# --- where: the user's line ----------------------------------------------------------------

def _frame_files(report: Any) -> dict[int, str]:
    """Interned file ids of the report's stacks -> paths. The report only lists the strings
    interned during this export; files seen by an earlier export keep their old ids, so
    torch's global intern table fills the gaps."""
    from torch._logging.structured import INTERN_TABLE

    files = {number: path for path, number in INTERN_TABLE.items()}
    files.update(getattr(report, "str_to_filename", {}) or {})
    return files


def _user_frame(stack: list[dict[str, Any]], files: dict[int, str]) -> tuple[str, int] | None:
    """Innermost frame of a draft-export stack (outermost first) in the user's code."""
    for frame in reversed(stack or []):
        path = files.get(frame.get("filename"))  # type: ignore[arg-type]
        if path and is_user_file(path) and frame.get("line"):
            return path, int(frame["line"])
    return None


def _user_frame_of_text(text: str) -> tuple[str, int] | None:
    """The innermost user frame quoted in a Python-style stack text ('File "x.py", line 6'):
    fx nodes' `stack_trace`, and the frame torch.export's errors quote."""
    users = [frame for frame in frames_of_stack_trace(text) if is_user_file(frame[0])]
    return users[-1] if users else None


def _innermost_file_frame(text: str) -> tuple[str, int] | None:
    """The innermost frame of a stack text that is a real file (not `<torchready-wrapper-1>`)."""
    frames = [frame for frame in frames_of_stack_trace(text) if not frame[0].startswith("<")]
    return frames[-1] if frames else None


def _user_frame_of_error(error: BaseException) -> tuple[str, int] | None:
    """Where an export error happened in the user's code. Dynamo (strict export) keeps the
    user's stack on the exception; non-strict export runs forward in Python, so the traceback
    has it, but only frames below torch.export's entry count (the frame that called export is
    the caller's, not the model's)."""
    import traceback

    for attribute in ("real_stack", "user_stack"):
        stack = getattr(error, attribute, None)
        if stack:
            for frame in reversed(list(stack)):
                if is_user_file(frame.filename) and frame.lineno:
                    return frame.filename, frame.lineno
    frames = traceback.extract_tb(error.__traceback__)
    entry = next((index for index, frame in enumerate(frames)
                  if "/torch/export/" in frame.filename.replace("\\", "/")), None)
    inside = frames[entry:] if entry is not None else []
    for frame in reversed(inside):
        if is_user_file(frame.filename) and frame.lineno:
            return frame.filename, frame.lineno
    return _user_frame_of_text(str(error))


def _module_location(module: Any) -> tuple[str, int] | None:
    """The `def forward` of the first module (root first) whose class the user wrote: where a
    finding goes when torch names no line (a constraint violation names only the Dim)."""
    for sub in module.modules() if module is not None else []:
        found = definition_line(type(sub).forward)
        if found is not None and is_user_file(found[0]):
            return found
    return None


# --- what: the statement at that line --------------------------------------------------------

def _statement_at(path: str, line: int) -> ast.stmt | None:
    """The innermost statement covering `line`."""
    tree = parse_file(path)
    if tree is None:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best


def _header(statement: ast.stmt | None) -> list[ast.AST]:
    """The part of a statement that runs at its first line (a compound statement's header)."""
    if statement is None:
        return []
    if isinstance(statement, (ast.If, ast.While)):
        return [statement.test]
    if isinstance(statement, ast.For):
        return [statement.iter]
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try)):
        return []
    return [statement]


def _is_branch(statement: ast.stmt | None) -> bool:
    """`if`/`while`/`assert` or a ternary on this line: Python needs a True/False to pick a
    path. (`bool(t)` stays TR103, as in the static rule: it makes a value, not a path.)"""
    if isinstance(statement, (ast.If, ast.While, ast.Assert)):
        return True
    return any(isinstance(node, ast.IfExp)
               for part in _header(statement) for node in ast.walk(part))


def _is_loop(statement: ast.stmt | None) -> bool:
    return isinstance(statement, ast.For)


def _call_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _conversions(statement: ast.stmt | None) -> list[str]:
    """The tensor-to-Python calls on the statement (`item`, `tolist`, `int`, ...), in order."""
    found = []
    for part in _header(statement):
        for node in ast.walk(part):
            name = _call_name(node)
            if name in _TENSOR_TO_PYTHON and name not in found:
                found.append(name)
    return found


def _span(path: str, line: int, code: str) -> Span | None:
    """Underline the condition of a branch (TR104) or the conversion call (TR103); None keeps
    the whole line."""
    statement = _statement_at(path, line)
    if code == "TR104" and isinstance(statement, (ast.If, ast.While, ast.Assert)):
        test = statement.test
        if test.lineno == line == (test.end_lineno or line):
            return node_span(test)
    if code == "TR103":
        return narrow_span(path, line, lambda node: _call_name(node) in _TENSOR_TO_PYTHON)
    return None


# --- messages -----------------------------------------------------------------------------------

def _code_at(path: str, line: int) -> str:
    return line_text(path, line).strip()


def _data_dependent(path: str, line: int, expression: str, result: Any
                    ) -> tuple[str, str, dict[str, Any]]:
    """TR104 for a branch on tensor values, TR103 for a tensor value made a Python number."""
    statement = _statement_at(path, line)
    code_text = _code_at(path, line)
    details: dict[str, Any] = {"expression": expression}
    if result is not None:
        details["example_result"] = str(result)
    specialised = (f"; draft_export specialised it to `{result}` for the example input"
                   if result is not None else "")
    if _is_branch(statement):
        message = (
            f"torch.export cannot decide `{code_text}`: the condition depends on tensor values "
            f"(torch: could not guard on data-dependent expression `{expression}`{specialised}). "
            "For torch.export, write both branches as functions and call "
            "`torch.cond(pred, true_fn, false_fn, (x,))`; if the condition always holds for "
            "your inputs, state it with `torch._check(...)` instead. coremltools 9 cannot "
            "convert torch.cond, so for Core ML compute both branches and select with "
            "`torch.where(pred, a, b)`, or keep this piece in TorchScript (`torch.jit.script`, "
            f"--mode hybrid). See {COND_GUIDE}.")
        return "TR104", message, details
    calls = _conversions(statement)
    called = ", ".join(f"`{c}(...)`" if c in ("int", "float", "bool") else f"`.{c}()`"
                       for c in calls)
    details["conversions"] = calls
    use = "a loop count" if _is_loop(statement) else "a size or Python number"
    message = (
        f"`{code_text}` needs a tensor's value as {use}"
        + (f" ({called})" if called else "") + ", which torch.export cannot know while "
        f"tracing (torch: data-dependent expression `{expression}`{specialised}). For "
        "torch.export, keep it symbolic: read it with `.item()` (not int()/float()), then "
        "state what you know with `torch._check_is_size(n)` / `torch._check(n <= x.shape[0])` "
        "so export can reason about it; a Python loop over it cannot be exported at all "
        "(vectorise it). For TorchScript tracing, keep the value as a tensor instead (trace "
        "would freeze it).")
    return "TR103", message, details


def _guard(path: str, line: int, expression: str, sources: dict[str, str],
           dims: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """TR105 for a loop over a dynamic size, TR102 for other Python code that specialises it."""
    statement = _statement_at(path, line)
    code_text = _code_at(path, line)
    described = ", ".join(f"{_source_text(source)}" + (f" (Dim `{dims[source]}`)"
                                                          if source in dims else "")
                          for source in sources.values()) or "a dynamic dimension"
    match = _SPECIALIZED.match(expression)
    if match:
        effect = f"specialises {described} to the constant {match['value']}"
    else:
        effect = f"narrows {described} with the guard `{expression}`"
    details: dict[str, Any] = {"guard": expression,
                               "dimensions": [_source_text(s) for s in sources.values()]}
    if match:
        details["specialized_to"] = int(match["value"])
    remedy = ("declare the range the model really accepts with `Dim(name, min=, max=)` (or "
              "`Dim.AUTO`), or make the dimension static by dropping its Dim")
    if _is_loop(statement):
        message = (
            f"`{code_text}` loops in Python over a dynamic size: torch.export unrolls it for "
            f"the example and {effect}. Vectorise the loop (one tensor op over the whole "
            f"dimension, e.g. `x.sum(0)`, `torch.cumsum`), or {remedy}.")
        return "TR105", message, details
    message = (
        f"`{code_text}` {effect}: Python code on this size (math, comparisons, int()) makes "
        "torch.export add a guard, so the exported program would only accept such sizes. Keep "
        f"the size arithmetic in torch (`//`, `**`, tensor ops) or {remedy}.")
    return "TR102", message, details


def _source_text(source: str) -> str:
    """`L['x'].size()[1]` -> `x.shape[1]`."""
    match = re.match(r"L\['(?P<name>[^']+)'\]\.size\(\)\[(?P<dim>\d+)\]$", source)
    return f"{match['name']}.shape[{match['dim']}]" if match else source


def _dim_names(dynamic_shapes: Any) -> dict[str, str]:
    """"L['x'].size()[1]" -> the user's Dim name for it, from a dict-shaped dynamic_shapes."""
    names: dict[str, str] = {}
    if not isinstance(dynamic_shapes, dict):
        return names
    for input_name, dims in dynamic_shapes.items():
        if isinstance(dims, dict):
            for index, dim in dims.items():
                name = getattr(dim, "__name__", None)
                if name:
                    names[f"L['{input_name}'].size()[{index}]"] = name
    return names


def _kernel(op: str, failure_type: str, reason: str | None) -> str:
    if failure_type == "MISSING_FAKE_KERNEL":
        problem = (f"custom op `torch.ops.{op}` has no fake (meta) kernel, so torch.export "
                   "cannot compute its output shapes without running it")
    else:
        problem = (f"the fake kernel of custom op `torch.ops.{op}` disagrees with the real one "
                   f"({(reason or '').strip()}), so the exported shapes would be wrong")
    return (f"{problem}. For torch.export, register a correct one with "
            "`@torch.library.register_fake` (or `@<op>.register_fake`) returning empty tensors "
            "of the real output shapes. coremltools has no converter for a custom op either: add "
            "a composite operator (`@register_torch_op`) that builds it from MIL ops.")


def _torch_suggestion(failure: Any, files: dict[int, str]) -> str:
    """The advice sentences of torch's own report for this failure (no stacks, no locals)."""
    try:
        text = failure.print(files)
    except Exception:  # the report printer indexes optional fields; advice is a bonus
        return ""
    keep = []
    lines = [raw.strip() for raw in text.splitlines()]
    for index, stripped in enumerate(lines):
        if stripped.startswith(("Please add", "You can also use", "torch.ops.",
                                "The reason for the mismatch", "dynamic_shapes =")):
            sentence = stripped
            # torch wraps some sentences over two lines
            if stripped.startswith("You can also use") and index + 1 < len(lines):
                sentence += " " + lines[index + 1]
            keep.append(sentence)
    return " ".join(keep)


# --- draft_export --------------------------------------------------------------------------------

@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """draft_export logs a banner and every failure as warnings, and a failing export prints
    its partial graph to sys.stderr (torch/export/_trace.py): the diagnostics say it all, once."""
    import io

    with _torch_logger_quiet.active(), warnings.catch_warnings(), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        yield


def _silence_torch_logger() -> int:
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    return level


# torch's logger level, set back when the last draft_export of any thread is done
_torch_logger_quiet = SharedPatch(_silence_torch_logger,
                                  lambda level: logging.getLogger("torch").setLevel(level))


def diagnose_export(module: Any, example_inputs: tuple, dynamic_shapes: Any = None
                    ) -> list[Diagnostic]:
    """Every problem torch.export has with `module` on these inputs, at the user's lines
    ([] when it exports soundly)."""
    import torch

    with _quiet_torch(), torch.no_grad():
        try:
            program = torch.export.draft_export(module, tuple(example_inputs),
                                                dynamic_shapes=dynamic_shapes)
        except Exception as draft_error:  # noqa: BLE001 - decided by plain export below
            try:
                torch.export.export(module, tuple(example_inputs), dynamic_shapes=dynamic_shapes)
            except Exception as error:  # noqa: BLE001 - every export error is a finding
                return export_error_diagnostics(error, module)
            del draft_error  # draft_export's stricter fake/real check: export itself is fine
            return []
    return report_diagnostics(program, module, dynamic_shapes)


def report_diagnostics(program: Any, module: Any = None, dynamic_shapes: Any = None
                       ) -> list[Diagnostic]:
    """Diagnostics for the failures of a draft_export program's `_report`."""
    report = getattr(program, "_report", None)
    if report is None:
        return []
    files = _frame_files(report)
    dims = _dim_names(dynamic_shapes)
    diagnostics = []
    for failure in report.failures:
        if failure.xfail:
            continue
        found = _failure_diagnostic(failure, files, program, module, dims)
        if found is not None and found not in diagnostics:
            diagnostics.append(found)
    return diagnostics


def _failure_diagnostic(failure: Any, files: dict[int, str], program: Any, module: Any,
                        dims: dict[str, str]) -> Diagnostic | None:
    data = failure.data
    kind = str(failure.failure_type)
    suggestion = _torch_suggestion(failure, files)
    if kind in ("MISSING_FAKE_KERNEL", "MISMATCHED_FAKE_KERNEL"):
        where = _op_location(program, data.get("op", "")) or _module_location(module)
        if where is None:
            return None
        details = {"failure": kind, "op": data.get("op")}
        message = _kernel(data.get("op", "?"), kind, data.get("reason"))
        code = "TR301"
        span = None
    else:
        where = _user_frame(data.get("user_stack", []), files)
        library = where is None
        if where is None:
            where = _module_location(module)
        if where is None:
            return None
        expression = str(data.get("expr", "?"))
        if kind == "GUARD_ADDED":
            code, message, details = _guard(where[0], where[1], expression,
                                            data.get("symbol_to_sources") or {}, dims)
        else:
            code, message, details = _data_dependent(where[0], where[1], expression,
                                                     data.get("result"))
            if data.get("occurrences", 1) > 1:
                details["occurrences"] = data["occurrences"]
        details["failure"] = kind
        if library:
            details["library"] = True
        span = _span(where[0], where[1], code)
    if suggestion:
        details["torch_suggestion"] = suggestion
    return finding(code, where[0], where[1], message, origin="export",
                   severity=Severity.ERROR, span=span, details=details)


def _op_location(program: Any, op: str) -> tuple[str, int] | None:
    """The user's line calling custom op `op` ("ns.name.overload") in the draft program."""
    for node in program.graph.nodes:
        if node.op == "call_function" and str(node.target) == op:
            where = _user_frame_of_text(node.meta.get("stack_trace", ""))
            if where is not None:
                return where
    return None


# --- export errors ---------------------------------------------------------------------------

def export_error_diagnostics(error: BaseException, module: Any = None) -> list[Diagnostic]:
    """One diagnostic for an exception raised by torch.export.export (or draft_export), at the
    user's line when torch names one, else at the model's `forward`."""
    text = str(error).strip()
    first = first_line(error)
    where = _user_frame_of_error(error)
    located = where is not None
    where = where or _module_location(module)
    if where is None:
        return []
    path, line = where
    details: dict[str, Any] = {"exception": type(error).__name__, "error": first}
    error_type = str(getattr(error, "error_type", ""))
    span = None
    if "CONSTRAINT_VIOLATION" in error_type:
        code, message, extra = _constraint_violation(text, path, line, located)
        details.update(extra)
    elif "fake impl" in text or "fake kernel" in text:
        op = re.search(r"CustomOpDef\((?P<op>[^)]+)\)|torch\.ops\.(?P<ops>[\w.]+)", text)
        name = (op["op"] or op["ops"]) if op else "?"
        code, message = "TR301", _kernel(name, "MISSING_FAKE_KERNEL", None)
        details["op"] = name
    elif _is_data_dependent(error, text):
        expression = re.search(r"data-dependent expression (?P<expr>.+?) \(unhinted", text)
        code, message, extra = _data_dependent(path, line,
                                               expression["expr"] if expression else "?",
                                               None)
        details.update(extra)
        span = _span(path, line, code)
    elif ".numpy()" in text:
        code = "TR103"
        message = (f"`{_code_at(path, line)}` turns a tensor into a NumPy array, which "
                   f"torch.export cannot follow (torch: \"{first.rstrip('.')}\"). Keep the "
                   "computation in torch ops (torch.jit.trace would bake the example's value "
                   "into the graph instead).")
        span = _span(path, line, code)
    else:
        code = "TR203"
        message = (f"torch.export cannot capture this code ({type(error).__name__}: {first}). "
                   "Rewrite it with tensor ops, or use --mode trace/hybrid for this model.")
    if "Use `torch.cond`" in text or "Hint:" in text:
        hints = [raw.strip()[len("Hint:"):].strip() for raw in text.splitlines()
                 if raw.strip().startswith("Hint:")]
        if hints:
            details["torch_suggestion"] = " ".join(hints)
    if not located:
        details["no_line_from_torch"] = True
    return [finding(code, path, line, message, origin="export", severity=Severity.ERROR,
                    span=span, details=details)]


def _is_data_dependent(error: BaseException, text: str) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"GuardOnDataDependentSymNode", "DataDependentOutputException"}) \
        or "data-dependent" in text.lower() or "Data-dependent" in text


def _constraint_violation(text: str, path: str, line: int, located: bool
                          ) -> tuple[str, str, dict[str, Any]]:
    constant = _CONSTANT.search(text)
    fixes = _SUGGESTED.search(text)
    suggested = " ".join(fix.strip() for fix in fixes["fixes"].splitlines()) if fixes else ""
    details: dict[str, Any] = {}
    if constant:
        details["specialized_to"] = int(constant["value"])
    if suggested:
        details["torch_suggestion"] = f"Suggested fixes: {suggested}"
    where = "" if located else " (torch does not say which line; run diagnose_export)"
    message = ("torch.export: the code specialises a dimension declared dynamic"
               + (f" to {constant['value']}" if constant else "") + where +
               ". Python math or comparisons on a size make export guard on it; keep size "
               "arithmetic in torch, or declare the range the model accepts with "
               "`Dim(name, min=, max=)` / `Dim.AUTO`"
               + (f" (torch suggests: {suggested})" if suggested else "") + ".")
    return "TR102", message, details


# --- op coverage ---------------------------------------------------------------------------------

# torch.export's control-flow operators: their branches/bodies are subgraphs (get_attr of a
# GraphModule), which coremltools 9's EXIR frontend rejects before looking up any converter.
_HIGHER_ORDER = {
    "cond": "torch.cond is how torch.export keeps a data-dependent branch, but Core ML cannot "
            "take it from an ExportedProgram: compute both branches and select with "
            "`torch.where`, or capture this model with --mode hybrid/script (TorchScript `if` "
            "becomes a Core ML `cond`).",
    "while_loop": "torch.export's while_loop cannot reach Core ML from an ExportedProgram: "
                  "capture this loop with torch.jit.script (--mode hybrid/script), which "
                  "coremltools converts to a Core ML `while_loop`.",
}


def check_export_op_coverage(exported_program: Any) -> Any:
    """A `torchready.convert.coverage.CoverageReport` for an ExportedProgram (decomposed first when it is
    still the TRAINING dialect torch 2.13 exports by default, as coremltools only takes ATEN).

    Counted as supported: coremltools' converters, torchready's composite ops, and the
    export-frontend converters (`torchready.convert.coreml.export_ops`) the export conversion
    installs, installed here for the same duration."""
    from torchready.convert.composite_ops import installed
    from torchready.convert.coreml import export_ops

    with installed(), export_ops.installed():
        return _check_export_op_coverage(exported_program)


def _check_export_op_coverage(exported_program: Any) -> Any:
    from torchready.convert.coverage import (TORCHREADY_PACKAGE, CoverageReport, OpUse,
                                  unsupported_op_diagnostics)
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY
    from coremltools.converters.mil.frontend.torch.utils import sanitize_op_kind

    program = exported_program
    if getattr(getattr(program, "verifier", None), "dialect", "ATEN") == "TRAINING":
        program = program.run_decompositions({})
    report = CoverageReport()
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        kind = kind_of(node)
        use = report.kinds.setdefault(kind, OpUse(kind))
        use.count += 1
        stack = node.meta.get("stack_trace", "")
        where = _user_frame_of_text(stack)
        if where is not None:
            if where not in use.lines:
                use.lines.append(where)
        else:
            # only library frames (transformers' code): its innermost line, as
            # torchready.convert.coverage does for TorchScript
            library = _innermost_file_frame(stack)
            if library is not None and library not in use.library_lines:
                use.library_lines.append(library)
        lookup = sanitize_op_kind(kind)
        # from_exir_node's own test (`kind not in _TORCH_OPS_REGISTRY`, whose __contains__
        # warns as deprecated and reads this mapping)
        if lookup not in _TORCH_OPS_REGISTRY.name_to_func_mapping:
            report.unsupported[kind] = use
            continue
        report.supported.add(kind)
        owner = getattr(_TORCH_OPS_REGISTRY.get_func(lookup), "__module__", "") or ""
        if owner.startswith(TORCHREADY_PACKAGE):
            report.composite[kind] = owner
    for kind, use in report.unsupported.items():
        if not use.lines and not use.library_lines:
            use.library_lines = [_program_location(program)]
        higher_order = kind in _HIGHER_ORDER
        stops = ("Only torch.Tensor attr handled yet" if higher_order
                 else f"Unsupported fx node ..., kind {sanitize_op_kind(kind)}")
        found = unsupported_op_diagnostics(use, report, stops_with=stops)
        if higher_order:
            found = [dataclasses.replace(d, message=f"{d.message} {_HIGHER_ORDER[kind]}")
                     for d in found]
        report.diagnostics += found
    return report


def _program_location(program: Any) -> tuple[str, int]:
    """A line for an op with no stack trace at all: the exported module's forward."""
    found = _module_location(getattr(program, "module", lambda: None)())
    return found or ("<exported program>", 1)


def export_op_coverage(exported_program: Any) -> list[Diagnostic]:
    """TR301 for every call_function coremltools 9 has no converter for, all at once."""
    return check_export_op_coverage(exported_program).diagnostics
