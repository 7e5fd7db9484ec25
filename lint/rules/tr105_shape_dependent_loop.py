from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import TRACE, capture_function
from torchready.lint.analysis.pytypes import INT, python_type
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.targets import PYTHON_RUNNING

# Iterating these yields one item per element of a tensor dimension.
SPLITTING_METHODS = {"unbind", "split"}
WRAPPERS = {"enumerate", "zip", "reversed"}
STRUCTURAL_WORDS = ("level", "layer", "stage", "head", "channel", "codebook", "expert",
                    "class", "quer")


class ShapeDependentLoop(Rule):
    """
    ## What it does
    Finds Python loops whose number of iterations comes from a tensor's shape, in code that runs
    under `torch.jit.trace`: `for i in range(x.size(1))`, `for i in range(len(x))`,
    `for row in x` (iterating a tensor, also through `enumerate`/`zip`/`x.unbind()`),
    comprehensions over those, and `while i < x.size(0)`.

    ## Why is this bad?
    The tracer runs the loop and records every iteration as separate ops: the traced graph
    contains exactly as many iterations as the example had. `range(x.size(0))` does this
    silently (no TracerWarning); iterating a tensor warns "Iterating over a tensor might cause
    the trace to be incorrect". An input with another size then runs the wrong number of
    iterations: rows are dropped or the graph fails on a shape mismatch.

    ## Example
    ```python
    for t in range(x.size(1)):
        h = self.cell(x[:, t], h)
    ```

    ## Use instead
    Vectorize the loop (`cumsum`, batched matmul, `nn.LSTM`), or compile the function with
    `torch.jit.script`, which keeps a real loop. torch.export also unrolls Python loops, so
    vectorizing is the remedy there.

    ## Fix safety
    No fix.

    ## Known false positives
    A loop over a dimension that never changes for the deployed model (stacked decoder layers,
    a fixed image size) is unrolled harmlessly; add `# noqa: TR105`. Loops over the rank
    (`range(x.dim())`), over module lists, over Python ranges, over tuples of tensors
    (`x.chunk(2)`, `x.split([2, 3])`, `x.unbind(-1)`) and over sizes named after a dimension the
    configuration fixes (`range(num_levels)`, `num_heads`, `num_channels`, `num_codebooks`)
    are not reported.
    """

    CODE = "TR105"
    NAME = "shape-dependent-loop"
    SUMMARY = "a Python loop over a tensor's size is unrolled for the example's shape"
    TARGETS = PYTHON_RUNNING

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    for layer in self.layers:  # a fixed list of modules
                        x = layer(x)
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    for d in range(x.dim()):  # the rank is fixed for a traced graph
                        x = x.flip(d)
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    for i in range(self.num_steps):  # a Python constant
                        x = self.step(x)
                    return x
        """),
        Valid("""
            @torch.jit.script
            def running_sum(x):
                out = x[0]
                for t in range(x.size(0)):  # script keeps a real loop
                    out = out + x[t]
                return out
        """),
        Valid("""
            def not_traced(x):
                return [row.sum() for row in x]
        """),
        Valid("""
            class Head(nn.Module):
                def forward(self, hidden_states):
                    num_levels = hidden_states.shape[1]  # stacked decoder layers: fixed
                    outs = [self.proj(hidden_states[:, level]) for level in range(num_levels)]
                    cos, sin = hidden_states.chunk(2, dim=-1)
                    return [t * 2 for t in (cos, sin)] + outs
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        for i in range(x.size(0)):  # training-only
                            self.update(x[i])
                    return x.cumsum(1)
        """),
        Valid("""
            class Rotary(nn.Module):
                # regression (qwen2-vl mrope, rotary tuples): fixed-count splits and returned tuples
                def forward(self, x, freq):
                    parts = [t * 2 for t in freq.split(self.mrope_section, dim=-1)]
                    cos, sin = self.embed(x)
                    return [p + c for p, c in zip(parts, (cos, sin))]

                def embed(self, x):
                    return x.cos(), x.sin()
        """),
        Valid("""
            class Head(nn.Module):
                # regression (llava, yoso, superglue): lists and tuples of tensors
                def forward(self, image_features, image_sizes):
                    features = self.pack(torch.split(image_features, [2, 2], dim=0))
                    states = (image_features,) + (image_features * 2,)
                    return [f.sum() for f in features] + [s.mean() for s in states]

                def pack(self, feats):
                    if isinstance(feats, (list, tuple)):
                        return [f * 2 for f in feats]
                    return feats
        """),
        Valid("""
            class SetCriterionLoss(nn.Module):
                # regression (maskformer): losses are training-only, not traced
                def forward(self, class_labels):
                    return sum(len(classes) for classes in class_labels)
        """),
    ]

    INVALID = [
        Invalid("""
            class Recurrent(nn.Module):
                def forward(self, x, h):
                    for t in range(x.size(1)):
                        h = self.cell(x[:, t], h)
                    return h
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, boxes):
                    out = []
                    for i in range(len(boxes)):
                        out.append(boxes[i].sum())
                    return torch.stack(out)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return torch.stack([row * 2 for row in x])
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    batch, steps, _ = x.shape
                    total = x[:, 0]
                    for i, frame in enumerate(x.unbind(1)):
                        total = total + frame * i
                    return total
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    i = 0
                    while i < x.size(0):
                        x[i] = x[i] * 2
                        i += 1
                    return x
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    seq_len = x.shape[1]
                    outs = [self.step(x[:, t]) for t in range(seq_len)]
                    return torch.stack(outs, 1)
        """),
    ]

    def visit_For(self, node: cst.For) -> None:
        self._check_iterable(node.iter, "loop")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._check_iterable(node.iter, "comprehension")

    def visit_While(self, node: cst.While) -> None:
        function = capture_function(self.context, TRACE)
        if function is None:
            return
        facts = self.context.facts(function)
        if _mentions(node.test, facts.is_shape_size):
            self._report(node.test, "while loop's condition", "a size")

    def _check_iterable(self, iterable: cst.BaseExpression, kind: str) -> None:
        function = capture_function(self.context, TRACE)
        if function is None:
            return
        facts = self.context.facts(function)
        ancestors = self.context.ancestors
        items = list(_iterated(iterable, self.context.imports))
        if len(items) > 1 and not all(facts.is_tensor_at(item, ancestors) for item in items):
            return  # `zip(list_of_images, batch)`: the list's length bounds the loop
        for item in items:
            if isinstance(item, cst.Name) and _refined_to_sequence(item.value, ancestors):
                continue
            if isinstance(item, cst.Call) and self.context.imports.resolve_or_name(
                    item.func) == "range":
                if any(facts.is_shape_size(arg.value) and not _structural(arg.value)
                       for arg in item.args):
                    self._report(item, kind, "a tensor size")
                    return
            elif self._splits_along_shape(item, facts):
                self._report(item, kind, "a tensor's size")
                return
            elif facts.is_tensor_at(item, ancestors) and not facts.is_sequence(item, ancestors):
                self._report(item, kind, "a tensor")
                return

    def _splits_along_shape(self, node: cst.BaseExpression, facts) -> bool:
        """`x.unbind(0)` and `x.split(2)` give one piece per element (or per 2) of a
        dimension; `x.chunk(2)`, `x.split([2, 3])` and `x.unbind(-1)` (a last, feature
        dimension such as box coordinates) give a fixed number."""
        if not isinstance(node, cst.Call):
            return False
        func = node.func
        name = self.context.imports.resolve(func) or ""
        if isinstance(func, cst.Attribute) and not name:
            method, receiver, args = func.attr.value, func.value, list(node.args)
        elif name in ("torch.unbind", "torch.split") and node.args:
            method, receiver, args = name.rsplit(".", 1)[-1], node.args[0].value, list(node.args[1:])
        else:
            return False
        if method not in SPLITTING_METHODS or not facts.is_confirmed_tensor(receiver):
            return False
        if method == "unbind":
            dim = next((arg.value for arg in args if arg.keyword is None or
                        arg.keyword.value == "dim"), None)
            return not (isinstance(dim, cst.UnaryOperation) and isinstance(dim.expression,
                                                                            cst.Integer)
                        and dim.expression.value == "1")
        size = args[0].value if args and args[0].keyword is None else None
        return size is not None and python_type(size, facts) == INT

    def _report(self, node: cst.CSTNode, kind: str, source: str) -> None:
        shown = code(self.context.module, node)
        self.report(
            node,
            f"the {kind} over `{shown}` depends on {source}: torch.jit.trace unrolls it for the "
            "example's shape, so other sizes run the wrong number of iterations; vectorize it "
            "or torch.jit.script this function (torch.export unrolls it too)",
        )


def _structural(node: cst.BaseExpression) -> bool:
    """`range(num_levels)`: a size named after a dimension the model's configuration fixes
    (decoder levels, heads, channels, codebooks), which does not change between inputs."""
    return isinstance(node, cst.Name) and any(
        word in node.value.lower() for word in STRUCTURAL_WORDS)


def _iterated(iterable: cst.BaseExpression, imports):
    """What a loop really iterates: `enumerate(x)` iterates x, `zip(a, b)` both."""
    if isinstance(iterable, cst.Call) and imports.resolve_or_name(iterable.func) in WRAPPERS:
        for arg in iterable.args:
            if not arg.keyword:
                yield from _iterated(arg.value, imports)
        return
    yield iterable


def _mentions(node: cst.BaseExpression, predicate) -> bool:
    if predicate(node):
        return True
    if isinstance(node, cst.Comparison):
        return _mentions(node.left, predicate) or any(
            _mentions(target.comparator, predicate) for target in node.comparisons)
    if isinstance(node, cst.BooleanOperation):
        return _mentions(node.left, predicate) or _mentions(node.right, predicate)
    if isinstance(node, cst.UnaryOperation):
        return _mentions(node.expression, predicate)
    return False


def _refined_to_sequence(name: str, ancestors) -> bool:
    """Inside `if isinstance(name, (list, tuple)):` the name is a Python sequence."""
    for parent, child in zip(ancestors, ancestors[1:]):
        if isinstance(parent, cst.If) and child is parent.body and \
                isinstance(parent.test, cst.Call) and isinstance(parent.test.func, cst.Name) and \
                parent.test.func.value == "isinstance" and len(parent.test.args) == 2:
            subject, kinds = (arg.value for arg in parent.test.args)
            kind_names = {element.value.value for element in kinds.elements
                          if isinstance(element.value, cst.Name)} \
                if isinstance(kinds, cst.Tuple) else \
                {kinds.value} if isinstance(kinds, cst.Name) else set()
            if isinstance(subject, cst.Name) and subject.value == name and \
                    kind_names & {"list", "tuple", "List", "Tuple"}:
                return True
    return False
