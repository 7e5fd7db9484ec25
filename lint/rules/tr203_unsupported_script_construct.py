from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import SCRIPT, capture_function
from torchready.lint.analysis.model_code import is_super_call
from torchready.lint.analysis.module_containers import (CONTAINERS, assigned_attributes,
                                                        constant_attributes,
                                                        container_attributes)
from torchready.lint.analysis.script_annotations import (ATTRIBUTE, LOCAL, PARAMETER, RETURN,
                                                         unscriptable_annotation)
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid

# Context managers that TorchScript compiles (besides TorchScript classes of the same file).
SCRIPT_CONTEXT_MANAGERS = {"torch.no_grad", "torch.autocast", "torch.cuda.amp.autocast",
                           "torch.cpu.amp.autocast", "torch.amp.autocast",
                           "torch.jit._IgnoreContextManager",
                           "torch.autograd.profiler.record_function",
                           "torch.profiler.record_function"}
# isinstance() targets TorchScript does not know as types.
UNKNOWN_TYPE_PREFIXES = ("numpy.", "torch.nn.", "scipy.", "pandas.")
PYTHON_ONLY_MODULES = ("numpy.", "scipy.", "pandas.")


class UnsupportedScriptConstruct(Rule):
    """
    ## What it does
    Finds Python constructs that `torch.jit.script` cannot compile, in code it compiles (a
    scripted `forward`, the methods and functions it calls, `@torch.jit.script` functions):
    `*args`/`**kwargs` and keyword-only parameters with defaults, `lambda`, nested `def`,
    `yield`, `try`/`except`, `global`/`nonlocal`, `import` inside a function, `:=`, set
    literals, comprehensions with `if` or several `for`s, `for`/`while` with `else`, `f(**kw)`,
    `f(*list_or_shape)`, `with` on anything but `torch.no_grad()`/`torch.autocast`, `del` of
    attributes, `getattr` with a computed name, `setattr`, `isinstance` against NumPy or
    `nn.Module` types, NumPy/SciPy calls, `.numpy()`, `.tolist()` without an annotated target,
    and mutable default arguments. Also an `nn.ModuleList`/`nn.Sequential`/`nn.ModuleDict`
    attribute indexed by a variable (`self.layers[i]`), and annotations script has no type
    for, in signatures, local variables and module attributes: `dict`, `Optional[dict]`, bare
    `Dict`/`List`/`Tuple`, `Tuple[T, ...]`, `Sequence`/`Mapping`/`Iterable`/`Callable`, `set`,
    `object`, `torch.Size`, and a bare `list`/`tuple` parameter.

    ## Why is this bad?
    Scripting fails with the compiler's message, one construct at a time, for instance
    "Compiled functions can't take variable number of arguments or use keyword-only arguments
    with defaults", "Lambda aren't supported", "try blocks aren't supported", "function
    definitions aren't supported", "getattr's second argument must be a string literal",
    "Comprehension ifs are not supported yet", "keyword-arg expansion is not supported",
    "cannot statically infer the expected size of a list in this context", "Unknown type name
    'np.ndarray'", "Expected type hint for result of tolist()", "Mutable default parameters are
    not supported". Syntax-level constructs fail even inside `if torch.jit.is_scripting():`
    branches (script parses the whole function). Script compiles `self.layers[i]` to the one
    submodule it names, so the index must be a literal: "Expected integer literal for index but
    got a variable or non-integer" (ModuleDict: "Unable to extract string literal index").
    Annotations fail with "Unknown type name 'dict'", "Attempted to use Dict without contained
    types", "Unsupported annotation typing.Optional[dict] could not be resolved", "Expression of
    type dots cannot be used in a type expression", "Unknown type constructor Sequence"; a
    bare `list` parameter compiles, but no value can be passed to it ("Expected a value of type
    'list' for argument").

    ## Example
    ```python
    def forward(self, x, **kwargs):
        scores = [s for s in self.heads(x) if s is not None]
        ...
    ```

    ## Use instead
    Explicit, typed parameters; loops instead of filtered comprehensions; `torch.*` instead of
    NumPy; move Python-only helpers out of the compiled path with `@torch.jit.ignore`
    (or `@torch.jit.unused`), which script leaves as a Python call. Iterate module containers
    (`for i, layer in enumerate(self.layers)`, `zip(self.layers, self.norms)`,
    `self.heads.items()`), or index them with a literal or a `Final[int]` attribute. Name the
    types a container holds: `Dict[str, Tensor]`, `List[int]`, `Optional[Dict[str, Tensor]]`,
    `List[Tensor]` for `Tuple[Tensor, ...]`; `Any` is accepted where no type fits.

    Only `torch.jit.script` needs this change: `torch.jit.trace` and `torch.export` run the code
    as Python (torch.export's default non-strict mode included), so a model captured with
    `--mode trace` or `--mode export` works unchanged (the change is harmless there).

    A call of the base class's method, `super().forward(x)` (an embedding that scales its
    output), is reported too: script has no `super()` ("'Tensor' object has no attribute or
    method 'forward'"); call the base's code through a submodule, or copy it.

    ## Fix safety
    No fix: each construct needs a different rewrite.

    ## Known false positives
    Methods that the scripted model never calls are not compiled and are not reported; a
    method called only from a `@torch.jit.ignore` function may be reported. A module container
    indexed by a variable is not reported when the result is stored in a variable annotated
    with a `@torch.jit.interface` type (script compiles that). A bare `list` return or local
    annotation is not reported: torch 2.13 crashes on some of them and compiles others.
    """

    CODE = "TR203"
    NAME = "unsupported-script-construct"
    SUMMARY = ("*args, lambda, nested def, try, filtered comprehensions, global, numpy, "
               "self.layers[i], Optional[dict], ...: torch.jit.script cannot compile it")
    TARGETS = frozenset({SCRIPT})
    NEEDS_TEXT = ("jit",)

    VALID = [
        Valid("""
            @torch.jit.script
            def total(xs: List[torch.Tensor]):
                out = torch.zeros(1)
                for x in xs:
                    out = out + x.sum()
                return out
        """),
        Valid("""
            def helper(*args, **kwargs):  # not scripted
                return [a for a in args if a is not None]
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    with torch.no_grad():
                        y = x * 2
                    return [t * 2 for t in y.unbind(0)]  # a plain list comprehension compiles

            scripted = torch.jit.script(Net())
        """),
        Valid("""
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Identity()

                def forward(self, x):
                    return self.head(x)

                @torch.jit.ignore
                def debug(self, x, **kwargs):  # left to Python by script
                    return x.numpy()

            scripted = torch.jit.script(Net())
        """),
        Valid("""
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Identity()

                def forward(self, x):
                    return getattr(self, "head")(x)  # a literal attribute name compiles

                def unused(self, *args):  # never called from forward: not compiled
                    return args

            scripted = torch.jit.script(Net())
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):  # traced, not scripted
                    return torch.stack([f(x) for f in (lambda t: t * 2, torch.relu)])
        """),
        Valid("""
            from torch.autograd.profiler import record_function

            @torch.jit.script
            def timed(x):
                # regression (torch/testing rpc tests): profiler scopes compile
                with record_function("block"):
                    return x * 2
        """),
        # -- module containers ---------------------------------------------------------------
        Valid("""
            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
                    self.norms = nn.ModuleList([nn.LayerNorm(4) for _ in range(3)])

                def forward(self, x):
                    for i, layer in enumerate(self.layers):
                        x = layer(x) * (i + 1)
                    for layer, norm in zip(self.layers, self.norms):
                        x = norm(layer(x))
                    return x

            scripted = torch.jit.script(Encoder())
        """),
        Valid("""
            from typing import Final

            class Heads(nn.Module):
                last: Final[int] = 2

                def __init__(self):
                    super().__init__()
                    self.layers = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
                    self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2)})

                def forward(self, x):
                    # literals and Final attributes are folded at compile time
                    x = self.layers[0](x) + self.layers[-1](x) + self.layers[self.last](x)
                    return self.heads["cls"](x)

            scripted = torch.jit.script(Heads())
        """),
        Valid("""
            @torch.jit.interface
            class LayerInterface(nn.Module):
                def forward(self, input: torch.Tensor) -> torch.Tensor:
                    pass

            class Pick(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

                def forward(self, x, k: int):
                    layer: LayerInterface = self.layers[k]  # an interface-typed local compiles
                    return layer.forward(x)

            scripted = torch.jit.script(Pick())
        """),
        Valid("""
            class Scaled(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
                    self.scales = [0.5, 2.0]  # a plain list of floats, not a module container

                def forward(self, x, k: int):
                    return x * self.scales[k]

            scripted = torch.jit.script(Scaled())
        """),
        Valid("""
            class Traced(nn.Module):  # traced, not scripted: the loop is unrolled
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

                def forward(self, x):
                    for i in range(len(self.layers)):
                        x = self.layers[i](x)
                    return x
        """),
        Valid("""
            class Guarded(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

                def forward(self, x):
                    if torch.jit.is_scripting():
                        return x
                    for i in range(3):  # script never compiles this branch
                        x = self.layers[i](x)
                    return x

            scripted = torch.jit.script(Guarded())
        """),
        # -- annotations ---------------------------------------------------------------------
        Valid("""
            from typing import Any

            class Net(nn.Module):
                def forward(self, x, extra: Optional[Dict[str, torch.Tensor]] = None,
                            tag: Any = None) -> List[torch.Tensor]:
                    outputs: List[torch.Tensor] = [x]
                    if extra is not None:
                        outputs.append(extra["bias"])
                    return outputs

            scripted = torch.jit.script(Net())
        """),
        Valid("""
            class Cached(nn.Module):
                history: dict  # never assigned on the instance: script does not type it

                def __init__(self):
                    super().__init__()
                    self.sizes: dict = {"a": 1}  # annotations inside __init__ are not read

                def forward(self, x):
                    return x * self.sizes["a"]

            scripted = torch.jit.script(Cached())
        """),
        Valid("""
            class Net(nn.Module):  # traced: annotations are not compiled
                def forward(self, x, extra: Optional[dict] = None) -> Tuple[torch.Tensor, ...]:
                    return (x,)
        """),
        Valid("""
            @torch.jit.script
            def first(xs: list | None, ys: List[list], pair: Tuple[()]) -> tuple:
                return (1, 2)
        """),
        Valid("""
            @torch.jit.script
            def total(xs: "List[torch.Tensor]", scale: torch.Tensor | None = None):
                out = torch.stack(xs).sum(0)
                return out if scale is None else out * scale
        """),
    ]

    INVALID = [
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, **kwargs):
                    return x * 2

            scripted = torch.jit.script(Net())
        """),
        Invalid("""
            class ScaledEmbedding(nn.Embedding):
                def forward(self, ids):
                    return super().forward(ids) * 2

            scripted = torch.jit.script(ScaledEmbedding(10, 4))
        """),
        Invalid("""
            @torch.jit.script
            def scale(x):
                double = lambda t: t * 2
                return double(x)
        """),
        Invalid("""
            @torch.jit.script
            def safe_log(x):
                try:
                    return x.log()
                except RuntimeError:
                    return x
        """),
        Invalid("""
            @torch.jit.script
            def positive_sum(xs: List[int]):
                return sum([x for x in xs if x > 0])
        """),
        Invalid("""
            import numpy as np

            class Net(nn.Module):
                def forward(self, x):
                    if isinstance(x, np.ndarray):
                        x = torch.from_numpy(x)
                    return x * np.pi

            scripted = torch.jit.script(Net())
        """),
        Invalid("""
            class Router(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Identity()
                    self.name = "head"

                def forward(self, x):
                    branch = self.name
                    return getattr(self, branch)(x)

            scripted = torch.jit.script(Router())
        """),
        Invalid("""
            @torch.jit.script
            def flat(x, shape: List[int]):
                return x.view(*shape)
        """),
        Invalid(
            """
            @torch.jit.script
            def run(x):
                def inner(y):
                    return y * 2
                with open("log.txt") as handle:
                    handle.write("x")
                return inner(x)
            """,
            count=2,
        ),
        # -- module containers ---------------------------------------------------------------
        Invalid("""
            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

                def forward(self, x):
                    for i in range(len(self.layers)):
                        x = self.layers[i](x)
                    return x

            scripted = torch.jit.script(Encoder())
        """),
        Invalid("""
            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
                    self.norms = nn.ModuleList([nn.LayerNorm(4) for _ in range(3)])

                def forward(self, x):
                    for i, layer in enumerate(self.layers):
                        x = self.norms[i](layer(x))  # use zip(self.layers, self.norms)
                    return x

            scripted = torch.jit.script(Encoder())
        """),
        Invalid("""
            class Stage(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

                def forward(self, x, k: int):
                    return self.run(x, k)

                def run(self, x, k: int):
                    return self.blocks[k](x)

            scripted = torch.jit.script(Stage())
        """),
        Invalid("""
            class Router(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "box": nn.Linear(4, 4)})

                def forward(self, x, task: str):
                    return self.heads[task](x)

            scripted = torch.jit.script(Router())
        """),
        Invalid("""
            class Blocks(nn.Sequential):
                pass

            class Tower(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.depth = 2
                    self.blocks = Blocks(nn.Linear(4, 4), nn.Linear(4, 4))

                def forward(self, x):
                    return self.blocks[self.depth - 1](x)  # not a literal (nor Final)

            scripted = torch.jit.script(Tower())
        """),
        # -- annotations ---------------------------------------------------------------------
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, extra: Optional[dict] = None):
                    return x

            scripted = torch.jit.script(Net())
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x) -> Tuple[torch.Tensor, ...]:
                    return (x, x * 2)

            scripted = torch.jit.script(Net())
        """),
        Invalid("""
            from typing import Sequence

            @torch.jit.script
            def pad(x, sizes: Sequence[int]):
                return torch.nn.functional.pad(x, sizes)
        """),
        Invalid("""
            class Cached(nn.Module):
                cache: Dict

                def __init__(self):
                    super().__init__()
                    self.cache = {}

                def forward(self, x):
                    return x

            scripted = torch.jit.script(Cached())
        """),
        Invalid("""
            @torch.jit.script
            def collect(x):
                scores: List = []
                scores.append(x)
                return scores
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, config: dict):
                    return x

            scripted = torch.jit.script(Net())
        """),
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        self._checked: set[int] = set()
        self._containers: dict[str, dict[str, str]] = {}

    # -- helpers ----------------------------------------------------------------------------
    def _compiled(self) -> bool:
        """The node is in code script parses (syntax constructs fail even in dead branches)."""
        function = self.context.function
        return function is not None and function.scripted

    def _semantic(self) -> bool:
        """The node is in a branch script actually compiles (not under `not is_scripting()`)."""
        return capture_function(self.context, SCRIPT) is not None

    def _flag(self, node: cst.CSTNode, what: str, error: str) -> None:
        self.report(node, f"{what}: torch.jit.script cannot compile it (\"{error}\")")

    # -- signatures -------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self.context.function
        if function is None or not function.scripted:
            return
        if function.parent is not None:
            self._flag(node.name, f"nested function `{node.name.value}`",
                       "function definitions aren't supported")
            return
        params = node.params
        variadic = [param for param in (params.star_arg, params.star_kwarg)
                    if isinstance(param, cst.Param)]
        variadic += [param for param in params.kwonly_params if param.default is not None]
        if variadic:
            # At the offending parameter: in a long signature, that is the line to change.
            self._flag(variadic[0], f"`{node.name.value}` takes *args/**kwargs or keyword-only "
                                  "defaults", "Compiled functions can't take variable number of "
                                             "arguments or use keyword-only arguments with "
                                             "defaults")
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if isinstance(param.default, (cst.List, cst.Dict, cst.Set)):
                self._flag(param, f"mutable default `{param.name.value}="
                                  f"{code(self.context.module, param.default)}`",
                           "Mutable default parameters are not supported")
            if param.annotation is not None:
                self._check_annotation(param.annotation.annotation, PARAMETER,
                                       "parameter `{name}: {annotation}`", param.name.value)
        if node.returns is not None:
            self._check_annotation(node.returns.annotation, RETURN,
                                   "`{name}(...) -> {annotation}`", node.name.value)

    # -- annotations --------------------------------------------------------------------------
    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        target = node.target
        if self.context.function is None:
            self._check_attribute_annotation(node)
        elif isinstance(target, cst.Name) and self._semantic():
            self._check_annotation(node.annotation.annotation, LOCAL,
                                   "`{name}: {annotation}`", target.value)

    def _check_attribute_annotation(self, node: cst.AnnAssign) -> None:
        """A class-level annotation types the module attribute script builds from
        `self.<name> = ...` (one that is never assigned is not compiled)."""
        owner = self.context.current_class
        ancestors = self.context.ancestors
        if owner is None or not isinstance(node.target, cst.Name) or len(ancestors) < 4 or \
                ancestors[-4] is not owner:
            return
        model_code = self.context.model_code
        forward = model_code.methods.get((owner.name.value, "forward"))
        info = model_code.infos.get(forward) if forward is not None else None
        name = node.target.value
        if info is None or not info.scripted or name == "forward" or \
                name not in assigned_attributes(model_code, owner.name.value):
            return
        self._check_annotation(node.annotation.annotation, ATTRIBUTE,
                               "module attribute `{name}: {annotation}`", name)

    def _check_annotation(self, annotation: cst.BaseExpression, where: str, subject: str,
                          name: str) -> None:
        problem = unscriptable_annotation(annotation, self.context.imports, where)
        if problem is None:
            return
        what = subject.format(name=name, annotation=code(self.context.module, annotation))
        if problem.error.startswith("Expected a value of type"):
            self.report(annotation, f"{what} has no element type: torch.jit.script compiles "
                                    "the signature, but no value can be passed to it "
                                    f"(\"{problem.error}\"); {problem.advice}")
            return
        self.report(annotation, f"{what}: torch.jit.script cannot compile this annotation "
                                f"(\"{problem.error}\"); {problem.advice}")

    # -- syntax-level constructs --------------------------------------------------------------
    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self._compiled() and is_super_call(node):
            self._flag(node, f"`super().{node.attr.value}(...)`",
                       f"'Tensor' object has no attribute or method '{node.attr.value}'")

    def visit_Lambda(self, node: cst.Lambda) -> None:
        if self._compiled():
            self._flag(node, "a lambda", "Lambda aren't supported")

    def visit_Yield(self, node: cst.Yield) -> None:
        if self._compiled():
            self._flag(node, "`yield`", "Yield aren't supported")

    def visit_Try(self, node: cst.Try) -> None:
        if self._compiled():
            self._flag(node, "`try`/`except`", "try blocks aren't supported")

    def visit_Global(self, node: cst.Global) -> None:
        if self._compiled():
            self._flag(node, "`global`", "global variables aren't supported")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        if self._compiled():
            self._flag(node, "`nonlocal`", "Nonlocal aren't supported")

    def visit_Import(self, node: cst.Import) -> None:
        if self._compiled():
            self._flag(node, "an import inside compiled code", "import statements aren't "
                                                               "supported")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.visit_Import(node)  # type: ignore[arg-type]

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if self._compiled():
            self._flag(node, "an assignment expression (`:=`)", "NamedExpr aren't supported")

    def visit_Set(self, node: cst.Set) -> None:
        if self._compiled():
            self._flag(node, "a set literal", "Set aren't supported")

    def visit_SetComp(self, node: cst.SetComp) -> None:
        if self._compiled():
            self._flag(node, "a set comprehension", "SetComp aren't supported")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        if not self._compiled():
            return
        if node.ifs:
            self._flag(node, "a comprehension with `if`", "Comprehension ifs are not supported "
                                                          "yet")
        elif node.inner_for_in is not None:
            self._flag(node, "a comprehension with several `for`s", "Only a single generator "
                                                                    "is currently supported")

    def visit_For(self, node: cst.For) -> None:
        if node.orelse is not None and self._compiled():
            self._flag(node, "a `for` loop with `else`", "else branches of for loops aren't "
                                                         "supported")

    def visit_While(self, node: cst.While) -> None:
        if node.orelse is not None and self._compiled():
            self._flag(node, "a `while` loop with `else`", "else branches of while loops "
                                                           "aren't supported")

    # -- semantic constructs ------------------------------------------------------------------
    def visit_Subscript(self, node: cst.Subscript) -> None:
        """`self.layers[i]` on an nn.ModuleList/Sequential/ModuleDict: script resolves the index
        at compile time, so it must be a literal."""
        value = node.value
        function = self.context.function
        if not (isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name)
                and value.value.value == "self" and function is not None
                and function.class_name and len(node.slice) == 1
                and isinstance(node.slice[0].slice, cst.Index)):
            return
        container = self._container_attributes(function.class_name).get(value.attr.value)
        index = node.slice[0].slice.value
        if container is None or _is_literal(index) or not self._semantic():
            return
        if isinstance(self.context.parent, (cst.AnnAssign, cst.AssignTarget)):
            return  # `layer: SomeInterface = self.layers[i]` compiles; stores are not indexing
        if _constant_attribute(index, constant_attributes(self.context.model_code,
                                                          function.class_name)):
            return
        self._report_container_index(node, value.attr.value, container, index)

    def _container_attributes(self, class_name: str) -> dict[str, str]:
        found = self._containers.get(class_name)
        if found is None:
            found = self._containers[class_name] = container_attributes(
                self.context.model_code, class_name)
        return found

    def _report_container_index(self, node: cst.Subscript, attribute: str, container: str,
                                index: cst.BaseExpression) -> None:
        shown = code(self.context.module, node)
        if CONTAINERS[container] == "str":
            self.report(node, f"`{shown}` indexes an nn.{container} with a computed key: "
                              "torch.jit.script cannot compile it (\"Unable to extract string "
                              "literal index. ModuleDict indexing is only supported with string "
                              f"literals\"); iterate `for name, item in self.{attribute}.items()` "
                              "or index with a string literal")
            return
        counter = index.value if isinstance(index, cst.Name) else "i"
        item = _singular(attribute)
        parallel = _enumerated_container(index, self.context.ancestors)
        if parallel is not None and parallel[0] != f"self.{attribute}":
            other, other_item = parallel
            advice = (f"iterate the lists together: `for {other_item}, {item} in "
                      f"zip({other}, self.{attribute})`")
        else:
            advice = f"iterate instead: `for {counter}, {item} in enumerate(self.{attribute})`"
        self.report(node, f"`{shown}` indexes an nn.{container} with a variable: "
                          "torch.jit.script cannot compile it (\"Expected integer literal for "
                          "index but got a variable or non-integer\"); " + advice)

    def visit_With(self, node: cst.With) -> None:
        if not self._semantic():
            return
        for item in node.items:
            manager = item.item
            target = manager.func if isinstance(manager, cst.Call) else manager
            name = self.context.imports.resolve_or_name(target) or ""
            last = name.rsplit(".", 1)[-1]
            if last in ("record_function",) or last in self.context.model_code.classes:
                continue  # profiler scopes, and classes of this file (may be scripted)
            if name not in SCRIPT_CONTEXT_MANAGERS:
                self._flag(item, f"`with {code(self.context.module, manager)}`",
                           "only torch.no_grad() and torch.autocast() are compiled as context "
                           "managers")

    def visit_Del(self, node: cst.Del) -> None:
        if self._semantic() and _has_attribute_target(node.target):
            self._flag(node, "`del` of an attribute", "del statements are only supported for "
                                                      "deleting list and dict items and "
                                                      "variables")

    def visit_Call(self, node: cst.Call) -> None:
        if not self._semantic():
            return
        name = self.context.imports.resolve_or_name(node.func) or ""
        shown = code(self.context.module, node.func)
        if any(arg.star == "**" for arg in node.args):
            self._flag(node, f"`{shown}(**...)`", "keyword-arg expansion is not supported")
        elif any(arg.star == "*" and not self._fixed_length(arg.value) for arg in node.args):
            self._flag(node, f"`{shown}(*...)` on a list or shape", "cannot statically infer "
                                                                    "the expected size of a "
                                                                    "list in this context")
        if name == "getattr" and len(node.args) >= 2 and not isinstance(
                node.args[1].value, cst.SimpleString):
            self._flag(node, "`getattr` with a computed name", "getattr's second argument must "
                                                               "be a string literal")
        elif name in ("setattr", "delattr"):
            self._flag(node, f"`{name}`", f"Python builtin <built-in function {name}> is "
                                          "currently not supported in Torchscript")
        elif name == "isinstance" and len(node.args) == 2:
            self._check_isinstance(node)
        elif name.startswith(PYTHON_ONLY_MODULES):
            self._flag(node, f"`{shown}` (a NumPy/SciPy call)", "Python builtin ... is "
                                                                "currently not supported in "
                                                                "Torchscript")
        elif isinstance(node.func, cst.Attribute) and not node.args:
            method = node.func.attr.value
            if method == "numpy":
                self._flag(node, "`.numpy()`", "'Tensor' object has no attribute or method "
                                               "'numpy'")
            elif method == "tolist" and not isinstance(self.context.parent, cst.AnnAssign):
                self._flag(node, "`.tolist()` without an annotated target",
                           "Expected type hint for result of tolist()")

    def _check_isinstance(self, node: cst.Call) -> None:
        kinds = node.args[1].value
        targets = [element.value for element in kinds.elements] \
            if isinstance(kinds, cst.Tuple) else [kinds]
        for target in targets:
            name = self.context.imports.resolve_or_name(target) or ""
            if name.startswith(UNKNOWN_TYPE_PREFIXES):
                self._flag(node, f"`isinstance(..., {code(self.context.module, target)})`",
                           f"Unknown type name '{code(self.context.module, target)}'")
                return

    def _fixed_length(self, value: cst.BaseExpression) -> bool:
        """A tuple literal or a parameter annotated as a tuple: script knows its length."""
        if isinstance(value, cst.Tuple):
            return True
        function = self.context.function
        if isinstance(value, cst.Name) and function is not None:
            param = self.context.facts(function).parameters.get(value.value)
            if param is not None and param.annotation is not None:
                annotation = param.annotation.annotation
                head = annotation.value if isinstance(annotation, cst.Subscript) else annotation
                name = self.context.imports.resolve_or_name(head) or ""
                return name.rsplit(".", 1)[-1] in ("Tuple", "tuple")
        return False


def _is_literal(index: cst.BaseExpression) -> bool:
    if isinstance(index, cst.UnaryOperation) and isinstance(index.operator, cst.Minus):
        index = index.expression
    return isinstance(index, (cst.Integer, cst.SimpleString))


def _constant_attribute(index: cst.BaseExpression, constants: set[str]) -> bool:
    """`self.last` declared `Final[int]` (or in `__constants__`): script folds it."""
    return isinstance(index, cst.Attribute) and isinstance(index.value, cst.Name) and \
        index.value.value == "self" and index.attr.value in constants


def _enumerated_container(index: cst.BaseExpression, ancestors) -> tuple[str, str] | None:
    """(`self.layers`, `layer`) when `index` is the counter of an enclosing
    `for index, layer in enumerate(self.layers)`."""
    if not isinstance(index, cst.Name):
        return None
    for ancestor in reversed(ancestors):
        if not (isinstance(ancestor, cst.For) and isinstance(ancestor.target, cst.Tuple)
                and len(ancestor.target.elements) == 2
                and isinstance(ancestor.iter, cst.Call) and ancestor.iter.args
                and isinstance(ancestor.iter.func, cst.Name)
                and ancestor.iter.func.value == "enumerate"):
            continue
        counter, item = (element.value for element in ancestor.target.elements)
        if isinstance(counter, cst.Name) and counter.value == index.value:
            module = cst.Module(body=[])
            return module.code_for_node(ancestor.iter.args[0].value), module.code_for_node(item)
    return None


def _singular(attribute: str) -> str:
    """`layers` -> `layer`: a readable loop variable for the advice."""
    return attribute[:-1] if attribute.endswith("s") and len(attribute) > 3 else "module"


def _has_attribute_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Attribute):
        return True
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_has_attribute_target(element.value) for element in target.elements)
    return False
