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
import torch.nn.functional as F
from milrt_helpers import assert_fp16_close, convert_torch, feeds_for, psnr

from convert.milrt import load_program

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


class FirstOutput(torch.nn.Module):
    """HF models built with torchscript=True return tuples; keep the first tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args):
        return self.model(*args)[0]


def _tokens(length=9, vocab=100):
    return (torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(3)),)


def _image(size=32):
    return (torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(4)),)


def gpt2():
    import transformers

    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=2, vocab_size=100, n_positions=64, torchscript=True
    )
    return FirstOutput(transformers.GPT2LMHeadModel(config)), _tokens()


def distilbert():
    import transformers

    config = transformers.DistilBertConfig(
        vocab_size=100,
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=64,
        torchscript=True,
    )
    return FirstOutput(transformers.DistilBertModel(config)), _tokens()


def vit():
    import transformers

    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        torchscript=True,
    )
    return FirstOutput(transformers.ViTModel(config)), _image()


def t5_encoder():
    import transformers

    config = transformers.T5Config(
        vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, torchscript=True
    )
    return FirstOutput(transformers.T5EncoderModel(config)), _tokens()


def convnext():
    import transformers

    config = transformers.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, torchscript=True)
    return FirstOutput(transformers.ConvNextModel(config)), _image()


def segformer():
    import transformers

    config = transformers.SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        num_attention_heads=[1, 2],
        decoder_hidden_size=16,
        num_labels=3,
        torchscript=True,
    )
    return FirstOutput(transformers.SegformerForSemanticSegmentation(config)), _image()


def resnet():
    import transformers

    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], torchscript=True
    )
    return FirstOutput(transformers.ResNetModel(config)), _image()


def wav2vec2():
    import transformers

    config = transformers.Wav2Vec2Config(
        vocab_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        torchscript=True,
    )
    return FirstOutput(transformers.Wav2Vec2Model(config)), (
        torch.randn(1, 400, generator=torch.Generator().manual_seed(5)),
    )


def clip_text():
    import transformers

    config = transformers.CLIPTextConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        torchscript=True,
    )
    return FirstOutput(transformers.CLIPTextModel(config)), _tokens()


class LSTMTagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


class UNet(torch.nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.down1 = torch.nn.Sequential(
            torch.nn.Conv2d(3, c, 3, padding=1), torch.nn.BatchNorm2d(c), torch.nn.ReLU()
        )
        self.down2 = torch.nn.Sequential(
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(c, 2 * c, 3, padding=1), torch.nn.ReLU()
        )
        self.bottom = torch.nn.Sequential(
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(2 * c, 4 * c, 3, padding=1), torch.nn.ReLU()
        )
        self.up = torch.nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.fuse = torch.nn.Conv2d(4 * c, 2 * c, 3, padding=1)
        self.head = torch.nn.Conv2d(3 * c, 2, 3, padding=1)

    def forward(self, x):
        a = self.down1(x)
        b = self.down2(a)
        u = torch.relu(self.fuse(torch.cat([self.up(self.bottom(b)), b], 1)))
        u = F.interpolate(u, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.head(torch.cat([u, a], 1)))


MODELS = {
    "gpt2": gpt2,
    "distilbert": distilbert,
    "vit": vit,
    "t5-encoder": t5_encoder,
    "convnext": convnext,
    "segformer": segformer,
    "resnet": resnet,
    "wav2vec2": wav2vec2,
    "clip-text": clip_text,
    "lstm": lambda: (LSTMTagger(), (torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(6)),)),
    "unet": lambda: (UNet(), _image()),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_eager_in_fp32_and_fp16(name):
    torch.manual_seed(0)
    model, inputs = MODELS[name]()
    model = model.eval()
    with torch.no_grad():
        expected = model(*inputs).numpy()
    for precision in ("fp32", "fp16"):
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
