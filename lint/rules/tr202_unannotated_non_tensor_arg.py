from __future__ import annotations

import libcst as cst

from torchready.lint.analysis import traversal
from torchready.lint.codegen import code
from torchready.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from torchready.lint.targets import SCRIPT
from torchready.lint.types import Applicability

# Keyword arguments that take Python ints: a parameter passed as one is an int.
INT_KEYWORDS = {"dim", "dims", "axis", "keepdim", "num_classes"}


class UnannotatedNonTensorArg(Rule):
    """
    ## What it does
    Finds parameters of functions compiled by `torch.jit.script` (a scripted `forward`, its
    helpers, `@torch.jit.script` functions) that have no type annotation but are Python values:
    they default to a literal (`flag=True`, `eps=1e-5`, `mode="mean"`), or the body uses them as
    one (`range(n)`, `mode == "mean"`, `x.sum(dim=d)`).

    ## Why is this bad?
    TorchScript types every unannotated parameter as `Tensor`. A literal default then fails
    to compile: "Expected a default value of type Tensor (inferred) on parameter "flag".
    Because "flag" was not annotated with an explicit type it is assumed to be type 'Tensor'."
    `range(n)` fails with "all inputs of range must be ints, found Tensor (inferred)"; a
    comparison with a string, or `x.sum(dim=d)`, fails to match any overload ("Arguments for
    call are not valid"). Uses that script converts implicitly (`x.unsqueeze(d)`) compile,
    then fail when called with an int: "Expected a value of type 'Tensor (inferred)' for
    argument 'd' but instead found type 'int'".

    ## Example
    ```python
    @torch.jit.script
    def normalize(x, eps=1e-5, center=True):
        ...
    ```

    ## Use instead
    ```python
    @torch.jit.script
    def normalize(x, eps: float = 1e-5, center: bool = True):
        ...
    ```

    Only `torch.jit.script` needs this change: `torch.jit.trace` and `torch.export` run the code
    as Python with the values passed in, so a model captured with `--mode trace` or `--mode
    export` works unchanged (the change is harmless there).

    ## Fix safety
    The fix annotates parameters whose default is a `bool`, `float` or `str` literal with that
    type: safe, since eager Python ignores annotations and script needs exactly that type. An
    `int` default gets `int` as an unsafe fix: callers may pass floats (`scale=1` called with
    0.5), which script would then reject; annotate `float` in that case. Parameters without a
    literal default get no fix (their type is a guess).

    ## Known false positives
    None known for literal defaults. For uses, a tensor genuinely compared with a string is not
    possible, so the findings are real type errors. Parameters of functions defined inside
    compiled code are not reported: script rejects the nested `def` itself (TR203).
    """

    CODE = "TR202"
    NAME = "unannotated-non-tensor-arg"
    SUMMARY = "an unannotated parameter used as int/float/bool/str: script assumes Tensor"
    TARGETS = frozenset({SCRIPT})
    FIX = Applicability.SAFE
    NEEDS_TEXT = ("jit",)

    VALID = [
        Valid("""
            @torch.jit.script
            def scale(x, factor: float = 2.0):
                return x * factor
        """),
        Valid("""
            def not_scripted(x, flag=True):
                return x if flag else -x
        """),
        Valid("""
            @torch.jit.script
            def add(x, y, bias: Optional[torch.Tensor] = None):
                return x + y  # tensors need no annotation
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x, scale=1.0):  # traced, not scripted: defaults are fine
                    return x * scale
        """),
        Valid("""
            @torch.jit.script
            def mask_fill(x, mask=None):  # Optional[Tensor] by default
                if mask is None:
                    return x
                return x.masked_fill(mask, 0.0)
        """),
        Valid("""
            @torch.jit.script
            def repeat(x, n: int):
                for _ in range(n):
                    x = x * 2
                return x
        """),
    ]

    INVALID = [
        Invalid(
            """
            @torch.jit.script
            def normalize(x, eps=1e-5, center=True):
                if center:
                    x = x - x.mean()
                return x / (x.std() + eps)
            """,
            expected_fix="""
            @torch.jit.script
            def normalize(x, eps: float = 1e-5, center: bool = True):
                if center:
                    x = x - x.mean()
                return x / (x.std() + eps)
            """,
            count=2,
        ),
        Invalid(
            """
            class Pool(nn.Module):
                def forward(self, x, mode="mean"):
                    if mode == "mean":
                        return x.mean(-1)
                    return x.amax(-1)

            scripted = torch.jit.script(Pool())
            """,
            expected_fix="""
            class Pool(nn.Module):
                def forward(self, x, mode: str = "mean"):
                    if mode == "mean":
                        return x.mean(-1)
                    return x.amax(-1)

            scripted = torch.jit.script(Pool())
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def repeat(x, times=2):
                for _ in range(times):
                    x = x * 2
                return x
            """,
            expected_fix="""
            @torch.jit.script
            def repeat(x, times: int = 2):
                for _ in range(times):
                    x = x * 2
                return x
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def repeat(x, n):
                for _ in range(n):
                    x = x * 2
                return x
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def reduce(x, reduction):
                if reduction == "sum":
                    return x.sum()
                return x.mean()
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def total(x, d):
                return x.sum(dim=d)
            """,
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self.context.function
        if function is None or not function.scripted or function.node is not node or \
                function.parent is not None:
            return  # a nested `def` is not compiled as a function: TR203 reports it
        params = node.params
        candidates = [param for param in (*params.posonly_params, *params.params,
                                          *params.kwonly_params) if param.annotation is None]
        if candidates and candidates[0] is _first(params) and \
                candidates[0].name.value in ("self", "cls"):
            candidates = candidates[1:]
        if not candidates:
            return
        uses = None
        for param in candidates:
            name = param.name.value
            literal = _literal_type(param.default)
            if literal is not None:
                self._report_default(param, literal)
                continue
            if param.default is not None and not _is_none(param.default):
                continue  # a non-literal default (a constant name, a list: TR203's)
            if uses is None:
                uses = _python_uses(node)
            use = uses.get(name)
            if use is not None:
                self.report(param, f"parameter `{name}` has no annotation, so torch.jit.script "
                                   f"types it as Tensor, but it is used as a Python value "
                                   f"(`{use}`); annotate it (`{name}: int`, `: str`, ...)")

    def _report_default(self, param: cst.Param, literal: str) -> None:
        name = param.name.value
        default = code(self.context.module, param.default)
        applicability = Applicability.UNSAFE if literal == "int" else Applicability.SAFE
        self.report(
            param,
            f"parameter `{name}={default}` has no annotation, so torch.jit.script types it as "
            f"Tensor and fails on the default (\"Expected a default value of type Tensor "
            f"(inferred) on parameter \"{name}\"\"); annotate it `{name}: {literal}`",
            FixSpec(f"Annotate `{name}: {literal}`", _annotate(param, literal), applicability),
        )


def _annotate(param: cst.Param, annotation: str) -> tuple[Replace, ...]:
    """`eps=1e-5` -> `eps: float = 1e-5` (PEP 8 spaces `=` once there is an annotation)."""
    parts = [Replace(param.name, f"{param.name.value}: {annotation}")]
    equal = param.equal
    if isinstance(equal, cst.AssignEqual) and not code_of_whitespace(equal):
        parts.append(Replace(equal, " = "))
    return tuple(parts)


def code_of_whitespace(equal: cst.AssignEqual) -> str:
    return cst.Module([]).code_for_node(equal).replace("=", "")


def _first(params: cst.Parameters) -> cst.Param | None:
    ordered = (*params.posonly_params, *params.params)
    return ordered[0] if ordered else None


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _literal_type(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    if isinstance(node, cst.Integer):
        return "int"
    if isinstance(node, cst.Float):
        return "float"
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return "bool"
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)) and \
            not isinstance(node, cst.SimpleString) or isinstance(node, cst.SimpleString) and \
            "b" not in node.prefix.lower():
        return "str"
    return None


def _python_uses(function: cst.FunctionDef) -> dict[str, str]:
    """name -> a short description of a use that only a Python value supports."""
    finder = _UseFinder()
    traversal.visit(function.body, finder)
    return finder.uses


class _UseFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.uses: dict[str, str] = {}

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "range":
            for arg in node.args:
                if isinstance(arg.value, cst.Name):
                    self.uses.setdefault(arg.value.value, "range(...)")
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value in INT_KEYWORDS and \
                    isinstance(arg.value, cst.Name):
                self.uses.setdefault(arg.value.value, f"{arg.keyword.value}=...")

    def visit_Comparison(self, node: cst.Comparison) -> None:
        operands = [node.left, *(target.comparator for target in node.comparisons)]
        if any(isinstance(operand, (cst.SimpleString, cst.ConcatenatedString))
               for operand in operands):
            for operand in operands:
                if isinstance(operand, cst.Name):
                    self.uses.setdefault(operand.value, "compared with a string")

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Add) and any(
                isinstance(side, (cst.SimpleString, cst.ConcatenatedString))
                for side in (node.left, node.right)):
            for side in (node.left, node.right):
                if isinstance(side, cst.Name):
                    self.uses.setdefault(side.value, "added to a string")
