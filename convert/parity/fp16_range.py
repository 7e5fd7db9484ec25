"""Values fp16 cannot hold: the one sentence parity says when an fp16 program meets them.

fp16's largest finite value is 65504 (larger values become inf) and its smallest subnormal is
2^-24, about 6e-8 (smaller nonzero values become 0). When PyTorch's own outputs, or the value
where an fp16 program first diverges, lie outside that range, no fp16 rounding rule can help: a
randomly initialised classifier whose logits are about 1e-40 comes out as zeros (cosine 0), an
activation scaled by 1e5 as inf. Parity then says so with the values, and offers fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FP16_MAX = 65504.0
FP16_SMALLEST = 2.0**-24  # the smallest subnormal


@dataclass
class RangeCount:
    """How many values of a float array fp16 cannot represent, and the extremes."""

    size: int = 0
    above: int = 0  # |x| > 65504
    largest: float = 0.0
    below: int = 0  # 0 < |x| < 2^-24
    smallest: float = math.inf
    nonzero: int = 0

    def add(self, values: Any) -> RangeCount:
        import numpy as np

        array = np.asarray(values)
        if array.dtype.kind != "f":
            return self
        magnitude = np.abs(array[np.isfinite(array)].astype(np.float64))
        self.size += int(array.size)
        nonzero = magnitude[magnitude > 0]
        self.nonzero += int(nonzero.size)
        above = nonzero[nonzero > FP16_MAX]
        below = nonzero[nonzero < FP16_SMALLEST]
        self.above += int(above.size)
        self.below += int(below.size)
        if above.size:
            self.largest = max(self.largest, float(above.max()))
        if below.size:
            self.smallest = min(self.smallest, float(below.min()))
        return self

    @property
    def outside(self) -> bool:
        return bool(self.above or self.below)

    def sentence(self, what: str) -> str:
        """One sentence naming `what` ("output 'logits'"), the counts, the extremes and the fix."""
        parts = []
        if self.above:
            parts.append(f"{self.above} of {self.size} values above fp16's largest 65504 (up to "
                         f"{self.largest:.3g}), which become inf")
        if self.below:
            parts.append(f"{self.below} of {self.nonzero} nonzero values below fp16's smallest "
                         f"subnormal 2^-24 = 6e-08 (down to {self.smallest:.3g}), which become 0")
        return (f"PyTorch's {what} holds {' and '.join(parts)}: fp16 cannot represent them, "
                "whatever the rounding; convert with --precision fp32 (or rescale the values).")
