"""torchready: trace/script readiness linter and Core ML conversion checker for PyTorch models.

    import torchready
    run = torchready.lint_paths(["models/"])             # static checks; never imports torch
    result = torchready.to_coreml(model, (example,))     # capture, convert, prove parity
    result = torchready.audit(model, (example,))         # the same checks, no model written

`import torchready` is cheap: the conversion API (which needs torch and coremltools, the
`torchready[convert]` extra) is imported on first use of one of its names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchready.about import __version__

if TYPE_CHECKING:
    from torchready.convert.api import audit, to_coreml
    from torchready.convert.pipeline import ConversionResult
    from torchready.convert.spec import ModelSpec
    from torchready.lint.api import LintRun, lint_paths

__all__ = ["ConversionResult", "LintRun", "ModelSpec", "__version__", "audit", "lint_paths",
           "to_coreml"]

# name -> (module, extra the module needs beyond the base install)
_LAZY: dict[str, tuple[str, str | None]] = {
    "lint_paths": ("torchready.lint.api", None),
    "LintRun": ("torchready.lint.api", None),
    "ModelSpec": ("torchready.convert.spec", None),
    "to_coreml": ("torchready.convert.api", "convert"),
    "audit": ("torchready.convert.api", "convert"),
    "ConversionResult": ("torchready.convert.pipeline", "convert"),
}


def __getattr__(name: str) -> Any:
    # PEP 562: resolve the public names on first use, so `import torchready` stays light.
    if name not in _LAZY:
        raise AttributeError(f"module 'torchready' has no attribute {name!r}")
    import importlib

    module_name, extra = _LAZY[name]
    if extra is not None:
        from torchready.extras import require

        require(extra, f"torchready.{name}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
