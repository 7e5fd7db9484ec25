"""Numeric parity for a composite op on Linux, where Core ML cannot run a model.

Two independent oracles, each compared with eager PyTorch on the op's example model:

* "value-inference": the example's inputs become constants (buffers) and the model is converted
  at fp32. coremltools' const-elimination pass then evaluates the MIL ops our lowering emitted with
  their own numpy `value_inference` (the semantics coremltools documents for those ops) and leaves
  the result as one const in the final program. We read that const back.
* "milrt": the example, with real (flexible) inputs, converted at fp32 and executed by torchready's
  MIL reference runtime (`torchready.convert.milrt`), when that runtime supports every op in the program.

A lowering that gets the semantics wrong (an off-by-one slice, a wrong dtype, a reversed
subtraction) fails both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchready.convert.composite_ops import CompositeOp


@dataclass(frozen=True)
class ParityCheck:
    kind: str
    oracle: str  # "value-inference" or "milrt"
    max_abs_error: float | None  # None when the oracle could not run
    passed: bool
    detail: str = ""
    ran: bool = True  # False: the oracle is not usable for this program (yet); not a failure


def check_parity(op: CompositeOp, *, atol: float = 1e-5) -> list[ParityCheck]:
    """Run every available oracle for `op`; at least the value-inference one always runs."""
    checks = [_value_inference_check(op, atol)]
    milrt = _milrt_check(op, atol)
    if milrt is not None:
        checks.append(milrt)
    return checks


def _eager(example: Any) -> Any:
    import torch

    with torch.no_grad():
        return example.module(*example.example_inputs)


def _compare(kind: str, oracle: str, expected: Any, actual: Any, atol: float) -> ParityCheck:
    import numpy as np

    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        return ParityCheck(kind, oracle, None, False,
                           f"shape {actual.shape} instead of torch's {expected.shape}")
    error = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    return ParityCheck(kind, oracle, error, error <= atol)


def _value_inference_check(op: CompositeOp, atol: float) -> ParityCheck:
    import numpy as np
    import torch

    from torchready.convert.coreml.quiet import import_coremltools, recording
    from torchready.convert.composite_ops import installed

    ct = import_coremltools()
    example = op.example()
    expected = _eager(example).to(torch.float32)

    class Folded(torch.nn.Module):
        """The example with its inputs frozen in: everything before `+ anchor` is constant."""

        def __init__(self) -> None:
            super().__init__()
            self.model = example.module
            for index, value in enumerate(example.example_inputs):
                self.register_buffer(f"input_{index}", value.clone())

        def forward(self, anchor):
            constants = [getattr(self, f"input_{i}") for i in range(len(example.example_inputs))]
            return self.model(*constants).to(torch.float32) + anchor

    anchor = torch.zeros_like(expected)
    traced = torch.jit.trace(Folded().eval(), (anchor,))
    with installed(), recording():
        mlmodel = ct.convert(
            traced,
            inputs=[ct.TensorType(name="anchor", shape=tuple(anchor.shape), dtype=np.float32)],
            outputs=[ct.TensorType(name="result")],
            compute_precision=ct.precision.FLOAT32,
            convert_to="mlprogram",
            skip_model_load=True,
        )
    function = mlmodel._mil_program.functions["main"]
    final = function.outputs[0].op
    constants = [var for var in final.inputs.values()
                 if hasattr(var, "op") and var.op is not None and var.op.op_type == "const"
                 and var.val is not None and np.shape(var.val) == tuple(expected.shape)]
    if final.op_type != "add" or len(constants) != 1:
        # coremltools could not evaluate some emitted op (not every MIL op has value_inference):
        # this oracle cannot judge the lowering, the reference runtime has to.
        return ParityCheck(op.kind, "value-inference", None, False,
                           f"the program did not fold to add(const, anchor) (ends in "
                           f"{final.op_type})", ran=False)
    return _compare(op.kind, "value-inference", expected.numpy(), constants[0].val, atol)


def _milrt_check(op: CompositeOp, atol: float) -> ParityCheck | None:
    """None when the reference runtime is not available (yet) in this tree."""
    try:
        from torchready.convert.milrt.loader import load_program
    except ImportError:
        return None
    import numpy as np
    import torch

    from torchready.convert.coreml.quiet import import_coremltools, recording
    from torchready.convert.composite_ops import installed

    ct = import_coremltools()
    example = op.example()
    expected = _eager(example)
    traced = torch.jit.trace(example.module, example.example_inputs)
    kwargs = example.convert_kwargs()
    with installed(), recording():
        mlmodel = ct.convert(traced, outputs=[ct.TensorType(name="result")],
                             compute_precision=ct.precision.FLOAT32, convert_to="mlprogram",
                             skip_model_load=True, **kwargs)
    program = load_program(mlmodel)
    missing = program.unsupported_ops()
    if missing:
        return ParityCheck(op.kind, "milrt", None, False,
                           "the reference runtime has no kernel for "
                           + ", ".join(sorted({op_type for op_type, _, _ in missing})), ran=False)
    feeds = {declared.name: value.numpy().astype(np.float32 if value.is_floating_point() else np.int32)
             for declared, value in zip(kwargs["inputs"], example.example_inputs)}
    outputs = program.run(feeds, precision="fp32").outputs
    return _compare(op.kind, "milrt", expected.to(torch.float64).numpy(), outputs["result"], atol)
