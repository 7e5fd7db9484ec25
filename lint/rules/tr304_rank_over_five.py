from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import SCRIPT, TRACE
from torchready.lint.analysis.tensor_ranks import (CORE_ML_MAX_RANK, EXPAND, RESHAPES, HighRank,
                                                   RankTracker)
from torchready.lint.codegen import MULTIPLICATIVE, code, operand
from torchready.lint.rule import Invalid, Rule, Valid

CORE_ML_ERROR = "Core ML only supports tensors with rank <= 5"


class RankOverFive(Rule):
    """
    ## What it does
    Finds `view`/`reshape`/`torch.reshape`, `unsqueeze`, `expand` and `None` indexing in model
    code that make a tensor of more than five dimensions, counting dimensions where the code
    spells them out (the arguments of `view(...)`, a tuple literal, `*shape` of a tuple
    literal) and following the rank through `unsqueeze`, indexing, `flatten`, `permute`,
    arithmetic and assignments in the same function. A view whose shape is not written out
    (`x.view(*shape)` of a computed shape) is not reported.

    ## Why is this bad?
    Core ML runs tensors of rank <= 5 only, so `ct.convert` fails: "Core ML only supports tensors
    with rank <= 5. Layer "...", with type "reshape", outputs a rank 6 tensor". coremltools
    removes a rank-6 `reshape` only when it is reshaped straight back to rank <= 5, possibly
    after a `permute` (the window partition of Swin-style models converts): those are not
    reported. Any other use keeps the rank-6 tensor (a correlation volume divided by a
    scale, a softmax, a sum), and a rank-6 tensor made by `unsqueeze`, `expand` or `None`
    indexing always stays.

    ## Example
    ```python
    corr = torch.matmul(fmap1.transpose(1, 2), fmap2)
    corr = corr.view(batch, ht, wd, 1, ht, wd)
    return corr / dim ** 0.5
    ```

    ## Use instead
    Merge the leading dimensions that the following ops treat as a batch, and split them back
    where they are needed:
    ```python
    corr = corr.view(batch * ht * wd, 1, ht, wd)
    return corr / dim ** 0.5
    ```

    ## Fix safety
    No fix: the merged dimensions change the shapes that later code indexes.

    ## Known false positives
    None measured (transformers' models: 18 findings, 18 true, see docs/precision_review.md).
    To stay precise some rank-6 tensors are not reported: one returned to a caller or passed to
    a submodule (the rank is followed within one function, and the caller may reshape it back);
    one made only inside a branch on a size (`if x.shape[-1] == 2:`: the capture keeps one
    branch, which depends on the input); one only written into another tensor in place
    (`blocks[:, :, 0].scatter_(...)`, the way attention maps are assembled: it stays only if
    that tensor is used). coremltools folds a reshape/permute/reshape chain only for static
    input shapes: with flexible shapes (`RangeDim`) that chain fails too, and is not reported.
    """

    CODE = "TR304"
    NAME = "rank-over-five"
    SUMMARY = ("view/reshape/unsqueeze/expand chains that make a tensor of rank > 5: Core ML "
               "supports rank <= 5 and ct.convert fails")
    NEEDS_TEXT = ("view", "reshape", "expand")

    VALID = [
        Valid("""
            def window_partition(x, window: int):
                batch, height, width, channels = x.shape
                x = x.view(batch, height // window, window, width // window, window, channels)
                # reshaped back to rank 4 after a permute: coremltools folds the rank-6 view
                return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window, window, channels)

            class Block(nn.Module):
                def forward(self, x):
                    return window_partition(x, 7)
        """),
        Valid("""
            class SpaceToDepth(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
                    return x.flatten(3, 5).flatten(1, 2)  # back to rank 4
        """),
        Valid("""
            class Dynamic(nn.Module):
                def forward(self, x, like):
                    return x.view(*like.shape) * 2  # the rank of a computed shape is unknown
        """),
        Valid("""
            class Heads(nn.Module):
                def forward(self, x):
                    b, n, c = x.shape
                    q = x.view(b, n, 2, 4, c // 8).permute(2, 0, 3, 1, 4)  # rank 5
                    return q.softmax(-1)
        """),
        Valid("""
            class Kernel(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.weight = nn.Parameter(torch.rand(4, 9))

                def forward(self, x):
                    # weights only: coremltools folds it into a constant
                    kernel = self.weight.view(2, 2, 1, 1, 3, 3).sum(dim=(0, 2))
                    return x * kernel.flatten()
        """),
        Valid("""
            class Correlation(nn.Module):
                def volume(self, f1, f2):
                    b, d, h, w = f1.shape
                    corr = torch.matmul(f1.flatten(2).transpose(1, 2), f2.flatten(2))
                    return corr.view(b, h, w, 1, h, w)  # the caller reshapes it

                def forward(self, f1, f2):
                    b, d, h, w = f1.shape
                    return self.volume(f1, f2).reshape(b * h * w, 1, h, w)
        """),
        Valid("""
            class Train(nn.Module):
                def forward(self, x):
                    y = x.view(1, 2, 3, 4, 5)
                    if self.training:  # not captured
                        y = y.unsqueeze(0) * 2
                    return y
        """),
        Valid("""
            class BlockSparse(nn.Module):
                def attention(self, scores):
                    b, h, q, k = scores.shape
                    probs = torch.zeros_like(scores)  # attention maps, an optional output
                    blocks = probs.view(b, h, q // 2, 2, k // 2, 2)
                    blocks[:, :, 0].fill_(1.0)  # written in place: kept only if probs is used
                    return scores.softmax(-1), probs

                def forward(self, scores):
                    context, _ = self.attention(scores)
                    return context
        """),
        Valid("""
            class Offsets(nn.Module):
                def forward(self, offsets, reference):
                    b, q, h, p, _ = offsets.shape
                    if reference.shape[-1] == 2:  # the branch is chosen by the input's shape
                        scale = reference.reshape(b, q, 1, 1, 1, 2)
                        return reference[:, :, None, None] + offsets / scale
                    center, size = reference[..., :2], reference[..., 2:]
                    return center[:, :, None, None] + offsets * size[:, :, None, None]
        """),
    ]

    INVALID = [
        Invalid("""
            class CorrBlock(nn.Module):
                def forward(self, fmap1, fmap2):
                    batch, dim, ht, wd = fmap1.shape
                    fmap1 = fmap1.view(batch, dim, ht * wd)
                    fmap2 = fmap2.view(batch, dim, ht * wd)
                    corr = torch.matmul(fmap1.transpose(1, 2), fmap2)
                    corr = corr.view(batch, ht, wd, 1, ht, wd)
                    return corr / dim ** 0.5
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    y = x.view(b, c, 1, h, w)
                    return y.unsqueeze(2) * 2  # rank 6 from a rank-5 view
        """),
        Invalid("""
            class Pool(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    return torch.reshape(x, (b, c, h // 2, 2, w // 2, 2)).amax(dim=(3, 5))
        """),
        Invalid("""
            class Attention(nn.Module):
                def forward(self, x):
                    b, n, c = x.shape
                    shape = (b, 2, 2, n // 4, c // 4, 4)
                    return x.reshape(*shape).softmax(-1)
        """),
        Invalid("""
            class Tile(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    y = x.view(b, c, h, w, 1).expand(2, b, c, h, w, 2)
                    return y.reshape(2 * b, c, h, w * 2)
        """),
        Invalid("""
            class Pairs(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    y = x.view(b, c, h, w, 1)[:, :, None]  # rank 6
                    return y.sum(2)
        """),
        Invalid("""
            class Windows(nn.Module):
                def forward(self, x):
                    b, h, w, c = x.shape
                    x = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5)
                    x = x * 2  # kept at rank 6: only a reshape right after the permute folds
                    return x.reshape(b, h // 2, w // 2, 4 * c)
        """),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self.context.function
        if function is None or function.parent is not None or not function.is_model_code:
            return
        model_code = self.context.model_code
        # What a model's own forward returns is the converted program's output; what a helper
        # or a submodule returns goes to code that may reshape it.
        model_output = function.name == "forward" and \
            function.class_name in model_code.module_classes and \
            function.class_name not in model_code.submodule_classes
        tracker = RankTracker(node, self.context.imports,
                              TRACE if function.traced else SCRIPT,
                              returns_to_caller=not model_output)
        for made in tracker.failures():
            self.report(made.node, self._message(made))

    def _message(self, made: HighRank) -> str:
        module = self.context.module
        shown = _short(code(module, made.node))
        kept = self._use(made.kept_by[0])
        if made.kind == EXPAND:
            source = f"from a rank-{made.source_rank} one " if made.source_rank else ""
            return (f"`{shown}` makes a rank-{made.rank} tensor {source}and {kept}: Core ML "
                    f"supports rank <= 5, so ct.convert fails (\"{CORE_ML_ERROR}\"); merge two "
                    "leading dimensions of its input first (`.flatten(0, 1)`) and split them "
                    "back after the op (`.unflatten(0, ...)`)")
        return (f"`{shown}` makes a rank-{made.rank} tensor and {kept}: Core ML supports "
                f"rank <= 5, so ct.convert fails (\"{CORE_ML_ERROR}\"); "
                f"{self._merge_advice(made)}, and split them back where they are needed "
                "(a rank-6 view that is only permuted and reshaped back to rank <= 5 converts)")

    def _use(self, user: cst.CSTNode) -> str:
        """`.amax(...) uses it`, `corr / dim ** 0.5 uses it`, `it is returned`."""
        if isinstance(user, cst.Return):
            return "it is returned"
        if isinstance(user, cst.Call) and isinstance(user.func, cst.Attribute):
            func = user.func
            shown = code(self.context.module, func) if isinstance(func.value, cst.Name) \
                else f".{func.attr.value}"
            return f"`{shown}(...)` uses it"
        return f"`{_short(code(self.context.module, user))}` uses it"

    def _merge_advice(self, made: HighRank) -> str:
        """`merge leading batch-like dimensions, e.g. to shape (b * h, w, 1, h, w)`."""
        advice = "merge leading batch-like dimensions"
        dims = self._written_shape(made.node)
        if dims is None or len(dims) != made.rank:
            return advice
        module = self.context.module
        merged = len(dims) - CORE_ML_MAX_RANK + 1
        leading = " * ".join(operand(module, dim, MULTIPLICATIVE + 1) for dim in dims[:merged])
        rest = [code(module, dim) for dim in dims[merged:]]
        return f"{advice}, e.g. to shape `({', '.join([leading, *rest])})`"

    def _written_shape(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """The dimensions a `view`/`reshape` call spells out, one expression each."""
        if not isinstance(node, cst.Call):
            return None
        if self.context.imports.resolve(node.func) == "torch.reshape":
            args = list(node.args[1:])
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in RESHAPES:
            args = list(node.args)
        else:
            return None
        if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
            elements = args[0].value.elements
            if any(isinstance(element, cst.StarredElement) for element in elements):
                return None
            return [element.value for element in elements]
        if any(arg.star or arg.keyword for arg in args):
            return None
        return [arg.value for arg in args]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
