"""aten::scaled_dot_product_attention with `enable_gqa=True`: a fix (override=True).

Root cause (coremltools 9.0, converters/mil/frontend/torch/ops.py, `scaled_dot_product_attention`):
the converter reads the op's first seven arguments (query, key, value, attn_mask, dropout_p,
is_causal, scale) and ignores the eighth, `enable_gqa`, which torch added in 2.5 for grouped-query
attention: the query has more heads than key/value, and torch repeats each key/value head
`Hq // Hkv` times (`repeat_interleave` along dim -3). coremltools multiplies the un-repeated
tensors and fails in type inference with "Incompatible dim 1 in shapes (1, 4) vs. (1, 2)".
transformers 5.x passes `enable_gqa=True` for every GQA/MQA decoder (Llama, Qwen2, Gemma, ...) as
soon as it can drop the attention mask, which it does for a causal model traced with its default
key/value cache (`use_gqa_in_sdpa`).

Fix: when `enable_gqa` is true, repeat the key and value heads with one `gather` along dim -3
(indices 0,0,1,1,... : exactly `repeat_interleave`), then hand the node to the converter registered before this one
(coremltools' own, or the user's), unchanged, with the repeated key/value and without the flag. Without the flag nothing
changes (the lowering returns False, so audit does not list it).
"""

from __future__ import annotations

import copy
from typing import Any

KIND = "scaled_dot_product_attention"
ALIASES: tuple[str, ...] = ()
OVERRIDE = True
SUMMARY = ("scaled_dot_product_attention(enable_gqa=True): repeat key/value heads (gather along "
           "dim -3) before coremltools' converter, which ignores the flag")

_ENABLE_GQA_POSITION = 7  # (query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def lower(context: Any, node: Any) -> bool:
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs, _get_kwinputs

    from torchready.convert.composite_ops import upstream_converter

    upstream = upstream_converter(node)
    inputs = _get_inputs(context, node, min_expected=3)
    flag = inputs[_ENABLE_GQA_POSITION] if len(inputs) > _ENABLE_GQA_POSITION else None
    flag = (_get_kwinputs(context, node, "enable_gqa", default=[flag]) or [flag])[0]
    if flag is None or (flag.val is not None and not bool(flag.val)):
        upstream(context, node)
        return False
    if flag.val is None:
        raise ValueError("scaled_dot_product_attention: enable_gqa must be a constant")

    query, key, value = inputs[:3]
    names = []
    for role, tensor in (("key", key), ("value", value)):
        repeated = _repeat_heads(tensor, query, name=f"{node.name}_gqa_{role}")
        context.add(repeated, torch_name=repeated.name)
        names.append(repeated.name)
    patched = copy.copy(node)
    patched.inputs = [node.inputs[0], *names, *node.inputs[3:_ENABLE_GQA_POSITION]]
    if node.kwinputs:
        patched.kwinputs = {k: v for k, v in node.kwinputs.items() if k != "enable_gqa"}
    upstream(context, patched)
    return True


def _repeat_heads(tensor: Any, query: Any, name: str) -> Any:
    """`tensor.repeat_interleave(Hq // Hkv, dim=-3)` as one gather."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types.symbolic import is_symbolic

    if query.rank < 3 or tensor.rank != query.rank:
        raise ValueError("scaled_dot_product_attention(enable_gqa=True) needs query, key and "
                         "value of the same rank >= 3")
    query_heads, heads = query.shape[-3], tensor.shape[-3]
    if is_symbolic(query_heads) or is_symbolic(heads):
        raise ValueError("scaled_dot_product_attention(enable_gqa=True) needs a fixed number of "
                         "heads")
    if query_heads % heads:
        raise ValueError(f"enable_gqa: {query_heads} query heads are not a multiple of {heads} "
                         "key/value heads")
    indices = np.repeat(np.arange(heads, dtype=np.int32), query_heads // heads)
    return mb.gather(x=tensor, indices=indices, axis=tensor.rank - 3, name=name)


def example() -> Any:
    """Causal grouped-query attention, 4 query heads sharing 2 key/value heads."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops import CompositeExample

    class GroupedQueryAttention(torch.nn.Module):
        def forward(self, query, key, value):
            return F.scaled_dot_product_attention(query, key, value, is_causal=True,
                                                  enable_gqa=True)

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name=name, shape=shape, dtype=np.float32)
                           for name, shape in (("query", (1, 4, 6, 8)), ("key", (1, 2, 6, 8)),
                                               ("value", (1, 2, 6, 8)))]}

    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randn(1, 4, 6, 8, generator=generator),
              torch.randn(1, 2, 6, 8, generator=generator),
              torch.randn(1, 2, 6, 8, generator=generator))
    return CompositeExample(GroupedQueryAttention().eval(), inputs, convert_kwargs)
