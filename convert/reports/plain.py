"""Report values as plain JSON data: what `json.dumps(..., allow_nan=False)` accepts.

Reports are built from objects of several libraries (numpy scalars, tuples, paths, enums) and
hold floats that may be infinite (PSNR of identical arrays, the max error of a shape mismatch).
JSON has no Infinity or NaN, so, as `torchready.convert.parity` does: +inf -> "inf", -inf -> "-inf",
NaN -> null.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import PurePath
from typing import Any

from torchready.convert.parity.metrics import json_float


def plain(value: Any) -> Any:
    """`value` with every container, number and string in JSON's vocabulary."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return json_float(float(value))
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [plain(item) for item in items]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return plain(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def number(value: Any) -> float | None:
    """A report metric back as a float for display (the inverse of the encoding above)."""
    if value is None:
        return None
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return float(value)
