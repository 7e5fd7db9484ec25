"""Which ops one divergence asks to keep in fp32: the op, or the region fp16 cannot hold.

A divergence (the first MIL value that leaves PyTorch's, from parity's localiser) starts at a
value. The op that computes it in fp16 is the first candidate. When that op already runs in
fp32, either the value leaves fp16's range, so its fp16 copy for the ops reading it cannot hold
it and those readers are the candidates, or the fp32 value is wrong because its inputs arrived
rounded, so the nearest fp16 ops upstream are.

A numerically sensitive region is kept whole rather than op by op. Values the fp32 program
computes outside fp16's normal range (beyond 65504, or all below 2^-14 where fp16 has no
precision left) cannot be stored in fp16 at all: the op that writes one and every op that reads
one must run in fp32, and so on through the values they write. Grown from the candidate over
such values, the region is the whole of what fp16 cannot represent there: a softmax written as
exp / sum (the exponentials, the products and sums of them, the division that brings them back
into range), a layer norm's variance (the square, its mean, the epsilon, the rsqrt), attention
scores without scaling (the matmul and the softmax reading it), and nothing around them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchready.convert.precision.selectable import SelectableGraph

FP16_MAX = 65504.0
FP16_OVERFLOW = 65520.0  # round-to-nearest-even sends |x| >= 65520 to inf
FP16_SMALLEST_NORMAL = 2.0 ** -14  # below it fp16 loses precision (subnormals), then flushes

OVERFLOW, UNDERFLOW, PRECISION, INPUTS = "overflow", "underflow", "precision", "inputs"


@dataclass(frozen=True)
class Region:
    """Ops to keep in fp32 for one divergence, and why."""

    ops: tuple[str, ...]  # selectable op names, program order
    reason: str  # OVERFLOW | UNDERFLOW: values fp16 cannot hold; PRECISION: fp16 rounding at
    # the op; INPUTS: its inputs arrived rounded
    values: tuple[str, ...] = ()  # the out-of-range values that tied the region together

    def describe(self) -> str:
        return {OVERFLOW: "values beyond fp16's range (|x| > 65504)",
                UNDERFLOW: "values below fp16's normal range (|x| < 6.1e-05)",
                PRECISION: "fp16 rounding at the op",
                INPUTS: "inputs rounded to fp16 upstream"}[self.reason]


def value_magnitudes(program: Any, graph: SelectableGraph, feeds: Iterable[Mapping[str, Any]]
                     ) -> dict[str, float]:
    """The largest finite |value| of every float value of `program` (the fp32 program) over
    `feeds`, by selectable value name. A value that is 0 everywhere maps to 0.0."""
    import numpy as np

    largest: dict[str, float] = {}

    def observe(record: Any, values: Mapping[str, Any]) -> None:
        for saved, array in values.items():
            array = np.asarray(array)
            if array.dtype.kind != "f" or array.size == 0:
                continue
            finite = np.abs(array[np.isfinite(array)])
            magnitude = float(finite.max()) if finite.size else 0.0
            name = graph.value_of_saved(saved) or saved
            largest[name] = max(largest.get(name, 0.0), magnitude)

    for feed in feeds:
        program.run(feed, on_op=observe, precision="fp32")
    return largest


def out_of_fp16_range(magnitude: float | None) -> str | None:
    if magnitude is None or magnitude == 0.0:
        return None
    if magnitude >= FP16_OVERFLOW:
        return OVERFLOW
    if magnitude < FP16_SMALLEST_NORMAL:
        return UNDERFLOW
    return None


def region_for(value: str | None, graph: SelectableGraph, keep: Iterable[str],
               magnitudes: Mapping[str, float], *, fallback_ops: Sequence[str] = (),
               lines: Mapping[str, Any] | None = None) -> Region | None:
    """The ops to add to `keep` for a divergence at selectable `value` (or, when the value is
    not known, at `fallback_ops`). None when there is nothing left to keep in fp32.

    lines: op -> the user's source line it comes from. An op on the same line as a candidate
    whose values leave fp16's range as well is a candidate too: the same code overflowing in
    another layer is found in this round rather than in one round per layer."""
    keep = set(keep)
    seeds, reason = _candidates(value, graph, keep, magnitudes, fallback_ops)
    if not seeds:
        return None
    if lines:
        wanted = {lines[seed] for seed in seeds if lines.get(seed) is not None}
        seeds += [name for name, op in graph.ops.items()
                  if name not in keep and name not in seeds and lines.get(name) in wanted
                  and any(out_of_fp16_range(magnitudes.get(v)) for v in op.writes)]
    region = set(seeds)
    tying: list[str] = []
    pending = list(seeds)
    while pending:
        op = graph.ops[pending.pop()]
        for touched in op.writes + op.reads:
            if out_of_fp16_range(magnitudes.get(touched)) is None:
                continue
            if touched not in tying:
                tying.append(touched)
            producer = graph.producer.get(touched)
            neighbours = ([producer] if producer is not None else []) + \
                graph.float_readers(touched)
            for name in neighbours:
                if name not in region and name not in keep and graph.ops[name].computes_floats:
                    region.add(name)
                    pending.append(name)
    if tying:
        kinds = {out_of_fp16_range(magnitudes[v]) for v in tying}
        reason = OVERFLOW if OVERFLOW in kinds else UNDERFLOW
    ordered = tuple(name for name in graph.ops if name in region)
    return Region(ordered, reason, tuple(tying))


def _candidates(value: str | None, graph: SelectableGraph, keep: set[str],
                magnitudes: Mapping[str, float], fallback_ops: Sequence[str]
                ) -> tuple[list[str], str]:
    if value is None:
        return [op for op in fallback_ops if op not in keep], PRECISION
    producer = graph.producer.get(value)
    if producer is not None and producer not in keep and graph.ops[producer].computes_floats:
        return [producer], PRECISION
    # Computed in fp32 (or an input) and still diverging where it is read in fp16. Rounding a
    # right value to fp16 costs at most 2^-11 of it (66 dB), never a parity failure: either the
    # value leaves fp16's range, and its fp16 readers must go, or the fp32 value is wrong
    # already, and the fp16 ops whose rounding reaches it must go.
    if producer is None or out_of_fp16_range(magnitudes.get(value)):
        return [op for op in graph.float_readers(value) if op not in keep], PRECISION
    return _fp16_upstream(producer, graph, keep), INPUTS


def _fp16_upstream(op: str, graph: SelectableGraph, keep: set[str]) -> list[str]:
    """The nearest fp16 ops whose values reach `op`, looking through the fp32 ones between."""
    found: list[str] = []
    visited = {op}
    pending = [op]
    while pending:
        for value in graph.ops[pending.pop()].reads:
            producer = graph.producer.get(value)
            if producer is None or producer in visited:
                continue
            visited.add(producer)
            if producer in keep:
                pending.append(producer)
            elif graph.ops[producer].computes_floats:
                found.append(producer)
    return [name for name in graph.ops if name in found]
