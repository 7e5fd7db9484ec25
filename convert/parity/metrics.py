"""How far one output is from its reference: the numbers a parity table shows.

All metrics compare a candidate array (TorchScript, the converted model) with the reference
(eager PyTorch), in float64, and are plain data so they can be printed, judged and serialized:

* `max_abs`: max |candidate - reference|.
* `max_rel`: max |candidate - reference| / |reference|, over the elements whose reference
  magnitude is at least 1e-6 of the output's peak (relative error near zero describes nothing).
* `psnr_db`, `snr_db`: coremltools' formula (`compute_snr_and_psnr`, research notes §3):
  noise = mean((c - r)^2); SNR = 10 log10((mean(r^2) + 1e-5) / (noise + 1e-10)); PSNR uses
  max(r^2) instead of mean(r^2). Identical arrays give a finite, large value (>= 50 dB).
* `cosine`: cosine similarity of the flattened arrays (1.0 when both are all zeros).
* `argmax_agreement`: for classifier / segmentation outputs, the fraction of positions whose
  argmax along the class axis agrees (label maps are what ships).
* `allclose_violations`: elements outside coremltools' test tolerance, |c - r| <= atol * scale
  + rtol * |r| (filled in by the thresholds, which own atol/rtol).
* `fp16_elementwise`: elements outside a tolerance scaled to fp16's own precision at each
  reference value, |c - r| <= k * ulp16(|r|) + f * ulp16(peak), where ulp16(x) is the spacing
  of fp16 numbers at x (2^-24 below fp16's smallest normal number, 2^-14); the worst of them.
* `nonfinite_mismatch`: positions where one side is NaN/inf and the other is not; every other
  metric is computed over the positions where both are finite.
* Integer and bool outputs (token ids, masks) are compared exactly: `exact_fraction` and the
  first differing flat index, which for a generated sequence is the first differing token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

PSNR_EPS = 1e-5  # coremltools' eps (signal)
PSNR_EPS2 = 1e-10  # coremltools' eps2 (noise)
REL_FLOOR = 1e-6  # relative error is measured where |reference| >= REL_FLOOR * peak


def json_float(value: Any) -> Any:
    """A metric as strict JSON: JSON has no Infinity or NaN, so +inf -> "inf", -inf -> "-inf",
    NaN -> null (PSNR of identical arrays is +inf; a shape mismatch has no error at all).
    Anything that is not a float is returned as it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclass(frozen=True)
class OutputMetrics:
    """One candidate output against its reference."""

    reference_shape: tuple[int, ...]
    candidate_shape: tuple[int, ...]
    kind: str  # "float" | "int" (exact comparison, also for bool)
    max_abs: float = 0.0
    max_rel: float = 0.0
    psnr_db: float = math.inf
    snr_db: float = math.inf
    cosine: float = 1.0
    peak: float = 0.0  # max |reference|: the scale atol is relative to (when above 1)
    nonfinite_mismatch: int = 0
    exact_fraction: float | None = None  # int outputs
    first_mismatch: int | None = None  # int outputs: first differing flat index
    argmax_agreement: float | None = None
    class_axis: int | None = None
    size: int = 0

    @property
    def shape_matches(self) -> bool:
        return self.reference_shape == self.candidate_shape

    def to_json(self) -> dict[str, Any]:
        data = {key: json_float(value) for key, value in asdict(self).items()}
        data["reference_shape"] = list(self.reference_shape)
        data["candidate_shape"] = list(self.candidate_shape)
        return data


def psnr_snr(candidate: Any, reference: Any) -> tuple[float, float]:
    """(PSNR, SNR) in dB with coremltools' formula; arrays are flattened, float64."""
    import numpy as np

    x = np.asarray(candidate, dtype=np.float64).reshape(-1)
    y = np.asarray(reference, dtype=np.float64).reshape(-1)
    if y.size == 0:
        return math.inf, math.inf
    noise = float(np.sum((x - y) ** 2)) / y.size
    signal = float(np.sum(y**2)) / y.size
    peak = float(np.max(y**2))
    psnr = 10 * math.log10((peak + PSNR_EPS) / (noise + PSNR_EPS2))
    snr = 10 * math.log10((signal + PSNR_EPS) / (noise + PSNR_EPS2))
    return psnr, snr


def allclose_violations(candidate: Any, reference: Any, atol: float, rtol: float) -> int:
    """Elements outside |c - r| <= atol * max(1, peak) + rtol * |r| (finite positions only)."""
    import numpy as np

    x = np.asarray(candidate, dtype=np.float64)
    y = np.asarray(reference, dtype=np.float64)
    if x.shape != y.shape or y.size == 0:
        return 0 if x.shape == y.shape else max(x.size, y.size)
    both = np.isfinite(x) & np.isfinite(y)
    y_finite = np.abs(y[both])
    scale = max(1.0, float(y_finite.max())) if y_finite.size else 1.0
    allowed = atol * scale + rtol * y_finite
    return int(np.count_nonzero(np.abs(x[both] - y[both]) > allowed))


def fp16_ulp(values: Any) -> Any:
    """The spacing of fp16 numbers at |values|: 2^(e - 10) for |x| in [2^e, 2^(e+1)), and the
    subnormal spacing 2^-24 below fp16's smallest normal number 2^-14."""
    import numpy as np

    magnitude = np.maximum(np.abs(np.asarray(values, dtype=np.float64)), 2.0 ** -14)
    _, exponent = np.frexp(magnitude)  # magnitude = m * 2^exponent, m in [0.5, 1)
    return np.ldexp(1.0, exponent - 11)


@dataclass(frozen=True)
class Elementwise:
    """How many elements lie outside the fp16 element-wise tolerance, and the worst one."""

    outside: int
    size: int  # elements compared (finite on both sides)
    worst_error: float = 0.0  # |c - r| of the element furthest outside (or closest to it)
    worst_reference: float = 0.0  # r there
    worst_ratio: float = 0.0  # |c - r| / tolerance there (> 1: outside)

    @property
    def worst_ulps(self) -> float:
        """The worst error in units of fp16's spacing at its reference value."""
        return self.worst_error / float(fp16_ulp(self.worst_reference))


def fp16_elementwise(candidate: Any, reference: Any, ulps: float,
                     floor_ulps: float) -> Elementwise:
    """Elements outside |c - r| <= ulps * ulp16(|r|) + floor_ulps * ulp16(peak), over the
    positions where both are finite; peak is max |r| there."""
    import numpy as np

    x = np.asarray(candidate, dtype=np.float64).reshape(-1)
    y = np.asarray(reference, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        return Elementwise(outside=max(x.size, y.size), size=max(x.size, y.size))
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if y.size == 0:
        return Elementwise(0, 0)
    floor = floor_ulps * float(fp16_ulp(np.max(np.abs(y))))
    error = np.abs(x - y)
    ratio = error / (ulps * fp16_ulp(y) + floor)
    worst = int(np.argmax(ratio))
    return Elementwise(int(np.count_nonzero(ratio > 1.0)), int(y.size), float(error[worst]),
                       float(y[worst]), float(ratio[worst]))


def compare_arrays(reference: Any, candidate: Any, class_axis: int | None = None) -> OutputMetrics:
    """Metrics of `candidate` against `reference` (numpy arrays or tensors)."""
    import numpy as np

    reference = _as_numpy(reference)
    candidate = _as_numpy(candidate)
    exact = reference.dtype.kind in "biu" and candidate.dtype.kind in "biuf"
    shapes = dict(reference_shape=tuple(reference.shape), candidate_shape=tuple(candidate.shape))
    if exact:
        return _compare_exact(reference, candidate, shapes)
    if reference.shape != candidate.shape:
        # Shapes disagree: no elementwise metric means anything; report the worst values.
        return OutputMetrics(**shapes, kind="float", max_abs=math.inf, max_rel=math.inf,
                             psnr_db=-math.inf, snr_db=-math.inf, cosine=0.0,
                             size=int(reference.size))
    x = candidate.astype(np.float64).reshape(-1)
    y = reference.astype(np.float64).reshape(-1)
    finite_x, finite_y = np.isfinite(x), np.isfinite(y)
    mismatch = int(np.count_nonzero(finite_x != finite_y))
    # Where both are non-finite they must be the same non-finite value (inf vs -inf differ).
    both_nonfinite = ~finite_x & ~finite_y
    mismatch += int(np.count_nonzero(both_nonfinite & ~((x == y) | (np.isnan(x) & np.isnan(y)))))
    both = finite_x & finite_y
    x, y = x[both], y[both]
    if y.size == 0:
        return OutputMetrics(**shapes, kind="float", nonfinite_mismatch=mismatch,
                             size=int(reference.size),
                             argmax_agreement=None, class_axis=class_axis)
    difference = np.abs(x - y)
    peak = float(np.max(np.abs(y)))
    significant = np.abs(y) >= REL_FLOOR * peak if peak > 0 else np.zeros_like(y, dtype=bool)
    max_rel = float(np.max(difference[significant] / np.abs(y[significant]))) \
        if np.any(significant) else 0.0
    psnr, snr = psnr_snr(x, y)
    return OutputMetrics(
        **shapes,
        kind="float",
        max_abs=float(np.max(difference)),
        max_rel=max_rel,
        psnr_db=psnr,
        snr_db=snr,
        cosine=_cosine(x, y),
        peak=peak,
        nonfinite_mismatch=mismatch,
        argmax_agreement=argmax_agreement(reference, candidate, class_axis)
        if class_axis is not None else None,
        class_axis=class_axis,
        size=int(reference.size),
    )


def argmax_agreement(reference: Any, candidate: Any, axis: int) -> float | None:
    """Fraction of positions whose argmax along `axis` is the same (None: nothing to compare)."""
    import numpy as np

    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape or reference.ndim == 0 or reference.size == 0:
        return None
    if reference.shape[axis] < 2:
        return None
    # NaN never wins an argmax here: it would make both sides "agree" on garbage.
    chosen_ref = np.argmax(np.nan_to_num(reference, nan=-np.inf), axis=axis)
    chosen_got = np.argmax(np.nan_to_num(candidate, nan=-np.inf), axis=axis)
    return float(np.mean(chosen_ref == chosen_got))


def _compare_exact(reference: Any, candidate: Any, shapes: dict[str, Any]) -> OutputMetrics:
    import numpy as np

    if reference.shape != candidate.shape:
        # A generated sequence of another length: the common prefix still says where they part.
        flat_ref, flat_got = reference.reshape(-1), candidate.reshape(-1)
        common = min(flat_ref.size, flat_got.size)
        differs = np.nonzero(flat_ref[:common] != flat_got[:common])[0]
        first = int(differs[0]) if differs.size else common
        return OutputMetrics(**shapes, kind="int", exact_fraction=0.0, first_mismatch=first,
                             max_abs=math.inf, size=int(reference.size))
    equal = reference.astype(np.int64) == candidate.astype(np.int64)
    differs = np.nonzero(~equal.reshape(-1))[0]
    difference = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    return OutputMetrics(
        **shapes,
        kind="int",
        max_abs=float(difference.max()) if difference.size else 0.0,
        exact_fraction=float(equal.mean()) if equal.size else 1.0,
        first_mismatch=int(differs[0]) if differs.size else None,
        size=int(reference.size),
    )


def _cosine(x: Any, y: Any) -> float:
    import numpy as np

    norm = float(np.linalg.norm(x)) * float(np.linalg.norm(y))
    if norm == 0.0:
        return 1.0 if not np.any(x) and not np.any(y) else 0.0
    return float(np.dot(x, y) / norm)


def _as_numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    return np.asarray(value)
