"""torchready's dynamic half: capture a model (trace/script/hybrid/export), convert it with
coremltools, and prove numeric parity.

Heavy imports (torch, coremltools, numpy) happen inside the functions that need them, so that
`torchready lint`, which enters through `convert.cli`, never pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convert.spec import ModelSpec


def to_coreml(*args: Any, **kwargs: Any) -> Any:
    """The notebook entry point; see `convert.api.to_coreml`."""
    from convert.api import to_coreml as _to_coreml

    return _to_coreml(*args, **kwargs)


def __getattr__(name: str) -> Any:
    # `convert.ModelSpec` without importing anything at package import time (PEP 562).
    if name == "ModelSpec":
        from convert.spec import ModelSpec

        return ModelSpec
    raise AttributeError(f"module 'convert' has no attribute {name!r}")
