"""The kernel registry: one small function per MIL op type, grouped into families.

A kernel module creates its family's decorator and registers functions under MIL op types::

    kernel = kernel_family("activation")

    @kernel("relu")
    def relu(x):
        return torch.relu(x)

Kernels receive the op's inputs as keyword arguments named like the MIL parameters. Inputs the
op definition declares `const` (axes, pad_type, epsilon, ...) arrive as plain Python values
(str, int, float, bool, tuples of ints) or, for float arrays such as a bias, as float32 tensors;
all other inputs arrive as torch tensors in their storage dtype (see `dtypes`). A kernel that
also needs static facts about its op (declared output dtypes, opset) declares a keyword `_op`;
control-flow kernels that run nested blocks declare `_exec`. Kernels return one value or a
tuple (multi-output ops) and never modify their inputs in place.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KernelFn = Callable[..., Any]


@dataclass(frozen=True)
class Kernel:
    op_type: str
    family: str
    fn: KernelFn
    wants_op: bool
    wants_exec: bool


KERNELS: dict[str, Kernel] = {}
# op type -> family, the public listing behind `torchready runtime-ops`.
SUPPORTED_OPS: dict[str, str] = {}
# Op types whose outputs the planner computes once at load time (const, constexpr_*).
LOAD_TIME_OPS: set[str] = set()


def register_kernel(op_type: str, family: str, fn: KernelFn) -> None:
    if op_type in KERNELS:
        raise ValueError(f"a kernel for MIL op {op_type!r} is already registered")
    params = inspect.signature(fn).parameters
    KERNELS[op_type] = Kernel(op_type, family, fn, "_op" in params, "_exec" in params)
    SUPPORTED_OPS[op_type] = family


def register_load_time_op(op_type: str, family: str) -> None:
    """Ops the planner folds at load time (their values never depend on the feeds)."""
    if op_type in SUPPORTED_OPS:
        raise ValueError(f"MIL op {op_type!r} is already registered")
    LOAD_TIME_OPS.add(op_type)
    SUPPORTED_OPS[op_type] = family


def kernel_family(family: str) -> Callable[..., Callable[[KernelFn], KernelFn]]:
    """The `@kernel("op", ...)` decorator for one family of ops."""

    def kernel(*op_types: str) -> Callable[[KernelFn], KernelFn]:
        def register(fn: KernelFn) -> KernelFn:
            for op_type in op_types:
                register_kernel(op_type, family, fn)
            return fn

        return register

    return kernel


def supported_ops_by_family() -> dict[str, list[str]]:
    families: dict[str, list[str]] = {}
    for op_type, family in SUPPORTED_OPS.items():
        families.setdefault(family, []).append(op_type)
    return {family: sorted(ops) for family, ops in sorted(families.items())}
