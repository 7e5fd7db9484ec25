"""When an output passes, warns or fails: the rule, per compute precision, and configurable.

The rule (documented in docs/parity.md, "Metrics and the rule"):

* **fp32** (the TorchScript module always; the converted model with `compute_precision=fp32`):
  coremltools' own test tolerance, `np.testing.assert_allclose(atol=1e-4, rtol=1e-5)`, applied
  elementwise as |c - r| <= atol * max(1, peak) + rtol * |r|. atol is taken relative to the
  output's peak magnitude when that exceeds 1, so that logits in the hundreds are not held to an
  absolute grid finer than fp32's own accumulation error. Any element outside it fails.
* **fp16** (the converted model with the default `compute_precision=fp16`): two gates.
  Element-wise, each value must lie within what fp16 arithmetic can explain at that value:
  |c - r| <= 8 ulp16(|r|) + 32 ulp16(peak), ulp16(x) being the spacing of fp16 numbers at x and
  peak the output's largest |r|. The first term bounds the relative error of large values (a
  few roundings of the value itself), the second the absolute error every value inherits from
  the output's scale (roundings of intermediates as large as the output, cancellation near 0).
  At most 0.1% of the elements may lie outside (they are reported even when the output passes);
  more fails. A systematic error cannot hide there: MIL `inverse`'s epsilon makes `1 / x` 7% off
  at its largest value (110 ulp16), while fp16 rounding leaves every model of the parity table and
  the zoo within 14 ulp16(peak) of PyTorch. And by PSNR (coremltools' formula): >= 40 dB passes
  (the gate in coremltools' debugging docs); 35 dB <= PSNR < 40 dB passes with a warning (35 dB
  is coremltools' `bisect_model` / ml-stable-diffusion absolute minimum); PSNR < 35 dB fails.
* Both: a shape mismatch fails; a NaN/inf where the reference is finite (or the reverse) fails;
  cosine similarity below 0.99 fails (the output points elsewhere); for classifier /
  segmentation outputs the argmax along the class axis must agree at >= 99.9% of positions in
  fp32, and in fp16 >= 99% passes, 95%..99% warns, below 95% fails (near-ties flip in fp16;
  the label map is what ships). Integer outputs (token ids) must be equal, element for element.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torchready.convert.parity.metrics import (OutputMetrics, allclose_violations,
                                               fp16_elementwise, json_float)

PASS, WARN, FAIL = "pass", "warn", "fail"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}


def worst(statuses: Any) -> str:
    return max(statuses, key=_ORDER.__getitem__, default=PASS)


@dataclass(frozen=True)
class Thresholds:
    """Limits for one precision. None disables a gate (the metric is still reported)."""

    precision: str  # "fp32" | "fp16"
    atol: float | None = 1e-4  # fp32 gate (elementwise allclose)
    rtol: float = 1e-5
    psnr_pass_db: float | None = None  # fp16 gate: pass at or above
    psnr_fail_db: float | None = None  # fp16 gate: fail below (warn in between)
    min_cosine: float | None = 0.99
    argmax_pass: float | None = 0.999  # argmax agreement: pass at or above
    argmax_fail: float | None = 0.999  # fail below (warn in between)
    # fp16 element-wise gate: |c - r| <= ulps * ulp16(|r|) + floor_ulps * ulp16(peak), at all
    # but `outlier_fraction` of the elements (None: off)
    ulps: float | None = None
    floor_ulps: float = 32.0
    outlier_fraction: float = 0.001

    @classmethod
    def for_precision(cls, precision: str, **overrides: Any) -> Thresholds:
        """coremltools-derived defaults for "fp32" or "fp16", with `overrides` on top."""
        precision = _precision_name(precision)
        if precision == "fp16":
            base = cls(precision="fp16", atol=None, rtol=0.0, psnr_pass_db=40.0,
                       psnr_fail_db=35.0, argmax_pass=0.99, argmax_fail=0.95, ulps=8.0)
        else:
            base = cls(precision="fp32")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            from torchready.lint.types import UsageError

            raise UsageError(f"unknown parity threshold {sorted(unknown)[0]!r}.")
        return dataclasses.replace(base, **overrides) if overrides else base

    def describe(self) -> str:
        # Overrides can switch on either gate at either precision (`--precision fp32
        # --parity-threshold psnr_pass_db=45`), so each gate describes itself when it is set.
        gates = []
        if self.ulps is not None:
            gates.append(f"{self.elementwise_limit()} at {1 - self.outlier_fraction:.1%} of "
                         "elements")
        if self.psnr_pass_db is not None:
            fail_below = self.psnr_fail_db if self.psnr_fail_db is not None else self.psnr_pass_db
            gates.append(f"PSNR >= {self.psnr_pass_db:g} dB (warn below, fail below "
                         f"{fail_below:g} dB)")
        if self.atol is not None:
            gates.append(f"allclose atol={self.atol:g} (x peak when > 1), rtol={self.rtol:g}")
        return f"{self.precision}: {'; '.join(gates) or 'no numeric gate (cosine, NaN/inf only)'}"


    def elementwise_limit(self) -> str:
        return f"|d| <= {self.ulps:g} ulp16(|ref|) + {self.floor_ulps:g} ulp16(peak)"

    def allowed_outliers(self, size: int) -> int:
        return int(self.outlier_fraction * size)


@dataclass(frozen=True)
class MetricCheck:
    """One metric of one output against its limit."""

    metric: str  # "shape", "nonfinite", "allclose", "elementwise", "psnr", "cosine", "argmax",
    # "exact"
    status: str  # pass | warn | fail
    value: float | None
    limit: str  # human-readable limit, e.g. ">= 40 dB"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "status": self.status, "value": json_float(self.value),
                "limit": self.limit, "detail": self.detail}


def judge(metrics: OutputMetrics, thresholds: Thresholds, reference: Any = None,
          candidate: Any = None) -> list[MetricCheck]:
    """Every gated metric of one comparison, in the order a reader checks them.

    `reference`/`candidate` (the arrays) are needed for the fp32 allclose gate, which counts
    elements; without them that gate is skipped.
    """
    checks: list[MetricCheck] = []
    if not metrics.shape_matches:
        checks.append(MetricCheck("shape", FAIL, None, "same shape",
                                  f"reference {list(metrics.reference_shape)}, "
                                  f"got {list(metrics.candidate_shape)}"))
        if metrics.kind == "int" and metrics.first_mismatch is not None:
            checks.append(MetricCheck("exact", FAIL, 0.0, "all equal",
                                      f"first difference at element {metrics.first_mismatch}"))
        return checks
    if metrics.kind == "int":
        fraction = metrics.exact_fraction if metrics.exact_fraction is not None else 1.0
        detail = "" if metrics.first_mismatch is None else \
            f"first difference at element {metrics.first_mismatch}"
        checks.append(MetricCheck("exact", PASS if fraction == 1.0 else FAIL, fraction,
                                  "all equal", detail))
        return checks
    checks.append(MetricCheck(
        "nonfinite", FAIL if metrics.nonfinite_mismatch else PASS,
        float(metrics.nonfinite_mismatch), "0",
        f"{metrics.nonfinite_mismatch} NaN/inf where the reference has none (or the reverse)"
        if metrics.nonfinite_mismatch else ""))
    if thresholds.atol is not None and reference is not None and candidate is not None:
        violations = allclose_violations(candidate, reference, thresholds.atol, thresholds.rtol)
        scale = max(1.0, metrics.peak)
        checks.append(MetricCheck(
            "allclose", FAIL if violations else PASS, metrics.max_abs,
            f"|d| <= {thresholds.atol * scale:.3g} + {thresholds.rtol:g}*|ref|",
            f"{violations} of {metrics.size} elements outside" if violations else ""))
    if thresholds.ulps is not None and reference is not None and candidate is not None:
        checks.append(_elementwise_check(thresholds, reference, candidate))
    if thresholds.psnr_pass_db is not None:
        psnr = metrics.psnr_db
        fail_below = thresholds.psnr_fail_db if thresholds.psnr_fail_db is not None \
            else thresholds.psnr_pass_db
        status = PASS if psnr >= thresholds.psnr_pass_db else (WARN if psnr >= fail_below else FAIL)
        checks.append(MetricCheck("psnr", status, psnr,
                                  f">= {thresholds.psnr_pass_db:g} dB (fail < {fail_below:g})"))
    if thresholds.min_cosine is not None:
        checks.append(MetricCheck("cosine", PASS if metrics.cosine >= thresholds.min_cosine
                                  else FAIL, metrics.cosine, f">= {thresholds.min_cosine:g}"))
    if metrics.argmax_agreement is not None and thresholds.argmax_pass is not None:
        agreement = metrics.argmax_agreement
        fail_below = thresholds.argmax_fail if thresholds.argmax_fail is not None \
            else thresholds.argmax_pass
        status = PASS if agreement >= thresholds.argmax_pass else \
            (WARN if agreement >= fail_below else FAIL)
        checks.append(MetricCheck("argmax", status, agreement,
                                  f">= {thresholds.argmax_pass:.1%} (axis {metrics.class_axis})"))
    return checks


def _elementwise_check(thresholds: Thresholds, reference: Any, candidate: Any) -> MetricCheck:
    found = fp16_elementwise(candidate, reference, thresholds.ulps, thresholds.floor_ulps)
    allowed = thresholds.allowed_outliers(found.size)
    limit = f"{thresholds.elementwise_limit()}, {allowed} outlier(s) allowed"
    if not found.outside:
        return MetricCheck("elementwise", PASS, 0.0, limit)
    share = found.outside / found.size
    detail = (f"{found.outside} of {found.size} elements outside ({share:.2%}); worst |d| "
              f"{found.worst_error:.3g} where PyTorch has {found.worst_reference:.4g} "
              f"({found.worst_ulps:.0f} ulp16)")
    return MetricCheck("elementwise", FAIL if found.outside > allowed else PASS, share, limit,
                       detail)


def _precision_name(precision: str) -> str:
    name = str(precision).lower().replace("float", "fp")
    if name not in ("fp16", "fp32"):
        from torchready.lint.types import UsageError

        raise UsageError(f"unknown compute precision {precision!r} (use fp16 or fp32).")
    return name
