"""Shared helpers for the parity tests: convert through torchready's pipeline, then check."""

from __future__ import annotations

import warnings
from pathlib import Path


def convert(model, example_inputs=None, precision="fp16", **kwargs):
    """`torchready.to_coreml` in memory, lint and the pipeline's own parity stage off (these tests
    call the parity stage themselves, with the options they are about)."""
    from torchready import to_coreml

    kwargs.setdefault("parity", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = to_coreml(model, example_inputs, lint=False, compute_precision=precision,
                           **kwargs)
    assert result.ok, (result.failed_stage, result.error)
    return result


def line_of(path, text: str) -> int:
    """The 1-based line of the first line of `path` that contains `text`."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def same_file(a: str, b) -> bool:
    return Path(a).resolve() == Path(b).resolve()
