"""Whole models through the runtime: tiny-config transformers models, an LSTM, a U-Net, the
DeepLab-like demo with ImageNet preprocessing, a stateful model and compressed weights.

fp32 programs must match eager closely; fp16 programs are judged by PSNR (coremltools' docs
gate fp16 parity at 40 dB)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from milrt_helpers import assert_fp16_close, convert_torch, feeds_for, psnr

from torchready.convert.composite_ops import installed
from torchready.convert.milrt import load_program

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))
import parity_zoo  # noqa: E402  (the model set parity is proven on: one definition)


class FirstOutput(torch.nn.Module):
    """The runtime is tested on the raw model, without torchready's prepare step: keep the
    first tensor of a transformers `ModelOutput`, the output itself otherwise."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args):
        output = self.model(*args)
        return output if isinstance(output, torch.Tensor) else output[0]


MODELS = {name: factory for name, factory in parity_zoo.MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_eager_in_fp32_and_fp16(name):
    torch.manual_seed(0)
    # transformers' mask code emits ops coremltools 9 lacks (diff, new_ones): convert with
    # torchready's composite ops, as the pipeline does; the programs are what ships.
    module, inputs = MODELS[name]()
    model = FirstOutput(module).eval()
    with torch.no_grad():
        expected = model(*inputs).numpy()
    for precision in ("fp32", "fp16"):
        with installed():
            program = load_program(convert_torch(model, inputs, precision))
        assert program.unsupported_ops() == []
        got = program.run(feeds_for(program, inputs)).outputs[program.output_names[0]]
        if precision == "fp32":
            np.testing.assert_allclose(
                got, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(expected).max()))
            )
        else:
            assert_fp16_close(got, expected, name, min_psnr=40.0)


def test_deeplab_demo_with_imagenet_preprocessing():
    """The talk's segmentation demo: dict output unwrapped, ImageType with scale 1/(0.226*255)
    and per-channel bias; parity on raw pixels, and the label maps (argmax) agree."""
    import coremltools as ct

    sys.path.insert(0, str(FIXTURES))
    try:
        from segmentation import DeepLabLike
    finally:
        sys.path.remove(str(FIXTURES))

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.model = DeepLabLike()

        def forward(self, x):
            return self.model(x)["out"]

    model = Wrapped().eval()
    scale = 1 / (0.226 * 255.0)
    bias = [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]
    pixels = torch.randint(0, 256, (1, 3, 64, 64), generator=torch.Generator().manual_seed(8)).float()
    image = ct.ImageType(name="image", shape=(1, 3, 64, 64), scale=scale, bias=bias)
    program = load_program(convert_torch(model, (pixels * scale,), "fp16", inputs=[image]))
    assert program.input_specs["image"].kind == "image"
    got = program.run({"image": pixels.numpy()}).outputs[program.output_names[0]]
    with torch.no_grad():
        expected = model(pixels * scale + torch.tensor(bias).reshape(1, 3, 1, 1)).numpy()
    assert psnr(got, expected) >= 40.0
    assert np.mean(got.argmax(axis=1) == expected.argmax(axis=1)) >= 0.99


def test_stateful_model_carries_state_between_runs():
    import coremltools as ct

    class Accumulator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("total", torch.zeros(2, 3))

        def forward(self, x):
            self.total.add_(x)
            return self.total * 2.0

    mlmodel = convert_torch(
        Accumulator(),
        (torch.ones(2, 3),),
        "fp16",
        inputs=[ct.TensorType(name="x", shape=(2, 3))],
        target=ct.target.iOS18,
        states=[ct.StateType(wrapped_type=ct.TensorType(shape=(2, 3)), name="total")],
    )
    program = load_program(mlmodel)
    assert program.state_specs == {"total": ((2, 3), "fp16")}
    x = np.full((2, 3), 1.5, dtype=np.float32)
    first = program.run({"x": x})
    second = program.run({"x": x}, states=first.states)
    np.testing.assert_array_equal(first.states["total"], x)
    np.testing.assert_array_equal(second.outputs[program.output_names[0]], 4 * x)


def test_compressed_weights_are_decompressed_once_at_load():
    import coremltools as ct
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OpPalettizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
        palettize_weights,
    )

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(9))
    base = convert_torch(model, (x,), "fp32", target=ct.target.iOS18)
    with torch.no_grad():
        expected = model(x).numpy()
    compressed = {
        "linear": linear_quantize_weights(
            base, OptimizationConfig(global_config=OpLinearQuantizerConfig(weight_threshold=0))
        ),
        "palette": palettize_weights(
            base,
            OptimizationConfig(global_config=OpPalettizerConfig(mode="uniform", nbits=6, weight_threshold=0)),
        ),
    }
    for name, mlmodel in compressed.items():
        program = load_program(mlmodel)
        shipped = {op.op_type for op in program.program.functions["main"].operations}
        assert any(t.startswith("constexpr_") for t in shipped), (name, shipped)
        got = program.run({"x0": x.numpy()}).outputs[program.output_names[0]]
        assert psnr(got, expected) >= 30.0, name
