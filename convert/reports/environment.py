"""The software a report was produced with: a parity verdict is only as reproducible as this."""

from __future__ import annotations

import platform
import sys
from typing import Any

# Always reported (a conversion imports them); transformers only when the model loaded it.
REQUIRED = ("torch", "coremltools", "numpy")
OPTIONAL = ("transformers",)


def environment() -> dict[str, Any]:
    from torchready.about import __version__

    packages: dict[str, str | None] = {"torchready": __version__}
    for name in REQUIRED:
        packages[name] = _version(name)
    for name in OPTIONAL:
        if name in sys.modules:
            packages[name] = _version(name)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }


def _version(name: str) -> str | None:
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None) if module is not None else None
    if version:
        return str(version)
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
