"""Errors raised by the MIL reference runtime.

User mistakes (a model that is not an ML program, a feed of the wrong shape or dtype, a name
that does not exist) are `UsageError`s, so the CLI prints one sentence and exits 2. Everything
else is a `ReferenceRuntimeError` that names the op and where it sits in the program, because
"something failed in op 412" is useless to someone debugging a conversion.
"""

from __future__ import annotations

from torchready.lint.types import UsageError


class ReferenceRuntimeError(RuntimeError):
    """An op could not be executed; the message names the op, its type and its block."""

    def __init__(self, message: str, *, op_type: str = "", op_name: str = "", block: str = ""):
        super().__init__(message)
        self.op_type = op_type
        self.op_name = op_name
        self.block = block


class UnsupportedOpError(ReferenceRuntimeError):
    """The program contains an op type that has no kernel in the reference runtime."""

    def __init__(self, op_type: str, op_name: str, block: str):
        super().__init__(
            f"op {op_type} is not supported by the reference runtime (at {op_name} in {block})",
            op_type=op_type,
            op_name=op_name,
            block=block,
        )


class LoopLimitError(ReferenceRuntimeError):
    """A while_loop ran more iterations than the run allows (almost always a runaway loop)."""


class NotAnMLProgramError(UsageError):
    """The model is a legacy neuralnetwork (or pipeline) model, which this runtime cannot run."""


class InvalidFeedError(UsageError):
    """A feed does not match the model's input contract (name, dtype, shape or value range)."""
