"""How the HTML and Markdown reports write the report's numbers (one place, so they agree)."""

from __future__ import annotations

import math
from typing import Any

from torchready.convert.reports.plain import number

DASH = "–"


def metric(value: Any, digits: int = 3) -> str:
    """max abs / max rel: 3 significant digits; 0 stays 0; inf is ∞."""
    value = number(value)
    if value is None:
        return DASH
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def decibels(value: Any) -> str:
    value = number(value)
    if value is None:
        return DASH
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.1f}"


def cosine(value: Any) -> str:
    value = number(value)
    return DASH if value is None else f"{value:.6f}"


def share(value: Any) -> str:
    value = number(value)
    return DASH if value is None else f"{value:.2%}"


def seconds(value: Any) -> str:
    value = number(value)
    return DASH if value is None else f"{value:.2f} s"


def agreement(row: dict[str, Any]) -> str:
    """argmax agreement for classifier outputs, exact share for integer outputs."""
    if row.get("exact_fraction") is not None:
        return f"{share(row['exact_fraction'])} exact"
    if row.get("argmax_agreement") is not None:
        return f"{share(row['argmax_agreement'])} argmax"
    return DASH


def shape(dims: Any) -> str:
    if dims is None:
        return DASH
    return "×".join("?" if dim is None else str(dim) for dim in dims) or "scalar"


def option(value: Any) -> str:
    """An option's value as the reader sees it: None is the default, booleans are yes/no."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)
