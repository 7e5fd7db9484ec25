"""The distribution of |candidate - reference| of one comparison, compact enough to keep.

A parity table shows the worst error; a reviewer also wants to know whether the worst is one
outlier or the whole output (reports plot this). Keeping the arrays would cost megabytes per
output, so each comparison keeps a histogram of log10 |error| on ONE fixed grid: half-decade bins
from 1e-12 to 1e6 (errors below fall in the first bin, above in the last). A fixed grid makes
histograms of several inputs merge by adding counts. Exact zeros and NaN/inf positions are counted
apart: they have no place on a log axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BINS_PER_DECADE = 2
LOW_DECADE, HIGH_DECADE = -12, 6
BIN_COUNT = (HIGH_DECADE - LOW_DECADE) * BINS_PER_DECADE


@dataclass(frozen=True)
class ErrorHistogram:
    total: int  # elements compared
    exact: int  # |error| == 0
    nonfinite: int  # NaN/inf on either side
    counts: tuple[int, ...]  # BIN_COUNT bins on the fixed grid

    @classmethod
    def of(cls, reference: Any, candidate: Any) -> ErrorHistogram | None:
        """None when the shapes differ (no elementwise error exists)."""
        import numpy as np

        reference = np.asarray(reference, dtype=np.float64)
        candidate = np.asarray(candidate, dtype=np.float64)
        if reference.shape != candidate.shape:
            return None
        finite = np.isfinite(reference) & np.isfinite(candidate)
        error = np.abs(candidate[finite] - reference[finite])
        nonzero = error[error > 0]
        positions = np.floor(np.log10(nonzero) * BINS_PER_DECADE).astype(np.int64) \
            - LOW_DECADE * BINS_PER_DECADE
        counts = np.bincount(np.clip(positions, 0, BIN_COUNT - 1), minlength=BIN_COUNT)
        return cls(total=int(reference.size), exact=int(error.size - nonzero.size),
                   nonfinite=int(reference.size - error.size),
                   counts=tuple(int(count) for count in counts))

    def merged(self, other: ErrorHistogram) -> ErrorHistogram:
        return ErrorHistogram(self.total + other.total, self.exact + other.exact,
                              self.nonfinite + other.nonfinite,
                              tuple(a + b for a, b in zip(self.counts, other.counts)))

    def to_json(self) -> dict[str, Any]:
        """Only the span from the first to the last non-empty bin: bin i holds the errors in
        [10^log10_edges[i], 10^log10_edges[i + 1])."""
        filled = [index for index, count in enumerate(self.counts) if count]
        first, last = (filled[0], filled[-1]) if filled else (0, -1)
        edges = [LOW_DECADE + index / BINS_PER_DECADE for index in range(first, last + 2)] \
            if filled else []
        return {"total": self.total, "exact": self.exact, "nonfinite": self.nonfinite,
                "log10_edges": edges, "counts": list(self.counts[first:last + 1])}
