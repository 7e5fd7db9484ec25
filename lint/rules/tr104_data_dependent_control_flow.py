from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import TRACE, capture_function, in_message, truth_tested
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.targets import PYTHON_RUNNING

# Calls that compare tensor *values* and return a Python bool: the tracer records nothing and
# does not even warn.
VALUE_PREDICATES = {"torch.equal", "torch.allclose", "torch.is_nonzero"}
VALUE_PREDICATE_METHODS = {"equal", "allclose", "is_nonzero"}


class DataDependentControlFlow(Rule):
    """
    ## What it does
    Finds `if`, `while`, `assert`, conditional expressions (`a if cond else b`) and
    `and`/`or` whose condition depends on tensor *values* (`if x.sum() > 0:`,
    `if (mask == 0).all():`, `while err > tol:`, `if torch.equal(a, b):`) in code that runs under
    `torch.jit.trace`. Conditions on sizes, ranks and Python flags (`if x.dim() == 4:`,
    `if mask is None:`, `if self.training:`) are not data dependent and are not reported.

    ## Why is this bad?
    Python evaluates the condition once, on the example input: the tracer warns "Converting a
    tensor to a Python boolean might cause the trace to be incorrect" and records only the
    branch that was taken. The traced (and converted) model runs that branch for every input,
    so inputs that should take the other branch get silently wrong results. A `while` loop is
    unrolled for the example's iteration count. `torch.equal`/`torch.allclose` are baked in
    without any warning. An `assert` on tensor values is checked once and dropped.

    ## Example
    ```python
    def forward(self, x):
        if x.sum() > 0:
            return self.positive(x)
        return self.negative(x)
    ```

    ## Use instead
    Compute both branches and select with `torch.where(cond, a, b)`: that works for tracing,
    `torch.export` and Core ML alike. For TorchScript, you can also compile the function (or the
    submodule) with `torch.jit.script`, which keeps real control flow (a Core ML `cond`), and
    trace the rest (the talk's hybrid, `--mode hybrid`).

    `torch.export` does not keep one branch silently: it stops with "Could not guard on
    data-dependent expression". Its remedy is `torch.cond(pred, true_fn, false_fn, operands)`,
    or `torch._check(...)` when the condition holds for every input you care about. coremltools
    9 cannot convert `torch.cond` (its branches are subgraphs: "Only torch.Tensor attr handled
    yet"), so for Core ML prefer `torch.where`. `torchready convert --mode export` reports each
    such branch at its line (torch's `draft_export`).

    ## Fix safety
    No fix: which remedy fits depends on the model.

    ## Known false positives
    A branch that only raises or warns (an input check) is still reported: the traced model
    no longer checks that input. Code inside `if not torch.jit.is_tracing():` and
    `if self.training:` never runs in the trace and is not reported.
    """

    CODE = "TR104"
    NAME = "data-dependent-control-flow"
    SUMMARY = "if/while/assert on tensor values: the trace keeps only the example's branch"
    TARGETS = PYTHON_RUNNING

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x, mask=None):
                    if mask is None:  # a Python fact, not a tensor value
                        mask = torch.ones_like(x)
                    return x * mask
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.dim() == 4:  # the rank is fixed for a traced graph
                        x = x.flatten(2)
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:  # captured models run in eval mode
                        x = x + torch.randn_like(x)
                    return torch.where(x > 0, x, -x)  # both branches as tensor ops
        """),
        Valid("""
            @torch.jit.script
            def relu_or_neg(x):
                if x.sum() > 0:  # script compiles real control flow
                    return x
                return -x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if not torch.jit.is_tracing() and torch.isnan(x).any():
                        raise ValueError("nan input")
                    return x
        """),
        Valid("""
            def check(x):  # not called from forward: not traced
                assert (x >= 0).all()
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x, scale: float = 1.0):
                    if scale != 1.0:  # a Python float
                        x = x * scale
                    return x
        """),
        Valid("""
            class Layer(nn.Module):
                # regression (pvt_v2, squeezebert): flags a parent passes positionally are not tensors
                def forward(self, hidden_states, output_attentions):
                    attentions = () if output_attentions else None
                    return self.mlp(hidden_states) * 2

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layer = Layer()

                def forward(self, x, output_attentions: bool = False):
                    return self.layer(x, output_attentions)
        """),
        Valid("""
            class Block(nn.Module):
                # regression (unispeech, wav2vec2): LayerDrop draws a tensor only when training
                def forward(self, x, synced_gpus: bool = False):
                    skip_the_layer = False
                    if self.training:
                        dropout_probability = torch.rand([])
                        skip_the_layer = dropout_probability < self.layerdrop
                    if not skip_the_layer or synced_gpus:
                        x = self.layer(x)
                    return x
        """),
        Valid("""
            def nanmean(input_tensor, weights=None, dim=None):
                # regression (patchtst): `dim=None` is no tensor: nothing uses it as one
                if weights is not None:
                    input_tensor = input_tensor * weights[..., None]  # but `weights` is one
                return input_tensor.sum(dim=dim) if dim else input_tensor.sum()

            class Net(nn.Module):
                def forward(self, x):
                    return nanmean(x)
        """),
        Valid("""
            class Layer(nn.Module):
                # regression (bart, t5): the fp16 overflow clamp; models are traced in float32
                def forward(self, hidden_states):
                    if hidden_states.dtype == torch.float16 and not torch.isfinite(hidden_states).all():
                        hidden_states = hidden_states.clamp(-1e4, 1e4)
                    return hidden_states
        """),
        Valid("""
            class CrossAttention(nn.Module):
                # regression (evolla): a list tested before it becomes a tensor
                def forward(self, a_mask, b_mask=None):
                    masks = [m for m in (a_mask, b_mask) if m is not None]
                    if not masks:
                        raise ValueError("no modality")
                    masks = torch.cat(masks, dim=1)
                    return masks
        """),
        Valid("""
            class Encoder(nn.Module):
                # regression (omdet_turbo): methods of non-tensor members; the loss path under labels
                def forward(self, x, labels=None, key: str = "a"):
                    if self.cache.has(key):
                        return self.cache.get(key)
                    if labels is not None and labels.max() >= self.vocab_size:
                        raise ValueError("label out of range")
                    return x
        """),
        Valid("""
            class Attention(nn.Module):
                # regression (fastspeech2): a literal default wins over a wrong `Tensor` annotation
                def forward(self, x, output_attentions: torch.Tensor | None = False):
                    if output_attentions:
                        return x * 2
                    return x
        """),
    ]

    INVALID = [
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.sum() > 0:
                        return self.positive(x)
                    return self.negative(x)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, mask):
                    if (mask == 0).all():
                        return x
                    return x.masked_fill(mask == 0, 0.0)
        """),
        Invalid("""
            class Solver(nn.Module):
                def forward(self, x):
                    while x.abs().max() > 1:
                        x = x / 2
                    return x
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x if x.mean() > 0 else -x
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, y):
                    assert torch.equal(x.sum(-1), y.sum(-1))
                    return x + y
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, mask: Optional[torch.Tensor] = None):
                    if mask is not None and mask.any():
                        x = x.masked_fill(mask, 0.0)
                    return x
        """),
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        self._seen: set[int] = set()

    # Conditions whose truth value Python takes.
    def visit_If(self, node: cst.If) -> None:
        self._check(node.test, "if")

    def visit_While(self, node: cst.While) -> None:
        self._check(node.test, "while")

    def visit_Assert(self, node: cst.Assert) -> None:
        self._check(node.test, "assert")

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._check(node.test, "conditional expression")

    def visit_CompIf(self, node: cst.CompIf) -> None:
        self._check(node.test, "comprehension filter")

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        # `a or b` outside a condition still asks for `bool(a)`; inside one, the condition's
        # own check already covers it (with short-circuiting).
        parent = self.context.parent
        if isinstance(parent, (cst.BooleanOperation, cst.UnaryOperation)) or \
                getattr(parent, "test", None) is node:
            return
        self._check(node.left, "`and`/`or`")

    def _check(self, test: cst.BaseExpression, statement: str) -> None:
        function = capture_function(self.context, TRACE)
        if function is None or in_message(self.context.ancestors):
            return
        facts = self.context.facts(function)
        for part in truth_tested(test, self.context.imports):
            if id(part) in self._seen:
                continue
            self._seen.add(id(part))
            if not (facts.is_tensor_at(part, self.context.ancestors)
                    or self._value_predicate(part, facts)):
                continue
            shown = code(self.context.module, part)
            if statement == "assert":
                consequence = ("checks it once, on the example, and drops the check from the "
                               "graph; check inputs outside the model or script this code")
            else:
                consequence = ("evaluates it once, for the example, and keeps only that path "
                               "for every input; use `torch.where`, or torch.jit.script this "
                               "function/submodule. torch.export fails here instead and needs "
                               "`torch.cond`, which coremltools 9 cannot convert: "
                               "`torch.where` suits both")
            self.report(part, f"the {statement} tests tensor values (`{shown}`): "
                              f"torch.jit.trace {consequence}")

    def _value_predicate(self, node: cst.BaseExpression, facts) -> bool:
        if not isinstance(node, cst.Call):
            return False
        name = self.context.imports.resolve(node.func)
        if name in VALUE_PREDICATES:
            return True
        func = node.func
        return isinstance(func, cst.Attribute) and func.attr.value in VALUE_PREDICATE_METHODS \
            and facts.is_confirmed_tensor(func.value)

