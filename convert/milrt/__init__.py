"""torchready's MIL reference runtime: execute a converted model's final ML program on CPU.

    from torchready.convert.milrt import load_program
    program = load_program("model.mlpackage")          # or an in-memory ct.models.MLModel
    result = program.run({"x": x}, keep="all")         # outputs, intermediates, per-op records

The program is read back from the serialized model with coremltools' milproto loader, so what
runs is what ships (after every coremltools pass, with the package's weights), and executed op
by op with one small torch/numpy kernel per MIL op type (`SUPPORTED_OPS`). Values typed fp16
are rounded to fp16 after the op that produces them, so fp16 overflow and precision loss show
up where they would on device; `while_loop`, `cond` and list ops run nested blocks. A
mixed-precision program (fp32 islands left by `FP16ComputePrecision(op_selector=...)`) runs as
it is typed: values of fp32 ops are never rounded, the casts around them are.

What a run proves: the shipped program, under MIL semantics as documented by coremltools' op
definitions, computes these values. What it cannot prove: that Apple's runtime does. Core ML
may fuse ops, pick different algorithms or accumulation precision, and GPU / Neural Engine
numerics are not emulated at all; on macOS, `torchready.convert.milrt.coreml_predict` runs the real
Core ML runtime on the same feeds so both can be compared.
"""

from torchready.convert.milrt import kernels as _kernels  # noqa: F401  (registers every kernel)
from torchready.convert.milrt.errors import (
    InvalidFeedError,
    LoopLimitError,
    NotAnMLProgramError,
    ReferenceRuntimeError,
    UnsupportedOpError,
)
from torchready.convert.milrt.io_contract import InputSpec
from torchready.convert.milrt.loader import load_program
from torchready.convert.milrt.program import ReferenceProgram
from torchready.convert.milrt.records import OpRecord, RunResult, ValueStats
from torchready.convert.milrt.registry import SUPPORTED_OPS, supported_ops_by_family

__all__ = [
    "SUPPORTED_OPS",
    "InputSpec",
    "InvalidFeedError",
    "LoopLimitError",
    "NotAnMLProgramError",
    "OpRecord",
    "ReferenceProgram",
    "ReferenceRuntimeError",
    "RunResult",
    "UnsupportedOpError",
    "ValueStats",
    "load_program",
    "supported_ops_by_family",
]
