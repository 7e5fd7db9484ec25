"""The user's model as it was before a conversion: training flags and requires_grad, restored.

Capture needs `model.eval()` and parameters that do not require grad (`prepare`); the user's
model must come back from `to_coreml`/`audit` the way it went in, also when a stage raises
(`preserved`). A `ConversionResult` still holds the model (its prepared wrapper runs it), so the
stage functions that run it again after the call (parity, shape probing) put it in eval mode for
their own duration (`evaluating`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def preserved(model: Any) -> Iterator[None]:
    """Every submodule's `training` flag and every parameter's `requires_grad` put back after
    the block (set directly, not through `train()`, so a submodule the user left in another mode
    than its parent keeps it)."""
    import torch

    if not isinstance(model, torch.nn.Module):
        yield
        return
    modes = [(module, module.training) for module in model.modules()]
    grads = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
        for parameter, requires_grad in grads:
            parameter.requires_grad_(requires_grad)


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """`model` in eval mode without grads while the block runs, as it was afterwards."""
    with preserved(model):
        if model is not None and hasattr(model, "eval"):
            model.eval()
            for parameter in model.parameters():
                parameter.requires_grad_(False)
        yield
