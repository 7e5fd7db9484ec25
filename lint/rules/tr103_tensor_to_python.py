from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.expressions import chain_root, input_free
from torchready.lint.analysis.guards import TRACE, capture_function, in_message
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid

CONVERTING_METHODS = {"item": "a Python number", "tolist": "a Python list",
                      "numpy": "a NumPy array"}
CONVERTING_BUILTINS = {"int": "a Python int", "float": "a Python float", "bool": "a Python bool"}


class TensorToPython(Rule):
    """
    ## What it does
    Finds `.item()`, `.tolist()`, `.numpy()` (also `.cpu().numpy()`) and `int(t)`, `float(t)`,
    `bool(t)` applied to tensor values in code that runs under `torch.jit.trace`.

    ## Why is this bad?
    The tracer records tensor operations only. Turning a tensor into a Python value leaves the
    graph: the tracer warns "Converting a tensor to a Python number might cause the trace to be
    incorrect. We can't record the data flow of Python values, so this value will be treated as
    a constant in the future" and bakes the example's value into the trace. Every later input
    silently reuses it (a count of padding tokens, a maximum position, a threshold). `.numpy()`
    on a value that reaches the output fails the trace ("Tracer cannot infer type").

    ## Example
    ```python
    max_len = attention_mask.sum(-1).max().item()
    return hidden[:, :max_len]
    ```

    ## Use instead
    Keep the value a tensor (`torch.where`, masking, `index_select`), or compile the function
    with `torch.jit.script`, which records `.item()` as an op.

    `torch.export` does not bake the value silently: where the value decides a size or a Python
    number it stops with "Could not extract specialized integer from data-dependent
    expression" (`int(t)`, `range(n.item())`, `torch.split(x, n.item())`), and `.numpy()` fails
    outright. Its remedy differs: keep the `.item()` (a symbolic value export can carry, not
    `int(t)`) and state what you know with `torch._check(...)` / `torch._check_is_size(...)`;
    a Python loop over such a value cannot be exported. `torchready convert --mode export`
    reports each of these at its line (torch's `draft_export`).

    ## Fix safety
    No fix: the tensor version of the computation depends on what the value is used for.

    ## Known false positives
    A value that is the same for every input (computed only from the model's weights, such as
    `self.logit_scale.exp().item()`) is baked in harmlessly and is not reported. Code inside
    `if not torch.jit.is_tracing():`, `if self.training:` and in `raise`/warning messages never
    runs in the trace and is not reported. Sizes (`int(x.size(0))`) are TR102's business.
    """

    CODE = "TR103"
    NAME = "tensor-to-python"
    SUMMARY = "`.item()`/`.tolist()`/`.numpy()`/`int(t)` bake a tensor's value into the trace"

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x / x.sum()  # stays a tensor
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if not torch.jit.is_tracing():
                        print("mean", x.mean().item())  # never runs under trace
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x * self.logit_scale.exp().item()  # weights only: same for every input
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.size(0) > 8:
                        raise ValueError(f"batch too large: {x.max().item()}")  # message only
                    return x
        """),
        Valid("""
            def summarize(x):  # not called from forward: not traced
                return x.mean().item()
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x.reshape(int(x.size(0)), -1)  # a size: TR102, not TR103
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x, mask):
                    n = mask.sum()
                    torch._check(n > 0, lambda: f"got {int(n)} tokens")  # message, built on failure
                    return x
        """),
        Valid("""
            @torch.jit.script
            def threshold(x):
                return x > x.mean().item()  # script records `.item()` as an op
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        self.seen += int(x.sum())  # training-only bookkeeping
                    return x
        """),
        Valid("""
            import numpy as np

            class Decoder(nn.Module):
                # regression (LayerDrop in speech models): a NumPy value, never a tensor
                def forward(self, x):
                    for layer in self.layers:
                        p = np.random.rand(1).item()
                        if not (self.training and p < self.layerdrop):
                            x = layer(x)
                    return x
        """),
    ]

    INVALID = [
        Invalid("""
            class Crop(nn.Module):
                def forward(self, hidden, attention_mask):
                    max_len = attention_mask.sum(-1).max().item()
                    return hidden[:, :max_len]
        """),
        Invalid("""
            class Detector(nn.Module):
                def forward(self, scores):
                    keep = scores.argmax(-1).tolist()
                    return scores[keep]
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return torch.from_numpy(x.cpu().numpy() * 2)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, threshold):
                    count = int((x > threshold).sum())
                    return x[:count]
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return self.scale(x)

                def scale(self, x):
                    factor = float(x.abs().max())
                    return x / factor
        """),
        Invalid("""
            class Gate(nn.Module):
                def forward(self, x):
                    use = bool(x.mean() > 0)
                    return x * use
        """),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            kind = CONVERTING_METHODS.get(func.attr.value)
            if kind is None or node.args:
                return
            value = func.value
        elif isinstance(func, cst.Name) and len(node.args) == 1 and not node.args[0].keyword:
            kind = CONVERTING_BUILTINS.get(func.value)
            if kind is None or self.context.imports.bindings.get(func.value):
                return
            value = node.args[0].value
        else:
            return
        function = capture_function(self.context, TRACE)
        if function is None or in_message(self.context.ancestors):
            return
        facts = self.context.facts(function)
        if isinstance(func, cst.Name) and not facts.is_confirmed_tensor(value):
            return  # int()/float()/bool() of Python data, or of a size (TR102)
        if facts.is_size(value) or input_free(value) or self._from_numpy(value):
            return
        shown = code(self.context.module, node)
        if kind == CONVERTING_METHODS["numpy"]:
            export = "torch.export fails on `.numpy()`: keep the computation in torch ops"
        else:
            export = ("torch.export needs `.item()` and `torch._check(...)` / "
                      "`torch._check_is_size(...)` on its result instead")
        self.report(
            node,
            f"`{shown}` turns a tensor into {kind}: torch.jit.trace records the example's value "
            "as a constant, so other inputs silently reuse it; keep it a tensor or script this "
            f"code ({export})",
        )

    def _from_numpy(self, value: cst.BaseExpression) -> bool:
        """`np.random.rand(1).item()`: a NumPy value, which the tracer never sees."""
        root = chain_root(value)
        if not isinstance(root, cst.Call):
            return False
        name = self.context.imports.resolve(root.func) or ""
        return name == "numpy" or name.startswith("numpy.")
