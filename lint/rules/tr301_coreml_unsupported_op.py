from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import SCRIPT, TRACE, capture_function
from torchready.lint.analysis.tables import coreml_unsupported, coremltools_version
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid


class CoremlUnsupportedOp(Rule):
    """
    ## What it does
    Finds calls in model code to PyTorch functions, tensor methods and `nn` layers that lower
    to aten ops coremltools has no converter for: `torch.linalg.det`, `x.view_as(y)`,
    `x.prod(-1)`, `torch.isinf(x)`, `F.interpolate(..., mode="bicubic")`, `nn.EmbeddingBag`,
    `nn.TransformerEncoderLayer` (its eval-mode fast path), ...

    ## Why is this bad?
    `ct.convert` stops at the first such op with "PyTorch convert function for op '<op>' not
    implemented", naming only the op, not your source line; a model with three of them fails
    three times. The table behind this rule (lint/data/coreml_ops.json) is generated from
    coremltools' own op registry and a hand-checked map from Python APIs to the aten ops that
    TorchScript records for them (scripts/coreml_api_map.json), so it changes when coremltools
    adds converters.

    ## Example
    ```python
    scores = logits.prod(-1)
    ```

    ## Use instead
    An equivalent built from supported ops (the message carries one), or a composite op
    registered with coremltools' `register_torch_op` (the talk's recipe; `torchready convert`
    registers its own for some ops).

    ## Fix safety
    No fix: the rewrite depends on the value ranges the model sees.

    ## Known false positives
    Losses (`F.cross_entropy`, ...) are in the table but not reported: nobody converts them.
    An op on a branch the converted model never runs (a training-only path that is not
    guarded by `self.training`) is reported anyway. Tensor methods are only reported on values
    known to be tensors. Ops whose converter exists but refuses some arguments (e.g.
    `torch.linalg.inv` of a non-constant matrix, `torch.diagonal` with an offset) are not in the
    table.
    """

    CODE = "TR301"
    NAME = "coreml-unsupported-op"
    SUMMARY = "a torch op that coremltools cannot convert (the table comes from its registry)"

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return torch.cumsum(x, -1).sum(-1)  # supported
        """),
        Valid("""
            import torch.nn.functional as F

            class Up(nn.Module):
                def forward(self, x):
                    return F.interpolate(x, scale_factor=2.0, mode="bilinear")
        """),
        Valid("""
            def analyse(x):  # not model code
                return torch.linalg.det(x)
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        x = x * torch.bernoulli(torch.full_like(x, 0.9))  # training only
                    return x
        """),
        Valid("""
            import numpy as np

            class Net(nn.Module):
                def forward(self, x, sizes: List[int]):
                    total = np.array(sizes).prod()  # NumPy on Python values, not a tensor op
                    return x.reshape(-1, 4)
        """),
        Valid("""
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.up = nn.Upsample(scale_factor=2.0, mode="nearest")

                def forward(self, x):
                    return self.up(x)
        """),
        Valid("""
            import torch.nn.functional as F

            class Head(nn.Module):
                # regression (transformers heads, bart/t5 clamps): losses and fp16-only guards
                def forward(self, x, labels=None):
                    logits = self.proj(x)
                    loss = F.cross_entropy(logits, labels) if labels is not None else None
                    if x.dtype == torch.float16 and torch.isinf(x).any():
                        x = x.clamp(-1e4, 1e4)
                    return logits, loss
        """),
    ]

    INVALID = [
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return torch.linalg.det(x.reshape(-1, 3, 3))
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, y):
                    return x.view_as(y) + y
        """),
        Invalid("""
            import torch.nn.functional as F

            class Up(nn.Module):
                def forward(self, x):
                    return F.interpolate(x, scale_factor=2.0, mode="bicubic")
        """),
        Invalid("""
            class Bag(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.embed = nn.EmbeddingBag(100, 16)

                def forward(self, ids):
                    return self.embed(ids)
        """),
        Invalid("""
            class Clean(nn.Module):
                def forward(self, x):
                    return torch.where(torch.isinf(x), torch.zeros_like(x), x)
        """),
        Invalid("""
            class Score(nn.Module):
                def forward(self, logits):
                    return self.combine(logits.softmax(-1))

                def combine(self, probs):
                    return probs.prod(-1)
        """),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        table = coreml_unsupported()
        func = node.func
        name = self.context.imports.resolve(func)
        if name is not None:
            rows = table.get(name)
            if rows is None:
                return
            if name.startswith("torch.nn.") and name.rsplit(".", 1)[-1][:1].isupper():
                if not self._builds_model():
                    return
            elif not self._in_model_code():
                return
        elif isinstance(func, cst.Attribute):
            rows = table.get(f"Tensor.{func.attr.value}")
            if rows is None or not self._in_model_code():
                return
            function = self.context.function
            if not self.context.facts(function).is_confirmed_tensor(func.value):
                return
        else:
            return
        for row in rows:
            if row.get("training_only"):
                return  # a loss: computed outside the converted model
            if _matches(row.get("when", {}), node):
                self._report(node, row)
                return

    def _report(self, node: cst.Call, row: dict) -> None:
        ops = ", ".join(f"aten::{op}" for op in row["aten"])
        first = row["aten"][0]
        shown = code(self.context.module, node.func)
        self.report(
            node,
            f"`{shown}(...)` lowers to {ops}, which coremltools {coremltools_version()} cannot "
            f"convert (\"PyTorch convert function for op '{first}' not implemented\"); "
            f"instead: {row['hint']}",
        )

    def _in_model_code(self) -> bool:
        return capture_function(self.context, TRACE) is not None or \
            capture_function(self.context, SCRIPT) is not None

    def _builds_model(self) -> bool:
        """A layer constructed in a method of an nn.Module class (usually `__init__`)."""
        if self._in_model_code():
            return True
        klass = self.context.current_class
        return klass is not None and klass.name.value in self.context.model_code.module_classes


def _matches(when: dict, call: cst.Call) -> bool:
    """Every `when` keyword is passed as that string literal."""
    for keyword, wanted in when.items():
        value = next((arg.value for arg in call.args
                      if arg.keyword is not None and arg.keyword.value == keyword), None)
        if not (isinstance(value, cst.SimpleString) and value.evaluated_value == wanted):
            return False
    return True
