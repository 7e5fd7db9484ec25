"""What a type annotation says: a tensor, an optional value, a Python value, or nothing known.

Model code annotates parameters as `torch.Tensor`, `Optional[torch.Tensor]`, `torch.Tensor | None`,
`"torch.Tensor"` (a string), `Optional[bool]`, `Optional[Cache]`, `tuple[torch.Tensor]`, ...
Rules need three answers from that: is the value a tensor (the tracer records it), is it
declared optional (TorchScript then needs a refinement before use), and which Python type it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchready.lint.analysis.imports import ImportTable

TENSOR_TYPE_NAMES = {"Tensor", "FloatTensor", "LongTensor", "BoolTensor", "IntTensor",
                     "HalfTensor", "DoubleTensor", "ByteTensor", "BFloat16Tensor"}
OPTIONAL_HEADS = {"Optional", "typing.Optional", "typing_extensions.Optional"}
UNION_HEADS = {"Union", "typing.Union", "typing_extensions.Union"}
ANY_NAMES = {"Any", "typing.Any"}

TENSOR, NONE, ANY, OTHER = "tensor", "none", "any", "other"


@dataclass(frozen=True)
class AnnotationFacts:
    kind: str  # TENSOR (every non-None member is a tensor type), ANY, or OTHER
    optional: bool  # `None` is one of the members
    members: tuple[str, ...]  # qualified names of the non-None members, as written


def read_annotation(node: cst.BaseExpression, imports: ImportTable) -> AnnotationFacts:
    members = _members(node, imports)
    optional = NONE in members
    rest = tuple(member for member in members if member != NONE)
    if not rest:
        kind = OTHER
    elif all(_is_tensor_name(member) for member in rest):
        kind = TENSOR
    elif any(member in ANY_NAMES or member == "?" for member in rest):
        kind = ANY
    else:
        kind = OTHER
    return AnnotationFacts(kind, optional, rest)


def _members(node: cst.BaseExpression, imports: ImportTable) -> tuple[str, ...]:
    """The union members of an annotation, flattened; `?` for what cannot be read."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        text = node.evaluated_value if isinstance(node, cst.SimpleString) else None
        if not isinstance(text, str):
            return ("?",)
        try:
            return _members(cst.parse_expression(text), imports)
        except cst.ParserSyntaxError:
            return ("?",)
    if isinstance(node, cst.Name) and node.value == "None":
        return (NONE,)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _members(node.left, imports) + _members(node.right, imports)
    if isinstance(node, cst.Subscript):
        head = imports.resolve_or_name(node.value) or "?"
        inner = [element.slice.value for element in node.slice
                 if isinstance(element.slice, cst.Index)]
        if head in OPTIONAL_HEADS and len(inner) == 1:
            return _members(inner[0], imports) + (NONE,)
        if head in UNION_HEADS:
            return tuple(member for part in inner for member in _members(part, imports))
        return (head,)  # List[...], tuple[...], Dict[...]: a container, not a tensor
    name = imports.resolve_or_name(node)
    return (name,) if name else ("?",)


def _is_tensor_name(name: str) -> bool:
    head, _, last = name.rpartition(".")
    return last in TENSOR_TYPE_NAMES and head in ("", "torch")


def python_type_name(facts: AnnotationFacts) -> str | None:
    """`int`, `float`, `bool` or `str` when the annotation is exactly that builtin."""
    if len(facts.members) == 1 and facts.members[0] in ("int", "float", "bool", "str"):
        return facts.members[0]
    return None
