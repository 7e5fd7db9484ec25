from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchready.lint.analysis.imports import child_blocks, iter_statements
from torchready.lint.analysis.model_code import iter_calls
from torchready.lint.rule import FixSpec, InsertBefore, Invalid, Rule, Valid
from torchready.lint.targets import CAPTURE_CALLS
from torchready.lint.types import Applicability

CAPTURES = {
    "torch.jit.trace": "torch.jit.trace",
    "torch.jit.trace_module": "torch.jit.trace_module",
    "torch.jit.script": "torch.jit.script",
    "torch.export.export": "torch.export.export",
    "torch.export": "torch.export.export",
    "coremltools.convert": "coremltools.convert",
}
# Calls whose result is not a freshly built nn.Module in training mode.
NOT_CONSTRUCTORS = {"torch.jit.load", "torch.load", "coremltools.models.MLModel"} | set(CAPTURES)
INFERENCE_MODE_CALLS = {"eval"}


class MissingEval(Rule):
    """
    ## What it does
    Finds `torch.jit.trace`, `torch.jit.script`, `torch.export.export` and `coremltools.convert`
    (any import alias) called on a model that was built in the same function (or script) and
    never put in inference mode with `.eval()` or `.train(False)`.

    ## Why is this bad?
    A freshly built `nn.Module` is in training mode. Tracing it records dropout as active and
    batch norm as normalising with the batch's own statistics; coremltools converts that
    faithfully (it only logs "Model is not in eval mode"), so the Core ML model silently
    computes something else than the model you evaluated. Tip 5 of the WWDC20 talk.

    ## Example
    ```python
    model = DeepLabV3()
    traced = torch.jit.trace(model, example)
    ```

    ## Use instead
    ```python
    model = DeepLabV3()
    model.eval()
    traced = torch.jit.trace(model, example)
    ```

    ## Fix safety
    Safe: the fix inserts `model.eval()` on its own line before the first capture call.
    Inference mode is what every exported model needs.

    ## Known false positives
    A factory that already calls `.eval()` in another file is not seen; factories in the same
    file are inspected. `from_pretrained` models are in eval mode and are not reported.
    """

    CODE = "TR401"
    NAME = "missing-eval"
    SUMMARY = "a model is traced/scripted/exported/converted without model.eval()"
    FIX = Applicability.SAFE
    NEEDS_TEXT = ("jit", "export", "convert")

    VALID = [
        Valid("""
            model = Net()
            model.eval()
            traced = torch.jit.trace(model, torch.rand(1, 3))
        """),
        Valid("""
            model = Net().eval()
            traced = torch.jit.trace(model, torch.rand(1, 3))
        """),
        Valid("""
            def export(model):
                # a parameter: whoever built it decides its mode
                return torch.jit.trace(model, torch.rand(1, 3))
        """),
        Valid("""
            import coremltools as ct

            model = Net()
            model.train(False)
            mlmodel = ct.convert(torch.jit.trace(model, torch.rand(1, 3)))
        """),
        Valid("""
            import coremltools as ct

            model = Net()
            model.eval()
            traced = torch.jit.trace(model, torch.rand(1, 3))
            mlmodel = ct.convert(traced)  # a traced module, not the model
        """),
        Valid("""
            def build():
                net = Net()
                return net.eval()

            model = build()
            traced = torch.jit.trace(model, torch.rand(1, 3))
        """),
        Valid("""
            from transformers import AutoModel

            model = AutoModel.from_pretrained("bert-base-uncased")
            traced = torch.jit.trace(model, torch.rand(1, 3))
        """),
    ]

    INVALID = [
        Invalid(
            """
            model = Net()
            traced = torch.jit.trace(model, torch.rand(1, 3))
            """,
            expected_fix="""
            model = Net()
            model.eval()
            traced = torch.jit.trace(model, torch.rand(1, 3))
            """,
        ),
        Invalid(
            """
            from torch.jit import script as compile_model

            def convert():
                net = Net(width=4)
                net.requires_grad_(False)
                return compile_model(net)
            """,
            expected_fix="""
            from torch.jit import script as compile_model

            def convert():
                net = Net(width=4)
                net.requires_grad_(False)
                net.eval()
                return compile_model(net)
            """,
        ),
        Invalid(
            """
            import coremltools as ct
            import torchvision

            def main():
                model = torchvision.models.segmentation.deeplabv3_resnet101()
                example = torch.rand(1, 3, 448, 448)
                with torch.no_grad():
                    traced = torch.jit.trace(model, example)
                return ct.convert(traced)
            """,
            expected_fix="""
            import coremltools as ct
            import torchvision

            def main():
                model = torchvision.models.segmentation.deeplabv3_resnet101()
                example = torch.rand(1, 3, 448, 448)
                with torch.no_grad():
                    model.eval()
                    traced = torch.jit.trace(model, example)
                return ct.convert(traced)
            """,
        ),
        Invalid(
            """
            model = Net().to("cpu")
            program = torch.export.export(model, (torch.rand(1, 3),))
            """,
            expected_fix="""
            model = Net().to("cpu")
            model.eval()
            program = torch.export.export(model, (torch.rand(1, 3),))
            """,
        ),
        Invalid(
            """
            import coremltools as ct

            model = Net()
            program = torch.export.export(model, (torch.rand(1, 3),))
            mlmodel = ct.convert(program)
            model.eval()  # too late: the program was captured in training mode
            """,
            expected_fix="""
            import coremltools as ct

            model = Net()
            model.eval()
            program = torch.export.export(model, (torch.rand(1, 3),))
            mlmodel = ct.convert(program)
            model.eval()  # too late: the program was captured in training mode
            """,
        ),
    ]

    def visit_Module(self, node: cst.Module) -> None:
        imports = self.context.imports
        self.captures = {id(call) for call in self.context.calls.calls
                         if imports.resolve(call.func) in CAPTURES}
        if not self.captures:
            return  # most files never capture a model: nothing to walk
        self.factories = _eval_factories(node, self.context.calls)
        self._check_scope(node.body)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.captures or not any(id(call) in self.captures
                                        for call in self.context.calls.calls_in(node)):
            return
        if isinstance(node.body, cst.IndentedBlock):
            self._check_scope(node.body.body)

    def _check_scope(self, body) -> None:
        """Walk the scope's statements in order: models built, models put in eval, captures."""
        imports = self.context.imports
        built: set[str] = set()
        in_eval: set[str] = set()
        reported: set[str] = set()
        parents = _statement_lines(body)
        for statement in iter_statements(body, enter_definitions=False):
            for call in _header_calls(statement):
                capture = CAPTURES.get(imports.resolve(call.func) or "")
                if capture and call.args and isinstance(call.args[0].value, cst.Name):
                    name = call.args[0].value.value
                    if name in built and name not in in_eval and name not in reported:
                        reported.add(name)
                        self._report(call, name, capture, parents.get(id(statement), statement))
                _note_eval_call(call, in_eval)
            if isinstance(statement, (cst.Assign, cst.AnnAssign)) and statement.value is not None:
                targets = ([t.target for t in statement.targets] if isinstance(statement, cst.Assign)
                           else [statement.target])
                for target in targets:
                    if isinstance(target, cst.Name):
                        self._note_binding(target.value, statement.value, built, in_eval)

    def _note_binding(self, name: str, value: cst.BaseExpression, built: set[str],
                      in_eval: set[str]) -> None:
        built.discard(name)
        in_eval.discard(name)
        if not isinstance(value, cst.Call):
            return
        if _ends_in_eval(value):
            in_eval.add(name)
            return
        root = _call_root(value)
        callee = self.context.imports.resolve_or_name(root.func) or ""
        if callee in NOT_CONSTRUCTORS or callee.endswith("from_pretrained"):
            return
        if isinstance(root.func, cst.Name) and root.func.value in self.factories:
            in_eval.add(name)
            return
        built.add(name)

    def _report(self, call: cst.Call, name: str, capture: str, statement: cst.CSTNode) -> None:
        self.report(
            call,
            f"`{name}` is passed to {capture} in training mode: dropout stays active and batch "
            f"norm uses batch statistics, so the converted model silently differs; call "
            f"`{name}.eval()` first",
            FixSpec(f"Insert `{name}.eval()`", (InsertBefore(statement, f"{name}.eval()"),),
                    Applicability.SAFE),
            # The capture this call makes; coremltools.convert concerns every target.
            targets=(CAPTURE_CALLS[capture],) if capture in CAPTURE_CALLS else None,
        )


def _header_calls(statement: cst.CSTNode) -> Iterator[cst.Call]:
    """Calls in a statement itself, not in the blocks of a compound statement."""
    if isinstance(statement, cst.BaseSmallStatement):
        return iter_calls(statement)
    parts = []
    for attribute in ("test", "iter"):
        part = getattr(statement, attribute, None)
        if part is not None:
            parts.append(part)
    parts.extend(item.item for item in getattr(statement, "items", ()))
    return (call for part in parts for call in iter_calls(part))


def _note_eval_call(call: cst.Call, in_eval: set[str]) -> None:
    """`model.eval()`, `model.train(False)`, `model.train(mode=False)`."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
        return
    method = func.attr.value
    if method in INFERENCE_MODE_CALLS or (
            method == "train" and call.args and isinstance(call.args[0].value, cst.Name)
            and call.args[0].value.value == "False"):
        in_eval.add(func.value.value)


def _ends_in_eval(call: cst.Call) -> bool:
    """`Net().eval()`, `Net().to(device).eval()`: anywhere in a chain of method calls."""
    node: cst.BaseExpression = call
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if node.func.attr.value in INFERENCE_MODE_CALLS:
            return True
        node = node.func.value
    return False


def _call_root(call: cst.Call) -> cst.Call:
    """`Net(4).to("cpu")` -> `Net(4)`: the call that built the object a method chain returns."""
    node = call
    while isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Call):
        node = node.func.value
    return node


def _eval_factories(module: cst.Module, calls) -> set[str]:
    """Module-level functions of this file that call `.eval()`: they return inference models."""
    names = set()
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and any(
                isinstance(call.func, cst.Attribute) and call.func.attr.value == "eval"
                for call in calls.calls_in(statement)):
            names.add(statement.name.value)
    return names


def _statement_lines(body) -> dict[int, cst.CSTNode]:
    """Small statement -> the line (SimpleStatementLine) holding it, for inserting before it."""
    lines: dict[int, cst.CSTNode] = {}

    def walk(statements):
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    lines[id(small)] = statement
            elif not isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                for block in child_blocks(statement):
                    walk(block)

    walk(body)
    return lines


