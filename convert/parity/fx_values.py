"""Every intermediate value of an ExportedProgram's fx graph, by fx node name (export mode).

The export-mode counterpart of `torch_values.GraphValues`: coremltools names each MIL value
after the fx node it converts (`relu_3`, then `relu_3_cast_fp16`), so running the very graph
coremltools converted with `torch.fx.Interpreter` and keeping each node's result (a clone:
later in-place ops must not change it) gives PyTorch's value for each of those names directly.
The program's graph takes its parameters, buffers and constants as leading inputs (torch.export
lifts them); they are fed from the program's state in the order of its graph signature.
"""

from __future__ import annotations

from typing import Any


class FxGraphValues:
    """`run(module, inputs)` -> {fx node name: tensor}; `module` is unused (the program holds
    its own weights) and kept for `GraphValues`' signature."""

    def __init__(self, program: Any) -> None:
        self.program = program

    def _lifted(self) -> list[Any]:
        from torch.export.graph_signature import InputKind

        program = self.program
        values = []
        for spec in program.graph_signature.input_specs:
            if spec.kind == InputKind.USER_INPUT:
                continue
            target = spec.target
            if target in program.state_dict:
                values.append(program.state_dict[target])
            elif target in program.constants:
                values.append(program.constants[target])
            else:
                raise KeyError(f"the exported program has no value for its input {target!r}")
        return values

    def run(self, module: Any, inputs: tuple) -> dict[str, Any]:  # noqa: ARG002
        import torch

        recorded: dict[str, Any] = {}

        class Recording(torch.fx.Interpreter):
            def run_node(self, node: Any) -> Any:
                value = super().run_node(node)
                if node.op == "call_function" and isinstance(value, torch.Tensor):
                    recorded[node.name] = value.clone()
                return value

        with torch.no_grad():
            Recording(self.program.graph_module).run(*self._lifted(), *inputs)
        return recorded


def is_exported_program(graph: Any) -> bool:
    try:
        from torch.export import ExportedProgram
    except ImportError:  # pragma: no cover - torch without export
        return False
    return isinstance(graph, ExportedProgram)
