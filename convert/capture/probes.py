"""Second inputs ("probes") that tell a faithful capture from one that baked the example in.

A trace is a recording of one run. Run the recording and the Python model on a different input:
if they disagree, the trace depends on something it could not record. Two probes:

* values: the same shapes with different contents (floats negated, integer sequences reversed):
  exposes data-dependent branches (`if x.sum() > 0`) and `.item()` reads;
* shape: other sizes, within the declared flexible ranges when there are some, else every size
  above 1 grown by a quarter (all together when the model accepts that, one size at a time
  otherwise): exposes shapes turned into Python numbers (`math.sqrt(x.size(-1))`).

* one dimension: `dimension_probe` moves a single input dimension (and the dimensions that
  must move with it for the eager model to accept the input): the parity stage's shape probing
  uses it to say *which* input dimension a trace specialised.

A probe the eager model rejects (a Linear needs its feature size) is simply not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Probe:
    kind: str  # "values" | "shape"
    inputs: tuple
    description: str
    # Shape probes: True when every size above 1 changed (so an unchanged constant cannot be a
    # size of the example).
    complete: bool = False
    expected: Any = None  # the eager model's output on `inputs`, when already computed


def value_probe(inputs: tuple, names: list[str]) -> Probe:
    import torch

    changed = []
    parts = []
    for name, tensor in zip(names, inputs):
        if tensor.is_floating_point():
            in_unit_range = tensor.numel() > 0 and tensor.min() >= 0 and tensor.max() <= 1
            # Images in [0, 1] stay images; other floats change sign.
            changed.append(1 - tensor if in_unit_range else -tensor)
            parts.append(f"{name}: {'1 - x' if in_unit_range else '-x'}")
        elif tensor.dtype == torch.bool:
            changed.append(~tensor)
            parts.append(f"{name}: inverted")
        elif tensor.dim() > 0 and tensor.numel() > 1:
            changed.append(tensor.flip(-1))
            parts.append(f"{name}: reversed along the last dimension")
        else:
            changed.append(tensor.clone())
    return Probe("values", tuple(changed), "; ".join(parts) or "no input could change")


def grown_size(size: int) -> int:
    """Another size to probe with: a quarter larger (at least one more)."""
    return size + max(1, size // 4)


def resized_like(tensor: Any, shape: tuple[int, ...], seed: int) -> Any:
    """A tensor of another shape with the same kind of contents (range, dtype)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    if tensor.is_floating_point():
        low = float(tensor.min()) if tensor.numel() else 0.0
        high = float(tensor.max()) if tensor.numel() else 1.0
        return (torch.rand(shape, generator=generator) * (high - low) + low).to(tensor.dtype)
    if tensor.dtype == torch.bool:
        return torch.rand(shape, generator=generator) > 0.5
    low = int(tensor.min()) if tensor.numel() else 0
    high = int(tensor.max()) + 1 if tensor.numel() else 2
    return torch.randint(low, max(high, low + 1), shape, generator=generator, dtype=tensor.dtype)



def _describe_shapes(names: list[str], before: tuple, after: tuple) -> str:
    parts = [f"{name}: {'x'.join(map(str, a.shape))} -> {'x'.join(map(str, b.shape))}"
             for name, a, b in zip(names, before, after) if tuple(a.shape) != tuple(b.shape)]
    return "; ".join(parts)


def shape_probe(module: Any, inputs: tuple, names: list[str],
                flexible: dict[str, dict[int, tuple[int, int]]] | None = None,
                max_attempts: int = 3) -> Probe | None:
    """Inputs of other sizes that the eager model accepts, or None."""
    if flexible:
        shapes = []
        for name, tensor in zip(names, inputs):
            shape = list(tensor.shape)
            for dim, (lower, upper) in flexible.get(name, {}).items():
                grown = grown_size(shape[dim])
                if upper != -1 and grown > upper:
                    grown = lower if lower != shape[dim] else upper
                shape[dim] = grown
            shapes.append(tuple(shape))
        candidates = [(shapes, True)]
    else:
        sizes = sorted({size for tensor in inputs for size in tensor.shape if size > 1},
                       reverse=True)
        if not sizes:
            return None
        mapping_all = {size: grown_size(size) for size in sizes}
        candidates = [([tuple(mapping_all.get(s, s) for s in t.shape) for t in inputs], True)]
        if len(sizes) > 1:
            for size in sizes[:max_attempts]:
                candidates.append(([tuple(grown_size(s) if s == size else s for s in t.shape)
                                    for t in inputs], False))
    for seed, (shapes, complete) in enumerate(candidates):
        probe_inputs = tuple(resized_like(tensor, shape, seed)
                             for tensor, shape in zip(inputs, shapes))
        output, error = run(module, probe_inputs)
        if error is None:
            return Probe("shape", probe_inputs, _describe_shapes(names, inputs, probe_inputs),
                         complete=complete, expected=output)
    return None


@dataclass(frozen=True)
class DimensionProbe(Probe):
    """A shape probe that moves one input dimension (and the dimensions tied to it)."""

    input_index: int = 0
    dim: int = 0
    size: int = 0  # the new size of (input_index, dim)
    # Every (input index, dim) that had to change together for the eager model to accept it:
    # `key.size(-1)` must follow `query.size(-1)` in attention.
    moved: tuple[tuple[int, int], ...] = ()


def dimension_probe(module: Any, inputs: tuple, names: list[str], input_index: int, dim: int,
                    size: int, seed: int = 0) -> tuple[DimensionProbe | None, str | None]:
    """Inputs where dimension `dim` of input `input_index` has `size`, accepted by the eager
    `module`, or (None, the eager model's last error).

    Tried in order, first accepted wins: only that dimension; also the same dimension of every
    other input of the same size (query/key/value of an attention); also every dimension of that
    size in every input (a feature size shared across positions).
    """
    old = int(inputs[input_index].shape[dim])
    dim %= inputs[input_index].dim()
    tiers: list[list[tuple[int, int]]] = [[(input_index, dim)]]
    same_dim = [(i, dim) for i, t in enumerate(inputs)
                if t.dim() == inputs[input_index].dim() and int(t.shape[dim]) == old]
    anywhere = [(i, d) for i, t in enumerate(inputs) for d in range(t.dim())
                if int(t.shape[d]) == old]
    for tier in (same_dim, anywhere):
        if sorted(tier) not in [sorted(t) for t in tiers]:
            tiers.append(tier)
    error = None
    for moved in tiers:
        shapes = [list(t.shape) for t in inputs]
        for i, d in moved:
            shapes[i][d] = size
        probe_inputs = tuple(resized_like(tensor, tuple(shape), seed)
                             for tensor, shape in zip(inputs, shapes))
        output, error = run(module, probe_inputs)
        if error is None:
            return DimensionProbe("shape", probe_inputs,
                                  _describe_shapes(names, inputs, probe_inputs),
                                  complete=False, expected=output, input_index=input_index,
                                  dim=dim, size=size, moved=tuple(moved)), None
    return None, error


def outputs_match(expected: Any, actual: Any, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Flat tensor outputs equal within tolerance (shapes included); NaNs compare equal."""
    import torch

    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual):
        if not isinstance(want, torch.Tensor) or not isinstance(got, torch.Tensor):
            if want != got:
                return False
            continue
        if want.shape != got.shape or want.dtype != got.dtype:
            return False
        if want.is_floating_point():
            if not torch.allclose(want, got, rtol=rtol, atol=atol, equal_nan=True):
                return False
        elif not torch.equal(want, got):
            return False
    return True


def run(module: Any, inputs: tuple) -> tuple[Any, str | None]:
    """(output, None) or (None, one-line error) for one forward pass without grad."""
    output, error = run_raw(module, inputs)
    if error is None:
        return output, None
    first = (str(error).strip().splitlines() or [""])[0]
    return None, f"{type(error).__name__}: {first}"


def run_raw(module: Any, inputs: tuple) -> tuple[Any, BaseException | None]:
    import torch

    try:
        # No JIT profiling/optimisation for a one-off comparison run: the profiling executor
        # re-specialises on every new shape and costs far more than the forward itself.
        with torch.no_grad(), torch.jit.optimized_execution(False):
            return module(*inputs), None
    except Exception as error:
        return None, error
