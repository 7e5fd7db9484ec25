"""One test per failure the zoo found: the original failure, reproduced on a minimal model, then
the same model converted by torchready with parity (MIL reference runtime vs eager, fp32).

* Llama, Qwen2, Gemma: coremltools' SDPA converter ignores `enable_gqa`
  (composite_ops/sdpa_gqa), and auto mode took a shape check behind a helper function for a
  data dependency (capture/value_origin).
* BEiT: indexed assignment of a traced scalar, a (1,) value into a 0-d slot
  (composite_ops/tensor_assign).
* DINOv2: no converter for bicubic interpolation (composite_ops/upsample_bicubic).
* BLOOM: a custom autograd.Function traced as an opaque prim::PythonOp
  (graph_passes/inline_autograd_functions).
* LeViT: an eval-mode cache of a parameter slice traced as a constant that requires grad
  (prepare: parameters stop requiring grad).
* Found on the way: antialiased bilinear downsampling converted as plain bilinear, silently
  (composite_ops/upsample_bilinear_aa).
"""

import warnings

import pytest
import torch
import torch.nn.functional as F
from zoo_helpers import assert_parity, convert, diagnostics_of, reference_errors

from torchready.convert import composite_ops, graph_passes


def _example(kind):
    example = composite_ops.by_kind(kind).example()
    return example.module, example.example_inputs


# --- grouped-query attention (Llama, Qwen2, Gemma) --------------------------------------------


def test_sdpa_with_enable_gqa_fails_in_coremltools_and_converts_with_parity():
    module, inputs = _example("scaled_dot_product_attention")
    with composite_ops.disabled("scaled_dot_product_attention"):
        before = convert(module, inputs)
    assert before.failed_stage == "convert"
    [failure] = diagnostics_of(before, "TR303")
    assert "Incompatible dim 1 in shapes (1, 4) vs. (1, 2)" in failure.message
    assert failure.details["op"] == "aten::scaled_dot_product_attention"

    after = convert(module, inputs, compute_precision="fp32")
    assert "scaled_dot_product_attention" in after.composite_ops_applied
    assert_parity(after)


def test_sdpa_without_gqa_is_left_to_coremltools():
    class Attention(torch.nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    inputs = tuple(torch.randn(1, 2, 5, 8, generator=torch.Generator().manual_seed(i))
                   for i in range(3))
    result = convert(Attention().eval(), inputs, compute_precision="fp32")
    assert "scaled_dot_product_attention" not in result.composite_ops_applied
    assert_parity(result)


# --- auto mode and shape checks behind a helper function (transformers' use_gqa_in_sdpa) ------


def use_fast_path(mask, key, value):
    # transformers' `use_gqa_in_sdpa`: only the tensors' sizes are read.
    return mask is None and key.shape[-1] == value.shape[-1] <= 256


def is_positive(x):
    return x.sum() > 0


class ShapeGuardedAttention(torch.nn.Module):
    """Takes a path decided by a helper that reads sizes only. forward takes **kwargs, as
    transformers' attention does, so it cannot be scripted: hybrid capture fails on it."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, q, k, v, **kwargs):
        if use_fast_path(None, k, v):
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
        return self.proj(out)


class DataGuarded(torch.nn.Module):
    def forward(self, x):
        if is_positive(x):
            return x * 2
        return -x


def _attention_inputs():
    return tuple(torch.randn(1, 2, 5, 8, generator=torch.Generator().manual_seed(i))
                 for i in range(3))


def _trace_findings(result, condition):
    """The TR104 findings that quote `condition` (the message shows the converted expression)."""
    return [d for d in result.diagnostics if d.code == "TR104" and f"`{condition}`" in d.message]


def test_a_helper_that_only_reads_sizes_keeps_auto_on_trace(monkeypatch):
    from torchready.convert.capture import value_origin

    module, inputs = ShapeGuardedAttention().eval(), _attention_inputs()
    # What auto mode concluded before it followed the helper: the helper's tensor arguments
    # come from the inputs, so the branch looked data-dependent, and scripting the module fails.
    with monkeypatch.context() as patch:
        patch.setattr(value_origin, "_returned_values", lambda expression, frame: None)
        before = convert(module, inputs)
    # auto's first choice; it then falls back to torch.export (the kept result)
    first = before.capture_attempts[0]
    [finding] = [d for d in first["diagnostics"] if d.code == "TR104"
                 and "`use_fast_path(None, k, v)`" in d.message]
    assert finding.details["depends_on"] == "data"
    assert first["mode"] == "hybrid" and first["failed_stage"] == "capture"

    after = convert(module, inputs, compute_precision="fp32")
    [finding] = _trace_findings(after, "use_fast_path(None, k, v)")
    assert finding.details["depends_on"] == "shape"
    assert after.capture_mode == "trace"
    assert_parity(after)


def test_a_helper_that_reads_values_still_makes_auto_script_the_branch():
    result = convert(DataGuarded().eval(), (torch.rand(2, 3),), compute_precision="fp32")
    [finding] = _trace_findings(result, "is_positive(x)")
    assert finding.details["depends_on"] == "data"
    assert result.capture_mode == "hybrid"
    assert_parity(result)


# --- indexed assignment of a traced scalar (BEiT) ----------------------------------------------


def test_assigning_a_traced_scalar_to_one_element_converts_with_parity():
    module, inputs = _example("_internal_op_tensor_inplace_copy")
    with composite_ops.disabled("_internal_op_tensor_inplace_copy"):
        before = convert(module, inputs, mode="trace")  # auto would fall back to export
    assert before.failed_stage == "convert"
    [failure] = diagnostics_of(before, "TR303")
    assert "The updates tensor should have shape []. Got (1,)" in failure.message

    after = convert(module, inputs, compute_precision="fp32")
    assert "_internal_op_tensor_inplace_copy" in after.composite_ops_applied
    assert_parity(after)


def test_broadcasting_assignment_follows_torch_copy_semantics():
    class RowFill(torch.nn.Module):
        def forward(self, x):
            out = torch.zeros(4, 3)
            out[1:3, :] = x[0]  # a row broadcast over two rows, as copy_ does
            out[3] = x.sum(0)
            return out

    result = convert(RowFill().eval(), (torch.rand(2, 3),), compute_precision="fp32")
    assert result.ok, result.error
    assert_parity(result)


# --- bicubic interpolation (DINOv2's position embeddings) --------------------------------------


def test_bicubic_interpolation_converts_with_parity():
    module, inputs = _example("upsample_bicubic2d")
    with composite_ops.disabled("upsample_bicubic2d"):
        before = convert(module, inputs)
    assert before.failed_stage == "convert"
    assert "aten::upsample_bicubic2d" in before.error
    assert any(d.details.get("op") == "aten::upsample_bicubic2d"
               for d in diagnostics_of(before, "TR301"))

    after = convert(module, inputs, compute_precision="fp32")
    assert "upsample_bicubic2d" in after.composite_ops_applied
    assert_parity(after)


@pytest.mark.parametrize("options", [
    {"size": (9, 5)}, {"size": (3, 4), "antialias": True},
    {"scale_factor": 1.5, "align_corners": True}, {"scale_factor": 0.5, "antialias": True},
], ids=["size", "antialias", "scale-align-corners", "downscale-antialias"])
def test_bicubic_weights_are_torchs_own(options):
    from torchready.convert.composite_ops.upsample_bicubic import resampling_matrix

    x = torch.randn(1, 2, 6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(x, mode="bicubic", **options)
    height, width = expected.shape[-2:]
    rows = resampling_matrix(6, height, options.get("align_corners", False),
                             options.get("scale_factor"), options.get("antialias", False), 0)
    cols = resampling_matrix(8, width, options.get("align_corners", False),
                             options.get("scale_factor"), options.get("antialias", False), 1)
    actual = torch.from_numpy(rows) @ x @ torch.from_numpy(cols).T
    assert torch.allclose(actual, expected, atol=1e-12)


# --- antialiased bilinear downsampling: converted, silently wrong -------------------------------


def test_antialiased_downsampling_is_silently_wrong_in_coremltools_and_right_with_the_fix():
    module, inputs = _example("_upsample_bilinear2d_aa")
    with composite_ops.disabled("_upsample_bilinear2d_aa"):
        before = convert(module, inputs, compute_precision="fp32")
    # coremltools raises no error and no warning: only parity can tell, and the pipeline's
    # parity stage does (the model converted, then failed parity).
    assert before.mlmodel is not None and before.failed_stage == "parity"
    assert max(reference_errors(before)) > 0.1

    after = convert(module, inputs, compute_precision="fp32")
    assert "_upsample_bilinear2d_aa" in after.composite_ops_applied
    assert_parity(after)


# --- custom autograd.Function (BLOOM's GeLUFunction) -------------------------------------------


def test_autograd_function_is_inlined_and_converts_with_parity():
    pass_ = graph_passes.by_name("inline_autograd_functions")
    module, inputs = pass_.example()
    with graph_passes.disabled("inline_autograd_functions"):
        before = convert(module, inputs, mode="trace")  # auto would fall back to export
    assert before.failed_stage == "convert"
    assert "prim::PythonOp" in before.error
    assert diagnostics_of(before, "TR301")

    after = convert(module, inputs, compute_precision="fp32")
    assert after.conversion.graph_passes_applied == ["inline_autograd_functions"]
    [note] = [n for n in after.notes if "inline_autograd_functions" in n]
    assert "inlined TanhGelu" in note and "inline_autograd_functions.py:" in note
    assert not diagnostics_of(after, "TR301")  # the coverage check sees the rewritten graph
    assert_parity(after)


def test_the_inlined_graph_computes_what_the_function_computes():
    module, inputs = graph_passes.by_name("inline_autograd_functions").example()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, inputs)
    run = graph_passes.run_graph_passes(traced)
    graph = traced.forward.graph
    assert run.names == ["inline_autograd_functions"] and not run.failed
    assert not graph.findAllNodes("prim::PythonOp", True)
    # Run the rewritten graph itself (a fresh function, no cached execution plan).
    function = torch._C._create_function_from_graph("inlined", graph)
    with torch.no_grad():
        assert torch.allclose(function(traced._c, *inputs), module(*inputs), atol=1e-6)


# --- a parameter slice cached in eval mode (LeViT's attention biases) --------------------------


class CachedBias(torch.nn.Module):
    """LeViT's `get_attention_biases`: in eval mode, a slice of a parameter is computed once and
    kept in a dict; the tracer then meets a tensor it did not record that requires grad."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(2, 16))
        self.register_buffer("index", torch.randint(0, 16, (4, 4)), persistent=False)
        self.cache = {}

    def biases(self):
        if self.training:
            return self.table[:, self.index]
        if "cpu" not in self.cache:
            self.cache["cpu"] = self.table[:, self.index]
        return self.cache["cpu"]

    def forward(self, scores):
        return torch.softmax(scores + self.biases(), dim=-1)


def test_cached_parameter_slice_traces_once_grads_are_off():
    torch.manual_seed(0)
    scores = torch.randn(1, 2, 4, 4)
    model = CachedBias().eval()
    with warnings.catch_warnings(), pytest.raises(RuntimeError,
                                                  match="requires grad as a constant"):
        warnings.simplefilter("ignore")
        torch.jit.trace(model, scores)

    torch.manual_seed(0)
    result = convert(CachedBias().eval(), (scores,), compute_precision="fp32")
    assert_parity(result)


# --- what remains: never hidden ----------------------------------------------------------------


def test_an_op_nobody_converts_is_reported_with_its_line_and_what_to_do():
    from zoo import run_torchready
    from zoo_models import ZooModel

    class RunningMax(torch.nn.Module):
        def forward(self, x):
            return torch.cummax(x, dim=0).values + 1  # no converter in coremltools 9.0

    row, result = run_torchready(ZooModel("running-max", "test",
                                          lambda: (RunningMax(), (torch.rand(3, 3),))))
    assert not row.ok and row.stage == "convert" and row.code == "TR301"
    assert "aten::cummax" in row.error
    cummax_line = RunningMax.forward.__code__.co_firstlineno + 1
    assert row.detail.endswith(f"test_zoo_fixes.py:{cummax_line}")
    [diagnostic] = [d for d in result.diagnostics if d.code == "TR301"]
    assert "register_torch_op" in diagnostic.message  # what the user can do
