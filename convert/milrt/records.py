"""What a run hands back: outputs, kept intermediates, and one record per executed op."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from torchready.convert.milrt.dtypes import FP16_OVERFLOW_THRESHOLD


@dataclass(frozen=True)
class ValueStats:
    """Summary of one op output. `fp16_overflow_count` counts finite values that do not fit in fp16
    (|x| >= 65520 before rounding); it is only computed for outputs declared fp16."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    min: float | None
    max: float | None
    nan_count: int
    inf_count: int
    fp16_overflow_count: int = 0

    @property
    def fp16_overflow(self) -> bool:
        return self.fp16_overflow_count > 0

    @property
    def finite(self) -> bool:
        return self.nan_count == 0 and self.inf_count == 0


@dataclass(frozen=True)
class OpRecord:
    """One executed op. Ops inside while_loop bodies are recorded once per iteration;
    `loop_iterations` gives the iteration index of every enclosing loop (outermost first)."""

    index: int
    op_type: str
    op_name: str
    block: str
    outputs: tuple[ValueStats, ...]
    loop_iterations: tuple[int, ...] = ()

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.outputs)

    # The first output's facts, for the common single-output op.
    @property
    def dtype(self) -> str:
        return self.outputs[0].dtype if self.outputs else ""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.outputs[0].shape if self.outputs else ()

    @property
    def min(self) -> float | None:
        return self.outputs[0].min if self.outputs else None

    @property
    def max(self) -> float | None:
        return self.outputs[0].max if self.outputs else None

    @property
    def nan_count(self) -> int:
        return sum(s.nan_count for s in self.outputs)

    @property
    def inf_count(self) -> int:
        return sum(s.inf_count for s in self.outputs)

    @property
    def fp16_overflow(self) -> bool:
        return any(s.fp16_overflow for s in self.outputs)


@dataclass
class RunResult:
    """`outputs` by function output name; `intermediates` by MIL var name (what `keep` asked for;
    inside loops the last iteration's value); `records` in execution order (when recording);
    `states` holds the final value of each state (stateful iOS18 programs)."""

    outputs: dict[str, object]
    intermediates: dict[str, np.ndarray] = field(default_factory=dict)
    records: list[OpRecord] = field(default_factory=list)
    states: dict[str, np.ndarray] = field(default_factory=dict)


def value_stats(name: str, mil_dtype: str, value: object, unrounded: torch.Tensor | None) -> ValueStats:
    if not isinstance(value, torch.Tensor):
        return ValueStats(name, mil_dtype, (), None, None, 0, 0, 0)
    shape = tuple(value.shape)
    if value.numel() == 0:
        return ValueStats(name, mil_dtype, shape, None, None, 0, 0, 0)
    if not value.dtype.is_floating_point:
        as_int = value.to(torch.int64)
        return ValueStats(name, mil_dtype, shape, float(as_int.min()), float(as_int.max()), 0, 0, 0)
    nan_mask = torch.isnan(value)
    nan_count = int(nan_mask.sum())
    inf_count = int(torch.isinf(value).sum())
    present = value[~nan_mask] if nan_count else value
    low = float(present.min()) if present.numel() else None
    high = float(present.max()) if present.numel() else None
    overflow = 0
    if mil_dtype == "fp16":
        source = unrounded if unrounded is not None else value
        overflow = int((torch.isfinite(source) & (source.abs() >= FP16_OVERFLOW_THRESHOLD)).sum())
    return ValueStats(name, mil_dtype, shape, low, high, nan_count, inf_count, overflow)
