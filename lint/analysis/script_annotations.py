"""Type annotations that `torch.jit.script` cannot compile, and what to write instead.

TorchScript reads annotations with its own type parser. It knows `Tensor`, `int`, `float`,
`bool`, `str`, `Any`, `Optional`, `Union`, `X | None` and the containers `List[T]`, `Dict[K, V]`,
`Tuple[A, B]` (also `list[T]`, `dict[K, V]`, `tuple[A, B]`). It rejects a bare `dict`, bare
`typing.Dict`/`List`/`Tuple`, `Tuple[T, ...]`, the abstract `typing` types (`Sequence`,
`Mapping`, `Iterable`, `Callable`, `Set`, `Type`, `Literal`), `set`, `object`, `type` and
`torch.Size`; a bare `list`/`tuple` is rejected inside `Optional[...]` and, as a parameter,
compiles to a type no value can be passed to. The compiler's message depends on where the
annotation sits (a signature goes through its C++ parser, a module attribute and the inside of
`Optional[...]`, of a `Union` of several types and of `Dict[...]` through its Python resolver);
every (annotation, message) pair here was measured on torch 2.13.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchready.lint.analysis.imports import ImportTable

PARAMETER, RETURN, LOCAL, ATTRIBUTE = "parameter", "return", "local", "attribute"

# Abstract `typing` / `collections.abc` types and what TorchScript offers instead (None: no
# TorchScript type can stand in; the advice says what to do).
_ABSTRACT = {
    "Sequence": "List", "MutableSequence": "List", "Iterable": "List", "Iterator": "List",
    "Collection": "List", "Set": "List", "FrozenSet": "List", "AbstractSet": "List",
    "Mapping": "Dict", "MutableMapping": "Dict",
    "Callable": None, "Type": None, "Literal": None,
}
_BARE_GENERICS = {"Dict": "Dict[str, Tensor]", "List": "List[Tensor]",
                  "Tuple": "Tuple[Tensor, Tensor]"}
_UNKNOWN_BUILTINS = {"dict": "Dict[str, Tensor]", "set": "List[Tensor]",
                     "frozenset": "List[Tensor]", "object": None, "type": None}
_UNTYPED_BUILTINS = {"list": "List[Tensor]", "tuple": "Tuple[Tensor, Tensor]"}
_TYPING_MODULES = ("typing.", "typing_extensions.", "collections.abc.")
_NO_TYPE_ADVICE = {
    "Callable": "TorchScript has no function types: call the submodule or function directly",
    "Literal": "annotate the value's type (`str`, `int`)",
}


@dataclass(frozen=True)
class UnscriptableAnnotation:
    error: str  # the compiler's message; " ... " separates quoted fragments
    advice: str  # what to write instead


@dataclass(frozen=True)
class _Culprit:
    node: cst.BaseExpression
    kind: str  # "bare-generic", "dots", "unknown-name", "unknown-constructor", "untyped"
    name: str  # the type's name as TorchScript prints it
    replacement: str | None  # a TorchScript type that can take the culprit's place


def unscriptable_annotation(annotation: cst.BaseExpression, imports: ImportTable,
                            where: str) -> UnscriptableAnnotation | None:
    """Why script rejects `annotation` written as a `where` annotation, or None when it is
    fine (or unknown to this table: user classes, NamedTuples, interfaces)."""
    annotation = _unquoted(annotation)
    if annotation is None:
        return None
    python_path = where == ATTRIBUTE
    found = _culprit(annotation, imports, where, python_path, wrapped=None, top=True)
    if found is None:
        return None
    culprit, wrapper = found
    return UnscriptableAnnotation(_error(culprit, wrapper, where),
                                  _advice(annotation, culprit, imports, where))


def _unquoted(node: cst.BaseExpression) -> cst.BaseExpression | None:
    if isinstance(node, cst.SimpleString):
        text = node.evaluated_value
        if not isinstance(text, str):
            return None
        try:
            return cst.parse_expression(text)
        except cst.ParserSyntaxError:
            return None
    return node


def _typing_name(node: cst.BaseExpression, imports: ImportTable) -> str | None:
    """`Dict` for `typing.Dict`, `t.Dict`, `Dict` (imported or not); None for anything else."""
    name = imports.resolve_or_name(node) or ""
    for prefix in _TYPING_MODULES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name if "." not in name else None


def _culprit(node: cst.BaseExpression, imports: ImportTable, where: str, python_path: bool,
             wrapped: str | None, top: bool) -> tuple[_Culprit, str | None] | None:
    """The first part of the annotation script rejects, with the wrapper (`Optional`, `Union`,
    `Dict`) whose Python resolver reports it (None: the C++ parser reports it)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        # `X | None` is parsed member by member in a signature; a module attribute's `|` goes
        # through the Python resolver as a whole.
        wrapper = "Union" if python_path else wrapped
        return _culprit(node.left, imports, where, python_path, wrapper, top=False) or \
            _culprit(node.right, imports, where, python_path, wrapper, top=False)
    if isinstance(node, cst.Subscript):
        return _subscript_culprit(node, imports, where, python_path, wrapped)
    if isinstance(node, cst.Name) and node.value == "None":
        return None
    written = code_of(node)
    resolved = imports.resolve_or_name(node) or ""
    typing_name = _typing_name(node, imports)
    if typing_name in _BARE_GENERICS:
        return _Culprit(node, "bare-generic", typing_name, _BARE_GENERICS[typing_name]), wrapped
    if resolved == "torch.Size":
        return _Culprit(node, "unknown-name", written, "List[int]"), wrapped
    if typing_name in _UNKNOWN_BUILTINS:
        return _Culprit(node, "unknown-name", written, _UNKNOWN_BUILTINS[typing_name]), wrapped
    if typing_name in _ABSTRACT and typing_name != "Literal":
        replacement = _ABSTRACT[typing_name]
        return _Culprit(node, "unknown-name", written,
                        _BARE_GENERICS[replacement] if replacement else None), wrapped
    if typing_name in _UNTYPED_BUILTINS:
        # Inside `Optional[...]` (or a module attribute) the resolver rejects it; as a whole
        # parameter annotation it compiles to a type no value converts to. Elsewhere (a
        # return, `Union[list, None]`, `List[list]`) it compiles: not reported.
        if wrapped in ("Optional", "Union") or (python_path and top):
            return _Culprit(node, "unknown-name", written,
                            _UNTYPED_BUILTINS[typing_name]), wrapped or "attribute"
        if top and where == PARAMETER:
            return _Culprit(node, "untyped", typing_name, _UNTYPED_BUILTINS[typing_name]), None
    return None


def _subscript_culprit(node: cst.Subscript, imports: ImportTable, where: str,
                       python_path: bool, wrapped: str | None):
    head = _typing_name(node.value, imports)
    elements = [element.slice.value for element in node.slice
                if isinstance(element.slice, cst.Index)]
    if head in ("Tuple", "tuple") and any(isinstance(element, cst.Ellipsis)
                                          for element in elements):
        element = elements[0] if elements else None
        replacement = f"List[{code_of(element)}]" if element is not None else None
        return _Culprit(node, "dots", head, replacement), \
            ("attribute" if python_path else None)
    if head in _ABSTRACT:
        replacement = _ABSTRACT[head]
        inner = ", ".join(code_of(element) for element in elements)
        return _Culprit(node, "unknown-constructor", code_of(node.value),
                        f"{replacement}[{inner}]" if replacement else None), wrapped
    if head == "Optional":
        return _first(elements, imports, where, python_path, "Optional")
    if head == "Union":
        members = [element for element in elements
                   if not (isinstance(element, cst.Name) and element.value == "None")]
        # `Union[X, None]` is parsed like `Optional[X]` by the C++ parser, member by member;
        # a Union of several types goes through the Python resolver.
        wrapper = "Union" if len(members) > 1 or python_path else wrapped
        return _first(elements, imports, where, python_path, wrapper)
    if head in ("Dict", "dict"):
        return _first(elements, imports, where, python_path, wrapped or "Dict")
    if head in ("List", "list", "Tuple", "tuple"):
        return _first(elements, imports, where, python_path, wrapped)
    return None


def _first(elements, imports, where, python_path, wrapper):
    for element in elements:
        found = _culprit(element, imports, where, python_path, wrapper, top=False)
        if found is not None:
            return found
    return None


def _error(culprit: _Culprit, wrapper: str | None, where: str) -> str:
    if culprit.kind == "bare-generic":
        return f"Attempted to use {culprit.name} without"
    if culprit.kind == "dots":
        return "Can not create tuple with None type" if wrapper == "attribute" else \
            "Expression of type dots cannot be used in a type expression"
    if culprit.kind == "untyped":
        return f"Expected a value of type '{culprit.name}' for argument"
    if wrapper in ("Optional", "Union"):
        return "Unsupported annotation ... could not be resolved"
    if wrapper == "Dict" or where == ATTRIBUTE or wrapper == "attribute":
        return "Unknown type annotation"
    if culprit.kind == "unknown-constructor":
        return f"Unknown type constructor {culprit.name}"
    return f"Unknown type name '{culprit.name}'"


def _advice(annotation: cst.BaseExpression, culprit: _Culprit, imports: ImportTable,
            where: str) -> str:
    """The annotation with every rejected part replaced (`tuple[tuple[Tensor, ...], ...]`
    has several), or what to do when no TorchScript type fits."""
    guessed = False
    fixed = annotation
    for _ in range(16):  # an annotation has a handful of parts; the bound is only a guard
        if culprit.replacement is None:
            name = culprit.name.rsplit(".", 1)[-1]
            return _NO_TYPE_ADVICE.get(name, "annotate the concrete type (`Tensor`, `int`, "
                                             "`str`, ...) or `Any`")
        # Element types kept from the source need no comment; a guessed `Tensor` does.
        guessed = guessed or culprit.kind not in ("dots", "unknown-constructor")
        fixed = fixed.deep_replace(culprit.node, cst.parse_expression(culprit.replacement))
        found = _culprit(fixed, imports, where, where == ATTRIBUTE, wrapped=None, top=True)
        if found is None:
            break
        culprit = found[0]
    return f"write `{code_of(fixed)}`" + (" with the types it really holds" if guessed else "")


def code_of(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


_EMPTY = cst.Module(body=[])
