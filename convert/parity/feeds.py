"""The inputs parity runs on: the example, then random inputs of the right dtype and range.

Each `ParityCase` holds the same input twice, as each side must receive it:

* image inputs (Core ML `ImageType`, scale 1/255): the converted model gets raw 0..255 pixels,
  whole numbers, NCHW; PyTorch gets pixels / 255, and the prepared wrapper applies the ImageNet
  mean/std itself when the preset is on (a spec's own `ct.ImageType`: pixels * scale + bias).
  The example image is rounded onto the 8-bit grid too, so both sides see the same picture;
* integer inputs (token ids): int32 for Core ML, the model's own dtype for PyTorch. Random ids
  stay within the range the model can index: the spec's `value_ranges` when given, else the
  vocabulary of the model's largest `nn.Embedding` that covers the example's ids, else the
  example's own min..max;
* float inputs: uniform in [0, 1] when the example lies there, else normal with the example's
  mean and standard deviation; fp16 Core ML inputs are rounded for PyTorch as well;
* bool inputs: random, with the example's proportion of True.

With flexible dimensions one random case uses another size within the declared range (or
another enumerated shape), so the converted model's RangeDim is exercised too: a size a quarter
larger first, else the range's bounds (or the other enumerated shapes). A random case the eager
model rejects is dropped with a note and counted; when the eager model rejects every other
declared size, `CasePlan.other_size_checked` is False and parity fails (the converted model
accepts sizes PyTorch refuses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IMAGE_LEVELS = 255.0


@dataclass
class ParityCase:
    label: str  # "example", "random 1", "random 3 (tokens 1x23)"
    torch_inputs: tuple  # what the prepared wrapper and the TorchScript module take
    coreml_feeds: dict[str, Any]  # what the converted model takes (numpy, by input name)

    def shapes(self) -> str:
        return ", ".join("x".join(map(str, tensor.shape)) for tensor in self.torch_inputs)


@dataclass(frozen=True)
class InputInfo:
    """How one model input is fed."""

    name: str
    kind: str  # "image" | "int" | "float" | "bool"
    coreml_dtype: str = "fp32"  # "fp32" | "fp16" | "int32" | ...
    low: float = 0.0  # int inputs: smallest id; float inputs: mean
    high: float = 1.0  # int inputs: largest id (inclusive); float inputs: standard deviation
    unit_range: bool = False  # float inputs in [0, 1]
    true_fraction: float = 0.5  # bool inputs
    range_source: str = "example"  # where the int range came from: "spec", "embedding", "example"
    # Image inputs: what Core ML's ImageType does to a pixel, y = pixel * scale + bias[c]
    # (torchready declares scale 1/255, bias 0; a spec's own ct.ImageType may differ).
    pixel_scale: float = 1.0 / IMAGE_LEVELS
    pixel_bias: tuple[float, ...] = (0.0,)


@dataclass
class CasePlan:
    cases: list[ParityCase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: list[InputInfo] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "random 3 (x 1x9): <the eager error>"
    # a case at another declared size than the example's: None when nothing is flexible (or no
    # random inputs were asked for), False when the eager model rejected every one tried
    other_size_checked: bool | None = None


def describe_inputs(prepared: Any, coreml_dtypes: Mapping[str, str] | None = None,
                    value_ranges: Mapping[str, tuple[float, float]] | None = None,
                    images: Mapping[str, tuple[float, tuple[float, ...]]] | None = None
                    ) -> list[InputInfo]:
    """An InputInfo per model input, from the example and the model.

    images: {input name: (scale, per-channel bias)} for image inputs declared with the user's
    own `ct.ImageType` (see `image_preprocessing`); torchready's own are scale 1/255, bias 0.
    """
    import torch

    coreml_dtypes = dict(coreml_dtypes or {})
    value_ranges = dict(value_ranges or {})
    images = dict(images or {})
    infos = []
    vocabulary = _embedding_sizes(getattr(prepared, "original", None) or prepared.module)
    for name, tensor in zip(prepared.input_names, prepared.example_inputs):
        dtype = coreml_dtypes.get(name, "fp32")
        if name in images:
            scale, bias = images[name]
            infos.append(InputInfo(name, "image", dtype, pixel_scale=scale,
                                   pixel_bias=tuple(bias)))
        elif name in prepared.image_inputs:
            infos.append(InputInfo(name, "image", dtype))
        elif tensor.dtype == torch.bool:
            fraction = float(tensor.float().mean()) if tensor.numel() else 0.5
            infos.append(InputInfo(name, "bool", dtype, true_fraction=fraction))
        elif not tensor.is_floating_point():
            low, high, source = _int_range(name, tensor, value_ranges, vocabulary)
            infos.append(InputInfo(name, "int", coreml_dtypes.get(name, "int32"), low, high,
                                   range_source=source))
        elif name in value_ranges:
            low, high = value_ranges[name]
            infos.append(InputInfo(name, "float", dtype, (low + high) / 2, (high - low) / 4,
                                   range_source="spec"))
        else:
            values = tensor.detach().float()
            unit = values.numel() > 0 and float(values.min()) >= 0 and float(values.max()) <= 1
            mean = float(values.mean()) if values.numel() else 0.0
            std = float(values.std()) if values.numel() > 1 else 1.0
            infos.append(InputInfo(name, "float", dtype, mean, std if std > 0 else 1.0,
                                   unit_range=unit))
    return infos


def build_cases(prepared: Any, infos: Sequence[InputInfo], random_inputs: int = 3,
                seed: int = 0, accepts: Any = None) -> CasePlan:
    """The example plus `random_inputs` random cases. `accepts(torch_inputs) -> str | None`
    (an error message when the eager model rejects them) filters random cases."""
    import torch

    plan = CasePlan(inputs=list(infos))
    example = tuple(prepared.example_inputs)
    plan.cases.append(_case("example", _on_image_grid(example, infos), infos))
    other_shapes = other_declared_shapes(prepared)
    for index in range(random_inputs):
        resize = bool(other_shapes) and index == random_inputs - 1
        candidates = other_shapes if resize else [[tuple(t.shape) for t in example]]
        for shapes in candidates:  # another declared size: the next one when one is rejected
            generator = torch.Generator().manual_seed(seed * 1000 + index + 1)
            case = _random_case(f"random {index + 1}", example, shapes, infos, generator,
                                accepts, plan)
            if case is not None:
                plan.cases.append(case)
                break
        if resize:
            plan.other_size_checked = case is not None
    if plan.rejected:
        plan.notes.append(f"{len(plan.rejected)} random input(s) rejected by the eager model "
                          "and not used")
    return plan


def _random_case(label: str, example: tuple, shapes: Sequence[tuple[int, ...]],
                 infos: Sequence[InputInfo], generator: Any, accepts: Any,
                 plan: CasePlan) -> ParityCase | None:
    """A random case of these shapes, or None (noted and counted) when the eager model
    rejects it."""
    tensors = tuple(_random_like(tensor, shape, info, generator)
                    for tensor, shape, info in zip(example, shapes, infos))
    changed = [f"{info.name} {'x'.join(map(str, shape))}"
               for info, shape, tensor in zip(infos, shapes, example)
               if tuple(tensor.shape) != tuple(shape)]
    if changed:
        label += f" ({', '.join(changed)})"
    rejection = accepts(tensors) if accepts is not None else None
    if rejection is not None and any(info.kind == "int" for info in infos):
        # Ids from the vocabulary may index something smaller (token type ids): retry
        # within the example's own range before giving up on this case.
        narrowed = [InputInfo(i.name, i.kind, i.coreml_dtype, *_example_range(t), "example")
                    if i.kind == "int" else i for i, t in zip(infos, example)]
        tensors = tuple(_random_like(tensor, shape, info, generator)
                        for tensor, shape, info in zip(example, shapes, narrowed))
        rejection = accepts(tensors)
    if rejection is not None:
        plan.notes.append(f"{label}: the eager model rejects it ({rejection}); not used")
        plan.rejected.append(f"{label}: {rejection}")
        return None
    return _case(label, tensors, infos)


def other_declared_shapes(prepared: Any) -> list[list[tuple[int, ...]]]:
    """Input shapes at other declared sizes, in the order parity tries them: every flexible
    dimension a quarter larger (`flexible_shapes`), then all at their lower bound, then at their
    upper bound; or the other enumerated shapes. [] when nothing is flexible."""
    first = flexible_shapes(prepared)
    if first is None:
        return []
    example = [tuple(int(s) for s in tensor.shape) for tensor in prepared.example_inputs]
    candidates = [first]
    for bound in (0, 1):
        shapes = []
        for position, name in enumerate(prepared.input_names):
            others = [tuple(s) for s in prepared.enumerated_shapes.get(name, [])
                      if tuple(s) != example[position]]
            if others:
                shapes.append(others[min(bound + 1, len(others) - 1)])
                continue
            shape = list(example[position])
            for dim, limits in prepared.flexible.get(name, {}).items():
                size = limits[bound]
                if size is not None and size != -1:
                    shape[int(dim) % len(shape)] = int(size)
            shapes.append(tuple(shape))
        if shapes != example and shapes not in candidates:
            candidates.append(shapes)
    return candidates


def flexible_shapes(prepared: Any) -> list[tuple[int, ...]] | None:
    """Input shapes with every flexible dimension moved to another size in its range (or the
    first other enumerated shape); None when nothing is flexible."""
    from torchready.convert.capture.probes import grown_size

    shapes = [tuple(int(s) for s in tensor.shape) for tensor in prepared.example_inputs]
    changed = False
    for position, name in enumerate(prepared.input_names):
        enumerated = [tuple(s) for s in prepared.enumerated_shapes.get(name, [])]
        others = [s for s in enumerated if s != shapes[position]]
        if others:
            shapes[position] = others[0]
            changed = True
            continue
        shape = list(shapes[position])
        for dim, (lower, upper) in prepared.flexible.get(name, {}).items():
            dim = int(dim) % len(shape)
            size = shape[dim]
            other = grown_size(size)
            if upper is not None and upper != -1 and other > upper:
                other = lower if lower != size else upper
            if other != size:
                shape[dim] = other
                changed = True
        shapes[position] = tuple(shape)
    return shapes if changed else None


def image_preprocessing(input_types: Sequence[Any] | None) -> dict[str, tuple[float, tuple]]:
    """{name: (scale, bias)} of the `ct.ImageType`s among a spec's own Core ML input types."""
    found = {}
    for declared in input_types or ():
        if type(declared).__name__ == "ImageType" and getattr(declared, "name", None):
            bias = getattr(declared, "bias", None)
            bias = tuple(float(b) for b in (bias if isinstance(bias, (list, tuple))
                                            else [bias or 0.0]))
            found[declared.name] = (float(getattr(declared, "scale", 1.0)), bias)
    return found


def coreml_feeds(torch_inputs: Sequence[Any], infos: Sequence[InputInfo]) -> dict[str, Any]:
    """The converted model's feeds for PyTorch inputs already on the image grid."""
    import numpy as np

    feeds = {}
    for tensor, info in zip(torch_inputs, infos):
        array = tensor.detach().cpu()
        if info.kind == "image":
            feeds[info.name] = np.round(_pixels(array, info).numpy()).astype(np.float32)
        elif info.kind in ("int", "bool"):
            feeds[info.name] = array.to(dtype=_torch_int32()).numpy()
        elif info.coreml_dtype == "fp16":
            feeds[info.name] = array.float().numpy().astype(np.float16)
        else:
            feeds[info.name] = array.float().numpy()
    return feeds


def _case(label: str, tensors: tuple, infos: Sequence[InputInfo]) -> ParityCase:
    tensors = tuple(_fp16_rounded(t, info) for t, info in zip(tensors, infos))
    return ParityCase(label, tensors, coreml_feeds(tensors, infos))


def _on_image_grid(tensors: tuple, infos: Sequence[InputInfo]) -> tuple:
    """Image inputs rounded to whole pixel levels: what a Core ML image can hold."""
    return tuple(_from_pixels(_pixels(tensor, info).clamp(0, IMAGE_LEVELS).round(), info)
                 if info.kind == "image" else tensor for tensor, info in zip(tensors, infos))


def _pixels(tensor: Any, info: InputInfo) -> Any:
    """PyTorch's image tensor back to the 0..255 pixels Core ML is fed."""
    return (tensor.float() - _bias(tensor, info)) / info.pixel_scale


def _from_pixels(pixels: Any, info: InputInfo) -> Any:
    """What Core ML's ImageType makes of pixels: pixel * scale + bias (per channel)."""
    return pixels * info.pixel_scale + _bias(pixels, info)


def _bias(tensor: Any, info: InputInfo) -> Any:
    import torch

    bias = torch.tensor(info.pixel_bias, dtype=torch.float32)
    if bias.numel() > 1 and tensor.dim() == 4:
        return bias.reshape(1, -1, 1, 1)
    return bias.reshape(()) if bias.numel() == 1 else bias


def _fp16_rounded(tensor: Any, info: InputInfo) -> Any:
    if info.kind == "float" and info.coreml_dtype == "fp16" and tensor.is_floating_point():
        return tensor.half().to(tensor.dtype)
    return tensor


def _random_like(tensor: Any, shape: tuple[int, ...], info: InputInfo, generator: Any) -> Any:
    import torch

    if info.kind == "image":
        levels = torch.randint(0, 256, shape, generator=generator).float()
        return _from_pixels(levels, info).to(tensor.dtype)
    if info.kind == "bool":
        return torch.rand(shape, generator=generator) < info.true_fraction
    if info.kind == "int":
        low, high = int(info.low), int(info.high)
        return torch.randint(low, max(high, low) + 1, shape, generator=generator,
                             dtype=tensor.dtype)
    if info.unit_range:
        return torch.rand(shape, generator=generator).to(tensor.dtype)
    values = torch.randn(shape, generator=generator) * info.high + info.low
    return values.to(tensor.dtype)


def _int_range(name: str, tensor: Any, value_ranges: Mapping[str, tuple[float, float]],
               vocabulary: list[int]) -> tuple[int, int, str]:
    if name in value_ranges:
        low, high = value_ranges[name]
        return int(low), int(high), "spec"
    low, high = _example_range(tensor)
    covering = [size for size in vocabulary if size > high]
    if covering and low >= 0:
        return 0, max(covering) - 1, "embedding"
    return low, high, "example"


def _example_range(tensor: Any) -> tuple[int, int]:
    if tensor.numel() == 0:
        return 0, 1
    return int(tensor.min()), int(tensor.max())


def _embedding_sizes(module: Any) -> list[int]:
    import torch

    if module is None:
        return []
    return sorted({m.num_embeddings for m in module.modules()
                   if isinstance(m, torch.nn.Embedding)})


def _torch_int32() -> Any:
    import torch

    return torch.int32
