"""ReferenceProgram: a loaded ML program, planned once, runnable many times."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import torch

from torchready.convert.milrt.dtypes import mil_dtype_name, to_numpy, to_storage
from torchready.convert.milrt.errors import InvalidFeedError
from torchready.convert.milrt.executor import Execution, OpCallback
from torchready.convert.milrt.io_contract import InputSpec, read_input_specs, validate_feeds
from torchready.convert.milrt.plan import BlockPlan, Planner, UnsupportedOp
from torchready.convert.milrt.records import RunResult

PRECISIONS = ("fp16_storage", "fp32")
DEFAULT_MAX_LOOP_ITERATIONS = 100_000


class StateCell:
    """The mutable value behind a state input (iOS18 read_state / write_state)."""

    __slots__ = ("value",)

    def __init__(self, value: torch.Tensor):
        self.value = value


class ReferenceProgram:
    """One function of a Core ML ML program, executable op by op on CPU.

    What a run proves: the shipped program (after all of coremltools' passes, with the weights
    from the package) computes these values under MIL semantics as documented in coremltools' op
    definitions, with every fp16-typed value rounded to fp16 where the program stores it.
    What it cannot prove: that Apple's runtime computes the same. Device kernels may fuse ops,
    accumulate in other precisions or order, and GPU / Neural Engine numerics are not emulated;
    compare with `torchready.convert.milrt.coreml_predict` on macOS to close that gap.
    """

    def __init__(self, program, spec, function_name: str = "main", source: str = "<in-memory>"):
        self.program = program
        self.spec = spec
        self.function_name = function_name
        self.source = source
        function = program.functions[function_name]
        self._function = function
        planner = Planner(function_name, _opset_number(function.opset_version))
        self._plan: BlockPlan = planner.compile_function(function)
        self._unsupported: list[UnsupportedOp] = planner.unsupported
        state_names = (
            {d.name for d in spec.description.state} if hasattr(spec.description, "state") else set()
        )
        tensor_inputs = {n: v for n, v in function.inputs.items() if n not in state_names}
        self.input_specs: dict[str, InputSpec] = read_input_specs(spec, tensor_inputs)
        self.state_specs: dict[str, tuple[tuple[int, ...], str]] = {
            name: (
                tuple(int(d) for d in function.inputs[name].sym_type.wrapped_type().get_shape()),
                mil_dtype_name_of_state(function.inputs[name]),
            )
            for name in state_names
        }
        self.output_names: tuple[str, ...] = self._plan.output_names
        self._output_dtypes = dict(zip(self._plan.output_names, self._plan.output_dtypes))
        self._input_dtypes = {name: mil_dtype_name(var) for name, var in tensor_inputs.items()}
        self.var_names: frozenset[str] = frozenset(_all_var_names(self._plan))

    @property
    def opset(self) -> str:
        """The program's opset, e.g. "iOS15" (the minimum deployment target it was built for)."""
        return getattr(self._function.opset_version, "name", str(self._function.opset_version))

    def unsupported_ops(self) -> list[tuple[str, str, str]]:
        """Every op without a kernel, as (op_type, op_name, block path), before running anything."""
        return [(u.op_type, u.op_name, u.block) for u in self._unsupported]

    def run(
        self,
        feeds: Mapping[str, Any],
        keep: str | Collection[str] = "outputs",
        precision: str = "fp16_storage",
        *,
        record: bool | None = None,
        on_op: OpCallback | None = None,
        states: Mapping[str, np.ndarray] | None = None,
        max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS,
    ) -> RunResult:
        """Execute the program on `feeds` (input name -> numpy array).

        keep: "outputs" (default; intermediates are released right after their last use),
        "all" (every op output, keyed by MIL var name) or a collection of var names.
        precision: "fp16_storage" rounds every value declared fp16 onto the fp16 grid after the
        op that produces it; "fp32" keeps them in fp32 (overflow is still counted in records).
        record: collect an OpRecord per executed op (default: whenever keep is not "outputs" or
        an `on_op(record, values)` callback is given). states: initial values of state inputs
        (default zeros); their final values come back in `RunResult.states`.
        """
        if precision not in PRECISIONS:
            raise InvalidFeedError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        keep_all, keep_names = self._parse_keep(keep)
        if record is None:
            record = keep_all or bool(keep_names) or on_op is not None
        arrays = validate_feeds(self.input_specs, feeds)
        execution = Execution(
            round_fp16=precision == "fp16_storage",
            keep_all=keep_all,
            keep_names=keep_names,
            record=record,
            on_op=on_op,
            max_loop_iterations=max_loop_iterations,
        )
        env: dict[str, Any] = {}
        for name, array in arrays.items():
            value = to_storage(array, self._input_dtypes[name])
            if self._input_dtypes[name] == "fp16" and array.dtype != np.float16:
                value = value.half().float()
            env[name] = value
        cells = self._initial_states(states)
        env.update(cells)
        with torch.inference_mode():
            values = execution.run_block(self._plan, env)
        rounded = precision == "fp16_storage"
        outputs = {
            name: to_numpy(value, self._output_dtypes[name], rounded)
            if isinstance(value, torch.Tensor)
            else value
            for name, value in zip(self.output_names, values)
        }
        final_states = {
            name: to_numpy(cell.value, self.state_specs[name][1], rounded) for name, cell in cells.items()
        }
        return RunResult(outputs, execution.intermediates, execution.records, final_states)

    def _parse_keep(self, keep) -> tuple[bool, frozenset[str] | None]:
        if isinstance(keep, str):
            if keep == "outputs":
                return False, None
            if keep == "all":
                return True, None
            raise InvalidFeedError(f"keep must be 'outputs', 'all' or a set of MIL var names, got {keep!r}")
        names = frozenset(keep)
        unknown = sorted(names - self.var_names)
        if unknown:
            raise InvalidFeedError(f"keep names a value the program does not compute: {unknown[0]!r}")
        return False, names

    def _initial_states(self, states: Mapping[str, np.ndarray] | None) -> dict[str, StateCell]:
        states = dict(states or {})
        unknown = sorted(set(states) - set(self.state_specs))
        if unknown:
            raise InvalidFeedError(
                f"unknown state {unknown[0]!r}; the model's states are {sorted(self.state_specs)}"
            )
        cells = {}
        for name, (shape, dtype) in self.state_specs.items():
            initial = states.get(name)
            if initial is None:
                initial = np.zeros(shape, dtype=np.float16 if dtype == "fp16" else np.float32)
            initial = np.asarray(initial)
            if tuple(initial.shape) != shape:
                raise InvalidFeedError(f"state {name!r} has shape {list(shape)}, got {list(initial.shape)}")
            value = to_storage(initial, dtype)
            cells[name] = StateCell(value.half().float() if dtype == "fp16" else value)
        return cells

    def __repr__(self) -> str:
        return (
            f"ReferenceProgram({self.source!r}, function={self.function_name!r}, opset={self.opset}, "
            f"inputs={list(self.input_specs)}, outputs={list(self.output_names)})"
        )


def _opset_number(target) -> int:
    name = getattr(target, "name", "")
    return int(name[3:]) if name.startswith("iOS") and name[3:].isdigit() else 15


def mil_dtype_name_of_state(var) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(var.sym_type.wrapped_type().get_primitive())


def _all_var_names(plan: BlockPlan) -> set[str]:
    names: set[str] = set()
    for step in plan.steps:
        names.update(step.out_names)
        for nested in step.blocks:
            names |= _all_var_names(nested)
    return names
