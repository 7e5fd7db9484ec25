from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import (capture_function, in_message, is_reporting_call,
                                             truth_tested)
from torchready.lint.analysis.walk import walk
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.targets import EXPORT, PYTHON_RUNNING, TRACE
from torchready.lint.types import Severity

# Calls that check a condition and raise: the condition is the first argument.
ASSERT_CALLS = {"torch._assert"}
QUANTIFIERS = {"any", "all"}
COMPUTATION = ("keeps only that branch for every input size; torch.export specializes on it "
               "(a dimension declared dynamic fails with \"Constraints violated\"). Compute both "
               "branches and select with `torch.where`, use `torch.cond` for torch.export, or "
               "torch.jit.script this function")
CHECK = ("evaluates it once, for the example, and drops the check from the graph: harmless for "
         "a fixed-shape model, but other input sizes are no longer checked")
EXPORT_ONLY = ("it specializes the graph to the example's branch (a dimension declared dynamic "
               "fails with \"Constraints violated\"); compute both branches and select with "
               "`torch.where`, or use `torch.cond`")


def _capture(targets: tuple[str, ...]) -> str:
    return "torch.export" if targets == (EXPORT,) else "torch.jit.trace"


class ShapeDependentBranch(Rule):
    """
    ## What it does
    Finds conditions on tensor sizes in code that runs under `torch.jit.trace` or
    `torch.export`: `if`/`elif` tests, conditional expressions (`a if cond else b`),
    comprehension filters, `assert` and `torch._assert(...)` whose truth depends on `x.size(i)`,
    `x.shape`, `x.numel()`, `len(x)` of a tensor or a value computed from them; comparisons of
    sizes with sizes (`if fmap1.shape != fmap2.shape:`, `if (h, w) != image.shape[-2:]:`) or
    with constants (`if h % 8 == 0:`), and `any(...)`/`all(...)` over sizes.

    ## Why is this bad?
    While tracing, a size is a 0-dim tensor; Python's `if` turns it into a bool (TracerWarning
    "Converting a tensor to a Python boolean might cause the trace to be incorrect") and the
    tracer records only the branch the example took. Every input then runs that branch: an
    input of another size skips the padding it needed, or pads when it should not, silently.
    `torch.export` evaluates the same condition on a symbolic size: it specializes the graph to
    the example's branch, and fails with "Constraints violated" when the dimension was declared
    dynamic with `torch.export.Dim`.

    A condition whose branch only raises or warns (`if x.shape[1] != 3: raise ValueError(...)`,
    `assert h == w`, `torch._assert(...)`) is input validation: the trace drops the check, the
    computation is unchanged. That is reported as information ("harmless for a fixed-shape
    model"); a branch that changes the computation is a warning.

    `torchready convert` and `audit` also report TR107 when a trace stops because an op received
    a flag computed from a traced size where it takes a Python value:
    `F.scaled_dot_product_attention(q, k, v, is_causal=mask is None and n_ctx > 1)` raises
    "argument 'is_causal' must be bool, not Tensor". Compute such a flag from Python ints outside
    the traced region (a constructor argument), or pass the mask it selects.

    ## Example
    ```python
    def forward(self, x):
        h, w = x.shape[-2:]
        if h % 8 != 0 or w % 8 != 0:
            x = F.pad(x, (0, -w % 8, 0, -h % 8))
        return self.net(x)
    ```

    ## Use instead
    Make the computation correct for every size without a Python branch: compute both results
    and select with `torch.where(cond, a, b)`, or write the arithmetic so that it is a no-op
    when nothing is needed (`F.pad(x, (0, -w % 8, 0, -h % 8))` pads by zero). For
    `torch.export`, `torch.cond(pred, true_fn, false_fn, operands)` keeps both branches
    (coremltools 9 cannot convert it: prefer `torch.where` for Core ML). Or compile the function
    with `torch.jit.script`, which keeps real control flow. Input checks can stay: they run in
    eager mode and cost nothing in the traced graph.

    ## Fix safety
    No fix: the branch-free form depends on what the branch computes.

    ## Known false positives
    A size that never changes for the deployed model (a fixed image size, the channel count) is
    branched on harmlessly; add `# noqa: TR107`. Not reported: the rank (`x.dim() == 4`,
    `len(x.shape)`), which is fixed for a traced graph; sizes of the model's own weights;
    `while` conditions on sizes (the loop is unrolled: TR105); conditions on a size already
    turned into a Python number (`int(h) > 1`: TR102 reports the `int`; `len(t) > 1`: TR103
    reports the `len`); conditions on tensor
    values (TR104); code under `if not torch.jit.is_tracing():` or `if self.training:`, and
    conditions inside `raise` or warning messages.
    """

    CODE = "TR107"
    NAME = "shape-dependent-branch"
    SUMMARY = ("if/assert/ternary on a tensor size: the trace keeps the example's branch, "
               "export specializes it")
    SEVERITY = Severity.WARNING
    TARGETS = PYTHON_RUNNING

    VALID = [
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
                    if self.weight.shape[0] > 1:  # the model's own weight: a fixed size
                        x = x * 2
                    return x @ self.weight
        """),
        Valid("""
            @torch.jit.script
            def crop(x):
                if x.size(0) > 8:  # script keeps real control flow
                    x = x[:8]
                return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    i = 0
                    while i < x.size(0):  # an unrolled loop: TR105's business
                        i += 1
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training and x.size(0) > 64:  # captured models run in eval mode
                        x = x[:64]
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    n = int(x.size(1))  # TR102 reports the int()
                    if n > 1:
                        x = x * n
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x, mask=None):
                    if mask is None:  # a Python fact
                        mask = torch.ones_like(x)
                    if x.sum() > 0:  # a tensor value: TR104
                        x = -x
                    return x * mask
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.strict:  # a size only in the message, built when raising
                        raise ValueError("odd width" if x.size(-1) % 2 else "even width")
                    return torch.where(x > 1, x, -x)  # no Python branch
        """),
    ]

    INVALID = [
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.size(1) > self.max_len:
                        x = x[:, : self.max_len]
                    return x
        """),
        Invalid("""
            class Correlation(nn.Module):
                def forward(self, fmap1, fmap2):
                    if fmap1.shape != fmap2.shape:
                        raise ValueError("feature maps must have the same shape")
                    return fmap1 * fmap2
        """),
        Invalid("""
            import torch.nn.functional as F

            class Padder(nn.Module):
                def forward(self, x):
                    h, w = x.shape[-2:]
                    if not ((h % 8 == 0) and (w % 8 == 0)):
                        x = F.pad(x, (0, 8 - w % 8, 0, 8 - h % 8))
                    return x
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, y):
                    return x if x.size(1) > y.size(1) else y
        """),
        Invalid("""
            class PatchEmbed(nn.Module):
                def forward(self, x):
                    n, c, h, w = x.shape
                    torch._assert(h == self.image_size, "wrong image height")
                    assert w == self.image_size
                    return self.proj(x)
        """, count=2),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    if any(s > 512 for s in x.shape[2:]):
                        x = self.downsample(x)
                    return x
        """),
        Invalid("""
            class Embeddings(nn.Module):
                def forward(self, x):
                    # skipped by torch.jit.trace, taken by torch.export: an export finding
                    if not torch.jit.is_tracing() and x.size(1) != self.num_positions:
                        x = self.interpolate(x)
                    return x
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return self.pad(x, x.size(2))

                def pad(self, x, h):
                    if h > 1:  # a traced size, passed by forward
                        return x
                    return x * 2
        """),
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        self._seen: set[int] = set()

    def visit_If(self, node: cst.If) -> None:
        self._check(node.test, "if", _only_checks(node.body))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._check(node.test, "conditional expression", False)

    def visit_CompIf(self, node: cst.CompIf) -> None:
        self._check(node.test, "comprehension filter", False)

    def visit_Assert(self, node: cst.Assert) -> None:
        self._check(node.test, "assert", True)

    def visit_Call(self, node: cst.Call) -> None:
        if node.args and self.context.imports.resolve(node.func) in ASSERT_CALLS:
            self._check(node.args[0].value, "torch._assert", True)

    def _check(self, test: cst.BaseExpression, statement: str, only_checks: bool) -> None:
        if id(test) in self._seen:
            return
        self._seen.add(id(test))
        if in_message(self.context.ancestors):
            return
        # Trace and export skip different guarded code (`if not torch.jit.is_tracing():` runs
        # under export): each target is checked on its own.
        found: dict[str, list[cst.BaseExpression]] = {}
        for target in (TRACE, EXPORT):
            function = capture_function(self.context, target) \
                if target in self.context.targets else None
            if function is None:
                continue
            facts = self.context.facts(function)
            parts = [part for part in truth_tested(test, self.context.imports, target)
                     if not facts.is_tensor_at(part, self.context.ancestors)
                     and self._on_sizes(part, facts)]
            if parts:
                found[target] = parts
        if not found:
            return
        parts = next(iter(found.values()))
        shown = code(self.context.module, test if len(parts) > 1 else parts[0])
        targets = tuple(found)
        if only_checks:
            self.report(test, f"the {statement} checks a tensor size (`{shown}`): "
                              f"{_capture(targets)} {CHECK}", severity=Severity.INFO,
                        targets=targets)
        elif targets == (EXPORT,):
            self.report(test, f"the {statement} tests a tensor size (`{shown}`) on a path "
                              f"torch.export takes: {EXPORT_ONLY}", targets=targets)
        else:
            self.report(test, f"the {statement} tests a tensor size (`{shown}`): "
                              f"torch.jit.trace evaluates it once, for the example's shape, and "
                              f"{COMPUTATION}", targets=targets)

    def _is_len(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and \
            self.context.imports.resolve_or_name(node.func) == "len"

    def _on_sizes(self, part: cst.BaseExpression, facts) -> bool:
        """The truth value of `part` depends on a traced size."""
        if facts.is_shape_size(part):
            return True  # `if h:`, `if x.numel():`, `if h % 8:`
        if isinstance(part, cst.Comparison):
            if any(isinstance(target.operator, (cst.Is, cst.IsNot))
                   for target in part.comparisons):
                return False
            operands = [part.left, *(target.comparator for target in part.comparisons)]
            # `len(t) > 1`: `len` already turned the size into a Python int (TR103 reports it)
            return any(_holds_sizes(operand, facts) and not self._is_len(operand)
                       for operand in operands)
        if isinstance(part, cst.Call) and part.args and \
                self.context.imports.resolve_or_name(part.func) in QUANTIFIERS:
            return _quantifies_sizes(part.args[0].value, facts)
        return False


def _holds_sizes(node: cst.BaseExpression, facts) -> bool:
    """A size, a shape, or a tuple/list with a size in it (`(h, w)`)."""
    if facts.is_shape_size(node):
        return True
    if isinstance(node, (cst.Tuple, cst.List)):
        return any(not isinstance(element, cst.StarredElement)
                   and facts.is_shape_size(element.value) for element in node.elements)
    return False


def _quantifies_sizes(node: cst.BaseExpression, facts) -> bool:
    """`any(s > 1 for s in x.shape)`, `all(x.size(i) % 2 == 0 for i in dims)`."""
    if not isinstance(node, (cst.GeneratorExp, cst.ListComp)):
        return _holds_sizes(node, facts)
    if _holds_sizes(node.for_in.iter, facts):
        return True
    return any(isinstance(part, cst.BaseExpression) and facts.is_shape_size(part)
               for part in walk(node.elt))


def _only_checks(body: cst.BaseSuite) -> bool:
    """The branch only raises, asserts or tells a human: input validation."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else (
        cst.SimpleStatementLine(body.body),)
    for statement in statements:
        if not isinstance(statement, cst.SimpleStatementLine):
            return False
        for small in statement.body:
            if isinstance(small, (cst.Raise, cst.Assert, cst.Pass)):
                continue
            if isinstance(small, cst.Expr) and (
                    isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))
                    or isinstance(small.value, cst.Call) and is_reporting_call(small.value)):
                continue
            return False
    return True
