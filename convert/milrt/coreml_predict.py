"""Run Apple's Core ML runtime on the same feeds as the reference runtime (macOS only).

This is the one place where torchready calls `MLModel.predict`. It exists so parity can put
the device's numbers next to the reference runtime's; on Linux `available()` is False and
nothing here can run (coremltools ships no prediction library there).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def available() -> bool:
    """True where MLModel.predict works: macOS with coremltools' native prediction library."""
    import coremltools as ct

    if not ct.utils._is_macos():
        return False
    try:
        from coremltools import libcoremlpython  # noqa: F401
    except ImportError:
        return False
    return True


def predict(
    source, feeds: Mapping[str, np.ndarray], compute_units: str = "CPU_ONLY"
) -> dict[str, np.ndarray]:
    """Outputs of the real Core ML runtime for `feeds`.

    source: a path to a .mlpackage or a ct.models.MLModel. compute_units: a ct.ComputeUnit name
    ("CPU_ONLY" by default: closest to the reference runtime; "ALL" lets Core ML use GPU/ANE).
    Image inputs take the same raw 0..255 NCHW arrays as `ReferenceProgram.run`.
    """
    import coremltools as ct

    if not available():
        raise RuntimeError("Core ML prediction needs macOS (MLModel.predict is not available here)")
    units = getattr(ct.ComputeUnit, compute_units)
    path = source.package_path if isinstance(source, ct.models.MLModel) else str(source)
    model = ct.models.MLModel(path, compute_units=units)
    inputs = {}
    for feature in model.get_spec().description.input:
        value = np.asarray(feeds[feature.name])
        if feature.type.WhichOneof("Type") == "imageType":
            bgr = feature.type.imageType.colorSpace == 30  # feeds are in declared order; PIL wants RGB
            inputs[feature.name] = _to_pil(value[:, ::-1] if bgr else value)
        else:
            inputs[feature.name] = value
    return {name: np.asarray(value) for name, value in model.predict(inputs).items()}


def _to_pil(pixels: np.ndarray):
    from PIL import Image

    image = np.asarray(pixels)[0]  # (C, H, W)
    if image.shape[0] == 1:
        return Image.fromarray(image[0].astype(np.uint8), mode="L")
    return Image.fromarray(np.transpose(image, (1, 2, 0)).astype(np.uint8), mode="RGB")
