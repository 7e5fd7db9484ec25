"""Which outputs are classifier / segmentation scores, and along which axis the classes lie.

For those outputs parity also reports argmax agreement: a segmentation model ships label maps
and a classifier ships its top class, so "the same argmax" is what the user actually needs.
An output counts as class scores when

* the model has class labels and one of the output's dimensions has that many entries
  (channel dimension of a 4-D output first, else the last matching dimension);
* its name says so (`logits`, `scores`, `probs`, `class...`): the classes are on dimension 1 of
  a 4-D output (N, C, H, W), else on the last dimension;
* it is 4-D with more than one channel and the spatial size of an image input: a segmentation
  map (the talk's DeepLabV3 `out` and `aux`).

Everything else (hidden states, embeddings, pooled features) has no class axis: an argmax over
feature channels means nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_SCORE_NAMES = re.compile(r"logit|score|prob|class", re.IGNORECASE)


def class_axis(name: str, shape: Sequence[int], *, labels: Sequence[str] | None = None,
               image_sizes: Sequence[tuple[int, int]] = (), is_float: bool = True) -> int | None:
    shape = tuple(int(s) for s in shape)
    if not is_float or len(shape) < 2:
        return None
    if labels:
        count = len(labels)
        if len(shape) == 4 and shape[1] == count:
            return 1
        for axis in range(len(shape) - 1, 0, -1):
            if shape[axis] == count:
                return axis
    if _SCORE_NAMES.search(name):
        axis = 1 if len(shape) == 4 else len(shape) - 1
        return axis if shape[axis] > 1 else None
    if len(shape) == 4 and shape[1] > 1 and tuple(shape[2:]) in set(image_sizes):
        return 1
    return None


def class_axes(output_names: Sequence[str], reference_outputs: Sequence[Any], *,
               labels: Sequence[str] | None = None, image_inputs: Sequence[Any] = ()
               ) -> dict[str, int | None]:
    """{output name: class axis or None}, from the outputs' shapes on the example."""
    sizes = [tuple(int(s) for s in t.shape[-2:]) for t in image_inputs if t.dim() == 4]
    axes = {}
    for name, tensor in zip(output_names, reference_outputs):
        is_float = bool(getattr(tensor, "is_floating_point", lambda: False)())
        axes[name] = class_axis(name, tuple(tensor.shape), labels=labels, image_sizes=sizes,
                                is_float=is_float)
    return axes
