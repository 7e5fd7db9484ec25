"""Conversion plus parity on the MIL reference runtime, for the tests of each zoo fix."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

FP32_TOLERANCE = 1e-4  # coremltools' own fp32 test tolerance (atol), relative to the peak > 1


def convert(module: Any, inputs: tuple, **kwargs: Any) -> Any:
    from torchready import to_coreml

    return to_coreml(module, inputs, lint=False, **kwargs)


def diagnostics_of(result: Any, code: str) -> list[Any]:
    return [d for d in result.diagnostics if d.code == code]


def random_like(tensor: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if tensor.is_floating_point():
        return torch.randn(tuple(tensor.shape), generator=generator, dtype=tensor.dtype)
    return torch.randint(int(tensor.min()), int(tensor.max()) + 1, tuple(tensor.shape),
                         generator=generator, dtype=tensor.dtype)


def reference_errors(result: Any, seeds: tuple[int, ...] = (1,)) -> list[float]:
    """Max |Core ML - eager| / max(1, |eager| peak) per output, on the example inputs and on
    random inputs of the same shape: the converted program runs in the MIL reference runtime
    (fp32 arithmetic), eager PyTorch runs the prepared model."""
    from torchready.convert.milrt import load_program
    from torchready.convert.model_state import evaluating

    prepared = result.prepared
    program = load_program(result.mlmodel)
    assert program.unsupported_ops() == []
    cases = [prepared.example_inputs]
    cases += [tuple(random_like(t, seed + i) for i, t in enumerate(prepared.example_inputs))
              for seed in seeds]
    errors = []
    for inputs in cases:
        with torch.no_grad(), evaluating(prepared.original):  # given back in its own mode
            expected = prepared.module(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = {plan.name: (t.numpy().astype(np.float32) if t.is_floating_point()
                             else t.numpy().astype(np.int32))
                 for plan, t in zip(result.inputs, inputs)}
        outputs = program.run(feeds, precision="fp32").outputs
        for name, reference in zip(result.output_names, expected):
            reference = reference.detach().double().numpy()
            actual = np.asarray(outputs[name], dtype=np.float64)
            assert actual.shape == reference.shape, (name, actual.shape, reference.shape)
            peak = max(1.0, float(np.abs(reference).max()) if reference.size else 0.0)
            errors.append(float(np.abs(actual - reference).max()) / peak if reference.size
                          else 0.0)
    return errors


def assert_parity(result: Any) -> None:
    assert result.ok, (result.failed_stage, result.error)
    errors = reference_errors(result)
    assert max(errors) <= FP32_TOLERANCE, errors
