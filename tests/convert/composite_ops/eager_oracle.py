"""A torch module against eager PyTorch through the real conversion: torch.jit.trace (or
torch.export) -> torchready's conversion stage (ct.convert with torchready's converters) -> the
MIL reference runtime, judged by torchready's own parity rule for the precision."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, settings

from torchready.convert.coreml.conversion import CoreMLOptions, convert_script_module
from torchready.convert.coreml.export_conversion import convert_exported_program
from torchready.convert.milrt import load_program
from torchready.convert.parity.metrics import compare_arrays
from torchready.convert.parity.thresholds import PASS, Thresholds, judge

# CI runs a few fixed (derandomized) examples per op and precision, a conversion each, and
# reports a failing one without shrinking it (each shrink step is a conversion: minutes);
# TORCHREADY_OP_EXAMPLES=200 explores many more, drawn at random, and shrinks what fails.
DEFAULT_EXAMPLES = 2
EXAMPLES = int(os.environ.get("TORCHREADY_OP_EXAMPLES", DEFAULT_EXAMPLES))
_CI = EXAMPLES == DEFAULT_EXAMPLES
OP_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=_CI,
                       phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([] if _CI
                                                                              else [Phase.shrink]),
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.filter_too_much])


def as_fp16_grid(tensor: torch.Tensor) -> torch.Tensor:
    """Float inputs on fp16's grid, so an fp16 program and eager see the same values."""
    return tensor.half().float() if tensor.is_floating_point() else tensor


def converted_outputs(module: torch.nn.Module, inputs: tuple, precision: str,
                      mode: str = "trace", flexible: dict | None = None,
                      run_inputs: tuple | None = None) -> list[np.ndarray]:
    """The converted program's outputs on `run_inputs` (default: `inputs`); `mode` is trace,
    script (frozen) or export."""
    module = module.eval()
    names = [f"input_{i}" for i in range(len(inputs))]
    options = CoreMLOptions(compute_precision=precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode in ("trace", "script"):
            captured = torch.jit.trace(module, inputs) if mode == "trace" \
                else torch.jit.freeze(torch.jit.script(module))
            conversion = convert_script_module(captured, input_names=names,
                                               example_inputs=list(inputs),
                                               output_names=["result"], options=options,
                                               flexible=flexible)
        else:
            program = torch.export.export(module, inputs).run_decompositions({})
            conversion = convert_exported_program(program, input_names=names,
                                                  example_inputs=list(inputs),
                                                  output_names=["result"], options=options)
    assert conversion.ok, (conversion.error, [d.message for d in conversion.diagnostics])
    program = load_program(conversion.mlmodel)
    assert program.unsupported_ops() == []
    feeds = {}
    for name, value in zip(names, run_inputs or inputs):
        array = value.numpy()
        feeds[name] = array.astype(np.float32 if value.is_floating_point() else np.int32)
    outputs = program.run(feeds).outputs
    return [outputs[name] for name in conversion.output_names]


def assert_matches_eager(module: torch.nn.Module, inputs: tuple, precision: str,
                         mode: str = "trace", flexible: dict | None = None,
                         run_inputs: tuple | None = None) -> None:
    """The converted program computes what eager PyTorch computes, under torchready's parity
    rule for `precision` (fp32: coremltools' allclose; fp16: the element-wise fp16 tolerance
    and PSNR), shapes and integer values exactly."""
    if precision == "fp16":
        inputs = tuple(as_fp16_grid(t) for t in inputs)
        run_inputs = tuple(as_fp16_grid(t) for t in run_inputs) if run_inputs else None
    [got] = converted_outputs(module, inputs, precision, mode, flexible, run_inputs)
    with torch.no_grad():
        expected = module(*(run_inputs or inputs))
    expected = expected.numpy()
    rule = Thresholds.for_precision(precision)
    checks = judge(compare_arrays(expected, got), rule, expected, got)
    failed = [c for c in checks if c.status != PASS]
    assert not failed, (failed, expected, got)
