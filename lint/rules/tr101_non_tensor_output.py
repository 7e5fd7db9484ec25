from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.imports import iter_statements
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.targets import TRACE

OUTPUT_MODULES = ("modeling_outputs", "utils.generic", "ModelOutput")


class NonTensorOutput(Rule):
    """
    ## What it does
    Finds `forward` methods of top-level models that return a dict (`{...}`, `dict(...)`), a
    Hugging Face `ModelOutput`-style object (`BaseModelOutput(...)`, `CausalLMOutput(...)`),
    `None`, a string, or a list/tuple holding one of those.

    ## Why is this bad?
    `torch.jit.trace` only records tensors and tuples of tensors. A dict output fails with
    "Encountering a dict at the output of the tracer might cause the trace to be incorrect"
    (older torch: "Only tensors or tuples of tensors can be output from traced functions");
    with `strict=False` the trace passes but coremltools then fails on `dictconstruct`. This is
    the first pitfall of the WWDC20 talk (DeepLabV3 returns `{"out": ..., "aux": ...}`).

    ## Example
    ```python
    def forward(self, x):
        return {"out": self.head(x), "aux": self.aux(x)}
    ```

    ## Use instead
    Keep the model as it is and convert a thin wrapper whose forward returns tensors:
    ```python
    class Wrapper(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)["out"]
    ```
    `torchready convert` generates this wrapper itself and names the Core ML outputs after the
    dict keys.

    ## Fix safety
    No source fix: the output structure is the model's API. The wrapper is generated at
    conversion time.

    ## Known false positives
    A module used only as a submodule may return a dict to its parent: modules that a module
    class of the linted project instantiates (in the same file or another one) are not
    reported. That leaves out a class that is both a part of a bigger model and captured on its
    own (transformers' `CLIPVisionModel`, built by other models of the tree); a module used
    only by code outside the linted files is reported.
    """

    CODE = "TR101"
    NAME = "non-tensor-output"
    SUMMARY = "forward returns a dict, ModelOutput, None or string: trace and Core ML need tensors"
    TARGETS = frozenset({TRACE})

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return self.head(x), self.aux(x)
        """),
        Valid("""
            class Backbone(nn.Module):
                def forward(self, x):
                    return {"c3": self.c3(x), "c4": self.c4(x)}

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = Backbone()  # a submodule: its parent unpacks the dict

                def forward(self, x):
                    return self.head(self.backbone(x)["c4"])
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return [self.a(x), self.b(x)]
        """),
        Valid("""
            class Helper:
                def forward(self, x):  # not an nn.Module
                    return {"out": x}
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    def summary():
                        return {"mean": x.mean()}  # a nested function's return
                    return x * 2
        """),
        Valid("""
            class Net(nn.Module):
                def extra_repr(self):
                    return "dim=4"
        """),
    ]

    INVALID = [
        Invalid("""
            class DeepLab(nn.Module):
                def forward(self, x):
                    return {"out": self.classifier(x), "aux": self.aux_classifier(x)}
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    result = {}
                    result["out"] = self.head(x)
                    return result
        """),
        Invalid("""
            from transformers.modeling_outputs import BaseModelOutput

            class Encoder(nn.Module):
                def forward(self, x):
                    return BaseModelOutput(last_hidden_state=self.layers(x))
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x is None:
                        return None
                    return self.head(x)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return self.head(x), dict(features=self.body(x))
        """),
        Invalid("""
            class Tagger(nn.Module):
                def forward(self, x):
                    return "label"
        """),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        class_node = self.context.current_class
        if node.name.value != "forward" or class_node is None:
            return
        model_code = self.context.model_code
        class_name = class_node.name.value
        if class_name not in model_code.module_classes or class_name in model_code.submodule_classes:
            return
        dict_names = self._dict_locals(node)
        for statement in _body_statements(node):
            if isinstance(statement, cst.Return) and statement.value is not None:
                kind = self._non_tensor(statement.value, dict_names)
            elif isinstance(statement, cst.Return):
                kind = "None"
            else:
                continue
            if kind:
                self.report(
                    statement,
                    f"forward of {class_name} returns {kind}: torch.jit.trace and coremltools "
                    "need tensors or tuples of tensors; convert a wrapper that returns tensors "
                    "(torchready convert generates one)",
                )

    def _non_tensor(self, value: cst.BaseExpression, dict_names: set[str]) -> str | None:
        if isinstance(value, cst.Dict) or isinstance(value, cst.DictComp):
            return "a dict"
        if isinstance(value, cst.Name):
            if value.value == "None":
                return "None"
            return "a dict" if value.value in dict_names else None
        if isinstance(value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
            return "a string"
        if isinstance(value, cst.Call):
            name = self.context.imports.resolve_or_name(value.func) or ""
            if name == "dict":
                return "a dict"
            last = name.rsplit(".", 1)[-1]
            if last.endswith("Output") or last.endswith("OutputWithPast") or any(
                    marker in name for marker in OUTPUT_MODULES):
                return f"a {last} (a ModelOutput, which is a dict)"
            return None
        if isinstance(value, (cst.Tuple, cst.List)):
            for element in value.elements:
                kind = self._non_tensor(element.value, dict_names)
                if kind:
                    return f"a {type(value).__name__.lower()} holding {kind}"
        return None

    @staticmethod
    def _dict_locals(function: cst.FunctionDef) -> set[str]:
        names = set()
        for statement in _body_statements(function):
            if isinstance(statement, cst.Assign) and isinstance(statement.value, cst.Dict):
                names.update(t.target.value for t in statement.targets
                             if isinstance(t.target, cst.Name))
        return names


def _body_statements(function: cst.FunctionDef):
    body = function.body.body if isinstance(function.body, cst.IndentedBlock) else ()
    return iter_statements(body, enter_definitions=False)
