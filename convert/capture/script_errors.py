"""torch.jit.script errors -> one diagnostic at the user's line with the TR2xx code that fits.

The TorchScript compiler reports in a fixed shape: a message, then 'File "x.py", line N', the
code, and a '~~~~ <--- HERE' underline; when the failing function was reached through a call,
"'helper' is being compiled since it was called from 'Net.forward'" and the caller's location
follow. We take the first location in the user's code (the innermost when the error is inside a
library being compiled), the underline as the column range, and classify with the texts torch 2.13
really produces (collected by compiling each case):

* TR201 untyped-empty-container: "Type variable 't' previously matched to type Tensor is matched
  to type int" (`out = []; out.append(1)`), the same for `d = {}; d["k"] = 1`
  (`Dict[str, Tensor]`), "Empty lists default to List[Tensor]";
* TR202 unannotated-non-tensor-arg: "Expected a default value of type Tensor (inferred) on
  parameter", "found Tensor (inferred)", "because it was not annotated with an explicit type";
* TR203 unsupported-script-construct: the frontend's UnsupportedNodeError/NotSupportedError
  ("Lambda aren't supported", "try blocks aren't supported", "Compiled functions can't take
  variable number of arguments", "function definitions aren't supported", "Comprehension ifs are
  not supported yet", ...), "getattr's second argument must be a string literal", "Expected
  integer literal for index", a generator expression at the underlined code;
* TR204 optional-attribute-refinement: "found type 'Optional[...]'" where the underlined code
  reads `self.<attribute>` (script refines `is not None` only on locals).

Anything else is still pinned to its line, as TR203 (script cannot compile this code).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from torchready.convert.findings import finding
from torchready.convert.python_source import Span, expressions_at, line_text, snap_to_node
from torchready.convert.source_lines import is_user_file
from torchready.lint.types import Diagnostic, Severity

_LOCATION = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)', re.MULTILINE)
_UNDERLINE = re.compile(r"^(?P<indent>\s*)(?P<marks>~+)")
_TYPE_VARIABLE = re.compile(r"Type variable '\w+' previously matched to type (?P<was>[\w\[\], ]+?)"
                            r" is matched to type (?P<now>[\w\[\], ]+?)[.\s]")
_INFERRED_PARAMETER = re.compile(r'on parameter "(?P<name>\w+)"|'
                                 r"for argument '(?P<arg>\w+)' but instead found type '[^']+'\."
                                 r"\s*Inferred '\w+' to be of type 'Tensor'|"
                                 r"Inferred '(?P<inferred>\w+)' to be of type 'Tensor'")
_OPTIONAL = re.compile(r"found type '(?P<type>Optional\[[^']+\])'")

# Texts that blame a parameter script assumed to be a Tensor. A bare "(inferred)" is not enough:
# "y is set to type int in the true branch and type Tensor (inferred) in the false branch" is a
# branch type mismatch of a real tensor.
_UNANNOTATED = ("not annotated with an explicit type", "found Tensor (inferred)",
                "found type 'Tensor (inferred)'")

_UNSUPPORTED = (
    "aren't supported", "are not supported", "is not supported", "not supported yet",
    "variable number of arguments", "keyword-only arguments", "must be a string literal",
    "Expected integer literal", "failed to compile it to a TorchScript function",
    "Python builtin", "Unknown type annotation", "Tried to access nonexistent attribute",
    "Unsupported", "unsupported",
)


@dataclass(frozen=True)
class ScriptLocation:
    path: str
    line: int
    span: Span | None
    user: bool


def _locations(text: str, root: Any = None) -> list[ScriptLocation]:
    """Every 'File ..., line N' of the message with the underline span under it."""
    lines = text.splitlines()
    found = []
    for index, raw in enumerate(lines):
        match = _LOCATION.match(raw)
        if not match:
            continue
        path, line = match["path"], int(match["line"])
        if root is not None:
            path = _undecorated_path(path, line, _quoted_code(lines, index), root)
        found.append(ScriptLocation(path, line, _underline_span(lines, index, path, line),
                                    is_user_file(path)))
    return found


def _quoted_code(lines: list[str], index: int) -> str | None:
    """The code line the compiler underlined below the location at `lines[index]`."""
    for offset in range(index + 1, min(index + 12, len(lines))):
        if _LOCATION.match(lines[offset]):
            return None
        if _UNDERLINE.match(lines[offset]):
            return lines[offset - 1].strip()
    return None


def _undecorated_path(path: str, line: int, quoted: str | None, root: Any) -> str:
    """torch names a decorated method's file after the wrapper (`inspect.getsourcefile` does not
    unwrap) but numbers its lines from the wrapped function, so an error in a forward under
    transformers' `@deprecate_kwarg` points into `utils/deprecation.py` at the forward's own line
    number. When the named line is not the code the compiler quotes, the file is the one of a
    wrapped method of the scripted modules that has that code there."""
    if quoted is None or line_text(path, line).strip() == quoted:
        return path
    return next((candidate for candidate in wrapped_method_files(root)
                 if line_text(candidate, line).strip() == quoted), path)


def wrapped_method_files(root: Any) -> list[str]:
    """Source files of the functions behind every decorated method of `root`'s module classes."""
    import inspect

    files: dict[str, None] = {}
    modules = root.modules() if hasattr(root, "modules") else [root]
    for cls in {type(module) for module in modules}:
        for klass in cls.__mro__:
            for value in vars(klass).values():
                if callable(value) and hasattr(value, "__wrapped__"):
                    code = getattr(inspect.unwrap(value), "__code__", None)
                    if code is not None:
                        files.setdefault(code.co_filename)
    return list(files)


def _underline_span(lines: list[str], index: int, path: str, line: int) -> Span | None:
    """Columns from the first '~~~' line of the excerpt below a location: the excerpt repeats the
    file's lines verbatim, so the code line above the marks is found in the file."""
    for offset in range(index + 1, min(index + 12, len(lines))):
        match = _UNDERLINE.match(lines[offset])
        if match is None:
            if _LOCATION.match(lines[offset]):
                return None
            continue
        code = lines[offset - 1].rstrip()
        for candidate in range(line, line + 12):
            if line_text(path, candidate).rstrip() == code:
                start = len(match["indent"]) + 1
                return snap_to_node(path, Span(candidate, start, candidate,
                                               start + len(match["marks"])))
        return None
    return None


def primary_location(text: str, root: Any = None) -> ScriptLocation | None:
    locations = _locations(text, root)
    if not locations:
        return None
    return next((loc for loc in locations if loc.user), locations[0])


def _underlined_code(location: ScriptLocation) -> str:
    if location.span is None:
        return line_text(location.path, location.line).strip()
    text = line_text(location.path, location.span.line)
    return text[location.span.column - 1:location.span.end_column - 1]


def _has_generator(location: ScriptLocation) -> bool:
    line = location.span.line if location.span else location.line
    return any(isinstance(node, ast.GeneratorExp)
               for expr in expressions_at(location.path, line) for node in ast.walk(expr))


def _classify(text: str, location: ScriptLocation | None, error: BaseException) -> str:
    frontend = type(error).__module__.startswith("torch.jit.frontend")
    if frontend or any(marker in text for marker in _UNSUPPORTED):
        return "TR203"
    if location is not None and _has_generator(location):
        return "TR203"
    if _OPTIONAL.search(text) and location is not None \
            and re.search(r"\bself\.\w+", _underlined_code(location)):
        return "TR204"
    if _TYPE_VARIABLE.search(text) or "Empty lists default to List[Tensor]" in text:
        match = _TYPE_VARIABLE.search(text)
        if match is None or match["was"].strip() == "Tensor" or "Tensor]" in text:
            return "TR201"
    if any(marker in text for marker in _UNANNOTATED):
        return "TR202"
    return "TR203"


_NOT_A_REASON = ("Arguments for call are not valid", "The following variants are available",
                 "The original call is", "File ")


def _first_sentence(text: str, prefer: str | None = None) -> str:
    """The line of a compiler message that says what is wrong (not the overload signatures);
    with `prefer`, the first such line containing that text."""
    reasons = []
    for raw in text.strip().splitlines():
        stripped = raw.strip()
        if not stripped or stripped == ":" or stripped.startswith(_NOT_A_REASON) \
                or re.match(r"^[\w:.]+\(.*\) -> .*:$", stripped) or "<--- HERE" in stripped:
            continue
        reasons.append(stripped.rstrip(":"))
    if prefer:
        for reason in reasons:
            if prefer in reason:
                return reason
    return reasons[0] if reasons else (text.strip().splitlines() or [""])[0]


def _container_name(location: ScriptLocation) -> str | None:
    code = _underlined_code(location)
    match = re.match(r"\s*(\w+)\s*(\.\w+|\[)", code)
    return match.group(1) if match else None


def _tr201_message(text: str, location: ScriptLocation) -> tuple[str, dict[str, Any]]:
    name = _container_name(location)
    match = _TYPE_VARIABLE.search(text)
    element = match["now"].strip() if match else None
    is_dict = "Dict[" in text and "_set_item" in text
    if is_dict:
        key = re.search(r"found type 'Dict\[(\w+), Tensor\]'", text)
        annotation = f"Dict[{key.group(1) if key else 'str'}, {element or '...'}]"
        literal = "{}"
    else:
        annotation = f"List[{element or '...'}]"
        literal = "[]"
    shown = f"`{name}`" if name else "this container"
    message = (f"{shown} starts as an empty `{literal}`: torch.jit.script types it "
               f"{'Dict[str, Tensor]' if is_dict else 'List[Tensor]'}, so storing "
               f"{'an ' + element if element else 'a non-tensor'} fails "
               f"(\"{_first_sentence(text, 'Type variable')}\"). Annotate it where it is created: "
               f"`{name or 'x'}: {annotation} = {literal}`.")
    return message, {"container": name, "annotation": annotation}


def _tr202_message(text: str, location: ScriptLocation) -> tuple[str, dict[str, Any]]:
    match = _INFERRED_PARAMETER.search(text)
    name = None
    if match:
        name = match["name"] or match["arg"] or match["inferred"]
    if name is None:
        code = _underlined_code(location)
        words = re.findall(r"\b([a-z_]\w*)\b", code)
        name = words[-1] if words else None
    shown = f"`{name}`" if name else "a parameter"
    return (f"{shown} has no type annotation, so torch.jit.script assumes it is a Tensor "
            f"(\"{_first_sentence(text)}\"). Annotate it with its real type "
            f"(e.g. `{name or 'n'}: int`).", {"parameter": name})


def _tr204_message(text: str, location: ScriptLocation) -> tuple[str, dict[str, Any]]:
    match = re.search(r"\bself\.(\w+)", _underlined_code(location))
    attribute = match.group(1) if match else "attribute"
    optional = _OPTIONAL.search(text)
    return (f"`self.{attribute}` is {optional['type'] if optional else 'Optional'}: "
            "torch.jit.script narrows `is not None` checks on local variables only, so after "
            f"`if self.{attribute} is not None:` it is still Optional "
            f"(\"{_first_sentence(text, 'Optional[')}\"). Copy it to a local first: "
            f"`{attribute} = self.{attribute}` then `if {attribute} is not None: ...`.",
            {"attribute": attribute})


def _tr203_message(text: str, location: ScriptLocation | None) -> tuple[str, dict[str, Any]]:
    construct = _first_sentence(text)
    if location is not None and _has_generator(location):
        construct = "a generator expression"
    return (f"torch.jit.script cannot compile this code ({construct}). Rewrite it with "
            "constructs TorchScript supports (explicit loops, annotated functions, no "
            "lambdas/try/*args), or keep this part traced (--mode hybrid traces submodules and "
            "scripts the rest).", {"construct": construct})


def _unannotated_defaults(root: Any) -> list[tuple[str, ast.arg, Any]]:
    """(file, parameter, class) for forward parameters of the user's modules that have a
    non-tensor default (`mask=None`, `n=2`) and no annotation."""
    from torchready.convert.python_source import function_node

    found = []
    seen: set[type] = set()
    for module in root.modules():
        cls = type(module)
        if cls in seen or not hasattr(cls, "forward"):
            continue
        seen.add(cls)
        located = function_node(cls.forward)
        if located is None or not is_user_file(located[0]):
            continue
        path, node = located
        positional = node.args.args
        defaults = node.args.defaults
        for parameter, default in zip(positional[len(positional) - len(defaults):], defaults):
            if parameter.annotation is None and isinstance(default, ast.Constant):
                found.append((path, parameter, cls))
    return found


def _locationless(text: str, root: Any, origin: str) -> list[Diagnostic]:
    """Errors with no 'File ..., line N' ("Unsupported value kind: Tensor" when a scripted
    caller must fill in an unannotated `mask=None`): point at the parameters that cause it."""
    if root is None or "Unsupported value kind" not in text:
        return []
    diagnostics = []
    for path, parameter, cls in _unannotated_defaults(root):
        span = Span(parameter.lineno, parameter.col_offset + 1, parameter.end_lineno or
                    parameter.lineno, (parameter.end_col_offset or parameter.col_offset) + 1)
        message = (f"`{parameter.arg}` of {cls.__name__}.forward has a default but no type "
                   "annotation, so torch.jit.script assumes it is a Tensor; a scripted caller "
                   f"that leaves it out then fails (\"{_first_sentence(text)}\"). Annotate it "
                   f"(e.g. `{parameter.arg}: Optional[Tensor] = None`).")
        diagnostics.append(finding("TR202", path, parameter.lineno, message, origin=origin,
                                   span=span, details={"parameter": parameter.arg,
                                                       "error": _first_sentence(text)}))
    return diagnostics


def script_error_diagnostics(error: BaseException, origin: str = "script",
                             root: Any = None) -> list[Diagnostic]:
    """Diagnostics for an exception raised by torch.jit.script. `root` (the module being
    scripted) lets errors that carry no location be pinned too; otherwise those give []."""
    text = str(error)
    location = primary_location(text, root)
    if location is None:
        return _locationless(text, root, origin)
    code = _classify(text, location, error)
    if code == "TR201":
        message, details = _tr201_message(text, location)
    elif code == "TR202":
        message, details = _tr202_message(text, location)
    elif code == "TR204":
        message, details = _tr204_message(text, location)
    else:
        message, details = _tr203_message(text, location)
    details["error"] = _first_sentence(text, {"TR201": "Type variable",
                                              "TR204": "Optional["}.get(code))
    if not location.user:
        details["library"] = True
    called_from = [f"{loc.path}:{loc.line}" for loc in _locations(text, root)
                   if (loc.path, loc.line) != (location.path, location.line)]
    if called_from:
        details["called_from"] = called_from
    return [finding(code, location.path, location.line, message, origin=origin,
                    severity=Severity.ERROR, span=location.span, details=details)]
