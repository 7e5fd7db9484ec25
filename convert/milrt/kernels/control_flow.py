"""Control flow, TensorArray-style lists and states (coremltools defs: control_flow.py,
iOS18/states.py).

`while_loop` has blocks [cond, body], both taking the loop vars as block inputs; `cond` has
blocks [true, false] without inputs. Lists are immutable values here: list_write and
list_scatter return a new list, so a list read after a write elsewhere still sees its own
version, as SSA semantics require.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from torchready.convert.milrt.errors import LoopLimitError
from torchready.convert.milrt.kernels._util import ints, scalar
from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("control flow")


def _single_or_tuple(values: list):
    return values[0] if len(values) == 1 else tuple(values)


@kernel("cond")
def cond(pred, *, _exec):
    taken = bool(pred.reshape(-1)[0]) if isinstance(pred, torch.Tensor) else bool(pred)
    return _single_or_tuple(_exec.run_block(0 if taken else 1))


@kernel("while_loop")
def while_loop(loop_vars, *, _exec):
    values = list(loop_vars)
    limit = _exec.max_loop_iterations
    _exec.enter_loop()
    try:
        iteration = 0
        while True:
            _exec.next_iteration(iteration)
            (keep_going,) = _exec.run_block(0, tuple(values))
            if not bool(keep_going.reshape(-1)[0]):
                break
            if iteration >= limit:
                raise LoopLimitError(
                    f"while_loop {_exec.location} ran {limit} iterations without its condition "
                    "turning false (raise max_loop_iterations if the model really loops that long)"
                )
            values = _exec.run_block(1, tuple(values))
            iteration += 1
    finally:
        _exec.exit_loop()
    return _single_or_tuple(values)


@kernel("select")
def select(cond, a, b):
    return torch.where(cond, a, b)


kernel = kernel_family("list")


@dataclass(frozen=True)
class TensorList:
    """A MIL list value: element slots (None = never written), element shape when known."""

    items: tuple
    elem_shape: tuple[int, ...] | None
    dtype: str
    dynamic_length: bool

    def with_items(self, items: list) -> TensorList:
        return TensorList(tuple(items), self.elem_shape, self.dtype, self.dynamic_length)

    def read(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self.items):
            raise IndexError(f"list index {index} out of range for a list of length {len(self.items)}")
        value = self.items[index]
        if value is None:
            if self.elem_shape is None:
                raise ValueError(f"list element {index} was never written and its shape is unknown")
            from torchready.convert.milrt.dtypes import STORAGE_DTYPE

            return torch.zeros(self.elem_shape, dtype=STORAGE_DTYPE[self.dtype])
        return value

    def written(self, index: int, value: torch.Tensor) -> list:
        items = list(self.items)
        if index >= len(items):
            if not self.dynamic_length:
                raise IndexError(f"write at {index} past the end of a fixed-length list of {len(items)}")
            items.extend([None] * (index + 1 - len(items)))
        items[index] = value
        return items


@kernel("make_list")
def make_list(init_length=1, dynamic_length=True, elem_shape=None, dtype="fp32"):
    length = int(scalar(init_length))
    shape = None
    if elem_shape is not None and all(not isinstance(d, str) for d in elem_shape):
        shape = tuple(int(scalar(d)) for d in elem_shape)
    return TensorList((None,) * length, shape, dtype, bool(dynamic_length))


@kernel("list_length")
def list_length(ls):
    return torch.tensor(len(ls.items), dtype=torch.int32)


@kernel("list_write")
def list_write(ls, index, value):
    return ls.with_items(ls.written(int(scalar(index)), value))


@kernel("list_read")
def list_read(ls, index):
    return ls.read(int(scalar(index)))


@kernel("list_gather")
def list_gather(ls, indices):
    return torch.stack([ls.read(i) for i in ints(indices)])


@kernel("list_scatter")
def list_scatter(ls, indices, value):
    current = ls
    for position, index in enumerate(ints(indices)):
        current = current.with_items(current.written(index, value[position]))
    return current


kernel = kernel_family("state")


@kernel("read_state")
def read_state(input):
    return input.value


@kernel("coreml_update_state")
def coreml_update_state(state, value):
    # The milproto loader turns the serialized `write_state; read_state` pair into one
    # coreml_update_state whose output is the new value (the executor rounds it if fp16).
    state.value = value
    return value
