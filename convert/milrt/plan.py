"""Compile a pymil Function into an execution plan, once per loaded program.

Everything that does not depend on the feeds is decided here, so the executor loop only looks
values up and calls kernels: which kernel runs each op, the op's constant inputs (const ops are
materialized and converted once; constexpr_* ops are decompressed once with pymil's
`materialized_val_inference()`), which inputs come from the environment, the declared dtype and
static shape of every output, and after which op each value can be released (last use is
computed per block; a nested block's reads of outer values count as uses by the op that owns
the block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from torchready.convert.milrt.dtypes import STORAGE_DTYPE, mil_dtype_name, to_storage
from torchready.convert.milrt.errors import ReferenceRuntimeError, UnsupportedOpError
from torchready.convert.milrt.registry import KERNELS, LOAD_TIME_OPS

_BLOCK_LABELS = {"while_loop": ("cond", "body"), "cond": ("true", "false")}


@dataclass(frozen=True)
class StepInfo:
    """Static facts about one op, handed to kernels that declare an `_op` parameter."""

    op_type: str
    name: str
    block: str
    opset: int
    out_names: tuple[str, ...]
    out_dtypes: tuple[str, ...]
    out_shapes: tuple[tuple[int | None, ...] | None, ...]
    in_dtypes: dict[str, str]

    @property
    def location(self) -> str:
        return f"{self.name} in {self.block}"


@dataclass(frozen=True)
class UnsupportedOp:
    op_type: str
    op_name: str
    block: str


class Step:
    """One op, ready to run: kernel, prepared inputs, output handling, releases."""

    __slots__ = (
        "info",
        "fn",
        "wants_op",
        "wants_exec",
        "const_kwargs",
        "var_kwargs",
        "attr_var_kwargs",
        "tuple_kwargs",
        "out_names",
        "out_storage",
        "out_fp16",
        "out_static_shapes",
        "single_output",
        "release",
        "blocks",
    )

    def __init__(self, info: StepInfo, fn, wants_op: bool, wants_exec: bool):
        self.info = info
        self.fn = fn
        self.wants_op = wants_op
        self.wants_exec = wants_exec
        self.const_kwargs: dict[str, Any] = {}
        self.var_kwargs: tuple[tuple[str, str], ...] = ()
        self.attr_var_kwargs: tuple[tuple[str, str], ...] = ()
        self.tuple_kwargs: tuple[tuple[str, tuple[tuple[bool, Any], ...]], ...] = ()
        self.out_names = info.out_names
        self.out_storage = tuple(STORAGE_DTYPE.get(d) for d in info.out_dtypes)
        self.out_fp16 = tuple(d == "fp16" for d in info.out_dtypes)
        # Only fully static declared shapes are checked: symbolic dims legitimately vary per run.
        self.out_static_shapes = tuple(
            s if s is not None and all(d is not None for d in s) else None for s in info.out_shapes
        )
        self.single_output = len(info.out_names) == 1
        self.release: tuple[str, ...] = ()
        self.blocks: tuple[BlockPlan, ...] = ()


@dataclass
class BlockPlan:
    path: str
    input_names: tuple[str, ...]
    input_dtypes: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)
    # Each output is (True, var name) or (False, constant value).
    outputs: tuple[tuple[bool, Any], ...] = ()
    output_names: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()


def as_attribute(value: Any) -> Any:
    """A constant for a parameter the op declares const: plain Python, float arrays as tensors."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [as_attribute(v) for v in value]
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        return array.tolist()
    if array.ndim == 0:
        return array.item()
    if array.dtype.kind in "fc":
        return torch.from_numpy(np.ascontiguousarray(array.astype(np.float32)))
    return tuple(array.tolist()) if array.ndim == 1 else array.tolist()


def tensor_attribute(value: torch.Tensor) -> Any:
    """The runtime twin of `as_attribute` for const-declared inputs computed by other ops."""
    if value.dtype.is_floating_point and value.ndim > 0:
        return value
    return as_attribute(value.numpy())


def _opset_of(op, default: int) -> int:
    module = type(op).__module__
    for version in (18, 17, 16, 15):
        if f".iOS{version}." in module:
            return version
    return default


def _declared_shape(var) -> tuple[int | None, ...] | None:
    from coremltools.converters.mil.mil import types

    sym_type = var.sym_type
    if types.is_tensor(sym_type):
        return tuple(int(d) if isinstance(d, (int, np.integer)) else None for d in sym_type.get_shape())
    if types.is_scalar(sym_type):
        return ()
    return None


class Planner:
    """Turns one pymil Function into a BlockPlan tree; collects constants and unsupported ops."""

    def __init__(self, function_name: str, function_opset: int):
        self.function_name = function_name
        self.function_opset = function_opset
        # var name -> (numpy value, MIL dtype) for const and constexpr outputs.
        self.constants: dict[str, tuple[Any, str]] = {}
        self._tensor_cache: dict[str, Any] = {}
        self._attr_cache: dict[str, Any] = {}
        self.unsupported: list[UnsupportedOp] = []

    # -- constants -----------------------------------------------------------------------
    def _is_constant(self, var) -> bool:
        return var.name in self.constants

    def _tensor_const(self, var) -> Any:
        cached = self._tensor_cache.get(var.name)
        if cached is None:
            value, mil_dtype = self.constants[var.name]
            if mil_dtype in STORAGE_DTYPE:
                cached = to_storage(value, mil_dtype)
            else:  # strings, lists (classify labels): handed over as Python values
                cached = as_attribute(value)
            self._tensor_cache[var.name] = cached
        return cached

    def _attr_const(self, var) -> Any:
        if var.name not in self._attr_cache:
            self._attr_cache[var.name] = as_attribute(self.constants[var.name][0])
        return self._attr_cache[var.name]

    def _fold_load_time_op(self, op, path: str) -> None:
        if op.op_type == "const":
            var = op.outputs[0]
            self.constants[var.name] = (var.val, mil_dtype_name(var))
            return
        try:
            value = op.materialized_val_inference()
        except Exception as error:
            raise ReferenceRuntimeError(
                f"could not materialize {op.op_type} {op.name!r} in {path}: {error}",
                op_type=op.op_type,
                op_name=op.name,
                block=path,
            ) from error
        values = value if len(op.outputs) > 1 else (value,)
        for var, val in zip(op.outputs, values):
            self.constants[var.name] = (val, mil_dtype_name(var))

    # -- blocks --------------------------------------------------------------------------
    def compile_function(self, function) -> BlockPlan:
        plan, free = self.compile_block(function, self.function_name, tuple(function.inputs))
        if free:
            raise ReferenceRuntimeError(f"the program reads undefined values: {sorted(free)}")
        return plan

    def compile_block(self, block, path: str, input_names: tuple[str, ...]) -> tuple[BlockPlan, set[str]]:
        input_vars = list(block.inputs.values()) if isinstance(block.inputs, dict) else list(block.inputs)
        plan = BlockPlan(
            path=path,
            input_names=tuple(input_names),
            input_dtypes=tuple(mil_dtype_name(v) for v in input_vars),
        )
        local: set[str] = set(input_names)
        free: set[str] = set()
        uses: list[set[str]] = []
        for op in block.operations:
            if op.op_type in LOAD_TIME_OPS:
                self._fold_load_time_op(op, path)
                continue
            step, used = self._compile_op(op, path)
            for name in used:
                if name not in local:
                    free.add(name)
            plan.steps.append(step)
            uses.append(used)
            local.update(step.out_names)

        outputs = []
        for var in block.outputs:
            if self._is_constant(var):
                outputs.append((False, self._tensor_const(var)))
            else:
                outputs.append((True, var.name))
                if var.name not in local:
                    free.add(var.name)
        plan.outputs = tuple(outputs)
        plan.output_names = tuple(v.name for v in block.outputs)
        plan.output_dtypes = tuple(mil_dtype_name(v) for v in block.outputs)
        self._assign_releases(plan, uses, local)
        return plan, free

    @staticmethod
    def _assign_releases(plan: BlockPlan, uses: list[set[str]], local: set[str]) -> None:
        keep_to_end = {name for is_var, name in plan.outputs if is_var}
        last_use: dict[str, int] = {}
        for index, step in enumerate(plan.steps):
            for name in step.out_names:
                last_use[name] = index  # an output nobody reads is released right away
            for name in uses[index]:
                if name in local:
                    last_use[name] = index
        releases: dict[int, list[str]] = {}
        for name, index in last_use.items():
            if name not in keep_to_end:
                releases.setdefault(index, []).append(name)
        for index, step in enumerate(plan.steps):
            step.release = tuple(releases.get(index, ()))

    # -- ops -----------------------------------------------------------------------------
    def _compile_op(self, op, path: str) -> tuple[Step, set[str]]:
        from coremltools.converters.mil.mil import Var

        input_types = getattr(type(op), "input_spec", None)
        input_types = input_types.input_types if input_types is not None else {}
        in_dtypes: dict[str, str] = {}
        for param, value in op.inputs.items():
            first = value[0] if isinstance(value, (list, tuple)) and value else value
            if isinstance(first, Var):
                in_dtypes[param] = mil_dtype_name(first)
        info = StepInfo(
            op_type=op.op_type,
            name=op.name,
            block=path,
            opset=_opset_of(op, self.function_opset),
            out_names=tuple(v.name for v in op.outputs),
            out_dtypes=tuple(mil_dtype_name(v) for v in op.outputs),
            out_shapes=tuple(_declared_shape(v) for v in op.outputs),
            in_dtypes=in_dtypes,
        )
        kernel = KERNELS.get(op.op_type)
        if kernel is None:
            self.unsupported.append(UnsupportedOp(op.op_type, op.name, path))
            step = Step(info, _unsupported(op.op_type, op.name, path), False, False)
        else:
            step = Step(info, kernel.fn, kernel.wants_op, kernel.wants_exec)

        used: set[str] = set()
        var_kwargs, attr_var_kwargs, tuple_kwargs = [], [], []
        for param, value in op.inputs.items():
            declared = input_types.get(param)
            is_const_param = bool(getattr(declared, "const", False))
            if isinstance(value, (list, tuple)):
                items = []
                for var in value:
                    if self._is_constant(var):
                        items.append((False, self._tensor_const(var)))
                    else:
                        items.append((True, var.name))
                        used.add(var.name)
                tuple_kwargs.append((param, tuple(items)))
            elif isinstance(value, Var):
                if self._is_constant(value):
                    step.const_kwargs[param] = (
                        self._attr_const(value) if is_const_param else self._tensor_const(value)
                    )
                elif is_const_param and value.val is not None:
                    # A const-declared input pymil could infer: fold it like a constant.
                    step.const_kwargs[param] = as_attribute(value.val)
                    used.add(value.name)  # still keep the producer's value alive for inspection order
                else:
                    (attr_var_kwargs if is_const_param else var_kwargs).append((param, value.name))
                    used.add(value.name)
        step.var_kwargs = tuple(var_kwargs)
        step.attr_var_kwargs = tuple(attr_var_kwargs)
        step.tuple_kwargs = tuple(tuple_kwargs)

        if op.blocks:
            labels = _BLOCK_LABELS.get(op.op_type, tuple(str(i) for i in range(len(op.blocks))))
            nested = []
            for label, block in zip(labels, op.blocks):
                block_inputs = tuple(v.name for v in block.inputs)
                plan, free = self.compile_block(block, f"{path}/{op.name}[{label}]", block_inputs)
                nested.append(plan)
                used |= free
            step.blocks = tuple(nested)
        return step, used


def _unsupported(op_type: str, op_name: str, block: str):
    def raise_unsupported(**_ignored):
        raise UnsupportedOpError(op_type, op_name, block)

    return raise_unsupported
