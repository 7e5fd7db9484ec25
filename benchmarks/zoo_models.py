"""The model zoo of `benchmarks/zoo.py`: real architectures, built offline with random weights.

Every entry is a `ZooModel`: a name, a family and a factory returning `(module, example_inputs)`
or a `torchready.ModelSpec`, exactly what a user would name on the command line. transformers models
are built from tiny `Config` objects (never `from_pretrained`; HF_HUB_OFFLINE=1) and used as
they ship: their forward returns a `ModelOutput`, with the library's default attention
implementation and default options (a causal LM keeps its key/value cache on). The only arguments
given are sizes (small hidden sizes, two layers, short inputs) so the whole zoo converts in minutes
on two cores; nothing is configured to dodge a conversion problem. The project's own fixtures
(`fixtures/*.py` factories) are part of the zoo, as they are.

Weights: transformers' own initialisation zeroes many of them (batch-norm scales, layer scales,
position biases), and several tiny convnets then output exact zeros, which any conversion would
"match". `randomize_weights` redraws every parameter and batch-norm statistic of a transformers
model from a seeded generator, the same way for every model (fan-in scaled normal weights,
scales around 1, small biases; index and mask buffers untouched), so that parity compares real
signals. It is the idea of coremltools' `ct.utils.randomize_weights`, applied in PyTorch.

`quick=True` marks the subset CI runs (`zoo.py --quick`): one or two models per family, chosen so
that every fix torchready makes for the zoo is exercised (GQA attention, BEiT's indexed
assignment, DINOv2's bicubic resize, BLOOM's autograd.Function, LeViT's cached biases, a feature
pyramid resized to a flexible skip's size).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 100
SEQUENCE = 9
IMAGE = 32


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str
    build: Callable[[], Any]  # () -> (nn.Module, example_inputs) | torchready.ModelSpec
    quick: bool = False


def _tokens(length: int = SEQUENCE, vocab: int = VOCAB, seed: int = 3):
    import torch

    return torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(seed))


def _image(size: int = IMAGE, channels: int = 3, seed: int = 4):
    import torch

    return torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _audio(samples: int = 400, seed: int = 5):
    import torch

    return torch.randn(1, samples, generator=torch.Generator().manual_seed(seed))


def randomize_weights(model: Any, seed: int = 0) -> Any:
    """Redraw `model`'s parameters and batch-norm statistics (see the module docstring)."""
    import math

    import torch

    generator = torch.Generator().manual_seed(seed)
    weighted = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
                torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.Embedding)
    with torch.no_grad():
        for module in model.modules():
            for name, parameter in module.named_parameters(recurse=False):
                if isinstance(module, weighted) and name == "weight":
                    fan_in = parameter[0].numel() if not isinstance(module, torch.nn.Embedding) \
                        else parameter.shape[1]
                    std = 1.0 / math.sqrt(max(fan_in, 1))
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
                elif parameter.dim() == 1 and not name.endswith("bias"):
                    # norm and layer scales: around 1, never 0
                    parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)
                elif parameter.dim() == 1:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
                else:  # embeddings tables, class tokens, position embeddings and biases
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
            if isinstance(module, torch.nn.modules.batchnorm._NormBase) and \
                    module.running_mean is not None:
                module.running_mean.copy_(
                    torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(
                    torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model


def _hf(model_class: str, config_class: str, example: Any, **config: Any) -> Callable[[], Any]:
    """A factory for `transformers.<model_class>(transformers.<config_class>(**config))`."""

    def build() -> Any:
        import torch
        import transformers

        torch.manual_seed(0)
        model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
        return randomize_weights(model), (example() if callable(example) else example,)

    build.__name__ = f"build_{model_class}"
    return build


def _hf_part(model_class: str, config_class: str, part: str, example: Any,
             **config: Any) -> Callable[[], Any]:
    """A factory for one part of a transformers model (the encoder of an encoder-decoder)."""

    def build() -> Any:
        import torch
        import transformers

        torch.manual_seed(0)
        model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
        module = getattr(model, part)() if callable(getattr(model, part)) else getattr(model, part)
        return randomize_weights(module), (example() if callable(example) else example,)

    build.__name__ = f"build_{model_class}_{part}"
    return build


def _fixture(file_name: str, factory: str) -> Callable[[], Any]:
    """A factory from the project's fixtures/, imported from its file like the CLI does."""

    def build() -> Any:
        path = ROOT / "fixtures" / file_name
        module_name = f"zoo_fixture_{path.stem}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.path.insert(0, str(path.parent))
            try:
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.parent))
        return getattr(module, factory)()

    build.__name__ = f"build_{Path(file_name).stem}_{factory}"
    return build


# Small shared sizes: 2 layers, hidden 32, 4 heads (2 key/value heads where the family has GQA).
_TEXT = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=64)
_GQA = dict(_TEXT, num_key_value_heads=2)
_VIT = dict(image_size=IMAGE, patch_size=8, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=64)
_AUDIO = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


MODELS: list[ZooModel] = [
    # --- encoder-only text --------------------------------------------------------------------
    ZooModel("bert", "encoder", _hf("BertModel", "BertConfig", _tokens, **_TEXT), quick=True),
    ZooModel("roberta", "encoder", _hf("RobertaModel", "RobertaConfig", _tokens, **_TEXT)),
    ZooModel("electra", "encoder", _hf("ElectraModel", "ElectraConfig", _tokens,
                                       embedding_size=16, **_TEXT)),
    ZooModel("distilbert", "encoder", _hf("DistilBertModel", "DistilBertConfig", _tokens,
                                          vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4,
                                          hidden_dim=64, max_position_embeddings=64)),
    ZooModel("albert", "encoder", _hf("AlbertModel", "AlbertConfig", _tokens,
                                      embedding_size=16, **_TEXT)),
    ZooModel("deberta-v2", "encoder", _hf("DebertaV2Model", "DebertaV2Config", _tokens, **_TEXT)),
    ZooModel("mpnet", "encoder", _hf("MPNetModel", "MPNetConfig", _tokens, **_TEXT)),
    ZooModel("modernbert", "encoder (rotary)", _hf(
        "ModernBertModel", "ModernBertConfig", _tokens, vocab_size=VOCAB, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        cls_token_id=1, sep_token_id=2, global_attn_every_n_layers=2, local_attention=8)),
    # --- decoder-only text --------------------------------------------------------------------
    ZooModel("gpt2", "decoder", _hf("GPT2LMHeadModel", "GPT2Config", _tokens, vocab_size=VOCAB,
                                    n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                    bos_token_id=1, eos_token_id=2),
             quick=True),
    ZooModel("gpt-neo", "decoder", _hf("GPTNeoModel", "GPTNeoConfig", _tokens, vocab_size=VOCAB,
                                       hidden_size=32, num_layers=2, num_heads=4,
                                       attention_types=[[["global", "local"], 1]],
                                       bos_token_id=1, eos_token_id=2,
                                       window_size=4, max_position_embeddings=64)),
    ZooModel("opt", "decoder", _hf("OPTModel", "OPTConfig", _tokens, vocab_size=VOCAB,
                                   hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   ffn_dim=64, word_embed_proj_dim=32,
                                   max_position_embeddings=64)),
    ZooModel("bloom", "decoder (alibi)", _hf("BloomModel", "BloomConfig", _tokens,
                                             vocab_size=VOCAB, hidden_size=32, n_layer=2,
                                             n_head=4), quick=True),
    ZooModel("gpt-neox", "decoder (rotary)", _hf("GPTNeoXModel", "GPTNeoXConfig", _tokens,
                                                 **_TEXT)),
    ZooModel("phi", "decoder (rotary)", _hf("PhiModel", "PhiConfig", _tokens, **_TEXT)),
    ZooModel("llama", "decoder (GQA, rotary)", _hf("LlamaForCausalLM", "LlamaConfig", _tokens,
                                                   **_GQA), quick=True),
    ZooModel("qwen2", "decoder (GQA, rotary)", _hf("Qwen2Model", "Qwen2Config", _tokens, **_GQA)),
    ZooModel("mistral", "decoder (GQA, rotary)", _hf("MistralModel", "MistralConfig", _tokens,
                                                     sliding_window=4, **_GQA)),
    ZooModel("gemma", "decoder (MQA, rotary)", _hf("GemmaModel", "GemmaConfig", _tokens,
                                                   head_dim=8, **dict(_GQA,
                                                                      num_key_value_heads=1))),
    # --- encoders of encoder-decoder models ---------------------------------------------------
    ZooModel("t5-encoder", "encoder-decoder (encoder)", _hf(
        "T5EncoderModel", "T5Config", _tokens, vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64,
        num_layers=2, num_heads=4)),
    ZooModel("bart-encoder", "encoder-decoder (encoder)", _hf_part(
        "BartModel", "BartConfig", "get_encoder", _tokens, vocab_size=VOCAB, d_model=32,
        encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=64)),
    # --- vision transformers ------------------------------------------------------------------
    ZooModel("vit", "vision transformer", _hf("ViTModel", "ViTConfig", _image, **_VIT)),
    ZooModel("deit", "vision transformer", _hf("DeiTModel", "DeiTConfig", _image, **_VIT)),
    ZooModel("beit", "vision transformer", _hf("BeitModel", "BeitConfig", _image,
                                               use_relative_position_bias=True, **_VIT),
             quick=True),
    ZooModel("dinov2", "vision transformer", _hf("Dinov2Model", "Dinov2Config", _image,
                                                 **{k: v for k, v in _VIT.items()
                                                    if k != "intermediate_size"}), quick=True),
    ZooModel("swin", "vision transformer", _hf("SwinModel", "SwinConfig", _image,
                                               image_size=IMAGE, patch_size=2, embed_dim=16,
                                               depths=[1, 1], num_heads=[2, 4], window_size=4)),
    # --- convnets -----------------------------------------------------------------------------
    ZooModel("resnet", "convnet", _hf("ResNetModel", "ResNetConfig", _image, embedding_size=8,
                                      hidden_sizes=[8, 16], depths=[1, 1]), quick=True),
    ZooModel("convnext", "convnet", _hf("ConvNextModel", "ConvNextConfig", _image,
                                        hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)),
    ZooModel("regnet", "convnet", _hf("RegNetModel", "RegNetConfig", _image, embedding_size=8,
                                      hidden_sizes=[8, 16], depths=[1, 1], groups_width=8)),
    ZooModel("efficientnet", "convnet", _hf("EfficientNetModel", "EfficientNetConfig", _image,
                                            image_size=IMAGE, width_coefficient=0.25,
                                            depth_coefficient=0.25, hidden_dim=320)),
    ZooModel("mobilenet-v2", "convnet", _hf("MobileNetV2Model", "MobileNetV2Config", _image,
                                            image_size=IMAGE, depth_multiplier=0.25)),
    # --- hybrid vision (convolutions + attention) ---------------------------------------------
    ZooModel("mobilevit", "hybrid vision", _hf(
        "MobileViTModel", "MobileViTConfig", _image, image_size=IMAGE,
        hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 48],
        num_attention_heads=2)),
    ZooModel("levit", "hybrid vision", _hf(
        "LevitModel", "LevitConfig", lambda: _image(64), image_size=64, hidden_sizes=[16, 32, 48],
        num_attention_heads=[2, 4, 6], depths=[1, 1, 1], key_dim=[8, 8, 8], mlp_ratio=[2, 2, 2],
        attention_ratio=[2, 2, 2]), quick=True),
    ZooModel("segformer", "hybrid vision", _hf(
        "SegformerForSemanticSegmentation", "SegformerConfig", _image, num_encoder_blocks=2,
        depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
        decoder_hidden_size=16, num_labels=3)),
    ZooModel("cvt", "hybrid vision", _hf(
        "CvtModel", "CvtConfig", _image, embed_dim=[8, 16, 32], num_heads=[1, 2, 4],
        depth=[1, 2, 3], mlp_ratio=[2.0, 2.0, 2.0], drop_path_rate=[0.0, 0.0, 0.0])),
    # --- speech -------------------------------------------------------------------------------
    ZooModel("wav2vec2", "speech", _hf("Wav2Vec2Model", "Wav2Vec2Config", _audio, **_AUDIO),
             quick=True),
    ZooModel("hubert", "speech", _hf("HubertModel", "HubertConfig", _audio, **_AUDIO)),
    ZooModel("whisper-encoder", "speech", _hf_part(
        "WhisperModel", "WhisperConfig", "get_encoder", lambda: _image(64, 1)[:, 0, :16, :]
        .contiguous(), vocab_size=VOCAB, num_mel_bins=16, d_model=32, encoder_layers=2,
        decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=32,
        max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=1, begin_suppress_tokens=None)),
    # --- CLIP-style dual encoders -------------------------------------------------------------
    ZooModel("clip-text", "CLIP-style", _hf("CLIPTextModel", "CLIPTextConfig", _tokens,
                                            **{k: v for k, v in _TEXT.items()
                                               if k != "max_position_embeddings"},
                                            max_position_embeddings=32, pad_token_id=0,
                                            bos_token_id=1, eos_token_id=2), quick=True),
    ZooModel("clip-vision", "CLIP-style", _hf("CLIPVisionModel", "CLIPVisionConfig", _image,
                                              **_VIT)),
    ZooModel("siglip-vision", "CLIP-style", _hf("SiglipVisionModel", "SiglipVisionConfig",
                                                _image, **_VIT)),
    # --- the project's fixtures ---------------------------------------------------------------
    ZooModel("fixture:attention-block", "fixture", _fixture("attention.py", "build_block"),
             quick=True),
    ZooModel("fixture:segmentation", "fixture", _fixture("segmentation.py", "build"),
             quick=True),
    ZooModel("fixture:gpt2-completion", "fixture", _fixture("gpt2_completion.py", "build")),
    ZooModel("fixture:gpt2-completion-auto", "fixture",
             _fixture("gpt2_completion.py", "build_without_hints")),
    # --- the walls of rank > 5, runtime-size resizes and traced flags ---------------------------
    ZooModel("fixture:raft-correlation", "fixture (optical flow, rank-6 correlation)",
             _fixture("optical_flow.py", "build")),
    ZooModel("fixture:fpn-segmentation-flexible", "fixture (segmentation, flexible height)",
             _fixture("fpn_segmentation.py", "build"), quick=True),
    ZooModel("fixture:speech-decoder", "fixture (speech decoder, is_causal from n_ctx)",
             _fixture("speech_decoder.py", "build")),
]


def by_name(name: str) -> ZooModel:
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(name)
