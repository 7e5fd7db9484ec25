"""Divergence localisation: the first MIL op whose value leaves PyTorch's, and its source line.

When the converted model fails parity on an input, the reference runtime runs that input again
keeping every intermediate (`keep="all"`), the TorchScript graph coremltools converted is run on
the same input returning every intermediate (`torch_values`), the two are aligned (`alignment`)
and compared in program order with the same rule as the outputs, applied per value:

* fp16 programs: a NaN/inf where PyTorch is finite (fp16 overflow, the classic), more values
  outside the element-wise fp16 tolerance than the rule allows, or a PSNR below the fail
  threshold (35 dB by default);
* fp32 programs: any element outside the allclose tolerance; integer values must be equal.

The first op that diverges is the answer ("first divergence at <MIL op> from <file>:<line>
(<torch op>)"); the source map gives its TorchScript node and the user's line. Because every
earlier aligned value still agreed, the error started in that op (or in unaligned ops between
it and the last agreeing value, which the report lists).

Two more facts make the answer actionable: whether the runtime saw fp16 overflow at that op
(values beyond 65504 before rounding), and what a second conversion at fp32 says: if the fp32
program passes, the failure is an fp16 effect (keep that op in fp32, or convert with
--precision fp32); if it fails too, the converted program computes something else than PyTorch,
and the fp32 divergence is localised the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.parity.metrics import (OutputMetrics, allclose_violations, compare_arrays,
                                               fp16_elementwise)
from torchready.convert.parity.thresholds import Thresholds

# MIL ops whose documented semantics differ from PyTorch's on purpose (research notes §9.8).
OP_HINTS = {
    "inverse": "MIL `inverse` computes 1 / (x + epsilon) with epsilon=1e-4 (its op definition; "
               "Core ML does the same), so it differs from torch's 1/x where |x| is small. "
               "Write the division as `torch.div(torch.ones_like(x), x)` (MIL real_div, no "
               "epsilon) if those values matter.",
}


@dataclass(frozen=True)
class IntermediateComparison:
    index: int
    op_name: str
    op_type: str
    mil_var: str
    torch_name: str
    how: str  # alignment: "name" | "sourcemap"
    metrics: OutputMetrics
    diverged: str | None  # why it diverges, or None


@dataclass
class Divergence:
    """The first op whose value diverges from PyTorch's."""

    precision: str  # the program's compute precision
    case: str
    op_name: str
    op_type: str
    mil_var: str
    torch_name: str
    reason: str
    metrics: OutputMetrics
    torch_kind: str | None = None
    path: str | None = None
    line: int | None = None
    origin: str | None = None  # "file:line" of the library line that emitted the op
    fp16_overflow: int = 0  # values beyond fp16's range before rounding
    value_range: tuple[float | None, float | None] = (None, None)
    unaligned_between: list[str] = field(default_factory=list)  # op names with no counterpart
    compared_before: int = 0  # aligned values that still agreed
    hint: str = ""
    inserted_cast: bool = False  # an fp16 cast coremltools added after the PyTorch value
    # fp16 programs: PyTorch's value here holds values fp16 cannot represent (one sentence)
    fp16_range: str = ""

    def headline(self) -> str:
        where = f" from {self.path}:{self.line}" if self.path else ""
        kind = f" ({self.torch_kind})" if self.torch_kind else ""
        what = f"{self.op_type} '{self.op_name}'"
        if self.inserted_cast:
            what += " (the fp16 cast coremltools inserted after this value)"
        return f"first divergence at {what}{where}{kind}"

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision, "case": self.case, "op": self.op_name,
            "op_type": self.op_type, "mil_var": self.mil_var, "torch_value": self.torch_name,
            "torch_kind": self.torch_kind, "path": self.path, "line": self.line,
            "origin": self.origin, "reason": self.reason,
            "fp16_overflow": self.fp16_overflow,
            "value_range": list(self.value_range), "compared_before": self.compared_before,
            "unaligned_between": self.unaligned_between, "hint": self.hint,
            "inserted_cast": self.inserted_cast, "fp16_range": self.fp16_range,
            "metrics": self.metrics.to_json(), "headline": self.headline(),
        }


@dataclass
class Localisation:
    divergence: Divergence | None
    comparisons: list[IntermediateComparison] = field(default_factory=list)
    note: str = ""


def divergence_reason(metrics: OutputMetrics, thresholds: Thresholds, reference: Any,
                      candidate: Any) -> str | None:
    """Why one intermediate counts as diverged under `thresholds`, or None."""
    if metrics.kind == "int":
        if metrics.exact_fraction is not None and metrics.exact_fraction < 1.0:
            return f"{(1 - metrics.exact_fraction):.1%} of its values differ"
        return None
    if metrics.nonfinite_mismatch:
        return (f"{metrics.nonfinite_mismatch} NaN/inf value(s) where PyTorch's are finite "
                "(or the reverse)")
    if thresholds.ulps is not None:
        found = fp16_elementwise(candidate, reference, thresholds.ulps, thresholds.floor_ulps)
        if found.outside > thresholds.allowed_outliers(found.size):
            return (f"{found.outside} of {found.size} values outside "
                    f"{thresholds.elementwise_limit()} (worst |d| {found.worst_error:.3g} where "
                    f"PyTorch has {found.worst_reference:.4g}, {found.worst_ulps:.0f} ulp16)")
    if thresholds.psnr_fail_db is not None and metrics.psnr_db < thresholds.psnr_fail_db:
        return f"PSNR {metrics.psnr_db:.1f} dB < {thresholds.psnr_fail_db:g} dB"
    if thresholds.atol is not None:
        violations = allclose_violations(candidate, reference, thresholds.atol, thresholds.rtol)
        if violations:
            return (f"max abs error {metrics.max_abs:.3g} ({violations} of {metrics.size} "
                    f"values outside atol={thresholds.atol:g} x peak, rtol={thresholds.rtol:g})")
    return None


def localise(program: Any, sourcemap: Mapping[str, Any] | None, values: Any,
             captured_module: Any, case: Any, thresholds: Thresholds,
             precision: str) -> Localisation:
    """Run `case` through both sides keeping everything; the first diverging op.

    program: a milrt ReferenceProgram; values: a `torch_values.GraphValues` of the graph
    coremltools converted; case: a `feeds.ParityCase`.
    """
    import numpy as np

    from torchready.convert.parity.alignment import align, layouts

    mil_run = program.run(case.coreml_feeds, keep="all", precision="fp16_storage")
    torch_values = values.run(captured_module, case.torch_inputs)
    function = program.program.functions[program.function_name]
    ops = list(function.operations)
    reserved = set(function.inputs) | {var.name for var in function.outputs}
    pairs = align(ops, sourcemap, mil_run.intermediates, torch_values, reserved)
    records = {record.op_name: record for record in mil_run.records if record.block == "main"}
    comparisons: list[IntermediateComparison] = []
    previous_index = -1
    for pair in pairs:
        mil_value = np.asarray(mil_run.intermediates[pair.mil_var])
        arranged = layouts(torch_values[pair.torch_name].detach().cpu().numpy(),
                           mil_value.shape)
        # The value as PyTorch lays it out first; a transposed layout only counts when the
        # value agrees in it (coremltools' reduce_transposes keeps values transposed).
        for reference in arranged:
            metrics = compare_arrays(reference, mil_value)
            reason = divergence_reason(metrics, thresholds, reference, mil_value)
            if reason is None:
                break
        else:
            reference = arranged[0]
            metrics = compare_arrays(reference, mil_value)
            reason = divergence_reason(metrics, thresholds, reference, mil_value)
        comparisons.append(IntermediateComparison(pair.index, pair.op_name, pair.op_type,
                                                  pair.mil_var, pair.torch_name, pair.how,
                                                  metrics, reason))
        if reason is None:
            previous_index = pair.index
            continue
        between = [op.name for op in ops[previous_index + 1:pair.index]
                   if op.op_type != "const" and not op.op_type.startswith("constexpr_")]
        pair = _computed_by(pair, ops)
        divergence = _divergence(pair, reason, metrics, sourcemap, records.get(pair.op_name),
                                 case.label, precision, between,
                                 sum(1 for c in comparisons if c.diverged is None))
        if precision == "fp16":
            divergence.fp16_range = _range_sentence(reference, divergence)
        return Localisation(divergence, comparisons)
    return Localisation(None, comparisons,
                        note=f"none of the {len(comparisons)} values aligned with PyTorch "
                             "diverges: the difference arises in ops without a PyTorch "
                             "counterpart (inside loop bodies, or the final outputs)")


def _range_sentence(reference: Any, divergence: Divergence) -> str:
    from torchready.convert.parity.fp16_range import RangeCount

    count = RangeCount().add(reference)
    if not count.outside:
        return ""
    kind = f"{divergence.torch_kind} " if divergence.torch_kind else ""
    where = f" at {divergence.path}:{divergence.line}" if divergence.path else ""
    return count.sentence(f"value of {kind}'{divergence.torch_name}'{where}")


def _computed_by(pair: Any, ops: list[Any]) -> Any:
    """The op that computed a diverging value: a cast to fp32 (coremltools' cast back from an
    fp16 op) is exact, so the value diverged in the op that produced the cast's input."""
    import dataclasses

    op = ops[pair.index]
    source = op.inputs.get("x") if op.op_type == "cast" else None
    dtype = op.inputs.get("dtype") if source is not None else None
    producer = getattr(source, "op", None)
    if dtype is None or dtype.val != "fp32" or producer is None or producer not in ops or \
            producer.op_type == "const" or producer.op_type.startswith("constexpr_"):
        return pair
    return dataclasses.replace(pair, index=ops.index(producer), op_name=producer.name,
                               op_type=producer.op_type, mil_var=source.name)


def _divergence(pair: Any, reason: str, metrics: OutputMetrics,
                sourcemap: Mapping[str, Any] | None, record: Any, case: str, precision: str,
                between: list[str], compared_before: int) -> Divergence:
    ops = (sourcemap or {}).get("ops", {})
    # Where the compared PyTorch value was computed: the op of that node (a cast coremltools
    # inserted after a value is located at the node that produced the value, not its reader).
    entry = next((op["torch"] for op in ops.values()
                  if op.get("torch") and op["torch"].get("node") == pair.torch_name), None) \
        or (ops.get(pair.op_name) or {}).get("torch") or {}
    passes = (ops.get(pair.op_name) or {}).get("passes") or []
    origin = entry.get("origin")
    overflow = 0
    value_range: tuple[float | None, float | None] = (None, None)
    if record is not None:
        overflow = sum(stats.fp16_overflow_count for stats in record.outputs)
        value_range = (record.min, record.max)
    if overflow:
        reason += f"; {overflow} value(s) exceed fp16's range (|x| > 65504) before rounding"
    hint = OP_HINTS.get(pair.op_type, "")
    if overflow and not hint:
        hint = ("The values computed here are too large for fp16 (max 65504): rescale them "
                "(normalise earlier, fold the scale into a later op), keep the ops that compute "
                "and read them in fp32 with ct.transform.FP16ComputePrecision(op_selector=...), "
                "or convert with --precision fp32.")
    return Divergence(
        precision=precision, case=case, op_name=pair.op_name, op_type=pair.op_type,
        mil_var=pair.mil_var, torch_name=pair.torch_name, reason=reason, metrics=metrics,
        torch_kind=entry.get("kind"), path=entry.get("path"), line=entry.get("line"),
        origin=f"{origin['path']}:{origin['line']}" if origin else None,
        fp16_overflow=overflow, value_range=value_range, unaligned_between=between,
        compared_before=compared_before, hint=hint,
        inserted_cast=pair.op_type == "cast" and "add_fp16_cast" in passes)


