"""What a function returns, as its callers see it: a record shared by the one-file analysis and
the project's facts (which must load without libcst: a warm run never parses)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Returns:
    """What a function of the same file returns, for the values its callers bind."""

    tensor: bool  # some return value is, or holds, a tensor
    size: bool  # some return value is a size
    sequence: bool = False  # some return value is a tuple or list
    # For functions that return tuple literals: per position, tensor / size / tuple or list
    # (None: unknown).
    elements: tuple[bool, ...] | None = None
    element_sizes: tuple[bool, ...] | None = None
    element_sequences: tuple[bool, ...] | None = None
