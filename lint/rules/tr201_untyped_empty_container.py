from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.imports import iter_statements
from torchready.lint.analysis.pytypes import STR, TENSOR, python_type
from torchready.lint.rule import FixSpec, InsertImport, Invalid, Replace, Rule, Valid
from torchready.lint.targets import SCRIPT
from torchready.lint.types import Applicability

ADDERS = {"append": 0, "insert": 1}  # list method -> index of the added element


class UntypedEmptyContainer(Rule):
    """
    ## What it does
    Finds empty lists and dicts (`x = []`, `x = {}`, `list()`, `dict()`) in code compiled by
    `torch.jit.script` that are later filled with ints, floats, bools or strings.

    ## Why is this bad?
    TorchScript types an unannotated empty list as `List[Tensor]` and an empty dict as
    `Dict[str, Tensor]`. Appending an int then fails to compile: "Could not match type int to t
    in argument 'el': Type variable 't' previously matched to type Tensor is matched to type
    int". This is tip 4 of the WWDC20 talk: the generation loop that collects token ids.

    ## Example
    ```python
    generated = []
    while token != self.end_token:
        ...
        generated.append(token)
    ```

    ## Use instead
    ```python
    generated: List[int] = []
    ```

    Only `torch.jit.script` needs this change: `torch.jit.trace` and `torch.export` run the code
    as Python, so a model captured with `--mode trace` or `--mode export` works unchanged (the
    change is harmless there).

    ## Fix safety
    Safe: the annotation only tells the compiler what eager Python already does, and
    `from typing import List` (or `Dict`) is added when missing. The element type is inferred
    from what is appended; when it cannot be inferred, there is no finding.

    ## Known false positives
    None known: an untyped container filled with Python values never compiles.
    """

    CODE = "TR201"
    NAME = "untyped-empty-container"
    SUMMARY = "an empty list/dict filled with non-tensors needs a type annotation for script"
    TARGETS = frozenset({SCRIPT})
    FIX = Applicability.SAFE
    NEEDS_TEXT = ("jit",)

    VALID = [
        Valid("""
            @torch.jit.script
            def collect(x):
                outputs = []
                for i in range(3):
                    outputs.append(x * i)  # tensors: List[Tensor] is right
                return outputs
        """),
        Valid("""
            from typing import List

            @torch.jit.script
            def sizes(x):
                dims: List[int] = []
                dims.append(x.size(0))
                return dims
        """),
        Valid("""
            def not_scripted(x):
                ids = []
                ids.append(1)
                return ids
        """),
        Valid("""
            @torch.jit.script
            def features(x):
                named = {}
                named["mean"] = x.mean()  # Dict[str, Tensor] is the default
                return named
        """),
        Valid("""
            @torch.jit.script
            def starts(x):
                ids = [0]  # not empty: the literal gives the type
                ids.append(x.size(1))
                return ids
        """),
        Valid("""
            @torch.jit.script
            def unknown(x, items):
                out = []
                for item in items:
                    out.append(item)  # unknown element type: no guess
                return out
        """),
    ]

    INVALID = [
        Invalid(
            """
            class Completer(nn.Module):
                def step(self, tokens):
                    return tokens * 2

                def forward(self, tokens):
                    generated = []
                    token = -1
                    while token != 46:
                        token = int(self.step(tokens).argmax())
                        generated.append(token)
                    return tokens

            scripted = torch.jit.script(Completer())
            """,
            expected_fix="""
            from typing import List
            class Completer(nn.Module):
                def step(self, tokens):
                    return tokens * 2

                def forward(self, tokens):
                    generated: List[int] = []
                    token = -1
                    while token != 46:
                        token = int(self.step(tokens).argmax())
                        generated.append(token)
                    return tokens

            scripted = torch.jit.script(Completer())
            """,
        ),
        Invalid(
            """
            from typing import List

            @torch.jit.script
            def shape_of(x):
                dims = []
                for i in range(x.dim()):
                    dims.append(x.size(i))
                return dims
            """,
            expected_fix="""
            from typing import List

            @torch.jit.script
            def shape_of(x):
                dims: List[int] = []
                for i in range(x.dim()):
                    dims.append(x.size(i))
                return dims
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def scales(x):
                values = list()
                values.insert(0, 0.5)
                return x * values[0]
            """,
            expected_fix="""
            from typing import List
            @torch.jit.script
            def scales(x):
                values: List[float] = list()
                values.insert(0, 0.5)
                return x * values[0]
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def counts(x):
                seen = {}
                seen["rows"] = x.size(0)
                return seen
            """,
            expected_fix="""
            from typing import Dict
            @torch.jit.script
            def counts(x):
                seen: Dict[str, int] = {}
                seen["rows"] = x.size(0)
                return seen
            """,
        ),
        Invalid(
            """
            @torch.jit.script
            def flags(x):
                mask = []
                mask += [True]
                names = []
                names.extend(["a", "b"])
                return x
            """,
            expected_fix="""
            from typing import List
            @torch.jit.script
            def flags(x):
                mask: List[bool] = []
                mask += [True]
                names: List[str] = []
                names.extend(["a", "b"])
                return x
            """,
            count=2,
        ),
        Invalid(
            """
            @torch.jit.script
            def level_sizes(features: List[torch.Tensor]):
                # regression (mask2former): a slice of a shape is a list of ints
                sizes = []
                for feature in features:
                    sizes.append(feature.shape[-2:])
                return sizes
            """,
            expected_fix="""
            from typing import List
            @torch.jit.script
            def level_sizes(features: List[torch.Tensor]):
                # regression (mask2former): a slice of a shape is a list of ints
                sizes: List[List[int]] = []
                for feature in features:
                    sizes.append(feature.shape[-2:])
                return sizes
            """,
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self.context.function
        if function is None or not function.scripted:
            return
        facts = self.context.facts(function, SCRIPT)
        empties = dict(_empty_containers(node))
        if not empties:
            return
        added = _added_values(node, set(empties), self.context.calls.calls_in(node))
        for name, (statement, kind) in empties.items():
            values = added.get(name, [])
            annotation = _annotation(kind, values, facts)
            if annotation is None:
                continue
            generic = annotation.split("[", 1)[0]
            shown = self.context.module.code_for_node(statement)
            self.report(
                statement,
                f"`{shown}` is filled with {annotation[len(generic) + 1:-1]} values, but "
                f"torch.jit.script types an empty {kind} as "
                f"{'List[Tensor]' if kind == 'list' else 'Dict[str, Tensor]'}; annotate it "
                f"`{name}: {annotation}`",
                FixSpec(
                    f"Annotate `{name}: {annotation}`",
                    (Replace(statement, f"{name}: {annotation} = "
                             f"{self.context.module.code_for_node(statement.value)}"),
                     InsertImport("typing", generic)),
                    Applicability.SAFE,
                ),
            )


def _empty_containers(function: cst.FunctionDef):
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    for statement in iter_statements(body, enter_definitions=False):
        if not (isinstance(statement, cst.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0].target, cst.Name)):
            continue
        kind = _empty_kind(statement.value)
        if kind:
            yield statement.targets[0].target.value, (statement, kind)


def _empty_kind(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.List) and not value.elements:
        return "list"
    if isinstance(value, cst.Dict) and not value.elements:
        return "dict"
    if isinstance(value, cst.Call) and not value.args and isinstance(value.func, cst.Name):
        return {"list": "list", "dict": "dict"}.get(value.func.value)
    return None


def _added_values(function: cst.FunctionDef, names: set[str], calls):
    """name -> [(key or None, value)] for everything put into the containers."""
    added: dict[str, list[tuple[cst.BaseExpression | None, cst.BaseExpression]]] = {}
    for call in calls:
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value in names):
            continue
        name, method = func.value.value, func.attr.value
        if method in ADDERS and len(call.args) > ADDERS[method]:
            added.setdefault(name, []).append((None, call.args[ADDERS[method]].value))
        elif method == "extend" and call.args and isinstance(call.args[0].value, (cst.List,
                                                                                   cst.Tuple)):
            added.setdefault(name, []).extend((None, e.value)
                                              for e in call.args[0].value.elements)
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    for statement in iter_statements(body, enter_definitions=False):
        if isinstance(statement, cst.AugAssign) and isinstance(statement.target, cst.Name) \
                and statement.target.value in names and isinstance(statement.value, cst.List):
            added.setdefault(statement.target.value, []).extend(
                (None, e.value) for e in statement.value.elements)
        elif isinstance(statement, cst.Assign):
            for target in statement.targets:
                subscript = target.target
                if isinstance(subscript, cst.Subscript) and isinstance(subscript.value, cst.Name) \
                        and subscript.value.value in names and len(subscript.slice) == 1 \
                        and isinstance(subscript.slice[0].slice, cst.Index):
                    added.setdefault(subscript.value.value, []).append(
                        (subscript.slice[0].slice.value, statement.value))
    return added


def _annotation(kind: str, values, facts) -> str | None:
    """`List[int]`-style annotation when every added element has one known non-default type."""
    if not values:
        return None
    element_types = {python_type(value, facts) for _, value in values}
    if len(element_types) != 1 or None in element_types:
        return None
    element = element_types.pop()
    if kind == "list":
        return None if element == TENSOR else f"List[{element}]"
    key_types = {python_type(key, facts) if key is not None else None for key, _ in values}
    if len(key_types) != 1 or None in key_types:
        return None
    key = key_types.pop()
    if key == STR and element == TENSOR:
        return None
    return f"Dict[{key}, {element}]"
