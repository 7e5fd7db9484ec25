"""Elementwise unary and binary ops, comparisons, logical ops and cast
(coremltools defs: elementwise_binary.py, elementwise_unary.py).

Semantics follow the MIL docstrings, not torch's: `floor_div` rounds towards -inf, `mod` takes
the sign of the divisor (Python's %), `round` rounds half to even, `log`/`rsqrt`/`inverse` add
their `epsilon` before the function, `cast` to an int type truncates towards zero.
"""

from __future__ import annotations

import torch

from torchready.convert.milrt.dtypes import STORAGE_DTYPE
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("elementwise binary")


def _is_int(t: torch.Tensor) -> bool:
    return not t.dtype.is_floating_point and t.dtype != torch.bool


@kernel("add")
def add(x, y):
    return torch.add(x, y)


@kernel("sub")
def sub(x, y):
    return torch.sub(x, y)


@kernel("mul")
def mul(x, y):
    return torch.mul(x, y)


@kernel("real_div")
def real_div(x, y):
    if _is_int(x) and _is_int(y):
        # Exact for every int32 pair; the declared int output then truncates towards zero.
        return torch.div(x.double(), y.double())
    return torch.div(x, y)


@kernel("floor_div")
def floor_div(x, y):
    return torch.div(x, y, rounding_mode="floor")


@kernel("mod")
def mod(x, y):
    return torch.remainder(x, y)


@kernel("pow")
def pow_(x, y):
    return torch.pow(x, y)


@kernel("maximum")
def maximum(x, y):
    return torch.maximum(x, y)


@kernel("minimum")
def minimum(x, y):
    return torch.minimum(x, y)


kernel = kernel_family("comparison")


@kernel("equal")
def equal(x, y):
    return torch.eq(x, y)


@kernel("not_equal")
def not_equal(x, y):
    return torch.ne(x, y)


@kernel("less")
def less(x, y):
    return torch.lt(x, y)


@kernel("less_equal")
def less_equal(x, y):
    return torch.le(x, y)


@kernel("greater")
def greater(x, y):
    return torch.gt(x, y)


@kernel("greater_equal")
def greater_equal(x, y):
    return torch.ge(x, y)


kernel = kernel_family("logical")


@kernel("logical_and")
def logical_and(x, y):
    return torch.logical_and(x, y)


@kernel("logical_or")
def logical_or(x, y):
    return torch.logical_or(x, y)


@kernel("logical_xor")
def logical_xor(x, y):
    return torch.logical_xor(x, y)


@kernel("logical_not")
def logical_not(x):
    return torch.logical_not(x)


kernel = kernel_family("elementwise unary")

_UNARY = {
    "abs": torch.abs,
    "acos": torch.acos,
    "asin": torch.asin,
    "atan": torch.atan,
    "atanh": torch.atanh,
    "ceil": torch.ceil,
    "cos": torch.cos,
    "cosh": torch.cosh,
    "erf": torch.erf,
    "exp": torch.exp,
    "floor": torch.floor,
    "round": torch.round,  # half to even, as the MIL docstring ("0.5 is rounded to 0")
    "sign": torch.sign,
    "sin": torch.sin,
    "sinh": torch.sinh,
    "sqrt": torch.sqrt,
    "tan": torch.tan,
    "tanh": torch.tanh,
}


def _unary(fn):
    def apply(x):
        return fn(x)

    apply.__name__ = fn.__name__
    return apply


for _op_type, _fn in _UNARY.items():
    kernel(_op_type)(_unary(_fn))


@kernel("exp2")
def exp2(x):
    return torch.exp2(x.double() if _is_int(x) else x)


@kernel("square")
def square(x):
    return x * x


@kernel("rsqrt")
def rsqrt(x, epsilon=1e-12):
    return torch.rsqrt(x + epsilon)


@kernel("inverse")
def inverse(x, epsilon=1e-4):
    return torch.reciprocal(x + epsilon)


@kernel("log")
def log(x, epsilon=1e-45):
    return torch.log(x + epsilon)


@kernel("clip")
def clip(x, alpha, beta):
    return torch.clamp(x, min=alpha, max=beta)


@kernel("threshold")
def threshold(x, alpha):
    return torch.clamp(x, min=alpha)


kernel = kernel_family("cast")


@kernel("cast")
def cast(x, dtype):
    if dtype == "bool":
        return x != 0
    storage = STORAGE_DTYPE[dtype]
    if x.dtype.is_floating_point and not storage.is_floating_point:
        x = torch.trunc(x)
    if dtype == "uint16":
        return x.to(torch.int64).remainder(1 << 16)
    return x.to(storage)
