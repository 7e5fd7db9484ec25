"""The minimal model of the runtime-size resize lowerings: a decoder step of a feature pyramid."""

from __future__ import annotations

from typing import Any


def decoder_example(mode: str) -> Any:
    """Coarse features upsampled to the size of a skip connection whose height is flexible."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from torchready.convert.composite_ops import CompositeExample

    class DecoderStep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lateral = torch.nn.Conv2d(3, 3, 1)

        def forward(self, coarse, skip):
            options = {"align_corners": False} if mode == "bilinear" else {}
            up = F.interpolate(coarse, size=skip.shape[-2:], mode=mode, **options)
            return up + self.lateral(skip)

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        height = ct.RangeDim(lower_bound=4, upper_bound=64, default=13)
        return {"inputs": [ct.TensorType(name="coarse", shape=(1, 3, 5, 6), dtype=np.float32),
                           ct.TensorType(name="skip", shape=(1, 3, height, 17),
                                         dtype=np.float32)]}

    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    module = DecoderStep().eval()
    coarse = torch.randn(1, 3, 5, 6, generator=generator)
    skip = torch.randn(1, 3, 13, 17, generator=generator)
    return CompositeExample(module, (coarse, skip), convert_kwargs)
