"""Error histograms in reports: merged over the parity inputs, labelled for a log axis.

The parity engine records one histogram of |candidate - reference| per comparison (one output
of one target on one input; `torchready.convert.parity.histogram`). A report shows one per (target, output),
all inputs together. In the report dict a histogram is
`{"total", "exact", "nonfinite", "log10_edges", "counts"}`: bin i holds the errors in
[10^log10_edges[i], 10^log10_edges[i + 1]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SPARK = "▁▂▃▄▅▆▇█"


def merge_histograms(histograms: Sequence[Any]) -> Any:
    """One histogram of all of them (None when there are none)."""
    merged = None
    for histogram in histograms:
        merged = histogram if merged is None else merged.merged(histogram)
    return merged


def edge_label(log10_value: float) -> str:
    """The value 10^log10_value in two significant-ish characters: 1e-4, 3e-4, 0.01, 1, 30."""
    value = 10.0 ** log10_value
    if 1e-2 <= value < 1e3:
        text = f"{value:.2g}"
        return text
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def sparkline(counts: Sequence[int]) -> str:
    """One block character per bin, height by sqrt(count) (so a few outliers still show); an
    empty bin is a space-width low bar so positions stay readable."""
    peak = max(counts, default=0)
    if peak <= 0:
        return ""
    characters = []
    for count in counts:
        if count <= 0:
            characters.append("·")
            continue
        level = math.sqrt(count / peak)
        characters.append(SPARK[min(len(SPARK) - 1, max(0, math.ceil(level * len(SPARK)) - 1))])
    return "".join(characters)
