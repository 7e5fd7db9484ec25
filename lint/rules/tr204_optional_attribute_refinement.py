from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import libcst as cst

from torchready.lint.analysis import traversal
from torchready.lint.analysis.annotations import read_annotation
from torchready.lint.analysis.imports import iter_statements
from torchready.lint.analysis.model_code import ModelCode
from torchready.lint.rule import FixSpec, InsertBefore, Invalid, Replace, Rule, Valid
from torchready.lint.targets import SCRIPT
from torchready.lint.types import Applicability


@dataclass(frozen=True)
class Guard:
    """A None-test of `self.<attribute>` and the statements where it is known not None."""

    attribute: str
    statement: cst.BaseStatement  # the statement holding the test (the fix hoists before it)
    refined: tuple[cst.CSTNode, ...]  # code that runs only when the attribute is not None


class OptionalAttributeRefinement(Rule):
    """
    ## What it does
    Finds attributes declared `Optional[...]` by a class-level annotation
    (`bias: Optional[torch.Tensor]`) that scripted code tests against `None` and then uses:
    `if self.bias is not None: x = x + self.bias`, `assert self.bias is not None`,
    `if self.bias is None: return x` followed by a use, `x + self.bias if self.bias is not None
    else x`.

    ## Why is this bad?
    TorchScript refines the type of local variables after an `is not None` test, but not of
    attributes: `self.bias` stays `Optional[Tensor]` inside the `if`, and scripting fails with
    "Expected a value of type 'Tensor' for argument 'other' but instead found type
    'Optional[Tensor]'". Eager PyTorch and tracing do not care, so the model works until
    someone scripts it.

    ## Example
    ```python
    class Head(nn.Module):
        bias: Optional[torch.Tensor]

        def forward(self, x):
            if self.bias is not None:
                x = x + self.bias
            return x
    ```

    ## Use instead
    ```python
        def forward(self, x):
            bias = self.bias
            if bias is not None:
                x = x + bias
            return x
    ```

    Only `torch.jit.script` needs this change: `torch.jit.trace` and `torch.export` run the code
    as Python, so a model captured with `--mode trace` or `--mode export` works unchanged (the
    change is harmless there).

    ## Fix safety
    The fix hoists the attribute into a local (named after it) before the test and uses the
    local in the test and in the code it guards. It is safe when nothing else in the class
    assigns the attribute after `__init__`: the local then always holds what `self.<name>`
    would. When another method of the class assigns it (a helper called inside the guarded
    code could change it), the fix is unsafe. There is no fix when the local's name is
    already used in the function or the function assigns the attribute itself.

    ## Known false positives
    Submodules that may be None (`self.downsample = nn.Linear(...) if ... else None`) are not
    reported: script resolves them at compile time (annotating one
    `downsample: Optional[nn.Module]` at class level fails by itself: "Unsupported annotation
    typing.Optional[torch.nn.modules.module.Module]"). Attributes without a class-level
    annotation are typed from their value when scripting and are not reported either.
    """

    CODE = "TR204"
    NAME = "optional-attribute-refinement"
    SUMMARY = "an Optional attribute tested against None: script only refines locals"
    TARGETS = frozenset({SCRIPT})
    FIX = Applicability.SAFE
    NEEDS_TEXT = ("jit",)  # only scripted code can fail this way

    VALID = [
        Valid("""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = self.bias
                    if bias is not None:
                        x = x + bias
                    return x

            scripted = torch.jit.script(Head())
        """),
        Valid("""
            class Block(nn.Module):
                def __init__(self, downsample: bool = True):
                    super().__init__()
                    self.downsample = nn.Linear(2, 2) if downsample else None

                def forward(self, x):
                    if self.downsample is not None:  # a submodule: resolved at compile time
                        x = self.downsample(x)
                    return x

            scripted = torch.jit.script(Block())
        """),
        Valid("""
            class Head(nn.Module):
                def __init__(self, bias):
                    super().__init__()
                    self.bias = bias  # no class-level Optional annotation

                def forward(self, x):
                    if self.bias is not None:
                        x = x + self.bias
                    return x

            scripted = torch.jit.script(Head(None))
        """),
        Valid("""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):  # traced, not scripted
                    if self.bias is not None:
                        x = x + self.bias
                    return x
        """),
        Valid("""
            class Head(nn.Module):
                scale: Optional[float]

                def __init__(self):
                    super().__init__()
                    self.scale = 2.0

                def forward(self, x):
                    if self.scale is None:
                        return x
                    return x * 2.0  # the attribute is not used after the test

            scripted = torch.jit.script(Head())
        """),
    ]

    INVALID = [
        Invalid(
            """
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    if self.bias is not None:
                        x = x + self.bias
                    return x

            scripted = torch.jit.script(Head())
            """,
            expected_fix="""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = self.bias
                    if bias is not None:
                        x = x + bias
                    return x

            scripted = torch.jit.script(Head())
            """,
        ),
        Invalid(
            """
            class Scale(nn.Module):
                scale: Optional[float]

                def __init__(self):
                    super().__init__()
                    self.scale = 2.0

                def forward(self, x):
                    if self.scale is None:
                        return x
                    return x * self.scale

            scripted = torch.jit.script(Scale())
            """,
            expected_fix="""
            class Scale(nn.Module):
                scale: Optional[float]

                def __init__(self):
                    super().__init__()
                    self.scale = 2.0

                def forward(self, x):
                    scale = self.scale
                    if scale is None:
                        return x
                    return x * scale

            scripted = torch.jit.script(Scale())
            """,
        ),
        Invalid(
            """
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    assert self.bias is not None
                    return x + self.bias

            scripted = torch.jit.script(Head())
            """,
            expected_fix="""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = self.bias
                    assert bias is not None
                    return x + bias

            scripted = torch.jit.script(Head())
            """,
        ),
        Invalid(
            """
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    return x + self.bias if self.bias is not None else x

            scripted = torch.jit.script(Head())
            """,
            expected_fix="""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = self.bias
                    return x + bias if bias is not None else x

            scripted = torch.jit.script(Head())
            """,
        ),
        Invalid(
            """
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    if self.bias is not None and self.bias.sum() > 0:
                        x = x + self.bias
                    return x

                def reset(self):
                    self.bias = None

            scripted = torch.jit.script(Head())
            """,
            expected_fix="""
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = self.bias
                    if bias is not None and bias.sum() > 0:
                        x = x + bias
                    return x

                def reset(self):
                    self.bias = None

            scripted = torch.jit.script(Head())
            """,
        ),
        Invalid(
            """
            class Head(nn.Module):
                bias: Optional[torch.Tensor]

                def __init__(self):
                    super().__init__()
                    self.bias = torch.ones(2)

                def forward(self, x):
                    bias = x.mean()
                    if self.bias is not None:
                        x = x + self.bias + bias
                    return x

            scripted = torch.jit.script(Head())
            """,
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self.context.function
        if function is None or not function.scripted or function.class_name is None or \
                function.node is not node:
            return
        model_code = self.context.model_code
        optional = _optional_attributes(model_code, function.class_name,
                                        self.context.imports)
        if not optional:
            return
        facts = self.context.facts(function, SCRIPT)
        written_here = _assigned_attributes([node])
        for guard in _guards(node, optional):
            use = next(_attribute_uses(guard.refined, guard.attribute), None)
            if use is None:
                continue
            name = guard.attribute
            fix = None
            if name not in facts.bindings and name not in facts.parameters and \
                    name not in written_here:
                writers = _assigned_attributes(
                    method for (owner, method_name), method in model_code.methods.items()
                    if owner in set(model_code.class_lineage(function.class_name))
                    and method_name != "__init__")
                applicability = Applicability.UNSAFE if name in writers else Applicability.SAFE
                reads = [item for item in _attribute_uses((guard.statement, *guard.refined),
                                                          name, include_tests=True)]
                fix = FixSpec(
                    f"Hoist `self.{name}` into a local `{name}`",
                    (InsertBefore(guard.statement, f"{name} = self.{name}"),
                     *(Replace(item, name) for item in _unique(reads))),
                    applicability,
                )
            self.report(
                use,
                f"`self.{name}` is declared Optional, and torch.jit.script refines only local "
                f"variables: after the None test it is still Optional and scripting fails "
                f"(\"Expected a value of type 'Tensor' ... but instead found type "
                f"'Optional[Tensor]'\"); copy it into a local first (`{name} = self.{name}`)",
                fix,
            )


def _optional_attributes(model_code: ModelCode, class_name: str, imports) -> set[str]:
    """Class-level `name: Optional[...]` annotations of non-module types, in the class and its
    same-file bases."""
    found: set[str] = set()
    for name in model_code.class_lineage(class_name):
        body = model_code.classes[name].body
        for statement in iter_statements(body.body if isinstance(body, cst.IndentedBlock) else (),
                                         enter_definitions=False):
            if not (isinstance(statement, cst.AnnAssign) and
                    isinstance(statement.target, cst.Name)):
                continue
            facts = read_annotation(statement.annotation.annotation, imports)
            if facts.optional and facts.members and not any(
                    member.startswith(("torch.nn.", "nn.")) or member.endswith("Module") or
                    member in model_code.module_classes for member in facts.members):
                found.add(statement.target.value)
    return found


def _self_attribute(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and \
            node.value.value == "self":
        return node.attr.value
    return None


def _none_tests(test: cst.BaseExpression) -> Iterator[tuple[str, bool]]:
    """(attribute, positive) for each `self.x is not None` (positive) / `self.x is None` in a
    test, through `and`."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        yield from _none_tests(test.left)
        yield from _none_tests(test.right)
        return
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        attribute = _self_attribute(test.left)
        if attribute and isinstance(target.comparator, cst.Name) and \
                target.comparator.value == "None":
            if isinstance(target.operator, cst.IsNot):
                yield attribute, True
            elif isinstance(target.operator, cst.Is):
                yield attribute, False


def _guards(function: cst.FunctionDef, optional: set[str]) -> Iterator[Guard]:
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    yield from _block_guards(list(body), optional)


def _block_guards(statements: Sequence[cst.BaseStatement], optional: set[str]):
    for index, statement in enumerate(statements):
        following = tuple(statements[index + 1:])
        if isinstance(statement, cst.If):
            for attribute, positive in _none_tests(statement.test):
                if attribute not in optional:
                    continue
                if positive:
                    yield Guard(attribute, statement, (statement.test, statement.body))
                elif _exits(statement.body):
                    refined = (statement.orelse,) if statement.orelse else following
                    yield Guard(attribute, statement, tuple(refined))
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assert):
                    for attribute, positive in _none_tests(small.test):
                        if attribute in optional and positive:
                            yield Guard(attribute, statement, following)
                for ternary in _ternaries(small):
                    for attribute, positive in _none_tests(ternary.test):
                        if attribute in optional:
                            yield Guard(attribute, statement,
                                        (ternary.body,) if positive else (ternary.orelse,))
        for block in _nested_blocks(statement):
            yield from _block_guards(block, optional)


def _nested_blocks(statement: cst.CSTNode):
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef, cst.SimpleStatementLine)):
        return
    body = getattr(statement, "body", None)
    if isinstance(body, cst.IndentedBlock):
        yield list(body.body)
    orelse = getattr(statement, "orelse", None)
    if isinstance(orelse, cst.If):
        yield [orelse]
    elif orelse is not None and isinstance(orelse.body, cst.IndentedBlock):
        yield list(orelse.body.body)


def _exits(block: cst.BaseSuite) -> bool:
    statements = block.body if isinstance(block, cst.IndentedBlock) else ()
    last = statements[-1] if statements else None
    return isinstance(last, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Return, cst.Raise)) for small in last.body)


def _ternaries(node: cst.CSTNode) -> list[cst.IfExp]:
    finder = _Finder(cst.IfExp)
    traversal.visit(node, finder)
    return finder.found


def _attribute_uses(nodes, attribute: str, include_tests: bool = False):
    """`self.<attribute>` reads in `nodes`, leaving out the operands of `is None` tests (which
    the fix rewrites too, when `include_tests`)."""
    for node in nodes:
        finder = _AttributeReads(attribute, include_tests)
        traversal.visit(node, finder)
        yield from finder.found


def _unique(nodes):
    seen: set[int] = set()
    for node in nodes:
        if id(node) not in seen:
            seen.add(id(node))
            yield node


def _assigned_attributes(functions) -> set[str]:
    names: set[str] = set()
    for function in functions:
        finder = _Finder((cst.Assign, cst.AugAssign, cst.AnnAssign))
        traversal.visit(function, finder)
        for statement in finder.found:
            targets = [t.target for t in statement.targets] \
                if isinstance(statement, cst.Assign) else [statement.target]
            names.update(name for name in map(_self_attribute, targets) if name)
    return names


class _Finder(cst.CSTVisitor):
    def __init__(self, kinds) -> None:
        self.kinds = kinds
        self.found: list = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self.kinds):
            self.found.append(node)
        return True


class _AttributeReads(cst.CSTVisitor):
    def __init__(self, attribute: str, include_tests: bool) -> None:
        self.attribute = attribute
        self.include_tests = include_tests
        self.found: list[cst.Attribute] = []

    def visit_Comparison(self, node: cst.Comparison) -> bool:
        if not self.include_tests and _self_attribute(node.left) == self.attribute and \
                len(node.comparisons) == 1 and isinstance(
                    node.comparisons[0].operator, (cst.Is, cst.IsNot)):
            return False
        return True

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if _self_attribute(node) == self.attribute:
            self.found.append(node)
            return False
        return True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False
