"""Parity inputs: the same values for both sides, of the right dtype and range."""

import numpy as np
import pytest
import torch
from torch import nn

from torchready.convert.capture.probes import run
from torchready.convert.parity.feeds import build_cases, describe_inputs
from torchready.convert.prepare import prepare
from torchready.convert.spec import ModelSpec


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image):
        return self.conv(image)


class TokensAndTypes(nn.Module):
    def __init__(self):
        super().__init__()
        self.words = nn.Embedding(50, 4)
        self.types = nn.Embedding(2, 4)

    def forward(self, tokens, token_types):
        return self.words(tokens) + self.types(token_types)


class Summer(nn.Module):
    def forward(self, x, mask):
        return (x * mask).sum(dim=-1)


def _accepts(prepared):
    return lambda tensors: run(prepared.module, tensors)[1]


def test_image_inputs_are_pixels_for_core_ml_and_pixels_over_255_for_torch():
    prepared = prepare(ModelSpec(Segmenter(), (torch.rand(1, 3, 8, 8),), imagenet=True))
    infos = describe_inputs(prepared)
    assert [i.kind for i in infos] == ["image"]
    plan = build_cases(prepared, infos, random_inputs=2)
    assert [c.label for c in plan.cases] == ["example", "random 1", "random 2"]
    for case in plan.cases:
        pixels = case.coreml_feeds["image"]
        assert pixels.dtype == np.float32 and pixels.min() >= 0 and pixels.max() <= 255
        assert np.array_equal(pixels, np.round(pixels))
        torch_side = case.torch_inputs[0]
        # What the ImageType computes in the program: pixel * scale, scale = 1/255 in fp32.
        assert torch.equal(torch_side, torch.from_numpy(pixels) * np.float32(1 / 255))
    # The example is moved onto the 8-bit grid, not replaced.
    example = prepared.example_inputs[0]
    assert torch.allclose(plan.cases[0].torch_inputs[0], example, atol=0.5 / 255 + 1e-7)


def test_token_ids_span_the_vocabulary_of_the_embedding_not_just_the_example():
    model = TokensAndTypes()
    tokens = torch.tensor([[0, 1, 2, 3]])
    prepared = prepare(ModelSpec(model, (tokens, torch.zeros(1, 4, dtype=torch.int64))))
    infos = describe_inputs(prepared)
    assert (infos[0].low, infos[0].high, infos[0].range_source) == (0, 49, "embedding")
    plan = build_cases(prepared, infos, random_inputs=3, accepts=_accepts(prepared))
    # The vocabulary range also reaches the 2-entry token-type embedding: the eager model
    # rejects it, and the cases fall back to the example's own range instead of being lost.
    assert len(plan.cases) == 4 and not plan.notes
    for case in plan.cases[1:]:
        words, types = case.torch_inputs
        assert words.dtype == torch.int64 and int(types.max()) == 0
        assert case.coreml_feeds["tokens"].dtype == np.int32
        assert np.array_equal(case.coreml_feeds["tokens"], words.numpy())


def test_token_ids_use_the_spec_range_when_given():
    prepared = prepare(ModelSpec(TokensAndTypes(), (torch.tensor([[1, 2]]),
                                                    torch.zeros(1, 2, dtype=torch.int64))))
    infos = describe_inputs(prepared, value_ranges={"tokens": (10, 12), "token_types": (0, 1)})
    plan = build_cases(prepared, infos, random_inputs=3, accepts=_accepts(prepared))
    values = torch.cat([case.torch_inputs[0].flatten() for case in plan.cases[1:]])
    assert int(values.min()) >= 10 and int(values.max()) <= 12


def test_a_flexible_dimension_gets_a_case_at_another_size_in_its_range():
    spec = ModelSpec(Summer(), (torch.randn(1, 8), torch.ones(1, 8)),
                     flexible={"x": {1: (4, 32)}, "mask": {1: (4, 32)}})
    prepared = prepare(spec)
    infos = describe_inputs(prepared)
    plan = build_cases(prepared, infos, random_inputs=2, accepts=_accepts(prepared))
    first, last = plan.cases[1], plan.cases[-1]
    assert tuple(first.torch_inputs[0].shape) == (1, 8)
    assert tuple(last.torch_inputs[0].shape) == (1, 10)
    assert "x 1x10" in last.label and last.coreml_feeds["x"].shape == (1, 10)


def test_float_inputs_follow_the_example_and_fp16_inputs_are_rounded_for_torch():
    x = torch.randn(2, 64, generator=torch.Generator().manual_seed(0)) * 5 + 3
    prepared = prepare(ModelSpec(Summer(), (x, torch.ones(2, 64))))
    infos = describe_inputs(prepared, coreml_dtypes={"x": "fp16", "mask": "fp32"})
    assert infos[0].kind == "float"
    assert (infos[0].low, infos[0].high) == pytest.approx((float(x.mean()), float(x.std())))
    assert infos[1].unit_range
    plan = build_cases(prepared, infos, random_inputs=1)
    x = plan.cases[1].torch_inputs[0]
    assert torch.equal(x, x.half().float())  # what an fp16 Core ML input can hold
    assert plan.cases[1].coreml_feeds["x"].dtype == np.float16
    mask = plan.cases[1].torch_inputs[1]
    assert float(mask.min()) >= 0 and float(mask.max()) <= 1


def test_a_case_the_eager_model_rejects_is_dropped_with_a_note_and_counted():
    prepared = prepare(ModelSpec(Summer(), (torch.randn(1, 8), torch.ones(1, 8))))
    infos = describe_inputs(prepared)
    plan = build_cases(prepared, infos, random_inputs=2,
                       accepts=lambda tensors: "ValueError: no" if tensors[0][0, 0] > -99 else None)
    assert [c.label for c in plan.cases] == ["example"]
    assert "rejects" in plan.notes[0] and "rejects" in plan.notes[1]
    assert plan.notes[2] == "2 random input(s) rejected by the eager model and not used"
    assert plan.rejected == ["random 1: ValueError: no", "random 2: ValueError: no"]
    assert plan.other_size_checked is None  # nothing flexible: the example's size is declared


def test_a_specs_own_image_type_scale_and_bias_are_applied_for_torch():
    import coremltools as ct

    from torchready.convert.parity.feeds import image_preprocessing

    image_type = ct.ImageType(name="image", shape=(1, 3, 8, 8), scale=1 / (0.226 * 255),
                              bias=[-2.1, -2.0, -1.8])
    images = image_preprocessing([image_type, ct.TensorType(name="other", shape=(1, 2))])
    assert set(images) == {"image"}
    prepared = prepare(ModelSpec(Segmenter(), (torch.rand(1, 3, 8, 8),), input_names=["image"]))
    [info] = describe_inputs(prepared, images=images)
    assert info.kind == "image" and info.pixel_bias == (-2.1, -2.0, -1.8)
    case = build_cases(prepared, [info], random_inputs=1).cases[1]
    pixels = torch.from_numpy(case.coreml_feeds["image"])
    expected = pixels * info.pixel_scale + torch.tensor(info.pixel_bias).reshape(1, 3, 1, 1)
    assert torch.allclose(case.torch_inputs[0], expected, atol=1e-6)
