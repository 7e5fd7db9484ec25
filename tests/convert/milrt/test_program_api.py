"""The public API: loading, the input contract, keep/records/callbacks, unsupported ops, fp16
overflow, flexible shapes, image inputs and the `torchready runtime-ops` listing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from milrt_helpers import convert_torch

from torchready.convert.milrt import (
    SUPPORTED_OPS,
    InvalidFeedError,
    NotAnMLProgramError,
    UnsupportedOpError,
    load_program,
)
from torchready.lint.types import UsageError


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        y = torch.nn.functional.gelu(self.conv(x))
        return self.fc(y.mean(dim=(2, 3))), y.amax(dim=1)


EXAMPLE = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def small():
    return load_program(convert_torch(Small(), (EXAMPLE,), "fp16"))


def test_saved_package_and_in_memory_model_run_the_same_program(tmp_path):
    mlmodel = convert_torch(Small(), (EXAMPLE,), "fp32")
    path = tmp_path / "small.mlpackage"
    mlmodel.save(str(path))
    in_memory, saved = load_program(mlmodel), load_program(path)
    feeds = {"x0": EXAMPLE.numpy()}
    a, b = in_memory.run(feeds).outputs, saved.run(feeds).outputs
    assert list(a) == list(b) == list(saved.output_names)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    with torch.no_grad():
        np.testing.assert_allclose(
            a[saved.output_names[0]], Small()(EXAMPLE)[0].numpy(), rtol=1e-5, atol=1e-6
        )


def test_neuralnetwork_models_are_refused(tmp_path):
    import coremltools as ct
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder([("x", datatypes.Array(2))], [("y", datatypes.Array(2))])
    builder.add_activation("relu", "RELU", "x", "y")
    path = tmp_path / "legacy.mlmodel"
    ct.models.MLModel(builder.spec, skip_model_load=True).save(str(path))
    with pytest.raises(
        NotAnMLProgramError, match="neuralNetwork model; the reference runtime only runs ML programs"
    ):
        load_program(path)
    with pytest.raises(UsageError, match="no model at"):
        load_program(tmp_path / "missing.mlpackage")
    with pytest.raises(UsageError, match="expects a path to a .mlpackage or a coremltools MLModel"):
        load_program(42)


def test_feeds_are_checked_against_the_input_contract(small):
    spec = small.input_specs["x0"]
    assert (spec.kind, spec.mil_dtype, spec.shape) == ("tensor", "fp32", (1, 3, 6, 6))
    good = EXAMPLE.numpy()
    with pytest.raises(InvalidFeedError, match="missing feed for input 'x0'"):
        small.run({})
    with pytest.raises(InvalidFeedError, match="unknown input 'y'"):
        small.run({"x0": good, "y": good})
    with pytest.raises(
        InvalidFeedError, match=r"expects fp32 tensor \[1, 3, 6, 6\], got shape \[1, 3, 6, 5\]"
    ):
        small.run({"x0": good[..., :5]})
    with pytest.raises(InvalidFeedError, match="must be numeric"):
        small.run({"x0": np.array([["a"]])})
    with pytest.raises(InvalidFeedError, match="precision must be one of"):
        small.run({"x0": good}, precision="fp8")
    # float64 feeds are converted like MLModel.predict converts them
    small.run({"x0": good.astype(np.float64)})


def test_int_inputs_take_int32_token_ids():
    import coremltools as ct

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(10, 3)

        def forward(self, ids):
            return self.table(ids)

    ids = torch.tensor([[1, 9, 4]])
    program = load_program(
        convert_torch(Embed(), (ids,), inputs=[ct.TensorType(name="ids", shape=(1, 3), dtype=np.int32)])
    )
    assert program.input_specs["ids"].dtype == np.int32
    with pytest.raises(InvalidFeedError, match="expects int32 values, got float32"):
        program.run({"ids": ids.numpy().astype(np.float32)})
    with pytest.raises(InvalidFeedError, match="outside the int32 range"):
        program.run({"ids": np.array([[1, 2**40, 3]], dtype=np.int64)})
    assert program.run({"ids": ids.numpy()}).outputs[program.output_names[0]].shape == (1, 3, 3)


def test_flexible_shapes_run_at_every_size_in_range():
    import coremltools as ct

    class Pool(torch.nn.Module):
        def forward(self, x):
            return torch.softmax(x, dim=-1).cumsum(dim=-1) * x.shape[-1] ** 0.5

    program = load_program(
        convert_torch(
            Pool(), (torch.randn(2, 5),), inputs=[ct.TensorType(name="x", shape=(2, ct.RangeDim(2, 9, 5)))]
        )
    )
    spec = program.input_specs["x"]
    assert spec.is_flexible and spec.shape_ranges == ((2, 2), (2, 9))
    for size in (2, 5, 9):
        x = torch.randn(2, size)
        got = program.run({"x": x.numpy()}).outputs[program.output_names[0]]
        np.testing.assert_allclose(got, Pool()(x).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidFeedError, match=r"expects fp32 tensor \[2, 2\.\.9\], got shape \[2, 10\]"):
        program.run({"x": np.zeros((2, 10), dtype=np.float32)})


def test_enumerated_shapes_accept_only_the_listed_shapes():
    import coremltools as ct

    program = load_program(
        convert_torch(
            torch.nn.ReLU(),
            (torch.randn(1, 4),),
            inputs=[
                ct.TensorType(name="x", shape=ct.EnumeratedShapes(shapes=[(1, 4), (3, 4)], default=(1, 4)))
            ],
        )
    )
    assert program.input_specs["x"].enumerated_shapes == ((1, 4), (3, 4))
    program.run({"x": np.ones((3, 4), dtype=np.float32)})
    with pytest.raises(InvalidFeedError, match=r"\[1, 4\] or \[3, 4\]"):
        program.run({"x": np.ones((2, 4), dtype=np.float32)})


def test_image_inputs_take_raw_pixels_in_the_declared_color_order():
    import coremltools as ct

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x * 1.0

    pixels = torch.randint(0, 256, (1, 3, 4, 5)).float()
    program = load_program(
        convert_torch(
            Identity(),
            (pixels,),
            inputs=[
                ct.ImageType(
                    name="image",
                    shape=(1, 3, 4, 5),
                    scale=1 / 255.0,
                    bias=[-0.5, -0.25, 0.0],
                    color_layout=ct.colorlayout.BGR,
                )
            ],
        )
    )
    spec = program.input_specs["image"]
    assert (spec.kind, spec.color_layout, spec.shape) == ("image", "BGR", (1, 3, 4, 5))
    got = program.run({"image": pixels.numpy()}).outputs[program.output_names[0]]
    # The preprocessing runs inside the program: y = x * scale + bias, per channel in BGR order.
    np.testing.assert_allclose(
        got, pixels.numpy() / 255.0 + np.array([-0.5, -0.25, 0.0]).reshape(1, 3, 1, 1), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(InvalidFeedError, match="takes raw 0..255 pixels"):
        program.run({"image": pixels.numpy() / 255.0 - 0.5})
    with pytest.raises(InvalidFeedError, match="8-bit pixels"):
        program.run({"image": pixels.numpy() + 0.5})
    assert spec.example(np.random.default_rng(0)).max() <= 255


def test_keep_records_and_callbacks(small):
    feeds = {"x0": EXAMPLE.numpy()}
    plain = small.run(feeds)
    assert plain.intermediates == {} and plain.records == []
    everything = small.run(feeds, keep="all")
    op_outputs = {name for record in everything.records for name in record.output_names}
    assert op_outputs == set(everything.intermediates)
    gelu = next(r for r in everything.records if r.op_type == "gelu")
    assert gelu.dtype == "fp16" and gelu.shape == (1, 4, 6, 6) and gelu.block == "main"
    value = everything.intermediates[gelu.output_names[0]]
    assert value.dtype == np.float16
    assert gelu.min == pytest.approx(float(value.min())) and gelu.max == pytest.approx(float(value.max()))
    assert gelu.nan_count == 0 and gelu.inf_count == 0 and not gelu.fp16_overflow
    for name in small.output_names:
        np.testing.assert_array_equal(everything.outputs[name], plain.outputs[name])

    chosen = small.run(feeds, keep={gelu.output_names[0]})
    assert set(chosen.intermediates) == {gelu.output_names[0]} and chosen.records
    with pytest.raises(InvalidFeedError, match="does not compute: 'nope'"):
        small.run(feeds, keep={"nope"})

    seen = []
    small.run(feeds, on_op=lambda record, values: seen.append((record.op_type, set(values))))
    assert [op for op, _ in seen] == [r.op_type for r in everything.records]
    assert all(names for _, names in seen)


def test_missing_kernels_are_listed_up_front_and_named_when_reached(monkeypatch):
    from torchready.convert.milrt import registry

    monkeypatch.delitem(registry.KERNELS, "gelu")
    program = load_program(convert_torch(Small(), (EXAMPLE,), "fp32"))
    unsupported = program.unsupported_ops()
    assert len(unsupported) == 1
    op_type, op_name, block = unsupported[0]
    assert (op_type, block) == ("gelu", "main")
    with pytest.raises(
        UnsupportedOpError,
        match=rf"op gelu is not supported by the reference runtime \(at {op_name} in main\)",
    ):
        program.run({"x0": EXAMPLE.numpy()})


class Overflow(torch.nn.Module):
    def forward(self, x):
        y = x * 300.0
        z = y * y  # |x| ~ 1 -> ~9e4 > 65504: overflows fp16
        return torch.tanh(z / 1.0e5), z.mean()


def test_fp16_overflow_negative_control():
    x = torch.linspace(-1.0, 1.0, 12).reshape(3, 4)
    feeds = {"x0": x.numpy()}
    fp32 = load_program(convert_torch(Overflow(), (x,), "fp32"))
    fp16 = load_program(convert_torch(Overflow(), (x,), "fp16"))
    finite = fp32.run(feeds).outputs
    assert all(np.isfinite(v).all() for v in finite.values())
    with torch.no_grad():
        np.testing.assert_allclose(
            finite[fp32.output_names[0]], Overflow()(x)[0].numpy(), rtol=1e-5, atol=1e-6
        )

    broken = fp16.run(feeds, keep="all")
    assert not np.isfinite(broken.outputs[fp16.output_names[1]]).all()  # the mean of an inf tensor
    overflowing = [r for r in broken.records if r.fp16_overflow]
    assert overflowing and overflowing[0].op_type == "mul" and overflowing[0].inf_count > 0
    # fp32 execution of the same fp16 program stays finite but still flags the overflow
    upcast = fp16.run(feeds, keep="all", precision="fp32")
    assert np.isfinite(upcast.outputs[fp16.output_names[1]]).all()
    assert [r.op_name for r in upcast.records if r.fp16_overflow][0] == overflowing[0].op_name


def test_runtime_ops_command_lists_every_kernel(capsys):
    from torchready.cli import main

    assert main(["runtime-ops", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    listed = {op for ops in listing["families"].values() for op in ops}
    assert listed == set(SUPPORTED_OPS) and listing["count"] == len(SUPPORTED_OPS) >= 160
    assert {"conv", "while_loop", "lstm", "scaled_dot_product_attention", "upsample_bilinear"} <= listed
    assert main(["runtime-ops", "--coverage"]) == 0
    text = capsys.readouterr().out
    assert "control flow" in text and "without a kernel: none" in text


def test_intermediates_are_released_right_after_their_last_use(small):
    """Last use is computed once per block: every input and op output except the function outputs is
    released exactly once, by the last step that reads it (or right away if nothing does)."""
    plan = small._plan
    released = [name for step in plan.steps for name in step.release]
    produced = [name for step in plan.steps for name in step.out_names]
    assert sorted(released) == sorted((set(produced) | set(small.input_specs)) - set(small.output_names))
    for index, step in enumerate(plan.steps):
        for name in step.release:
            later_reads = [s for s in plan.steps[index + 1 :] if name in {n for _, n in s.var_kwargs}]
            assert not later_reads, f"{name} released at step {index} but read later"


def test_coreml_predict_is_macos_only():
    import coremltools as ct

    from torchready.convert.milrt import coreml_predict

    if ct.utils._is_macos():
        pytest.skip("this machine has Core ML; the Linux guard is what is tested here")
    assert coreml_predict.available() is False
    with pytest.raises(RuntimeError, match="needs macOS"):
        coreml_predict.predict("unused.mlpackage", {})


def test_classifier_models_return_the_label_and_the_probability_dict():
    import coremltools as ct

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=-1)).eval()
    x = torch.randn(1, 4, generator=torch.Generator().manual_seed(2))
    mlmodel = convert_torch(model, (x,), "fp32", classifier_config=ct.ClassifierConfig(["cat", "dog", "cow"]))
    program = load_program(mlmodel)
    label, probabilities = (program.run({"x0": x.numpy()}).outputs[n] for n in program.output_names)
    with torch.no_grad():
        expected = model(x)[0].numpy()
    assert label == ["cat", "dog", "cow"][int(expected.argmax())]
    np.testing.assert_allclose([probabilities[k] for k in ("cat", "dog", "cow")], expected, rtol=1e-5)
