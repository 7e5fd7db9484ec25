"""The model's input contract, read from `spec.description`, and feed validation against it.

Core ML checks inputs against the model description before it runs anything; the reference
runtime does the same, so a parity run can never "pass" on a feed the device would reject
(an int64 token array, a float where int32 is declared, a size outside a RangeDim, an image
that is not 8-bit pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from torchready.convert.milrt.errors import InvalidFeedError

_COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}
_ARRAY_DTYPES = {65568: "fp32", 65552: "fp16", 65600: "fp64", 131104: "int32", 131080: "int8"}


@dataclass(frozen=True)
class InputSpec:
    """One model input as the caller must feed it.

    `kind` is "tensor" (a multiArray) or "image". Image inputs are fed as raw pixels: a float
    (or uint8) array of shape (1, C, H, W) with integer values in 0..255, channels in the declared
    `color_layout` order; the model's own preprocessing (scale/bias) runs inside the program.
    `shape` is the default shape; `shape_ranges` gives (lower, upper) per dimension for flexible
    (RangeDim) inputs, upper None meaning unbounded; `enumerated_shapes` lists the allowed shapes
    of EnumeratedShapes inputs.
    """

    name: str
    kind: str
    mil_dtype: str
    shape: tuple[int, ...]
    shape_ranges: tuple[tuple[int, int | None], ...] | None = None
    enumerated_shapes: tuple[tuple[int, ...], ...] | None = None
    color_layout: str | None = None

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype a feed is converted to before the program sees it."""
        return np.dtype(
            {"fp16": np.float16, "int32": np.int32, "int8": np.int8}.get(self.mil_dtype, np.float32)
        )

    @property
    def is_flexible(self) -> bool:
        return self.shape_ranges is not None or self.enumerated_shapes is not None

    def describe(self) -> str:
        if self.enumerated_shapes:
            shapes = " or ".join(str(list(s)) for s in self.enumerated_shapes)
        elif self.shape_ranges:
            shapes = "[" + ", ".join(_describe_range(lo, hi) for lo, hi in self.shape_ranges) + "]"
        else:
            shapes = str(list(self.shape))
        if self.kind == "image":
            return f"{self.color_layout} image {shapes} (raw 0..255 pixels, NCHW)"
        return f"{self.mil_dtype} tensor {shapes}"

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        shape = tuple(int(d) for d in shape)
        if self.enumerated_shapes is not None:
            return shape in self.enumerated_shapes
        if len(shape) != len(self.shape):
            return False
        if self.shape_ranges is None:
            return shape == self.shape
        return all(lo <= d and (hi is None or d <= hi) for d, (lo, hi) in zip(shape, self.shape_ranges))

    def example(
        self, rng: np.random.Generator | None = None, shape: tuple[int, ...] | None = None
    ) -> np.ndarray:
        """A random feed that satisfies the contract (pixels 0..255 for images, small ints for int inputs)."""
        rng = rng or np.random.default_rng(0)
        shape = tuple(shape) if shape is not None else self.shape
        if not self.accepts_shape(shape):
            raise InvalidFeedError(
                f"input {self.name!r} does not accept shape {list(shape)}; it expects {self.describe()}"
            )
        if self.kind == "image":
            return rng.integers(0, 256, size=shape).astype(np.float32)
        if self.dtype.kind == "i":
            return rng.integers(0, 10, size=shape).astype(self.dtype)
        return rng.standard_normal(size=shape).astype(self.dtype)


def _describe_range(lower: int, upper: int | None) -> str:
    if upper is not None and lower == upper:
        return str(lower)
    return f"{lower}..{'inf' if upper is None else upper}"


def read_input_specs(spec, function_inputs: Mapping[str, object]) -> dict[str, InputSpec]:
    """InputSpecs in description order; `function_inputs` maps names to the MIL input Vars."""
    from torchready.convert.milrt.dtypes import mil_dtype_name

    specs: dict[str, InputSpec] = {}
    for feature in spec.description.input:
        var = function_inputs.get(feature.name)
        if var is None:
            raise InvalidFeedError(f"model input {feature.name!r} has no matching input in the ML program")
        mil_dtype = mil_dtype_name(var)
        declared_shape = tuple(int(d) if isinstance(d, (int, np.integer)) else -1 for d in var.shape)
        feature_type = feature.type
        kind = feature_type.WhichOneof("Type")
        if kind == "imageType":
            specs[feature.name] = _image_spec(feature.name, feature_type.imageType, mil_dtype, declared_shape)
        elif kind == "multiArrayType":
            specs[feature.name] = _array_spec(
                feature.name, feature_type.multiArrayType, mil_dtype, declared_shape
            )
        else:
            raise InvalidFeedError(
                f"model input {feature.name!r} has type {kind}, which the reference runtime cannot feed"
            )
    return specs


def _array_spec(name: str, array_type, mil_dtype: str, declared_shape: tuple[int, ...]) -> InputSpec:
    shape = tuple(int(d) for d in array_type.shape) or declared_shape
    flexibility = array_type.WhichOneof("ShapeFlexibility")
    ranges = None
    enumerated = None
    if flexibility == "shapeRange":
        ranges = tuple(
            (int(r.lowerBound), None if r.upperBound < 0 else int(r.upperBound))
            for r in array_type.shapeRange.sizeRanges
        )
    elif flexibility == "enumeratedShapes":
        enumerated = tuple(tuple(int(d) for d in s.shape) for s in array_type.enumeratedShapes.shapes)
    return InputSpec(name, "tensor", mil_dtype, shape, ranges, enumerated)


def _image_spec(name: str, image_type, mil_dtype: str, declared_shape: tuple[int, ...]) -> InputSpec:
    layout = _COLOR_SPACES.get(image_type.colorSpace, "RGB")
    channels = 1 if layout.startswith("GRAYSCALE") else 3
    shape = (1, channels, int(image_type.height), int(image_type.width))
    flexibility = image_type.WhichOneof("SizeFlexibility")
    ranges = None
    enumerated = None
    if flexibility == "imageSizeRange":
        size_range = image_type.imageSizeRange
        ranges = (
            (1, 1),
            (channels, channels),
            (
                int(size_range.heightRange.lowerBound),
                None if size_range.heightRange.upperBound < 0 else int(size_range.heightRange.upperBound),
            ),
            (
                int(size_range.widthRange.lowerBound),
                None if size_range.widthRange.upperBound < 0 else int(size_range.widthRange.upperBound),
            ),
        )
    elif flexibility == "enumeratedSizes":
        enumerated = tuple(
            (1, channels, int(s.height), int(s.width)) for s in image_type.enumeratedSizes.sizes
        )
    return InputSpec(name, "image", mil_dtype, shape, ranges, enumerated, layout)


def validate_feeds(specs: Mapping[str, InputSpec], feeds: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Check every feed against its InputSpec and return them converted to the declared dtypes."""
    if not isinstance(feeds, Mapping):
        raise InvalidFeedError("feeds must be a dict mapping input names to numpy arrays")
    unknown = sorted(set(feeds) - set(specs))
    if unknown:
        raise InvalidFeedError(f"unknown input {unknown[0]!r}; the model's inputs are {sorted(specs)}")
    missing = [name for name in specs if name not in feeds]
    if missing:
        raise InvalidFeedError(f"missing feed for input {missing[0]!r} ({specs[missing[0]].describe()})")
    return {name: _validate_one(spec, feeds[name]) for name, spec in specs.items()}


def _validate_one(spec: InputSpec, value: object) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as error:  # torch tensors with grad, ragged lists, ...
        raise InvalidFeedError(f"input {spec.name!r} could not be read as an array: {error}") from error
    if array.dtype.kind not in "biuf":
        raise InvalidFeedError(f"input {spec.name!r} must be numeric, got an array of dtype {array.dtype}")
    if array.dtype.kind == "b":
        raise InvalidFeedError(f"input {spec.name!r} expects {spec.describe()}, got a bool array")
    if not spec.accepts_shape(array.shape):
        hint = " (image inputs are NCHW: (1, C, H, W))" if spec.kind == "image" else ""
        raise InvalidFeedError(
            f"input {spec.name!r} expects {spec.describe()}, got shape {list(array.shape)}{hint}"
        )
    if spec.kind == "image":
        return _validate_pixels(spec, array)
    target = spec.dtype
    if target.kind == "i":
        if array.dtype.kind == "f":
            raise InvalidFeedError(
                f"input {spec.name!r} expects {spec.mil_dtype} values, got {array.dtype}; "
                "cast your token ids to np.int32"
            )
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise InvalidFeedError(f"input {spec.name!r} has values outside the {spec.mil_dtype} range")
    return array.astype(target)


def _validate_pixels(spec: InputSpec, array: np.ndarray) -> np.ndarray:
    if array.size:
        low, high = float(np.min(array)), float(np.max(array))
        if low < 0 or high > 255:
            raise InvalidFeedError(
                f"image input {spec.name!r} takes raw 0..255 pixels (the model's scale/bias runs "
                f"inside it), got values in [{low:g}, {high:g}]"
            )
        if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
            raise InvalidFeedError(
                f"image input {spec.name!r} takes 8-bit pixels, so its values must be whole numbers in 0..255"
            )
    return array.astype(spec.dtype)
