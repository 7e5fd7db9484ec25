"""Shared helpers for the reference runtime tests: convert, load back, run, compare."""

from __future__ import annotations

import logging
import warnings

import numpy as np


def quiet() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*TracerWarning.*")
    logging.getLogger("coremltools").setLevel(logging.ERROR)


def precision_of(name: str):
    import coremltools as ct

    return ct.precision.FLOAT32 if name == "fp32" else ct.precision.FLOAT16


def convert_torch(
    module, example_inputs, precision: str = "fp32", inputs=None, target=None, script=False, **extra
):
    """Trace (or script) and convert with ct.convert into an in-memory ML program."""
    import coremltools as ct
    import torch

    quiet()
    module = module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captured = torch.jit.script(module) if script else torch.jit.trace(module, example_inputs)
    if inputs is None:
        inputs = [
            ct.TensorType(
                name=f"x{i}",
                shape=tuple(t.shape),
                dtype=np.int32 if not t.is_floating_point() else np.float32,
            )
            for i, t in enumerate(example_inputs)
        ]
    kwargs = dict(extra)
    if target is not None:
        kwargs["minimum_deployment_target"] = target
    return ct.convert(
        captured,
        inputs=inputs,
        convert_to="mlprogram",
        compute_precision=precision_of(precision),
        skip_model_load=True,
        **kwargs,
    )


def convert_mil(program, target, precision: str = "fp32"):
    """Convert a pymil program without the optimization pipeline, so every op stays as built."""
    import coremltools as ct

    quiet()
    return ct.convert(
        program,
        convert_to="mlprogram",
        minimum_deployment_target=target,
        compute_precision=precision_of(precision),
        pass_pipeline=ct.PassPipeline.EMPTY,
        skip_model_load=True,
    )


def op_types(program) -> set[str]:
    """Every op type in a ReferenceProgram, nested blocks included."""
    found: set[str] = set()

    def walk(plan):
        for step in plan.steps:
            found.add(step.info.op_type)
            for block in step.blocks:
                walk(block)

    walk(program._plan)
    return found


def feeds_for(program, tensors) -> dict[str, np.ndarray]:
    """Feeds keyed by the program's input names, in order, from torch tensors."""
    return {
        name: (t.numpy().astype(np.int32) if not t.is_floating_point() else t.numpy())
        for name, t in zip(program.input_specs, tensors)
    }


def assert_fp32_close(got, expected, name: str = "", rtol: float = 1e-5) -> None:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    scale = max(1.0, float(np.nanmax(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=name)


def psnr(got, expected) -> float:
    """coremltools' PSNR formula (debugging_utils.compute_snr_and_psnr)."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    expected = np.asarray(expected, dtype=np.float64).reshape(-1)
    noise = np.sum((got - expected) ** 2) / max(len(got), 1)
    return 10 * np.log10((np.max(expected**2) + 1e-5) / (noise + 1e-10))


def assert_fp16_close(got, expected, name: str = "", min_psnr: float = 50.0) -> None:
    """fp16 programs: judged by PSNR against fp32 torch, and finite where torch is."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert np.array_equal(np.isfinite(got), np.isfinite(expected)), f"{name}: non-finite values differ"
    finite = np.isfinite(expected)
    value = psnr(got[finite], expected[finite])
    assert value >= min_psnr, f"{name}: PSNR {value:.1f} dB < {min_psnr} dB"
