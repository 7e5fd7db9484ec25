"""The models `lint_truth.py` runs: real architectures with random weights, each at two input sizes.

transformers models are built from small `Config` objects (never `from_pretrained`;
HF_HUB_OFFLINE=1) with the library's defaults apart from sizes, so the code that runs is the code
the library ships. Two things are chosen for the measurement: decoders run without their
key/value cache (`use_cache=False`: a cache object is not a tensor a trace can return), and text
models get an attention mask with padding in one row, as batched inference has. The project's own
fixtures (`fixtures/*.py`) are included as they are.

Every model gives its inputs at two sizes, "a" (the example the captures are made with) and "b"
(larger along the sequence, image or audio dimensions; batch stays 2 so that no capture
specialises on a batch of one). The dimensions that differ between "a" and "b" are the ones
export is asked to keep dynamic.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The zoo's own fixture loader and weight redraw: transformers zeroes many weights, and a model
# whose output is all zeros hides every frozen branch.
from zoo_models import _fixture as fixture_factory  # noqa: E402
from zoo_models import randomize_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 100
SIZES = {"a": {"tokens": 9, "image": 32, "audio": 400, "detection": 64},
         "b": {"tokens": 13, "image": 40, "audio": 560, "detection": 80}}


@dataclass(frozen=True)
class TruthModel:
    """One model of the truth set: `build()` -> nn.Module, `inputs(variant)` -> named tensors."""

    name: str
    family: str
    # What the model is, as data: it builds the model and keys the cache.
    spec: dict[str, Any]
    inputs: Callable[[str], dict[str, Any]]
    # Keyword arguments forward always gets (not tensors, so not inputs of the captures).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_fixture(self) -> bool:
        return "fixture" in self.spec

    def build(self) -> Any:
        return _build_fixture(**self.spec) if self.is_fixture else _build_hf(**self.spec)


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


def text(variant: str) -> dict[str, Any]:
    import torch

    length = SIZES[variant]["tokens"]
    ids = torch.randint(3, VOCAB, (2, length), generator=_generator(3))
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, -2:] = 0  # the second sequence is padded
    return {"input_ids": ids, "attention_mask": mask}


def tokens_only(variant: str) -> dict[str, Any]:
    return {"input_ids": text(variant)["input_ids"]}


def image(variant: str, key: str = "image", channels: int = 3) -> dict[str, Any]:
    import torch

    size = SIZES[variant][key]
    return {"pixel_values": torch.randn(2, channels, size, size, generator=_generator(4))}


def detection_image(variant: str) -> dict[str, Any]:
    return image(variant, "detection")


def audio(variant: str) -> dict[str, Any]:
    import torch

    samples = SIZES[variant]["audio"]
    return {"input_values": torch.randn(2, samples, generator=_generator(5))}


def mel_features(variant: str) -> dict[str, Any]:
    # Whisper's encoder only accepts 2 * max_source_positions frames: "b" is the same length
    # with a different batch content, so that the check is exercised but not broken.
    import torch

    return {"input_features": torch.randn(2, 16, 64, generator=_generator(6 if variant == "a"
                                                                           else 7))}


def _build_hf(model_class: str, config_class: str, config: dict[str, Any],
              part: str | None = None, resnet_backbone: bool = False) -> Any:
    import torch
    import transformers

    torch.manual_seed(0)
    config = dict(config)
    if resnet_backbone:
        # DETR-style configs default to a timm backbone (not installed): use transformers' ResNet.
        config["backbone_config"] = transformers.ResNetConfig(
            embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
            out_features=["stage2", "stage3", "stage4"])
    model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
    if part is not None:
        model = getattr(model, part)
    return randomize_weights(model).eval()


def _build_fixture(fixture: str, factory: str) -> Any:
    """A model from the project's fixtures/, imported from its file like the CLI does."""
    built = fixture_factory(fixture, factory)()
    return (built[0] if isinstance(built, tuple) else built.module).eval()


def hf(name: str, family: str, model_class: str, config_class: str,
       inputs: Callable[[str], dict[str, Any]], *, part: str | None = None,
       resnet_backbone: bool = False, options: dict[str, Any] | None = None,
       **config: Any) -> TruthModel:
    spec: dict[str, Any] = {"model_class": model_class, "config_class": config_class,
                            "config": config}
    if part:
        spec["part"] = part
    if resnet_backbone:
        spec["resnet_backbone"] = True
    return TruthModel(name, family, spec, inputs, options or {})


def fixture(name: str, file_name: str, factory: str,
            inputs: Callable[[str], dict[str, Any]]) -> TruthModel:
    return TruthModel(name, "fixture", {"fixture": file_name, "factory": factory}, inputs)


def _randn(*shape_of_variant: Callable[[str], tuple[int, ...]], names: tuple[str, ...],
           seed: int = 8) -> Callable[[str], dict[str, Any]]:
    def inputs(variant: str) -> dict[str, Any]:
        import torch

        return {name: torch.randn(*shape(variant), generator=_generator(seed + i))
                for i, (name, shape) in enumerate(zip(names, shape_of_variant))}

    return inputs


def _utf8(variant: str) -> dict[str, Any]:
    import torch

    text_ = "The Manhattan bridge is" if variant == "a" else "The Brooklyn bridge was built in"
    return {"tokens": torch.tensor([list(text_.encode("utf-8"))], dtype=torch.int64)}


_TEXT = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=64)
_DECODER = dict(_TEXT, num_key_value_heads=2, use_cache=False, pad_token_id=0, bos_token_id=1,
                eos_token_id=2)
_VIT = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=64)
_AUDIO = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
              num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
_DETR = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4,
             decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=5,
             num_labels=3, use_timm_backbone=False, use_pretrained_backbone=False)


def _seq(variant: str) -> int:
    return SIZES[variant]["tokens"]


MODELS: list[TruthModel] = [
    # --- decoders: causal masks, rotary and alibi positions, sliding windows, experts ------------
    hf("llama", "decoder (GQA, rotary)", "LlamaModel", "LlamaConfig", text, **_DECODER),
    hf("mistral", "decoder (sliding window)", "MistralModel", "MistralConfig", text,
       sliding_window=4, **_DECODER),
    hf("gemma2", "decoder (alternating sliding window, soft-capping)", "Gemma2Model",
       "Gemma2Config", text, head_dim=8, sliding_window=4, **_DECODER),
    hf("mixtral", "decoder (mixture of experts)", "MixtralModel", "MixtralConfig", text,
       num_local_experts=4, num_experts_per_tok=2, sliding_window=None, **_DECODER),
    hf("gpt2", "decoder", "GPT2Model", "GPT2Config", text, vocab_size=VOCAB, n_embd=32,
       n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2, use_cache=False),
    hf("gpt-neox", "decoder (partial rotary)", "GPTNeoXModel", "GPTNeoXConfig", text,
       **dict(_DECODER, num_key_value_heads=4)),
    hf("bloom", "decoder (alibi)", "BloomModel", "BloomConfig", text, vocab_size=VOCAB,
       hidden_size=32, n_layer=2, n_head=4, use_cache=False),
    hf("opt", "decoder (learned positions)", "OPTModel", "OPTConfig", text, vocab_size=VOCAB,
       hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
       word_embed_proj_dim=32, max_position_embeddings=64, use_cache=False),
    hf("phi", "decoder (rotary)", "PhiModel", "PhiConfig", text, **_DECODER),
    # --- encoders ------------------------------------------------------------------------------
    hf("bert", "encoder", "BertModel", "BertConfig", text, **_TEXT),
    hf("distilbert", "encoder", "DistilBertModel", "DistilBertConfig", text, vocab_size=VOCAB,
       dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64),
    hf("deberta-v2", "encoder (relative positions)", "DebertaV2Model", "DebertaV2Config", text,
       relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"], **_TEXT),
    hf("longformer", "encoder (windowed attention)", "LongformerModel", "LongformerConfig",
       text, attention_window=4, pad_token_id=1, **_TEXT),
    hf("bart", "encoder-decoder", "BartModel", "BartConfig", text, vocab_size=VOCAB, d_model=32,
       encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
       encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, use_cache=False),
    hf("t5-encoder", "encoder (relative attention buckets)", "T5EncoderModel", "T5Config",
       text, vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
    # --- vision transformers -------------------------------------------------------------------
    hf("vit", "vision transformer (interpolated positions)", "ViTModel", "ViTConfig", image,
       options={"interpolate_pos_encoding": True}, **_VIT),
    hf("dinov2", "vision transformer (bicubic position resize)", "Dinov2Model", "Dinov2Config",
       image, **{k: v for k, v in _VIT.items() if k != "intermediate_size"}),
    hf("beit", "vision transformer (relative position bias)", "BeitModel", "BeitConfig", image,
       options={"interpolate_pos_encoding": True}, use_relative_position_bias=True, **_VIT),
    hf("swin", "vision transformer (shifted windows, padding)", "SwinModel", "SwinConfig",
       image, image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4],
       window_size=4),
    hf("mobilevit", "hybrid vision (unfolded patches)", "MobileViTModel", "MobileViTConfig",
       image, image_size=32, hidden_sizes=[16, 24, 32],
       neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 48], num_attention_heads=2),
    # --- convnets ------------------------------------------------------------------------------
    hf("resnet", "convnet", "ResNetModel", "ResNetConfig", image, embedding_size=8,
       hidden_sizes=[8, 16], depths=[1, 1]),
    hf("convnext", "convnet", "ConvNextModel", "ConvNextConfig", image, hidden_sizes=[8, 16],
       depths=[1, 1], num_stages=2),
    # --- dense prediction and detection heads --------------------------------------------------
    hf("segformer", "semantic segmentation", "SegformerForSemanticSegmentation",
       "SegformerConfig", image, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
       hidden_sizes=[8, 16], num_attention_heads=[1, 2], decoder_hidden_size=16, num_labels=3),
    hf("dpt", "depth estimation", "DPTForDepthEstimation", "DPTConfig", image, image_size=32,
       patch_size=8, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
       intermediate_size=64, backbone_out_indices=[0, 1, 2, 3],
       neck_hidden_sizes=[8, 16, 16, 32], fusion_hidden_size=16, head_in_index=-1),
    hf("detr", "object detection (DETR, ResNet backbone)", "DetrForObjectDetection",
       "DetrConfig", detection_image, resnet_backbone=True, **_DETR),
    hf("yolos", "object detection (ViT, interpolated positions)", "YolosForObjectDetection",
       "YolosConfig", image, image_size=[32, 32], patch_size=8, hidden_size=32,
       num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
       num_detection_tokens=5, num_labels=3),
    # --- speech --------------------------------------------------------------------------------
    hf("wav2vec2", "speech (convolutional features)", "Wav2Vec2Model", "Wav2Vec2Config", audio,
       **_AUDIO),
    hf("whisper-encoder", "speech (log-mel encoder)", "WhisperModel", "WhisperConfig",
       mel_features, part="encoder", vocab_size=VOCAB, num_mel_bins=16, d_model=32,
       encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
       encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=32,
       max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
       decoder_start_token_id=1, begin_suppress_tokens=None),
    # --- state-space models --------------------------------------------------------------------
    hf("mamba", "state-space (selective scan)", "MambaModel", "MambaConfig", tokens_only,
       vocab_size=VOCAB, hidden_size=32, state_size=4, num_hidden_layers=2, expand=2,
       conv_kernel=4, time_step_rank=4, use_cache=False),
    hf("mamba2", "state-space (chunked scan)", "Mamba2Model", "Mamba2Config", tokens_only,
       vocab_size=VOCAB, hidden_size=32, state_size=8, num_hidden_layers=2, num_heads=4,
       head_dim=16, n_groups=1, chunk_size=4, expand=2, conv_kernel=4, use_cache=False),
    # --- the project's fixtures: the talk's demos and the parity zoo's own models --------------
    fixture("fixture:attention", "attention.py", "build_block",
            _randn(lambda v: (2, _seq(v) - 1, 32), names=("x",))),
    fixture("fixture:attention-op", "attention.py", "build",
            _randn(*[lambda v: (1, 4, _seq(v) - 1, 16)] * 3, names=("query", "key", "value"))),
    fixture("fixture:segmentation", "segmentation.py", "build",
            _randn(lambda v: (1, 3, 2 * SIZES[v]["image"], 2 * SIZES[v]["image"]),
                   names=("x",))),
    fixture("fixture:sentence-completion", "sentence_completion.py", "build", _utf8),
    fixture("fixture:gpt2-completion", "gpt2_completion.py", "build", _utf8),
    fixture("fixture:sequence-mean", "parity_zoo.py", "sequence_mean",
            _randn(lambda v: (1, _seq(v) - 1, 16), names=("x",))),
    fixture("fixture:unet", "parity_zoo.py", "unet",
            _randn(lambda v: (1, 3, SIZES[v]["image"], SIZES[v]["image"]), names=("x",))),
    fixture("fixture:lstm", "parity_zoo.py", "lstm",
            _randn(lambda v: (2, _seq(v) - 4, 8), names=("x",))),
]


def by_name(name: str) -> TruthModel:
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(f"no model {name!r} (known: {', '.join(m.name for m in MODELS)})")
