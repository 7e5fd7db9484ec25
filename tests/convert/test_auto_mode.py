"""Auto mode: a plain trace is always among its attempts, what stops the trace is reported at the
user's line, the hybrid pattern is found without hints, and a precision-only parity failure
stops the search. Every model here was written for its test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchready.lint.types import Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _convert(module, inputs, **options):
    from torchready import to_coreml

    options.setdefault("compute_precision", "fp32")
    return to_coreml(module.eval(), inputs, lint=False, **options)


def _line(cls, fragment: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(cls.forward)
    [offset] = [i for i, text in enumerate(lines) if fragment in text]
    return start + offset


def _outcomes(result) -> list[str]:
    return [entry["outcome"].split(" (")[0] for entry in result.capture_attempts]


# --- a flag computed from a traced size (is_causal) ---------------------------------------------


class CausalSelfAttention(nn.Module):
    """A decoder's attention that asks for causal masking only when there is more than one
    position: the flag is a Python bool of a size, a Tensor while tracing."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.out = nn.Linear(16, 16)

    def forward(self, x, mask=None):
        b, n_ctx, _ = x.shape
        q, k, v = self.qkv(x).view(b, n_ctx, 3, 2, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and n_ctx > 1)
        return self.out(y.transpose(1, 2).reshape(b, n_ctx, 16))


class CausalFromInit(CausalSelfAttention):
    """The fix: the flag is a Python bool decided outside the traced region."""

    def __init__(self, causal: bool = True) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, x):
        b, n_ctx, _ = x.shape
        q, k, v = self.qkv(x).view(b, n_ctx, 3, 2, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(b, n_ctx, 16))


def _tokens_embedded():
    return (torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(0)),)


def test_trace_mode_reports_a_flag_from_a_traced_size_as_tr107():
    result = _convert(CausalSelfAttention(), _tokens_embedded(), mode="trace")
    assert result.failed_stage == "capture"
    assert _outcomes(result) == ["trace failed at capture"]  # a pinned mode is not retried
    [finding] = [d for d in result.diagnostics if d.code == "TR107"]
    assert finding.name == "shape-dependent-branch" and finding.severity == Severity.ERROR
    assert finding.line == _line(CausalSelfAttention, "is_causal=mask is None")
    assert "`is_causal=mask is None and n_ctx > 1`" in finding.message
    assert "outside the traced region" in finding.message and "attn_mask" in finding.message
    assert finding.details["depends_on"] == "shape"
    # the underline is the flag's expression, not the whole statement
    assert finding.end_column - finding.column == len("mask is None and n_ctx > 1")


def test_auto_tries_the_trace_first_reports_why_and_converts_another_way():
    result = _convert(CausalSelfAttention(), _tokens_embedded())
    assert result.ok, (result.failed_stage, result.error)
    assert _outcomes(result)[0] == "trace failed at capture"
    assert result.capture_mode in ("hybrid", "export")
    [finding] = [d for d in result.diagnostics if d.code == "TR107"]
    assert finding.severity == Severity.WARNING  # the path that converted captured it right
    assert finding.details["resolved_by"] == result.capture_mode


def test_the_suggested_fix_traces():
    """The control: the same attention with the flag decided outside the traced region."""
    result = _convert(CausalFromInit(), _tokens_embedded())
    assert result.ok and result.capture_mode == "trace"
    assert _outcomes(result) == ["trace: converted with parity"]


# --- a plain trace is always among the attempts --------------------------------------------------


class AlwaysTrueBranch(nn.Module):
    """A branch on data that every input takes, behind **kwargs (no script) and .item()
    (no torch.export): only a trace captures it, and the trace is right."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x, **kwargs):
        y = self.proj(x)
        if y.abs().max().item() >= 0:
            y = y * 2
        return y


class DataBranch(AlwaysTrueBranch):
    """The same shape of code, but random inputs take either branch: the trace is wrong."""

    def forward(self, x, **kwargs):
        y = self.proj(x)
        if y.sum().item() > 0:
            return y * 2
        return -y


def test_auto_keeps_a_plain_trace_after_hybrid_and_export_fail_and_says_what_it_froze():
    torch.manual_seed(0)
    result = _convert(AlwaysTrueBranch(), (torch.randn(2, 8),))
    assert _outcomes(result) == ["hybrid failed at capture", "export failed at capture",
                                 "trace: converted with parity"]
    assert result.ok and result.capture_mode == "trace"
    line = _line(AlwaysTrueBranch, "if y.abs().max().item() >= 0")
    assert f"froze the Python value at tests/convert/test_auto_mode.py:{line} (TR103, on data)" \
        in result.capture_reason


def test_a_kept_trace_names_the_sizes_shape_probing_found_frozen():
    """fixtures/attention.py scales by math.sqrt(q.size(-1)): right for the example's fixed
    shape, so auto keeps the trace, and says which size it froze."""
    from torchready.convert.loading import load_model

    spec = load_model(f"{FIXTURES / 'attention.py'}:build")
    result = _convert(spec.module, spec.example_inputs)
    assert result.ok and result.capture_mode == "trace"
    assert "froze the size arithmetic at fixtures/attention.py:17 (TR102, on shape)" \
        in result.capture_reason
    assert "Shape probing: the trace froze input 'query' dimension 3 at size 16" \
        in result.capture_reason


def test_parity_still_decides_whether_the_fallback_trace_is_kept():
    torch.manual_seed(0)
    result = _convert(DataBranch(), (torch.randn(2, 8),))
    assert _outcomes(result)[-1] == "trace failed at parity"
    assert not result.ok


# --- the hybrid pattern without hints ------------------------------------------------------------


class Prediction(NamedTuple):
    logits: torch.Tensor
    hidden: torch.Tensor


class Predictor(nn.Module):
    """Next-token logits in a structured output, with the keyword plumbing of library models
    (torch.jit.script rejects **kwargs)."""

    def __init__(self, vocabulary: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, 8)
        self.head = nn.Linear(8, vocabulary)

    def forward(self, tokens, **kwargs):
        hidden = self.embedding(tokens).cumsum(1)
        return Prediction(self.head(hidden), hidden)


class Completion(nn.Module):
    def __init__(self, end: int = 3, max_length: int = 12) -> None:
        super().__init__()
        self.predictor = Predictor()
        self.end = end
        self.max_length = max_length

    def forward(self, tokens):
        next_token = tokens[:, -1:]
        while tokens.size(1) < self.max_length and bool(next_token[0, 0] != self.end):
            logits = self.predictor(tokens)[0]
            next_token = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
        return tokens


def test_auto_finds_the_hybrid_pattern_and_converts_the_loop():
    torch.manual_seed(1)
    tokens = torch.tensor([[5, 9, 1]])
    result = _convert(Completion(), (tokens,), flexible={"tokens": {1: (1, 12)}})
    assert result.ok, (result.failed_stage, result.error)
    assert result.capture_mode == "hybrid" and _outcomes(result) == ["hybrid: converted with "
                                                                     "parity"]
    assert result.captured.traced_submodules == ["predictor"]
    line = _line(Completion, "while tokens.size(1)")
    assert f"the `while` at tests/convert/test_auto_mode.py:{line} loops on a value computed " \
           "from predictor's output" in result.capture_reason
    assert result.parity.passed


def test_the_talks_sentence_completion_is_found_without_hints():
    """fixtures/gpt2_completion.py:build_without_hints (no mode, no traced_submodules): auto's
    capture finds the loop pattern, traces the GPT-2 predictor (its trace follows the loop's
    growing sentence) and scripts the loop, as the hints ask. (Its conversion with parity is the
    zoo's fixture:gpt2-completion-auto row.)"""
    from torchready.convert.capture import capture
    from torchready.convert.prepare import prepare

    sys.path.insert(0, str(FIXTURES))
    try:
        import gpt2_completion
    finally:
        sys.path.remove(str(FIXTURES))
    spec = gpt2_completion.build_without_hints()
    assert spec.mode is None and not spec.traced_submodules
    captured = capture(prepare(spec), "auto")
    assert captured.ok, captured.error
    assert captured.mode == "hybrid" and captured.traced_submodules == ["next_token_predictor"]
    assert "loops on a value computed from next_token_predictor's output" in captured.reason


# --- a parity failure only at fp16 stops the search ----------------------------------------------


class Overflows(nn.Module):
    """Intermediate values beyond fp16's 65504: wrong at fp16 on every capture path, right at
    fp32."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        return (self.proj(x) * 30000.0) / 30000.0


@pytest.mark.parametrize("recheck", [True, False])
def test_a_precision_only_parity_failure_does_not_try_other_capture_paths(recheck):
    from torchready.convert.parity.engine import ParityOptions

    torch.manual_seed(0)
    result = _convert(Overflows(), (torch.randn(2, 8) * 3,), compute_precision="fp16",
                      parity_options=ParityOptions(recheck_fp32=recheck))
    assert result.failed_stage == "parity"
    if recheck:  # fp32 passes: the capture is right, one attempt
        assert result.parity.cause == "fp16"
        assert _outcomes(result) == ["trace failed at parity"]
        assert "Stopped there: parity failed only for fp16 precision" in result.capture_reason
    else:  # the control: without the fp32 verdict auto cannot tell, and tries every path
        assert _outcomes(result) == ["trace failed at parity", "export failed at parity",
                                     "hybrid failed at parity"]
