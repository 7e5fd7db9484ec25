"""Capture modes on the talk's fixtures and on small hazard models: real torch.jit.trace/script,
TracerWarnings pinned and classified, auto's choice and its reason, hybrid on the fixed loop."""

import math
import textwrap
from pathlib import Path

import pytest
import torch

import capture_models as cm
from capture_models import marked_line
from torchready.convert.capture import capture
from torchready.convert.loading import load_model
from torchready.convert.prepare import prepare
from torchready.convert.python_source import display_path
from torchready.convert.spec import ModelSpec
from torchready.lint.types import Severity, UsageError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MODELS = str(Path(cm.__file__).resolve())


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def prepared_for(model, *inputs, **spec):
    return prepare(ModelSpec(model.eval(), tuple(inputs), **spec))


def only(diagnostics, code):
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, [(d.code, d.line) for d in diagnostics]
    return found[0]


# --- the talk's fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def segmentation():
    prepared = prepare(load_model(f"{FIXTURES / 'segmentation.py'}:build"))
    return prepared, capture(prepared, "auto")


def test_segmentation_dict_output_traces(segmentation):
    prepared, captured = segmentation
    assert captured.ok and captured.mode == "trace"
    assert isinstance(captured.module, torch.jit.ScriptModule)
    assert not captured.frozen
    assert captured.reason.startswith("auto chose trace: no data-dependent control flow found")
    assert [d for d in captured.diagnostics if d.severity == Severity.ERROR] == []
    out, aux = captured.module(*prepared.example_inputs)
    assert torch.allclose(out, prepared.reference_outputs[0], atol=1e-5)
    assert torch.allclose(aux, prepared.reference_outputs[1], atol=1e-5)
    assert {check.name: check.ok for check in captured.checks} == {
        "example": True, "values probe": True, "shape probe": True}


def test_attention_math_sqrt_is_harmful_tr102():
    prepared = prepare(load_model(f"{FIXTURES / 'attention.py'}:build"))
    captured = capture(prepared, "trace")
    tr102 = only(captured.diagnostics, "TR102")
    path = FIXTURES / "attention.py"
    assert (tr102.path, tr102.line) == (str(path), line_of(path, "math.sqrt(head_dim)"))
    source = path.read_text().splitlines()[tr102.line - 1]
    assert source[tr102.column - 1:tr102.end_column - 1] == "math.sqrt(head_dim)"
    assert tr102.severity == Severity.ERROR and tr102.origin == "trace"
    assert tr102.details["classification"] == "harmful"
    assert tr102.details["depends_on"] == "shape"
    # The baked value is the example's sqrt(head_dim); the shape probe saw it change.
    query = prepared.example_inputs[0]
    baked = math.sqrt(query.size(-1))
    (confirmation,) = tr102.details["confirmed_by"]
    assert f"instead of {baked}" in confirmation
    shape_check = next(check for check in captured.checks if check.name == "shape probe")
    assert not shape_check.ok


def test_attention_auto_keeps_the_trace_for_fixed_shapes_and_scripts_for_flexible():
    spec = load_model(f"{FIXTURES / 'attention.py'}:build")
    fixed = capture(prepare(spec), "auto")
    assert fixed.mode == "trace"
    assert "froze the size arithmetic at fixtures/attention.py:17 (TR102, on shape)" \
        in fixed.reason
    spec = load_model(f"{FIXTURES / 'attention.py'}:build")
    spec.flexible = {"query": {3: (8, 64)}, "key": {3: (8, 64)}, "value": {3: (8, 64)}}
    flexible = capture(prepare(spec), "auto")
    assert flexible.mode == "hybrid" and flexible.ok
    assert "TR102 math-on-shape" in flexible.reason
    # Scripted, math.sqrt follows the feature size.
    q, k, v = (torch.randn(1, 4, 8, 20) for _ in range(3))
    expected = spec.module(q, k, v)
    assert torch.allclose(flexible.module(q, k, v), expected, atol=1e-5)


SENTENCE = FIXTURES / "sentence_completion.py"


def test_sentence_completion_script_fails_with_tr201_at_the_append():
    prepared = prepare(load_model(f"{SENTENCE}:build"))
    captured = capture(prepared, "script")
    assert not captured.ok and captured.module is None
    tr201 = only(captured.diagnostics, "TR201")
    assert (tr201.path, tr201.line) == (str(SENTENCE), line_of(SENTENCE, "generated.append("))
    assert tr201.details["container"] == "generated"
    assert tr201.details["annotation"] == "List[int]"
    assert "`generated: List[int] = []`" in tr201.message
    assert captured.error_location == (str(SENTENCE), tr201.line)


def test_sentence_completion_auto_explains_why_it_cannot_trace():
    prepared = prepare(load_model(f"{SENTENCE}:build"))
    captured = capture(prepared, "auto")
    assert captured.mode == "hybrid" and not captured.ok
    # The loop's condition reads the predictor's output: a trace would freeze the number of
    # iterations, so auto goes straight to the talk's recipe (trace the predictor, script the
    # loop), where the untyped list stops the script.
    loop = line_of(SENTENCE, "while token != self.end_token")
    assert f"the `while` at {display_path(str(SENTENCE))}:{loop} loops on a value computed " \
           "from predictor's output" in captured.reason
    assert captured.traced_submodules == ["predictor"]
    only(captured.diagnostics, "TR201")


@pytest.fixture(scope="module")
def fixed_sentence(tmp_path_factory):
    """The fixture with the talk's fix applied: the list is annotated."""
    source = SENTENCE.read_text()
    fixed = source.replace("        generated = []", "        generated: List[int] = []")
    fixed = fixed.replace("import torch\n", "from typing import List\n\nimport torch\n", 1)
    assert fixed != source
    path = tmp_path_factory.mktemp("fixed") / "sentence_completion_fixed.py"
    path.write_text(fixed)
    spec = load_model(f"{path}:build")
    prepared = prepare(spec)
    return path, spec, prepared, capture(prepared, "hybrid")


def test_hybrid_traces_the_predictor_and_scripts_the_loop(fixed_sentence):
    path, spec, prepared, captured = fixed_sentence
    assert captured.ok and captured.mode == "hybrid" and captured.frozen
    assert captured.traced_submodules == ["predictor"]
    assert "traced predictor; scripted the rest" in captured.reason
    kinds = {node.kind() for node in captured.module.graph.nodes()}
    assert "prim::Loop" in kinds  # the while loop survived as a loop
    # A prompt of another length stops at another point: the loop is really scripted.
    module = sys_module(path)
    for prompt in ("The Manhattan bridge is", "A bridge."):
        tokens = module.encode(prompt)
        assert torch.equal(captured.module(tokens), spec.module(tokens))


def sys_module(path: Path):
    import sys

    return sys.modules[path.stem]


def test_named_traced_submodules(fixed_sentence):
    _, _, prepared, _ = fixed_sentence
    captured = capture(prepared, "hybrid", traced_submodules=["predictor.head"])
    assert captured.ok and captured.traced_submodules == ["predictor.head"]
    with pytest.raises(UsageError,
                       match="traced submodule 'predictor.nope' is not a submodule of the model"):
        capture(prepared, "hybrid", traced_submodules=["predictor.nope"])


def test_unknown_mode_is_a_usage_error(fixed_sentence):
    with pytest.raises(UsageError, match="unknown capture mode 'jit'"):
        capture(fixed_sentence[2], "jit")


# --- hazards and their classification ---------------------------------------------------


def test_data_dependent_branch_is_tr104_and_auto_picks_hybrid():
    model = cm.SignGate()
    prepared = prepared_for(model, torch.rand(2, 8))
    traced = capture(prepared, "trace")
    tr104 = only(traced.diagnostics, "TR104")
    assert (tr104.path, tr104.line) == (MODELS, marked_line("tr104"))
    assert tr104.details == {**tr104.details, "classification": "harmful", "depends_on": "data"}
    source = Path(MODELS).read_text().splitlines()[tr104.line - 1]
    assert source[tr104.column - 1:tr104.end_column - 1] == "x.sum() > 0"
    negative = -torch.rand(2, 8)
    assert not torch.allclose(traced.module(negative), model(negative))  # frozen branch

    auto = capture(prepared, "auto")
    assert auto.mode == "hybrid" and auto.ok and auto.frozen
    assert auto.reason.startswith("auto chose hybrid: TR104 data-dependent-control-flow at ")
    assert auto.traced_submodules == ["body"]
    for x in (torch.rand(2, 8), negative):
        assert torch.allclose(auto.module(x), model(x), atol=1e-6)
    # The trace finding stays visible, downgraded: hybrid scripted that branch.
    kept = only(auto.diagnostics, "TR104")
    assert kept.severity == Severity.WARNING and kept.details["resolved_by"] == "hybrid"


def test_size_turned_into_a_tensor_is_benign():
    prepared = prepared_for(cm.SliceBySizeTensor(), torch.randn(2, 6), torch.randn(2, 3))
    captured = capture(prepared, "trace")
    finding = only(captured.diagnostics, "TR102")
    assert finding.line == marked_line("benign")
    assert finding.details["classification"] == "benign"
    assert finding.severity == Severity.INFO
    assert "aten::size" in finding.details["evidence"]
    assert finding.message.startswith("Benign: `torch.tensor(y.size(1))`")
    # ... and it really generalises:
    x, y = torch.randn(2, 6), torch.randn(2, 5)
    assert torch.equal(captured.module(x, y), x[:, :5] * 2)


def test_size_turned_into_a_python_int_is_harmful():
    prepared = prepared_for(cm.SliceByPythonInt(), torch.randn(2, 6), torch.randn(2, 3))
    captured = capture(prepared, "trace")
    finding = only(captured.diagnostics, "TR102")
    assert finding.line == marked_line("harmful")
    assert finding.details["classification"] == "harmful"
    assert finding.severity == Severity.ERROR
    x, y = torch.randn(2, 6), torch.randn(2, 5)
    assert captured.module(x, y).shape != (x[:, :5] * 2).shape


def test_item_of_a_parameter_is_benign_item_of_the_input_is_not():
    parameter = capture(prepared_for(cm.ScaleFromParameter(), torch.randn(2, 6)), "trace")
    benign = only(parameter.diagnostics, "TR103")
    assert benign.line == marked_line("parameter-item")
    assert benign.details["classification"] == "benign"
    assert benign.details["depends_on"] == "constant"

    data = capture(prepared_for(cm.ScaleFromInput(), torch.randn(2, 6)), "trace")
    harmful = only(data.diagnostics, "TR103")
    assert harmful.line == marked_line("input-item")
    assert harmful.details["classification"] == "harmful"
    assert harmful.details["depends_on"] == "data"
    assert capture(prepared_for(cm.ScaleFromInput(), torch.randn(2, 6)), "auto").mode == "hybrid"


def test_iterating_over_a_tensor_is_tr105():
    captured = capture(prepared_for(cm.IterateRows(), torch.randn(3, 6)), "auto")
    tr105 = only(captured.diagnostics, "TR105")
    assert tr105.line == marked_line("tr105")
    assert tr105.details["classification"] == "harmful"
    assert tr105.details["depends_on"] == "shape"
    # The unrolled loop is right for the example's shape: auto keeps the trace.
    assert captured.mode == "trace"


def test_randomness_is_tr106():
    captured = capture(prepared_for(cm.Noisy(), torch.randn(3, 6)), "trace")
    tr106 = only(captured.diagnostics, "TR106")
    assert tr106.line == marked_line("tr106")
    assert tr106.details["classification"] == "harmful"
    assert not next(check for check in captured.checks if check.name == "example").ok


def test_python_state_changing_between_calls_is_tr106_at_its_line():
    # torch's check_trace runs only when the eager model is not reproducible; its "Graphs
    # differed across invocations!" names the diverging node.
    captured = capture(prepared_for(cm.CountsCalls(), torch.ones(2, 3)), "trace")
    tr106 = only(captured.diagnostics, "TR106")
    assert (tr106.path, tr106.line) == (MODELS, marked_line("tr106-state"))
    assert tr106.details["check_trace"] is True


GPT2_FACTORY = '''
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    def build():
        torch.manual_seed(0)
        config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32,
                            bos_token_id=0, eos_token_id=0)
        return GPT2LMHeadModel(config), torch.randint(0, 64, (1, 6))
'''


def test_library_warnings_are_shape_dependent_and_keep_the_trace(tmp_path):
    path = tmp_path / "tiny_gpt2_capture.py"
    path.write_text(textwrap.dedent(GPT2_FACTORY))
    prepared = prepare(load_model(f"{path}:build"))
    captured = capture(prepared, "auto")
    assert captured.ok and captured.mode == "trace"
    from_library = [d for d in captured.diagnostics if d.origin == "trace"]
    assert from_library, "transformers' masking code warns while tracing"
    assert all(d.details.get("library") for d in from_library)
    assert all("site-packages/transformers/" in d.path for d in from_library)
    booleans = [d for d in from_library if d.code == "TR104"]
    assert booleans and all(d.details["depends_on"] == "shape" for d in booleans)
    # Not the user's code, and right for a fixed-shape model: warnings, not errors.
    assert all(d.severity != Severity.ERROR for d in from_library)
