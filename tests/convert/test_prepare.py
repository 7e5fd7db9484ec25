"""Preparation: eval + TR401, no grads, output flattening through the generated wrapper
(dict, namedtuple, dataclass, nested containers, Hugging Face ModelOutput), output names, TR101
at the forward's return, the exact ImageNet normalisation."""

import collections
import dataclasses
import inspect
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from torchready.convert.loading import load_model
from torchready.convert.prepare import prepare
from torchready.convert.spec import ModelSpec
from torchready.convert.wrapper import IMAGENET_MEAN, IMAGENET_STD
from torchready.lint.types import Severity, UsageError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
THIS_FILE = str(Path(__file__).resolve())


def line_of(path: Path | str, text: str) -> int:
    lines = Path(path).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


@pytest.fixture(scope="module")
def segmentation():
    return prepare(load_model(f"{FIXTURES / 'segmentation.py'}:build"))


def test_segmentation_dict_output_becomes_named_tuple(segmentation):
    assert segmentation.input_names == ["x"]
    assert segmentation.output_names == ["out", "aux"]
    flat = segmentation.module(*segmentation.example_inputs)
    eager = segmentation.original(*segmentation.example_inputs)
    assert isinstance(flat, tuple) and len(flat) == 2
    assert torch.equal(flat[0], eager["out"]) and torch.equal(flat[1], eager["aux"])
    assert all(torch.equal(a, b) for a, b in zip(segmentation.reference_outputs, flat))
    rebuilt = segmentation.output_structure.rebuild(flat)
    assert set(rebuilt) == {"out", "aux"} and torch.equal(rebuilt["aux"], eager["aux"])


def test_segmentation_tr101_at_the_return_line(segmentation):
    path = FIXTURES / "segmentation.py"
    (tr101,) = [d for d in segmentation.diagnostics if d.code == "TR101"]
    assert (tr101.path, tr101.line) == (str(path), line_of(path, 'return {"out": out'))
    assert tr101.name == "non-tensor-output" and tr101.origin == "prepare"
    assert tr101.details["output_names"] == ["out", "aux"]
    assert "named out, aux" in tr101.message


def test_segmentation_was_training_tr401_at_the_class(segmentation):
    path = FIXTURES / "segmentation.py"
    assert segmentation.was_training
    (tr401,) = [d for d in segmentation.diagnostics if d.code == "TR401"]
    assert (tr401.path, tr401.line) == (str(path), line_of(path, "class DeepLabLike("))
    assert tr401.details["training_layers"] == ["BatchNorm2d", "Dropout"]
    model = segmentation.original
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


class UsesTrainingFlag(nn.Module):
    def forward(self, x):
        return x * 2 if self.training else x


def test_tr401_severity_follows_what_training_mode_changes():
    plain = prepare(ModelSpec(nn.Linear(3, 2), (torch.ones(1, 3),)))
    (info,) = plain.diagnostics
    assert (info.code, info.severity, info.details["training_layers"]) == (
        "TR401", Severity.INFO, [])
    flagged = prepare(ModelSpec(UsesTrainingFlag(), (torch.ones(1, 3),)))
    (warning,) = [d for d in flagged.diagnostics if d.code == "TR401"]
    assert warning.severity == Severity.WARNING
    assert warning.details["training_layers"] == ["UsesTrainingFlag"]
    assert torch.equal(flagged.module(torch.ones(1, 3)), torch.ones(1, 3))  # eval branch


def test_eval_model_has_no_tr401():
    prepared = prepare(ModelSpec(nn.Linear(3, 2).eval(), (torch.ones(1, 3),)))
    assert not prepared.was_training
    assert [d.code for d in prepared.diagnostics] == []
    assert prepared.output_names == ["output"]
    assert prepared.output_structure.is_plain


Pair = collections.namedtuple("Pair", ["logits", "features"])


@dataclasses.dataclass
class Detections:
    boxes: torch.Tensor
    scores: torch.Tensor
    count: int


class ReturnsNamedTuple(nn.Module):
    def forward(self, x):
        return Pair(x * 2, x + 1)


class ReturnsDataclass(nn.Module):
    def forward(self, x):
        return Detections(x.abs(), x.sigmoid(), 3)


class ReturnsNested(nn.Module):
    def forward(self, x):
        hidden = x.tanh()
        return {"encoder": {"last_hidden_state": hidden, "mask": None},
                "0th": [x, (x * 3, x * 4)]}


class SameNameAsInput(nn.Module):
    def forward(self, output):
        return output * 2


@pytest.mark.parametrize("model, names, kind", [
    (ReturnsNamedTuple(), ["logits", "features"], "namedtuple"),
    (ReturnsDataclass(), ["boxes", "scores"], "dataclass"),
    (ReturnsNested(), ["encoder_last_hidden_state", "output_0th_0", "output_0th_1_0",
                       "output_0th_1_1"], "dict"),
])
def test_structured_outputs(model, names, kind):
    x = torch.randn(2, 3)
    prepared = prepare(ModelSpec(model.eval(), (x,)))
    assert prepared.output_names == names
    assert prepared.output_structure.kind == kind
    flat = prepared.module(x)
    assert all(torch.equal(a, b) for a, b in
               zip(flat, prepared.output_structure.flatten(model(x))))
    (tr101,) = [d for d in prepared.diagnostics if d.code == "TR101"]
    # Pinned to the `return` of the forward that built the structure.
    source_lines, start = inspect.getsourcelines(type(model).forward)
    returns = [start + i for i, text in enumerate(source_lines) if "return" in text]
    assert (tr101.path, tr101.line) == (THIS_FILE, returns[-1])
    expected = Severity.WARNING if kind == "namedtuple" else Severity.ERROR
    assert tr101.severity == expected


def test_non_tensor_leaves_are_dropped_with_a_note():
    prepared = prepare(ModelSpec(ReturnsDataclass().eval(), (torch.randn(2, 3),)))
    assert prepared.output_structure.dropped[0].raw_name == "count"
    assert prepared.notes == ["output 'count' is a int, not a tensor; it is not part of the "
                              "Core ML model."]
    nested = prepare(ModelSpec(ReturnsNested().eval(), (torch.randn(2, 3),)))
    assert [d.raw_name for d in nested.output_structure.dropped] == ["encoder.mask"]


def test_output_never_reuses_an_input_name():
    prepared = prepare(ModelSpec(SameNameAsInput().eval(), (torch.ones(2),)))
    assert prepared.input_names == ["output"]
    assert prepared.output_names == ["output_out"]


def test_output_names_from_the_spec():
    spec = ModelSpec(ReturnsNamedTuple().eval(), (torch.ones(2),), output_names=["a", "b"])
    assert prepare(spec).output_names == ["a", "b"]
    spec.output_names = ["only_one"]
    with pytest.raises(UsageError, match=r"1 output names given but the model returns 2 tensors "
                                         r"\(logits, features\)"):
        prepare(spec)


def test_forward_that_raises_is_a_usage_error():
    with pytest.raises(UsageError) as error:
        prepare(ModelSpec(nn.Linear(3, 2), (torch.ones(1, 5),)))
    assert "the model's forward raised RuntimeError" in str(error.value)
    assert "mat1 and mat2 shapes cannot be multiplied" in str(error.value)


def test_imagenet_normalisation_is_exact_and_per_channel():
    model = nn.Conv2d(3, 4, 1).eval()
    image = torch.rand(1, 3, 8, 8)
    prepared = prepare(ModelSpec(model, (image,), imagenet=True))
    assert prepared.image_inputs == ["input"]
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    expected = model((image - mean) / std)
    assert torch.allclose(prepared.module(image), expected, atol=1e-6)
    # A single Core ML scale (the FAQ's 0.226 average) is visibly different.
    approximate = model((image - mean) / 0.226)
    assert not torch.allclose(prepared.module(image), approximate, atol=1e-3)


def test_imagenet_example_outside_unit_range_is_replaced():
    model = nn.Conv2d(3, 2, 1).eval()
    normalised_example = torch.randn(1, 3, 4, 4) * 3
    prepared = prepare(ModelSpec(model, (normalised_example,), imagenet=True,
                                 input_names=["image"]))
    (image,) = prepared.example_inputs
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert prepared.notes and "not an image in [0, 1]" in prepared.notes[0]
    with pytest.raises(UsageError, match="needs RGB images shaped N x 3 x H x W"):
        prepare(ModelSpec(nn.Identity(), (torch.rand(1, 1, 4, 4),), imagenet=True))


# --- Hugging Face ModelOutput ---------------------------------------------------------------


GPT2_FACTORY = '''
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    def build():
        torch.manual_seed(0)
        config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32,
                            bos_token_id=0, eos_token_id=0)
        return GPT2LMHeadModel(config), torch.randint(0, 64, (1, 5))
'''


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("hf") / "tiny_gpt2.py"
    path.write_text(textwrap.dedent(GPT2_FACTORY))
    spec = load_model(f"{path}:build")
    return path, spec, prepare(spec)


def test_model_output_flattened_and_named(gpt2):
    path, spec, prepared = gpt2
    assert prepared.input_names == ["input_ids"]
    assert prepared.output_names == ["logits"]
    assert prepared.output_structure.kind == "model_output"
    (ids,) = prepared.example_inputs
    logits = prepared.module(ids)
    assert torch.equal(logits, spec.module(ids).logits)
    # The cache object is not a tensor: dropped, with a note.
    assert any("not a tensor" in note for note in prepared.notes)


def test_model_output_tr101_points_at_the_factory(gpt2):
    path, spec, prepared = gpt2
    (tr101,) = [d for d in prepared.diagnostics if d.code == "TR101"]
    # transformers' forward is library code: the user's factory is where to look.
    assert (tr101.path, tr101.line) == (str(path), line_of(path, "def build("))
    assert tr101.details["library_forward"] is True
    assert "CausalLMOutputWithCrossAttentions" in tr101.message


def test_model_output_is_traceable_through_the_wrapper(gpt2):
    _, _, prepared = gpt2
    traced = torch.jit.trace(prepared.module, prepared.example_inputs)
    (ids,) = prepared.example_inputs
    assert torch.allclose(traced(ids), prepared.reference_outputs[0])
