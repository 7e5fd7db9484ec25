"""MIL dtypes and how the runtime stores them.

Every float value is *stored* as a torch float32 tensor, whatever its declared MIL dtype:
kernels compute in fp32 and the executor rounds outputs declared fp16 back onto the fp16 grid
(`.half().float()`), so fp16 overflow (inf) and precision loss appear exactly where the program
stores an fp16 tensor, and no kernel ever has to know about fp16. Integer and bool values keep
their declared torch dtype so int32 arithmetic wraps as it does on device.
"""

from __future__ import annotations

import numpy as np
import torch

FLOAT_TYPES = frozenset({"fp16", "fp32", "fp64", "bf16"})

# MIL dtype name -> torch dtype used to hold the value during execution.
STORAGE_DTYPE: dict[str, torch.dtype] = {
    "fp16": torch.float32,
    "bf16": torch.float32,
    "fp32": torch.float32,
    "fp64": torch.float64,
    "bool": torch.bool,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    # torch has few kernels for uint16/uint32: hold them in the next wider signed type.
    "uint16": torch.int32,
    "int32": torch.int32,
    "uint32": torch.int64,
    "int64": torch.int64,
}

# MIL dtype name -> numpy dtype of values handed back to the caller.
NUMPY_DTYPE: dict[str, np.dtype] = {
    "fp16": np.dtype(np.float16),
    "fp32": np.dtype(np.float32),
    "fp64": np.dtype(np.float64),
    "bool": np.dtype(np.bool_),
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "int16": np.dtype(np.int16),
    "uint16": np.dtype(np.uint16),
    "int32": np.dtype(np.int32),
    "uint32": np.dtype(np.uint32),
    "int64": np.dtype(np.int64),
}

FP16_MAX = 65504.0
# Round-to-nearest-even maps every |x| >= 65520 to inf in fp16 (65504 < |x| < 65520 rounds down).
FP16_OVERFLOW_THRESHOLD = 65520.0


def mil_dtype_name(var) -> str:
    """The MIL dtype of a pymil Var as a short name ("fp16", "int32", "list", "state", ...)."""
    from coremltools.converters.mil.mil import types

    sym_type = var.sym_type
    if types.is_list(sym_type):
        return "list"
    if types.is_state(sym_type):
        return "state"
    if types.is_dict(sym_type):
        return "dict"
    return types.builtin_to_string(var.dtype)


def to_storage(value: np.ndarray | np.generic | bool | int | float, mil_dtype: str) -> torch.Tensor:
    """A numpy constant as the torch tensor the executor stores for a value of `mil_dtype`."""
    array = np.asarray(value)
    storage = STORAGE_DTYPE.get(mil_dtype)
    if storage is None:
        raise TypeError(f"values of MIL dtype {mil_dtype} cannot be stored as tensors")
    if array.dtype == np.uint16:
        array = array.astype(np.int32)
    elif array.dtype == np.uint32:
        array = array.astype(np.int64)
    elif array.dtype.kind == "f" and storage == torch.float32 and array.dtype != np.float32:
        array = array.astype(np.float32)
    # np.ascontiguousarray would turn a 0-d array into shape (1,); copy keeps the rank.
    tensor = torch.from_numpy(array if array.flags.c_contiguous else array.copy())
    return tensor if tensor.dtype == storage else tensor.to(storage)


def to_numpy(tensor: torch.Tensor, mil_dtype: str, fp16_rounded: bool) -> np.ndarray:
    """A stored value as numpy in its declared dtype (fp16 only when it was actually rounded)."""
    # Always a copy: the caller may mutate what it gets, and stored tensors (cached constants
    # in particular) must never change behind the runtime's back.
    array = tensor.detach().numpy()
    if mil_dtype == "fp16":
        return array.astype(np.float16 if fp16_rounded else np.float32)
    target = NUMPY_DTYPE.get(mil_dtype, array.dtype)
    return array.astype(target)
