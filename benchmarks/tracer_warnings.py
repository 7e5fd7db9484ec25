"""Ground truth for the trace rules: trace tiny transformers models and compare the source lines
the tracer warns about with what `torchready lint` reports there.

    python benchmarks/tracer_warnings.py [MODEL_TYPE ...] [--attention eager] [--json out.json]

Every model is built from its config class with tiny sizes and random weights (no download),
in eval mode, and traced through a wrapper that returns the first output tensor. The report
lists, for each TracerWarning line inside `transformers/models/`, the TR1xx codes the linter
gives on that line (or MISS), then a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODELS = (
    "albert bart beit bert big_bird biogpt bloom camembert canine codegen convbert convnext "
    "convnextv2 ctrl cvt data2vec-text data2vec-vision deberta deberta-v2 deit dinov2 distilbert "
    "dpt efficientnet electra ernie esm falcon flaubert fnet funnel gemma gemma2 glpn gpt2 "
    "gpt_bigcode gpt_neo gpt_neox gptj ibert imagegpt layoutlm levit llama longformer luke "
    "m2m_100 marian markuplm mbart megatron-bert mistral mixtral mobilebert mobilenet_v1 "
    "mobilenet_v2 mobilevit mpnet mpt mt5 mvp nezha nystromformer olmo opt phi plbart qwen2 "
    "qwen2_moe qwen3 regnet rembert resnet roberta roc_bert roformer stablelm starcoder2 vit "
    "vit_mae vit_msn xglm xlm xlm-roberta yoso"
).split()
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=37, vocab_size=99, max_position_embeddings=128, head_dim=8,
            d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, n_embd=32,
            n_layer=2, n_head=4, n_positions=128, num_layers=2, num_heads=4, d_ff=37, d_kv=8,
            image_size=32, patch_size=4, num_channels=3, embed_dim=32, hidden_sizes=[16, 32],
            depths=[1, 1], projection_dim=32)
TRACE_CODES = {"TR102", "TR103", "TR104", "TR105", "TR106"}


def traced_warnings(model_type: str, attention: str) -> tuple[str, set[tuple[str, int]]]:
    """(status, {(file, line)} of TracerWarnings) for one tiny model."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.for_model(model_type)
        for key, value in TINY.items():
            if hasattr(config, key):
                setattr(config, key, value)
        model = AutoModel.from_config(config, attn_implementation=attention).eval()
    except Exception as error:  # many configs need more than the tiny sizes: skip them
        return f"not built ({type(error).__name__})", set()
    main = getattr(model, "main_input_name", "input_ids")
    if main == "input_ids":
        example = torch.randint(0, 50, (2, 12))
    elif main == "pixel_values":
        example = torch.rand(2, 3, 32, 32)
    else:
        return f"skipped (input {main})", set()

    class FirstOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(**{main: x}, return_dict=False)[0]

    wrapper = FirstOutput()
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        try:
            wrapper(example)
            torch.jit.trace(wrapper, (example,), strict=False, check_trace=False)
        except Exception as error:
            return f"not traced ({type(error).__name__})", set()
    return "traced", {(w.filename, w.lineno) for w in caught
                      if w.category.__name__ == "TracerWarning" and "/models/" in w.filename}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--attention", default="eager")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from torchready.lint.api import lint_paths

    warned: dict[tuple[str, int], set[str]] = defaultdict(set)
    traced = 0
    for model_type in args.models:
        status, lines = traced_warnings(model_type, args.attention)
        traced += status == "traced"
        print(f"{model_type:20s} {status:28s} {len(lines)} warning lines", file=sys.stderr)
        for line in lines:
            warned[line].add(model_type)
    files = sorted({path for path, _ in warned})
    findings: dict[tuple[str, int], set[str]] = defaultdict(set)
    for diagnostic in lint_paths(files, cache=False).diagnostics if files else ():
        for line in range(diagnostic.line, diagnostic.end_line + 1):
            findings[(diagnostic.path, line)].add(diagnostic.code)
    rows = []
    for path, line in sorted(warned):
        codes = sorted(findings[(path, line)] & TRACE_CODES)
        source = Path(path).read_text(encoding="utf-8").splitlines()[line - 1].strip()
        rows.append({"path": path, "line": line, "codes": codes, "source": source})
        label = ",".join(codes) if codes else "MISS"
        print(f"{label:12s} {path.split('/models/')[-1]}:{line}  {source[:90]}")
    caught = sum(1 for row in rows if row["codes"])
    print(f"\n{traced} models traced; {len(rows)} TracerWarning lines in models/; "
          f"{caught} reported by TR1xx rules")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
