from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import SCRIPT, capture_function
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
    and mutable default arguments.

    ## Why is this bad?
    Scripting fails with the compiler's message, one construct at a time, for instance
    "Compiled functions can't take variable number of arguments or use keyword-only arguments
    with defaults", "Lambda aren't supported", "try blocks aren't supported", "function
    definitions aren't supported", "getattr's second argument must be a string literal",
    "Comprehension ifs are not supported yet", "keyword-arg expansion is not supported",
    "cannot statically infer the expected size of a list in this context", "Unknown type name
    'np.ndarray'", "Expected type hint for result of tolist()", "Mutable default parameters are
    not supported". Syntax-level constructs fail even inside `if torch.jit.is_scripting():`
    branches (script parses the whole function).

    ## Example
    ```python
    def forward(self, x, **kwargs):
        scores = [s for s in self.heads(x) if s is not None]
        ...
    ```

    ## Use instead
    Explicit, typed parameters; loops instead of filtered comprehensions; `torch.*` instead of
    NumPy; move Python-only helpers out of the compiled path with `@torch.jit.ignore`
    (or `@torch.jit.unused`), which script leaves as a Python call.

    Only `torch.jit.script` needs this change: `torch.jit.trace` and `torch.export` run the code
    as Python (torch.export's default non-strict mode included), so a model captured with
    `--mode trace` or `--mode export` works unchanged (the change is harmless there).

    ## Fix safety
    No fix: each construct needs a different rewrite.

    ## Known false positives
    Methods that the scripted model never calls are not compiled and are not reported; a
    method called only from a `@torch.jit.ignore` function may be reported.
    """

    CODE = "TR203"
    NAME = "unsupported-script-construct"
    SUMMARY = ("*args, lambda, nested def, try, filtered comprehensions, global, numpy, ...: "
               "torch.jit.script cannot compile it")
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
    ]

    INVALID = [
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, **kwargs):
                    return x * 2

            scripted = torch.jit.script(Net())
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
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        self._checked: set[int] = set()

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
        if isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None or any(
                param.default is not None for param in params.kwonly_params):
            self._flag(node.name, f"`{node.name.value}` takes *args/**kwargs or keyword-only "
                                  "defaults", "Compiled functions can't take variable number of "
                                             "arguments or use keyword-only arguments with "
                                             "defaults")
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if isinstance(param.default, (cst.List, cst.Dict, cst.Set)):
                self._flag(param, f"mutable default `{param.name.value}="
                                  f"{code(self.context.module, param.default)}`",
                           "Mutable default parameters are not supported")

    # -- syntax-level constructs --------------------------------------------------------------
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


def _has_attribute_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Attribute):
        return True
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_has_attribute_target(element.value) for element in target.elements)
    return False
