from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.guards import SCRIPT, TRACE, capture_function
from torchready.lint.rule import FixSpec, Invalid, Replace, Rule, Valid
from torchready.lint.types import Applicability

FLOAT64 = {"torch.float64", "torch.double"}
COMPLEX128 = {"torch.complex128", "torch.cdouble"}


class Float64(Rule):
    """
    ## What it does
    Finds float64 in model code: `.double()`, `torch.float64`/`torch.double` passed as a dtype
    (`.to(torch.float64)`, `dtype=torch.double`, `torch.set_default_dtype(torch.float64)`),
    in traced or scripted code and in the `__init__` of `nn.Module` classes (buffers).

    ## Why is this bad?
    Core ML has no 64-bit floats. coremltools converts float64 tensors and ops to float32 (and
    the default ML program compute precision is float16) without a warning, so code that needs
    the extra range or precision silently computes something else: measured on
    `(x.double() * 1e-300 * 1e300).float()`, PyTorch returns `x` while the converted program
    multiplies by float32 constants `0.0` and `inf` and returns NaN.

    ## Example
    ```python
    positions = torch.arange(seq_len, dtype=torch.float64)
    ```

    ## Use instead
    ```python
    positions = torch.arange(seq_len, dtype=torch.float32)
    ```
    and rescale the computation if it relied on float64's range.

    ## Fix safety
    Unsafe: the fix replaces `.double()` with `.float()` and `torch.float64`/`torch.double`
    with `torch.float32`, which is what Core ML computes anyway, but eager PyTorch results
    change where float64 mattered.

    ## Known false positives
    Float64 used only for a constant that is computed once and cast back to float32 before
    the model uses it loses nothing; add `# noqa: TR302`. Dtype comparisons
    (`if x.dtype == torch.float64:`) are not reported.
    """

    CODE = "TR302"
    NAME = "float64"
    SUMMARY = "float64 in model code: Core ML has no fp64 and silently computes in fp32/fp16"
    FIX = Applicability.UNSAFE
    NEEDS_TEXT = ("float64", "double")

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x.float() * 2
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.dtype == torch.float64:  # a comparison, not a conversion
                        x = x.float()
                    return x
        """),
        Valid("""
            import numpy as np

            def load_weights(path):  # not model code
                return torch.from_numpy(np.load(path)).to(torch.float64)
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x.to(torch.float32)
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x.double() * 2  # noqa: TR302
        """),
    ]

    INVALID = [
        Invalid(
            """
            class Net(nn.Module):
                def forward(self, x):
                    return (x.double() * 1e-300 * 1e300).float()
            """,
            expected_fix="""
            class Net(nn.Module):
                def forward(self, x):
                    return (x.float() * 1e-300 * 1e300).float()
            """,
        ),
        Invalid(
            """
            class Positions(nn.Module):
                def forward(self, x):
                    steps = torch.arange(x.size(1), dtype=torch.float64)
                    return x + steps.float()
            """,
            expected_fix="""
            class Positions(nn.Module):
                def forward(self, x):
                    steps = torch.arange(x.size(1), dtype=torch.float32)
                    return x + steps.float()
            """,
        ),
        Invalid(
            """
            class Net(nn.Module):
                def forward(self, x):
                    return x.to(torch.double)
            """,
            expected_fix="""
            class Net(nn.Module):
                def forward(self, x):
                    return x.to(torch.float32)
            """,
        ),
        Invalid(
            """
            class Table(nn.Module):
                def __init__(self, size):
                    super().__init__()
                    self.register_buffer("freqs", torch.zeros(size, dtype=torch.float64))

                def forward(self, x):
                    return x * self.freqs
            """,
            expected_fix="""
            class Table(nn.Module):
                def __init__(self, size):
                    super().__init__()
                    self.register_buffer("freqs", torch.zeros(size, dtype=torch.float32))

                def forward(self, x):
                    return x * self.freqs
            """,
        ),
        Invalid(
            """
            from torch import float64

            @torch.jit.script
            def accumulate(x):
                return x.to(float64).cumsum(0)
            """,
            expected_fix="""
            from torch import float64

            @torch.jit.script
            def accumulate(x):
                return x.to(torch.float32).cumsum(0)
            """,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "double" and not node.args \
                and self._in_model_code():
            self.report(node, "`.double()` makes a float64 tensor: Core ML has no float64, so "
                              "coremltools silently computes it in float32 (or float16); use "
                              "`.float()`",
                        FixSpec("Use `.float()`", (Replace(func.attr, "float"),),
                                Applicability.UNSAFE))

    # `torch.float64` used as a value: a dtype argument, or a variable that later is one
    # (`compute_dtype = torch.float64 if ... else torch.float32`); not in comparisons.
    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._check_reference(node)

    def visit_Name(self, node: cst.Name) -> None:
        self._check_reference(node)

    def _check_reference(self, node: cst.BaseExpression) -> None:
        if (self.context.imports.resolve(node) or "") not in FLOAT64:
            return
        parent = self.context.parent
        if isinstance(parent, (cst.ImportAlias, cst.Attribute)) or any(
                isinstance(ancestor, (cst.Comparison, cst.Import, cst.ImportFrom))
                for ancestor in self.context.ancestors):
            return
        if self._in_model_code():
            self._report_dtype(node)

    def _report_dtype(self, node: cst.BaseExpression) -> None:
        self.report(node, "float64 in model code: Core ML has no float64, so coremltools "
                          "silently computes it in float32 (or float16); use torch.float32",
                    FixSpec("Use torch.float32", (Replace(node, self._float32()),),
                            Applicability.UNSAFE))

    def _float32(self) -> str:
        torch_name = self.context.imports.binds_module("torch")
        return f"{torch_name or 'torch'}.float32"

    def _in_model_code(self) -> bool:
        if capture_function(self.context, TRACE) is not None or \
                capture_function(self.context, SCRIPT) is not None:
            return True
        # Buffers and parameters built in a module's __init__ become constants of the model.
        function = self.context.function
        while function is not None and function.parent is not None:
            function = function.parent
        return function is not None and function.name == "__init__" and \
            function.class_name in self.context.model_code.module_classes
