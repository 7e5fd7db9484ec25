"""The executor loop: walk a BlockPlan's steps in order, call kernels, store and release values.

Values live in an environment dict keyed by MIL var name. A nested block (while_loop body,
cond branch) runs in a child `Scope` whose lookups fall through to the enclosing environment,
because MIL blocks read outer values by reference; its own values die with it.

After each op every output is coerced to its declared storage dtype; outputs declared fp16 are
rounded onto the fp16 grid (precision="fp16_storage"), which is where fp16 overflow and precision
loss appear on device. precision="fp32" skips that rounding (the "fp16 ops may execute in fp32"
reading of Core ML's typed execution) while still reporting values that would overflow fp16.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import torch

from torchready.convert.milrt.dtypes import to_numpy
from torchready.convert.milrt.errors import ReferenceRuntimeError
from torchready.convert.milrt.plan import BlockPlan, Step, tensor_attribute
from torchready.convert.milrt.records import OpRecord, value_stats

OpCallback = Callable[[OpRecord, dict[str, Any]], None]


class Scope(dict):
    """A block's environment; names it does not hold are looked up in the enclosing one."""

    __slots__ = ("parent",)

    def __init__(self, parent: dict):
        super().__init__()
        self.parent = parent

    def __missing__(self, name: str) -> Any:
        return self.parent[name]


class Frame:
    """What a control-flow kernel gets as `_exec`: the running execution, its environment and op."""

    __slots__ = ("execution", "env", "step")

    def __init__(self, execution: Execution, env: dict, step: Step):
        self.execution = execution
        self.env = env
        self.step = step

    @property
    def max_loop_iterations(self) -> int:
        return self.execution.max_loop_iterations

    @property
    def location(self) -> str:
        return self.step.info.location

    def run_block(self, index: int, inputs: tuple = ()) -> list[Any]:
        plan = self.step.blocks[index]
        scope = Scope(self.env)
        for name, value in zip(plan.input_names, inputs):
            scope[name] = value
        return self.execution.run_block(plan, scope)

    def enter_loop(self) -> None:
        self.execution.loop_stack.append(0)

    def next_iteration(self, iteration: int) -> None:
        self.execution.loop_stack[-1] = iteration

    def exit_loop(self) -> None:
        self.execution.loop_stack.pop()


class Execution:
    """State of one `ReferenceProgram.run` call."""

    def __init__(
        self,
        *,
        round_fp16: bool,
        keep_all: bool,
        keep_names: Collection[str] | None,
        record: bool,
        on_op: OpCallback | None,
        max_loop_iterations: int,
    ):
        self.round_fp16 = round_fp16
        self.keep_all = keep_all
        self.keep_names = keep_names
        self.record = record or on_op is not None
        self.on_op = on_op
        self.max_loop_iterations = max_loop_iterations
        self.intermediates: dict[str, Any] = {}
        self.records: list[OpRecord] = []
        self.loop_stack: list[int] = []
        # The plain loop is used unless something per-op has to be observed.
        self._observing = self.record or keep_all or bool(keep_names)

    def run_block(self, plan: BlockPlan, env: dict) -> list[Any]:
        if self._observing:
            self._run_observed(plan, env)
        else:
            self._run_fast(plan, env)
        return [env[ref] if is_var else ref for is_var, ref in plan.outputs]

    # The hot loop: no records, no kept values, nothing but kernels, coercion and releases.
    def _run_fast(self, plan: BlockPlan, env: dict) -> None:
        round_fp16 = self.round_fp16
        for step in plan.steps:
            result = self._call(step, plan, env)
            if step.single_output:
                storage = step.out_storage[0]
                if storage is not None:
                    result = _coerce(
                        result, storage, step.out_fp16[0] and round_fp16, step.out_static_shapes[0], step, 0
                    )
                env[step.out_names[0]] = result
            else:
                for index, name in enumerate(step.out_names):
                    value = result[index]
                    storage = step.out_storage[index]
                    if storage is not None:
                        value = _coerce(
                            value,
                            storage,
                            step.out_fp16[index] and round_fp16,
                            step.out_static_shapes[index],
                            step,
                            index,
                        )
                    env[name] = value
            for name in step.release:
                del env[name]

    def _run_observed(self, plan: BlockPlan, env: dict) -> None:
        round_fp16 = self.round_fp16
        for step in plan.steps:
            result = self._call(step, plan, env)
            values = (result,) if step.single_output else tuple(result)
            stats = []
            kept: dict[str, Any] = {}
            for index, name in enumerate(step.out_names):
                value = values[index]
                storage = step.out_storage[index]
                rounded = step.out_fp16[index] and round_fp16
                unrounded = None
                if storage is not None:
                    if rounded and self.record:
                        unrounded = _as_tensor(value, storage)
                    value = _coerce(value, storage, rounded, step.out_static_shapes[index], step, index)
                env[name] = value
                dtype = step.info.out_dtypes[index]
                if self.record:
                    stats.append(value_stats(name, dtype, value, unrounded))
                if self.keep_all or (self.keep_names and name in self.keep_names) or self.on_op is not None:
                    kept[name] = to_numpy(value, dtype, rounded) if isinstance(value, torch.Tensor) else value
            if self.keep_all:
                self.intermediates.update(kept)
            elif self.keep_names:
                self.intermediates.update((n, v) for n, v in kept.items() if n in self.keep_names)
            if self.record:
                record = OpRecord(
                    index=len(self.records),
                    op_type=step.info.op_type,
                    op_name=step.info.name,
                    block=step.info.block,
                    outputs=tuple(stats),
                    loop_iterations=tuple(self.loop_stack),
                )
                self.records.append(record)
                if self.on_op is not None:
                    self.on_op(record, kept)
            for name in step.release:
                del env[name]

    def _call(self, step: Step, plan: BlockPlan, env: dict) -> Any:
        kwargs = dict(step.const_kwargs) if step.const_kwargs else {}
        try:
            for param, name in step.var_kwargs:
                kwargs[param] = env[name]
            for param, name in step.attr_var_kwargs:
                kwargs[param] = tensor_attribute(env[name])
            for param, items in step.tuple_kwargs:
                kwargs[param] = [env[value] if is_var else value for is_var, value in items]
        except KeyError as error:
            raise ReferenceRuntimeError(
                f"op {step.info.op_type} {step.info.name!r} in {plan.path} reads {error.args[0]!r}, "
                "which has no value",
                op_type=step.info.op_type,
                op_name=step.info.name,
                block=plan.path,
            ) from None
        if step.wants_op:
            kwargs["_op"] = step.info
        if step.wants_exec:
            kwargs["_exec"] = Frame(self, env, step)
        try:
            return step.fn(**kwargs)
        except ReferenceRuntimeError:
            raise
        except Exception as error:
            raise ReferenceRuntimeError(
                f"op {step.info.op_type} {step.info.name!r} in {plan.path} failed: "
                f"{type(error).__name__}: {error}"
                f" (inputs: {_describe_inputs(kwargs)})",
                op_type=step.info.op_type,
                op_name=step.info.name,
                block=plan.path,
            ) from error


def _as_tensor(value: Any, storage: torch.dtype) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    return value if value.dtype == storage else value.to(storage)


def _coerce(
    value: Any, storage: torch.dtype, round_fp16: bool, shape, step: Step, index: int
) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    if value.dtype != storage:
        value = value.to(storage)
    if round_fp16:
        value = value.half().float()
    if shape is not None and value.shape != shape:
        info = step.info
        raise ReferenceRuntimeError(
            f"op {info.op_type} {info.name!r} in {info.block} produced {info.out_names[index]!r} with shape "
            f"{list(value.shape)}, but the program declares {list(shape)}",
            op_type=info.op_type,
            op_name=info.name,
            block=info.block,
        )
    return value


def _describe_inputs(kwargs: dict[str, Any]) -> str:
    parts = []
    for name, value in kwargs.items():
        if name.startswith("_"):
            continue
        if isinstance(value, torch.Tensor):
            parts.append(f"{name}={str(value.dtype).replace('torch.', '')}{list(value.shape)}")
        elif isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
            parts.append(f"{name}=[{len(value)} tensors]")
        else:
            text = repr(value)
            parts.append(f"{name}={text if len(text) < 40 else text[:37] + '...'}")
    return ", ".join(parts)
