"""The pipeline's precision step, after parity: what `--precision auto` keeps, and the hint a
failed fp16 conversion gets.

* auto, parity passed at fp16: nothing to do, every op stays fp16 (recorded as such);
* auto, parity failed at fp16: `search.find_fp32_ops`; the result then holds the model it kept
  (mixed precision, or fp32 when no mixed program passed) with its conversion, source map and
  parity report, and the parity report before is kept in `result.precision.before`;
* fp16 (asked for, or the default), parity failed at fp16 and passed at fp32: the ops auto's
  first round would keep in fp32, so the failure can name them (`result.precision`, outcome
  "suggested"); the model is not changed.
"""

from __future__ import annotations

from typing import Any

from torchready.convert.precision.report import FP16, MIXED, ParityFigures, PrecisionReport


def wants_precision_step(requested: str | None, parity: Any) -> bool:
    if requested == "auto":
        return True
    return requested in (None, "fp16", "float16") and not parity.passed \
        and parity.cause == "fp16"


def settle_precision(result: Any, requested: str | None, parity_options: Any = None,
                     options: Any = None) -> None:
    """Fill `result.precision`; with auto, the result then holds the model auto kept."""
    from torchready.convert.precision.search import find_fp32_ops, first_region

    parity = result.parity
    if requested != "auto":
        try:
            result.precision = first_region(result, parity_options)
        except Exception as error:  # a hint must never cost the user the failure report
            result.notes.append(f"could not work out which ops --precision auto would keep: "
                                f"{type(error).__name__}: {error}")
        return
    if parity.passed:
        result.precision = PrecisionReport(requested="auto", outcome=FP16,
                                           before=ParityFigures.of(parity))
        return
    search = find_fp32_ops(result, parity_options, options)
    result.precision = search.report
    if search.conversion is None:
        return
    result.conversion = search.conversion
    result.mlmodel = search.conversion.mlmodel
    result.sourcemap = search.sourcemap
    result.parity = search.parity
    if search.report.outcome == MIXED:
        result.parity.notes.append(f"the model checked is mixed precision: "
                                   f"{search.report.headline()}")
