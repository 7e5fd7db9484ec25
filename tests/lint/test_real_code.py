"""The rules on real model code: transformers' modeling files (installed with the dev extras).

Decisions from the precision review (/work/helpers/precision_review.md) that need a real file:
hazards the rules must keep catching, and the false positives they must not come back with.
Lines are found by their text, so a patch release that moves code does not break the test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from torchready.lint.engine import lint_source
from torchready.lint.rules import all_rules

spec = importlib.util.find_spec("transformers")
if spec is None or not spec.submodule_search_locations:
    pytest.skip("transformers is not installed", allow_module_level=True)
MODELS = Path(next(iter(spec.submodule_search_locations))) / "models"

# (file, text on the line, code, reported?)
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
]


@pytest.fixture(scope="module")
def findings():
    """file -> [(line, code)] for the files the decisions name."""
    rules = all_rules()
    result = {}
    for name in sorted({file for file, *_ in DECISIONS}):
        path = MODELS / name
        result[name] = [(d.line, d.code) for d in lint_source(path.read_text(encoding="utf-8"),
                                                              str(path), rules)]
    return result


@pytest.mark.parametrize("file, text, code, reported", DECISIONS,
                         ids=[f"{code}-{file.split('/')[0]}" for file, _, code, _ in DECISIONS])
def test_review_decision_holds(findings, file, text, code, reported):
    lines = (MODELS / file).read_text(encoding="utf-8").splitlines()
    numbers = [index + 1 for index, line in enumerate(lines) if text in line]
    assert numbers, f"{text!r} is no longer in {file}"
    hits = [(line, found) for line, found in findings[file] if found == code and line in numbers]
    assert bool(hits) == reported, findings[file]


def test_a_slice_of_the_models_tree_lints_without_errors():
    """Every rule on 60 modeling files, as `benchmarks/real_code_report.py` runs them all."""
    rules = all_rules()
    files = sorted(MODELS.glob("*/modeling_*.py"))[::40][:60]
    for path in files:
        lint_source(path.read_text(encoding="utf-8"), str(path), rules)
