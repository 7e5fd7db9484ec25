from __future__ import annotations

import libcst as cst

from torchready.lint.analysis import traversal
from torchready.lint.analysis.expressions import AttributeReads, input_free, self_attribute
from torchready.lint.analysis.guards import SCRIPT, TRACE, capture_function, in_message, uses_all_dead
from torchready.lint.analysis.imports import iter_statements
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.targets import PYTHON_RUNNING, canonical

# Python's own sources of randomness and time: values the tracer cannot record.
NONDETERMINISTIC_MODULES = ("random.", "numpy.random.", "time.", "datetime.", "uuid.", "secrets.")
NONDETERMINISTIC_FUNCTIONS = {"os.urandom", "random", "numpy.random"}
# Methods that mutate a container in place.
MUTATING_METHODS = {"append", "extend", "insert", "update", "add", "pop", "popitem", "clear",
                    "remove", "setdefault", "discard", "__setitem__"}


class PythonSideEffect(Rule):
    """
    ## What it does
    Finds Python side effects in code that runs under `torch.jit.trace` or `torch.jit.script`:
    `random.*`, `np.random.*`, `time.*`/`datetime.*`, `print(...)`, `global`/`nonlocal`
    writes, mutation of module-level state (`CACHE[key] = x`, `SEEN.append(x)`) and, in traced
    code, assignments to the module's own attributes (`self.steps += 1`, `self.cache = x`).

    ## Why is this bad?
    The tracer records tensor operations only; everything else happens once, while tracing.
    `random.random()` becomes a constant (every call of the traced model multiplies by the same
    0.6059...), `print` prints once at trace time and never again, and state written to
    `self` or to a global is not updated by the traced model: a buffer that eager code updates
    on every call keeps its trace-time value (measured: eager returns 2 then 7, the trace 2 then
    5). None of this raises a TracerWarning. Under `torch.jit.script`, `random.*`, `np.random.*`
    and `time.*` do not compile ("Python builtin <built-in function time> is currently not
    supported in Torchscript"), nor does mutating a global container.

    ## Example
    ```python
    def forward(self, x):
        noise = random.gauss(0, 1)
        self.calls += 1
        return x + noise
    ```

    ## Use instead
    Use torch's random functions (`torch.randn_like(x)`), which the tracer records, and keep
    state as explicit inputs and outputs of `forward` (return the new state; the caller keeps
    it), or as a buffer updated by a scripted method.

    ## Fix safety
    No fix: where the state should live depends on the model.

    ## Known false positives
    A debug `print` or a counter that nobody reads after conversion is harmless; add
    `# noqa: TR106`. Code under `if self.training:` and `if not torch.jit.is_tracing():` is not
    reported; `print` in scripted code is compiled (it prints at run time) and is not reported.
    """

    CODE = "TR106"
    NAME = "python-side-effect"
    SUMMARY = "random/time/print/global or self state in forward happen once, at trace time"
    TARGETS = PYTHON_RUNNING | {SCRIPT}

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x + torch.randn_like(x)  # recorded by the tracer
        """),
        Valid("""
            import random

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.seed = random.randint(0, 10)  # __init__ is not traced
                    self.calls = 0

                def forward(self, x):
                    return x * self.seed
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        self.calls += 1  # training-only bookkeeping
                    return x
        """),
        Valid("""
            @torch.jit.script
            def show(x):
                print(x.shape)  # script compiles print: it prints at run time
                return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if not torch.jit.is_tracing():
                        print("eager only", x.mean())
                    cache = {}
                    cache["x"] = x  # a local dict, not module state
                    return cache["x"]
        """),
        Valid("""
            import random

            class Decoder(nn.Module):
                def forward(self, x):
                    for layer in self.layers:
                        p = random.uniform(0, 1)  # LayerDrop: read only when training
                        if self.training and p < self.layerdrop:
                            continue
                        x = layer(x)
                    self.input_dtype = x.dtype  # metadata: the same on every call
                    self.table = self.table.to(x.device)  # moved, not recomputed
                    return x.to(self.input_dtype) + self.table
        """),
        Valid("""
            KERNEL = None

            def load_kernel():
                global KERNEL  # a lazily loaded global: set once, then constant
                if KERNEL is None:
                    KERNEL = torch.nn.Identity()
                return KERNEL

            class Net(nn.Module):
                def forward(self, x):
                    if not hasattr(self, "frames"):
                        self.frames = torch.ones(3, device=x.device)  # built once
                    return load_kernel()(x) * self.frames
        """),
        Valid("""
            class Router(nn.Module):
                def forward(self, x):
                    self.capacity = x.size(0) // 2  # set and used within one call
                    return x[: self.capacity]
        """),
        Valid("""
            import time

            def benchmark(model, x):  # not model code
                start = time.perf_counter()
                model(x)
                return time.perf_counter() - start
        """),
        Valid("""
            import numpy as np

            class BlockSparse(nn.Module):
                # regression (big_bird): random attention only when training
                def forward(self, x):
                    return self.plan(x)

                def plan(self, x):
                    if not self.training:
                        return x
                    return x[:, np.random.permutation(x.size(1))]
        """),
        Valid("""
            class Model(nn.Module):
                # regression: an attribute forward never reads again
                def forward(self, pixel_values):
                    self.main_input_name = "pixel_values"
                    return pixel_values * 2
        """),
    ]

    INVALID = [
        Invalid("""
            import random

            class Augment(nn.Module):
                def forward(self, x):
                    return x * random.uniform(0.9, 1.1)
        """),
        Invalid("""
            import numpy as np

            class Net(nn.Module):
                def forward(self, x):
                    noise = np.random.normal(size=3)
                    return x + torch.from_numpy(noise)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    print("input", x.shape)
                    return x * 2
        """),
        Invalid("""
            _FEATURES = []

            class Net(nn.Module):
                def forward(self, x):
                    _FEATURES.append(x.detach())
                    return x
        """),
        Invalid("""
            class Streaming(nn.Module):
                def forward(self, x):
                    out = x + self.last
                    self.last = x.detach()
                    return out
        """),
        Invalid("""
            class Rotary(nn.Module):
                def forward(self, x):
                    if self.cached is not None:
                        return self.cached  # a warm cache at trace time is baked in
                    self.cached = self.compute(x)
                    return self.cached
        """),
        Invalid("""
            STEPS = 0

            class Net(nn.Module):
                def forward(self, x):
                    global STEPS
                    STEPS += 1
                    return x
        """),
        Invalid("""
            import time

            class Clock(nn.Module):
                def forward(self, x):
                    return self.stamp(x)

                def stamp(self, x):
                    return x + time.time()

            scripted = torch.jit.script(Clock())
        """),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        self._module_names = _module_level_names(node)
        self._reads: dict[int, set[str]] = {}
        self._read_so_far: list[set[str]] = [set()]

    def visit_Call(self, node: cst.Call) -> None:
        name = self.context.imports.resolve(node.func)
        func = node.func
        if name is not None and (name.startswith(NONDETERMINISTIC_MODULES)
                                 or name in NONDETERMINISTIC_FUNCTIONS):
            self._nondeterministic(node, name)
        elif isinstance(func, cst.Name) and func.value == "print" and \
                "print" not in self.context.imports.bindings:
            function = capture_function(self.context, TRACE)
            if function is not None:
                self.report(node, "`print(...)` runs once, while tracing: the traced and "
                                  "converted model prints nothing; remove it or guard it with "
                                  "`if not torch.jit.is_tracing():`",
                            targets=self._python_targets())
        elif isinstance(func, cst.Attribute) and func.attr.value in MUTATING_METHODS and \
                isinstance(func.value, cst.Name) and self._is_global(func.value.value):
            self._state_write(node, f"`{func.value.value}`, a module-level object,")

    def _nondeterministic(self, node: cst.Call, name: str) -> None:
        shown = code(self.context.module, node)
        function = capture_function(self.context, TRACE)
        if function is not None and not in_message(self.context.ancestors) and \
                not self._training_only_value(node, function):
            self.report(node, f"`{shown}` is evaluated once, while tracing: the traced model "
                              "reuses that value as a constant on every call; use torch's "
                              "random functions (`torch.rand`, `torch.randn_like`), which the "
                              "tracer records, or pass the value in as an input",
                        targets=self._python_targets())
        if capture_function(self.context, SCRIPT) is not None:
            self.report(node, f"torch.jit.script cannot compile `{name}` (\"Python builtin ... "
                              "is currently not supported in Torchscript\"); use torch's random "
                              "functions or pass the value in as an input", targets=(SCRIPT,))

    def _python_targets(self) -> tuple[str, ...]:
        """The targets that run this Python (trace, export) among those checked."""
        return canonical(PYTHON_RUNNING & set(self.context.captures(self.context.function)))

    # -- state ------------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check_target(target.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check_target(node.target, None)  # `self.steps += 1` accumulates

    def visit_Global(self, node: cst.Global) -> None:
        self._check_declaration(node, "global")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self._check_declaration(node, "nonlocal")

    def _check_declaration(self, node, keyword: str) -> None:
        # Under script, `global` is TR203's (it does not compile); here: traced code.
        function = capture_function(self.context, TRACE)
        if function is None:
            return
        if all(_lazy_initialized(self.context.scope, item.name.value) for item in node.names):
            return  # `global KERNEL; if KERNEL is None: KERNEL = load()`: a one-time load
        names = ", ".join(item.name.value for item in node.names)
        self.report(node, f"`{keyword} {names}`: writes to it happen once, while tracing, and "
                          "the traced model never repeats them; return the new value from "
                          "forward instead", targets=self._python_targets())

    def _check_target(self, target: cst.BaseExpression,
                      value: cst.BaseExpression | None) -> None:
        root = target
        while isinstance(root, (cst.Subscript, cst.Attribute)):
            root = root.value
        if not isinstance(root, cst.Name):
            return
        if root.value == "self" and isinstance(target, cst.Attribute) and \
                isinstance(target.value, cst.Name):
            function = capture_function(self.context, TRACE)
            if function is not None and function.name != "__init__" and \
                    not self._one_time_init(target.attr.value) and \
                    self._stateful(function, target.attr.value, value):
                self._state_write(target, f"`{code(self.context.module, target)}`",
                                  trace_only=True)
        elif target is not root and self._is_global(root.value):
            self._state_write(target, f"`{root.value}`, a module-level object,")

    def _state_write(self, node: cst.CSTNode, what: str, trace_only: bool = False) -> None:
        if capture_function(self.context, TRACE) is not None:
            self.report(node, f"{what} is written once, while tracing: the traced model does "
                              "not update it on later calls (its trace-time value is baked "
                              "in); keep state as an input and output of forward",
                        targets=self._python_targets())
        if not trace_only and capture_function(self.context, SCRIPT) is not None:
            self.report(node, f"{what} is mutated in scripted code: torch.jit.script cannot "
                              "compile writes to Python globals; pass the state in and return "
                              "it instead", targets=(SCRIPT,))

    def _training_only_value(self, node: cst.Call, function) -> bool:
        """`p = random.uniform(0, 1)` read only in `if self.training and p < drop:`."""
        # Climb a method chain (`np.random.rand(1).item()`) to the assignment it feeds.
        ancestors = self.context.ancestors
        index = len(ancestors) - 1
        value = node
        while index > 0 and isinstance(ancestors[index - 1], (cst.Attribute, cst.Call)) and (
                getattr(ancestors[index - 1], "value", None) is value or
                getattr(ancestors[index - 1], "func", None) is value):
            index -= 1
            value = ancestors[index]
        parent = ancestors[index - 1] if index > 0 else None
        if not (isinstance(parent, cst.Assign) and parent.value is value and
                len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name)):
            return False
        return uses_all_dead(function.node, parent.targets[0].target.value, TRACE,
                             self.context.imports)

    def _one_time_init(self, attribute: str) -> bool:
        """Inside `if not hasattr(self, "<attribute>"):`: built once, then constant."""
        for ancestor in self.context.ancestors:
            if isinstance(ancestor, cst.If) and _tests_hasattr(ancestor.test, attribute):
                return True
        return False

    def _stateful(self, function, attribute: str, value: cst.BaseExpression | None) -> bool:
        """`self.x = ...` in traced code matters when the value carries over to a later call:
        `self.x` is read before this write in the same method, or by another traced method,
        and the value depends on the input. `self.rope_deltas = deltas` does;
        `self.weight_int = quantize(self.weight)` (the same every call),
        `self.input_dtype = x.dtype` (metadata), `self.table = self.table.to(device)` and
        `self.capacity = ...` set and used within one call do not."""
        if value is not None:
            if input_free(value, self._module_aliases()) or _metadata(value, attribute):
                return False
            if attribute in _reads_in(value):
                return True  # `self.x = self.x + 1`
        if attribute in self._read_so_far[-1]:
            return True
        return attribute in self._traced_reads(function.class_name, exclude=function.node)

    # `self.<name>` reads seen so far in each enclosing function, in source order.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._read_so_far.append(set())

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._read_so_far.pop()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = self_attribute(node)
        if name and not isinstance(self.context.parent, cst.AssignTarget):
            self._read_so_far[-1].add(name)

    def _module_aliases(self) -> frozenset[str]:
        return frozenset(local for local, bound in self.context.imports.bindings.items()
                         if bound.split(".")[0] in ("torch", "math", "numpy"))

    def _traced_reads(self, class_name: str | None, exclude: cst.FunctionDef) -> set[str]:
        if class_name is None:
            return set()
        reads = AttributeReads()
        model_code = self.context.model_code
        lineage = set(model_code.class_lineage(class_name))
        for (owner, _), method in model_code.methods.items():
            if owner in lineage and method is not exclude and model_code.infos[method].traced:
                cached = self._reads.get(id(method))
                if cached is None:
                    method_reads = AttributeReads()
                    traversal.visit(method.body, method_reads)
                    cached = self._reads[id(method)] = method_reads.names
                reads.names |= cached
        return reads.names

    def _is_global(self, name: str) -> bool:
        """A module-level variable, not shadowed by a local of the enclosing function."""
        if name not in self._module_names:
            return False
        function = self.context.function
        if function is None:
            return False
        facts = self.context.facts(function)
        return name not in facts.bindings and name not in facts.parameters


def _tests_hasattr(test: cst.BaseExpression, attribute: str) -> bool:
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test = test.expression
    return isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and \
        test.func.value == "hasattr" and len(test.args) == 2 and \
        isinstance(test.args[1].value, cst.SimpleString) and \
        test.args[1].value.evaluated_value == attribute


def _lazy_initialized(scope: cst.CSTNode, name: str) -> bool:
    """The function tests `name is None` / `name is not None`: a lazily loaded global."""
    finder = _NoneTests(name)
    traversal.visit(scope, finder)
    return finder.found


class _NoneTests(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.found = False

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if isinstance(node.left, cst.Name) and node.left.value == self.name and any(
                isinstance(target.operator, (cst.Is, cst.IsNot)) and
                isinstance(target.comparator, cst.Name) and target.comparator.value == "None"
                for target in node.comparisons):
            self.found = True


def _metadata(value: cst.BaseExpression, attribute: str) -> bool:
    """`x.dtype`/`x.device`, or the attribute moved to a device or dtype
    (`self.table = self.table.to(device)`): the same for every call."""
    if isinstance(value, cst.Attribute) and value.attr.value in ("dtype", "device"):
        return True
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
        value.func.attr.value in ("to", "type", "type_as", "cpu", "cuda", "float", "half") and \
        self_attribute(value.func.value) == attribute


def _reads_in(value: cst.BaseExpression) -> set[str]:
    reads = AttributeReads()
    traversal.visit(value, reads)
    return reads.names


def _module_level_names(module: cst.Module) -> set[str]:
    """Names bound by module-level assignments to mutable values (not imports, functions,
    classes or constants)."""
    names = set()
    for statement in iter_statements(module.body, enter_definitions=False):
        if isinstance(statement, (cst.Assign, cst.AnnAssign)) and statement.value is not None:
            value = statement.value
            if isinstance(value, (cst.List, cst.Dict, cst.Set, cst.Integer, cst.Float)) or (
                    isinstance(value, cst.Call)):
                targets = [t.target for t in statement.targets] \
                    if isinstance(statement, cst.Assign) else [statement.target]
                names.update(t.value for t in targets if isinstance(t, cst.Name))
    return names
