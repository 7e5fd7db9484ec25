"""The rules on real model code: transformers' modeling files (installed with the dev extras).

Decisions from the precision review (docs/precision_review.md) that need a real file:
hazards the rules must keep catching, and the false positives they must not come back with.
Lines are found by their text, so a patch release that moves code does not break the test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from torchready.lint.engine import lint_source
from torchready.lint.rules import all_rules
from torchready.lint.targets import ALL_TARGETS, DEFAULT_TARGETS

spec = importlib.util.find_spec("transformers")
if spec is None or not spec.submodule_search_locations:
    pytest.skip("transformers is not installed", allow_module_level=True)
MODELS = Path(next(iter(spec.submodule_search_locations))) / "models"

# (file, text on the line, code, reported?), linted for trace and export
DECISIONS = [
    # caught: real TracerWarnings of tiny traced models (benchmarks/tracer_warnings.py)
    ("mobilenet_v2/modeling_mobilenet_v2.py", "in_height = int(features.shape[-2])", "TR102", True),
    ("mpt/modeling_mpt.py", "position_bias_query_index = max(0, position_bias.size(1)", "TR102",
     True),
    ("longformer/modeling_longformer.py", "is_global_attn = is_index_global_attn.flatten()",
     "TR103", True),
    # caught: reviewed true positives
    ("mixtral/modeling_mixtral.py", "for expert_idx in expert_hit:", "TR105", True),
    ("mixtral/modeling_mixtral.py", "if expert_idx == self.num_experts:", "TR104", True),
    ("qwen2_vl/modeling_qwen2_vl.py", "inputs_embeds = inputs_embeds.masked_scatter(", "TR301",
     True),
    ("rt_detr/modeling_rt_detr.py", "compute_dtype = torch.float64 if", "TR302", True),
    ("qwen2_vl/modeling_qwen2_vl.py", "self.rope_deltas = rope_deltas", "TR106", True),
    # not reported: false positives fixed during the review
    ("bart/modeling_bart.py", "if hidden_states.dtype == torch.float16 and not torch.isfinite",
     "TR104", False),
    ("grounding_dino/modeling_grounding_dino.py", "for level in range(num_levels):", "TR105",
     False),
    ("vitdet/modeling_vitdet.py", "size = int(math.sqrt(num_position))", "TR102", False),
    ("musicgen/modeling_musicgen.py", "dropout_probability = random.uniform(0, 1)", "TR106",
     False),
    ("switch_transformers/modeling_switch_transformers.py", "self.input_dtype = hidden_states",
     "TR106", False),
    ("fsmt/modeling_fsmt.py", "if not padding_mask.any():", "TR104", True),
    # shape-dependent branches: a size passed down two methods (real TracerWarnings)
    ("swin/modeling_swin.py", "if width % self.patch_size[1] != 0:", "TR107", True),
    ("swin/modeling_swin.py", "if pad_values[3] > 0 or pad_values[5] > 0:", "TR107", True),
    # not reported: `len()` of what a submodule returns, a list a submodule returns
    ("t5/modeling_t5.py", "attentions=encoder_outputs[2] if len(encoder_outputs) > 2", "TR107",
     False),
    ("grounding_dino/modeling_grounding_dino.py",
     "for level, (source, mask) in enumerate(vision_features):", "TR105", False),
]
# The review of the project analysis, TR107, TR205 and the TR103 additions: linted for every
# capture target (script compiles what trace skips, so the trace decisions above stay apart).
ALL_TARGET_DECISIONS = [
    ("rt_detr/modular_rt_detr.py", "batch_size = len(source_flatten)", "TR103", True),
    ("apertus1p5/modeling_apertus1p5.py", 'f"Image features and image tokens do not match, tok',
     "TR103", True),  # information: a check's message
    ("mllama/modeling_mllama.py", "cos, sin = position_embeddings", "TR103", False),
    ("wavlm/modeling_wavlm.py", "attn_output, attn_weights = F.multi_head_attention_forward(",
     "TR103", False),
    ("esmfold2/modeling_esmfold2.py", "unique_keys, inverse = torch.unique(keys, dim=0,", "TR103",
     False),
    ("hiera/modeling_hiera.py", "if self.is_mae else (None, None)", "TR103", False),
    ("omdet_turbo/modeling_omdet_turbo.py", "logit_scale = torch.tensor(1 / 0.07).log()", "TR103",
     False),
    ("pp_doclayout_v2/modeling_pp_doclayout_v2.py",
     "class_thresholds = torch.tensor(self.config.class_thresholds", "TR103", False),
    ("sam2_video/modeling_sam2_video.py",
     "idx_before = max((t for t in cond_frame_outputs if t < frame_idx)", "TR105", False),
    ("rwkv/modeling_rwkv.py", "layer_state = tuple(s[:, :, self.layer_id] for s in state[2:])",
     "TR105", False),
    ("mask2former/modeling_mask2former.py", "size_list = []", "TR201", True),
    ("seamless_m4t/modeling_seamless_m4t.py",
     "def _conv_out_length(input_length, kernel_size, stride, pad, dilation=1):", "TR202", False),
    ("d_fine/modeling_d_fine.py", "elif reference_points.shape[-1] == 4:", "TR107", True),
]


@pytest.fixture(scope="module")
def findings():
    """(file, targets) -> [(line, code)] for the files the decisions name."""
    rules = all_rules()
    result = {}
    for decisions, targets in ((DECISIONS, DEFAULT_TARGETS), (ALL_TARGET_DECISIONS, ALL_TARGETS)):
        for name in sorted({file for file, *_ in decisions}):
            path = MODELS / name
            result[name, targets] = [(d.line, d.code) for d in lint_source(
                path.read_text(encoding="utf-8"), str(path), rules, targets=targets)]
    return result


CASES = [(*decision, DEFAULT_TARGETS) for decision in DECISIONS] + \
    [(*decision, ALL_TARGETS) for decision in ALL_TARGET_DECISIONS]


@pytest.mark.parametrize("file, text, code, reported, targets", CASES,
                         ids=[f"{code}-{file.split('/')[0]}-{len(targets)}"
                              for file, _, code, _, targets in CASES])
def test_review_decision_holds(findings, file, text, code, reported, targets):
    lines = (MODELS / file).read_text(encoding="utf-8").splitlines()
    numbers = [index + 1 for index, line in enumerate(lines) if text in line]
    assert numbers, f"{text!r} is no longer in {file}"
    found = findings[file, targets]
    hits = [(line, code_) for line, code_ in found if code_ == code and line in numbers]
    assert bool(hits) == reported, found


def test_a_slice_of_the_models_tree_lints_without_errors():
    """Every rule on 60 modeling files, as `benchmarks/real_code_report.py` runs them all."""
    rules = all_rules()
    files = sorted(MODELS.glob("*/modeling_*.py"))[::40][:60]
    for path in files:
        lint_source(path.read_text(encoding="utf-8"), str(path), rules)


def test_script_target_reports_what_scripting_transformers_fails_on():
    """bert scripted (the dynamic truth: `**kwargs` parameters, `self.config = config` read by
    the scripted forward): reported at the lines torch.jit.script names."""
    path = MODELS / "bert" / "modeling_bert.py"
    lines = path.read_text(encoding="utf-8").splitlines()
    found = {(d.line, d.code) for d in lint_source(path.read_text(encoding="utf-8"), str(path),
                                                  all_rules(), targets=("script",))}
    config = next(index + 1 for index, line in enumerate(lines) if "self.config = config" in line
                  and index > 600)
    kwargs = [index + 1 for index, line in enumerate(lines) if "**kwargs: Unpack" in line
              and _enclosing_def(lines, index).endswith("def forward(")]
    assert (config, "TR205") in found
    assert kwargs and all((line, "TR203") in found for line in kwargs)
    assert not any(code.startswith("TR1") for _, code in found)  # script compiles branches


def _enclosing_def(lines: list[str], index: int) -> str:
    while index >= 0 and "def " not in lines[index]:
        index -= 1
    return lines[index].strip() if index >= 0 else ""
