"""Apple's Core ML runtime as a parity target, where it exists (macOS).

Kept apart on purpose: this is the only place parity calls `MLModel.predict` (through
`torchready.convert.milrt.coreml_predict`), it never runs on Linux, and its tests are skipped there. The
reference runtime stays the primary target everywhere; on a Mac the device's numbers appear as an
extra `coreml-device` row, so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def available() -> bool:
    from torchready.convert.milrt import coreml_predict

    return coreml_predict.available()


def device_outputs(mlmodel: Any, feeds: Mapping[str, Any], output_names: Sequence[str],
                   compute_units: str = "CPU_ONLY") -> list[Any]:
    """The converted model's outputs from Apple's runtime, in `output_names` order."""
    from torchready.convert.milrt import coreml_predict

    outputs = coreml_predict.predict(mlmodel, feeds, compute_units=compute_units)
    return [outputs[name] for name in output_names]
