"""The optional extras and the modules each one brings, so that a lint-only install that reaches
for conversion gets one sentence naming what to install instead of `No module named 'torch'`."""

from __future__ import annotations

import importlib.util

from torchready.lint.types import UsageError

EXTRAS: dict[str, tuple[str, ...]] = {
    "convert": ("torch", "coremltools", "numpy"),
    "lsp": ("pygls", "lsprotocol"),
}


class MissingExtraError(UsageError, ImportError):
    """A command or API name needs an extra that is not installed (exit 2 on the command line)."""


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that are not installed (found without importing them)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError naming the pip command when `extra` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(f"{what} needs the {extra} extra ({', '.join(missing)} not "
                                f'installed): pip install "torchready[{extra}]"')
