"""Shared by the resampling lowerings: a separable linear resampling as `Wh @ x @ Ww^T`.

torch's bicubic and antialiased (bilinear/bicubic) interpolation are separable and linear: for
static sizes each is exactly an (H_out x H_in) matrix applied along the height and a
(W_out x W_in) matrix along the width. The matrices are not re-derived here: they are computed by
the very aten op being converted, applied to identity bases along one axis at conversion time, so
align_corners, scale factors, border clamping, cubic coefficients and antialiasing supports are
torch's own. (A private helper module, not a composite op: `_MODULES` does not list it.)

One place where torch itself is not separable, and the lowering differs from it: torch 2.13's
antialiased kernels, when the output is one pixel wide, return the first output row for every
row (`F.interpolate(x, size=(3, 1), mode="bilinear", antialias=True)` on a 2x2 image repeats
one value); the lowering computes the separable result, and parity shows the difference.

The output size is torch's too: with scale factors, `floor(input size * scale)` computed in double
precision from the scale as the model holds it (a Python float). coremltools keeps the scale as an
fp32 constant, and 10 * float32(0.7) = 6.99999988 would floor to 6 where torch has 7; so the
scale is read back from the graph itself (the TorchScript constant, or the fx node's argument).
"""

from __future__ import annotations

import math
from typing import Any


def parse_resize(context: Any, node: Any, *, with_align_corners: bool = True
                 ) -> tuple[Any, list[int], bool, list[float | None]]:
    """(x, output_size, align_corners, [scale_h, scale_w]) of an upsample node, either overload:
    `.vec(input, output_size?, align_corners, scale_factors?)` or
    `(input, output_size, align_corners, scales_h?, scales_w?)` (nearest: no align_corners)."""
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs

    first_scale = 3 if with_align_corners else 2
    inputs = _get_inputs(context, node, min_expected=first_scale)
    x = inputs[0]
    if not is_static_image(x):
        raise ValueError(f"{node.kind} needs a 4-D input with a fixed height and width "
                         f"(got shape {x.shape}); declare fixed image sizes to convert it")
    output_size = _ints(inputs[1], "output_size")
    align_corners = with_align_corners and inputs[2] is not None and inputs[2].val is not None \
        and bool(inputs[2].val)
    # .vec: one list of scale factors (or None); otherwise scales_h, scales_w (each or None)
    scales: list[float | None] = []
    for raw, var in zip(node.inputs[first_scale:], inputs[first_scale:]):
        scales += _exact_floats(context, raw, var) or [None]
    scales = (scales + [None, None])[:2]
    if output_size is None:
        if None in scales:
            raise ValueError(f"{node.kind} needs an output size or two scale factors")
        output_size = [torch_output_size(int(x.shape[-2]), scales[0]),
                       torch_output_size(int(x.shape[-1]), scales[1])]
    return x, output_size, align_corners, scales


def torch_output_size(size: int, scale: float) -> int:
    """torch's output size for a scale factor (`upsample::compute_output_size`: the product in
    double precision, truncated)."""
    return int(math.floor(float(size) * float(scale)))


def image_example(module: Any, shape: tuple[int, ...], name: str = "x") -> Any:
    """The `CompositeExample` of a resizing model with one fixed-size image input of `shape`."""
    import numpy as np
    import torch

    from torchready.convert.composite_ops import CompositeExample

    def convert_kwargs() -> dict[str, Any]:
        import coremltools as ct

        return {"inputs": [ct.TensorType(name=name, shape=shape, dtype=np.float32)]}

    image = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    return CompositeExample(module.eval(), (image,), convert_kwargs)


def is_static_image(x: Any) -> bool:
    """A 4-D value with a fixed height and width (what the matrices need)."""
    from coremltools.converters.mil.mil.types.symbolic import any_symbolic

    return x.rank == 4 and not any_symbolic(x.shape[-2:])


def is_static_resize(context: Any, node: Any) -> bool:
    """A resize the matrices can do: a static image, and an output size that is absent or a
    constant (a size read from another input's shape is not)."""
    source, size = node.inputs[0], node.inputs[1] if len(node.inputs) > 1 else None
    if not is_static_image(context[source]):
        return False
    if size is None or isinstance(size, (list, tuple)) and all(isinstance(s, int) for s in size):
        return True
    var = context[size] if isinstance(size, str) and size in context else None
    parts = var if isinstance(var, (list, tuple)) else [var]  # a list of size scalars, or one
    return all(part is None or part.val is not None for part in parts)


def resample(x: Any, output_size: list[int], align_corners: bool, scales: list[float | None],
             aten_op: Any, name: str) -> Any:
    """`aten_op(x, ...)` as two matmuls with the op's own weights."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.types import nptype_from_builtin

    dtype = nptype_from_builtin(x.dtype)
    height, width = int(x.shape[-2]), int(x.shape[-1])
    rows = resampling_matrix(aten_op, height, output_size[0], align_corners, scales[0], axis=0)
    cols = resampling_matrix(aten_op, width, output_size[1], align_corners, scales[1], axis=1)
    resized_rows = mb.matmul(x=rows.astype(dtype), y=x, name=f"{name}_rows")
    return mb.matmul(x=resized_rows, y=np.ascontiguousarray(cols.T).astype(dtype), name=name)


def resampling_matrix(aten_op: Any, size: int, out_size: int, align_corners: bool,
                      scale: float | None, axis: int) -> Any:
    """The (out_size x size) matrix `aten_op` applies along one axis (0: height, 1: width).

    Column j is the op's response to the j-th unit vector along that axis. The other axis is 2
    pixels wide and stays 2 pixels wide, which the op maps to itself (checked: both copies must
    come out equal). Not 1 pixel: torch's antialiased kernels mishandle a 1 -> 1 axis.
    """
    import torch

    basis = torch.eye(size, dtype=torch.float64)
    if axis == 0:  # images (size, 1, size, 2): unit vectors along the height
        images = basis.reshape(size, 1, size, 1).expand(size, 1, size, 2).contiguous()
        out_shape, scales = [out_size, 2], (scale, None)
    else:  # images (size, 1, 2, size): unit vectors along the width
        images = basis.reshape(size, 1, 1, size).expand(size, 1, 2, size).contiguous()
        out_shape, scales = [2, out_size], (None, scale)
    responses = aten_op(images, out_shape, align_corners, *scales)
    first, second = (responses[:, 0, :, 0], responses[:, 0, :, 1]) if axis == 0 else \
        (responses[:, 0, 0, :], responses[:, 0, 1, :])
    if not torch.equal(first, second):
        raise ValueError(f"{aten_op} is not separable here; cannot lower it to matmuls")
    return first.T.numpy()


def _ints(var: Any, what: str) -> list[int] | None:
    if var is None:
        return None
    if var.val is None:
        raise ValueError(f"interpolation with a non-constant {what} cannot be converted; "
                         "declare fixed image sizes")
    return [int(v) for v in list(var.val)]


def _exact_floats(context: Any, raw: Any, var: Any) -> list[float] | None:
    """Scale factors exactly as the model holds them (Python floats): from the fx node's own
    argument (torch.export), else from the TorchScript constants that produce `raw`; else the
    converted constant `var` (fp32, the last resort). None when there are none."""
    if raw is None or var is None:
        return None
    if isinstance(raw, (int, float)):
        return [float(raw)]
    if isinstance(raw, (list, tuple)):
        exact = [_exact_floats(context, item, item) for item in raw]
        if all(value is not None for value in exact):
            return [value[0] for value in exact]  # type: ignore[index]
    elif isinstance(raw, str):
        exact = _constant_of(context, raw)
        if exact is not None:
            return exact
    values = [getattr(item, "val", None) for item in var] if isinstance(var, (list, tuple)) \
        else [getattr(var, "val", None)]
    if any(value is None for value in values):
        raise ValueError("interpolation with non-constant scale factors cannot be converted")
    return [float(v) for value in values for v in (value if hasattr(value, "__len__")
                                                    else [value])]


def _constant_of(context: Any, name: str) -> list[float] | None:
    """The Python value(s) of the TorchScript constant (or list of constants) named `name`."""
    try:
        graph = context.torch_graph
    except (AttributeError, ValueError):
        return None
    producer = _producer(getattr(graph, "nodes", []), name)
    if producer is None:
        return None
    if producer.kind == "constant":
        value = producer.attr.get("value")
        if isinstance(value, (int, float)):
            return [float(value)]
        if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
            return [float(v) for v in value]
        return None
    if producer.kind == "listconstruct":
        items = [_constant_of(context, item) for item in producer.inputs]
        if all(item is not None and len(item) == 1 for item in items):
            return [item[0] for item in items]  # type: ignore[index]
    return None


def _producer(nodes: Any, name: str) -> Any:
    for node in nodes:
        if name in node.outputs:
            return node
        for block in getattr(node, "blocks", None) or []:
            found = _producer(block.nodes, name)
            if found is not None:
                return found
    return None
