"""The Core ML input declarations: one `ct.TensorType` or `ct.ImageType` per model input.

Decided here, explicitly, rather than left to coremltools' defaults:
* dtypes: float inputs stay fp32 (fp16 stays fp16); int64 becomes int32, since Core ML has no
  64-bit types (coremltools would do it silently, with a warning); bool stays bool.
* flexible dimensions: `ct.RangeDim(lo, hi, default=<example size>)` per declared dimension, or
  `ct.EnumeratedShapes` when the user lists the shapes.
* image inputs: `ct.ImageType` with `scale=1/255` and no bias. Core ML's ImageType has a single
  scale for all channels (a per-channel list is silently applied along the width axis in ML
  programs: research notes §4), so the exact ImageNet mean/std normalisation lives in the prepared
  wrapper module instead, where parity can check it. The model therefore receives pixel / 255.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchready.lint.types import UsageError

IMAGE_SCALE = 1.0 / 255.0

_FLOAT_DTYPES = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.float64": "fp32",
                 "torch.bfloat16": "fp32"}
_INT_DTYPES = {"torch.int64", "torch.int32", "torch.int16", "torch.int8", "torch.uint8"}


@dataclass(frozen=True)
class InputPlan:
    """How one PyTorch input is declared to Core ML."""

    name: str
    shape: tuple[int, ...]  # the example's shape (the default shape when flexible)
    torch_dtype: str  # e.g. "torch.int64"
    coreml_dtype: str  # "fp32", "fp16", "int32" or "bool"
    # (dim, lower, upper) per flexible dimension; upper None means unbounded.
    flexible: tuple[tuple[int, int, int | None], ...] = ()
    enumerated: tuple[tuple[int, ...], ...] = ()
    image: bool = False
    note: str | None = None  # what changed on the way (int64 -> int32, ...)

    def describe_shape(self) -> str:
        if self.enumerated:
            return " | ".join("x".join(map(str, shape)) for shape in self.enumerated)
        parts = [str(size) for size in self.shape]
        for dim, lower, upper in self.flexible:
            parts[dim] = f"{lower}..{upper if upper is not None else ''}"
        return "x".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "torch_dtype": self.torch_dtype,
            "coreml_dtype": self.coreml_dtype,
            "kind": "image" if self.image else "tensor",
        }
        if self.flexible:
            data["flexible"] = {str(dim): [lower, upper] for dim, lower, upper in self.flexible}
        if self.enumerated:
            data["enumerated_shapes"] = [list(shape) for shape in self.enumerated]
        if self.image:
            data["scale"] = IMAGE_SCALE
        return data


def plan_inputs(
    names: Sequence[str],
    example_inputs: Sequence[Any],
    *,
    flexible: Mapping[str, Mapping[int, tuple[int, int | None]]] | None = None,
    enumerated_shapes: Mapping[str, Sequence[Sequence[int]]] | None = None,
    image_inputs: Sequence[str] = (),
    imagenet: bool = False,
) -> list[InputPlan]:
    if len(names) != len(example_inputs):
        raise UsageError(
            f"the model has {len(example_inputs)} example input(s) but {len(names)} input name(s)"
        )
    flexible = dict(flexible or {})
    enumerated_shapes = dict(enumerated_shapes or {})
    for declared in list(flexible) + list(enumerated_shapes) + list(image_inputs):
        if declared not in names:
            raise UsageError(f"input {declared!r} is not an input of the model "
                             f"(its inputs are: {', '.join(names)})")
    images = set(image_inputs)
    if imagenet and not images:
        images = {_imagenet_input(names, example_inputs)}

    plans = []
    for name, example in zip(names, example_inputs):
        shape = tuple(int(size) for size in example.shape)
        torch_dtype = str(example.dtype)
        coreml_dtype, note = _coreml_dtype(name, torch_dtype)
        plan = InputPlan(
            name=name,
            shape=shape,
            torch_dtype=torch_dtype,
            coreml_dtype=coreml_dtype,
            flexible=_flexible_dims(name, shape, flexible.get(name, {})),
            enumerated=_enumerated(name, shape, enumerated_shapes.get(name)),
            image=name in images,
            note=note,
        )
        if plan.image:
            _check_image(plan)
        plans.append(plan)
    return plans


def _imagenet_input(names: Sequence[str], example_inputs: Sequence[Any]) -> str:
    for name, example in zip(names, example_inputs):
        if example.is_floating_point() and example.dim() == 4 and example.shape[1] == 3:
            return name
    raise UsageError("--imagenet needs an RGB image input shaped (N, 3, H, W); "
                     "the model has none")


def _coreml_dtype(name: str, torch_dtype: str) -> tuple[str, str | None]:
    if torch_dtype in _FLOAT_DTYPES:
        coreml = _FLOAT_DTYPES[torch_dtype]
        note = None
        if torch_dtype in ("torch.float64", "torch.bfloat16"):
            note = f"input {name!r} is {torch_dtype} in PyTorch; Core ML declares it fp32"
        return coreml, note
    if torch_dtype in _INT_DTYPES:
        note = None
        if torch_dtype == "torch.int64":
            note = (f"input {name!r} is int64 in PyTorch; Core ML has no 64-bit integers, "
                    "so it is declared int32 (feed int32 values)")
        return "int32", note
    if torch_dtype == "torch.bool":
        return "bool", None
    raise UsageError(f"input {name!r} has dtype {torch_dtype}, which Core ML cannot take")


def _flexible_dims(name: str, shape: tuple[int, ...],
                   dims: Mapping[int, tuple[int, int | None]]) -> tuple[tuple[int, int, int | None], ...]:
    result = []
    for dim, bounds in sorted(dims.items(), key=lambda item: int(item[0]) % max(len(shape), 1)):
        dim = int(dim)
        if not -len(shape) <= dim < len(shape):
            raise UsageError(f"input {name!r} has {len(shape)} dimensions; "
                             f"dimension {dim} cannot be flexible")
        dim %= len(shape)
        lower, upper = bounds
        upper = None if upper is None or upper < 0 else int(upper)
        lower = int(lower)
        if lower < 1 or (upper is not None and upper < lower):
            raise UsageError(f"flexible dimension {dim} of input {name!r} has an empty range "
                             f"{lower}..{upper}")
        if shape[dim] < lower or (upper is not None and shape[dim] > upper):
            raise UsageError(
                f"the example input {name!r} has size {shape[dim]} in dimension {dim}, outside "
                f"its flexible range {lower}..{upper if upper is not None else ''}"
            )
        result.append((dim, lower, upper))
    return tuple(result)


def _enumerated(name: str, shape: tuple[int, ...],
                shapes: Sequence[Sequence[int]] | None) -> tuple[tuple[int, ...], ...]:
    if not shapes:
        return ()
    listed = [tuple(int(size) for size in candidate) for candidate in shapes]
    for candidate in listed:
        if len(candidate) != len(shape):
            raise UsageError(f"enumerated shape {candidate} of input {name!r} has "
                             f"{len(candidate)} dimensions; the example has {len(shape)}")
    if shape not in listed:
        listed.insert(0, shape)  # Core ML's default shape must be one of the enumerated ones
    return tuple(listed)


def _check_image(plan: InputPlan) -> None:
    if len(plan.shape) != 4 or plan.shape[1] != 3 or not plan.coreml_dtype.startswith("fp"):
        raise UsageError(
            f"image input {plan.name!r} must be a float tensor shaped (N, 3, H, W); "
            f"the example is {plan.torch_dtype} {tuple(plan.shape)}"
        )


def coreml_input_types(plans: Sequence[InputPlan]) -> list[Any]:
    """The `inputs=` argument of `ct.convert`."""
    import numpy as np

    from torchready.convert.coreml.quiet import import_coremltools

    ct = import_coremltools()
    numpy_dtypes = {"fp32": np.float32, "fp16": np.float16, "int32": np.int32, "bool": bool}
    declared = []
    for plan in plans:
        shape = _coreml_shape(ct, plan)
        if plan.image:
            declared.append(ct.ImageType(name=plan.name, shape=shape, scale=IMAGE_SCALE,
                                         color_layout=ct.colorlayout.RGB, channel_first=True))
        else:
            declared.append(ct.TensorType(name=plan.name, shape=shape,
                                          dtype=numpy_dtypes[plan.coreml_dtype]))
    return declared


def _coreml_shape(ct: Any, plan: InputPlan) -> Any:
    if plan.enumerated:
        return ct.EnumeratedShapes(shapes=[list(shape) for shape in plan.enumerated],
                                   default=list(plan.shape))
    if not plan.flexible:
        return plan.shape
    dims: list[Any] = list(plan.shape)
    for dim, lower, upper in plan.flexible:
        dims[dim] = ct.RangeDim(lower_bound=lower, upper_bound=upper if upper is not None else -1,
                                default=plan.shape[dim])
    return ct.Shape(shape=dims)
