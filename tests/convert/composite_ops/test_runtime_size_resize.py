"""Interpolation to a size read from another tensor's shape, with flexible inputs.

coremltools 9.0 stops on `F.interpolate(x, size=skip.shape[-2:])` when the size is a runtime value
(graph pass torch_upsample_to_core_upsample); torchready lowers it with torch's index arithmetic
(gathers) or iOS 17's `resize`. Each converted program is run by the MIL reference runtime on
sizes drawn by hypothesis, against torch, at fp32 and fp16, through torch.jit.trace and
torch.export.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from torchready.convert import composite_ops

MAX_IN, MAX_OUT = 48, 400  # fp16 index arithmetic is visibly wrong well below 400 pixels
FLEXIBLE = {"x": {2: (2, MAX_IN), 3: (2, MAX_IN)}, "skip": {2: (2, MAX_OUT), 3: (2, MAX_OUT)}}
# fp16 storage of the values: nearest copies them (one rounding), linear interpolates them in
# fp16 (a few roundings of values up to ~4); a wrong index or weight is off by O(1).
TOLERANCE = {"fp32": {"linear": 5e-5, "nearest": 0.0}, "fp16": {"linear": 2e-2, "nearest": 4e-3}}


class ResizeToSkip(torch.nn.Module):
    """The resizes a decoder uses, each to the skip connection's size."""

    def forward(self, x, skip):
        size = skip.shape[-2:]
        return (F.interpolate(x, size=size, mode="bilinear", align_corners=False),
                F.interpolate(x, size=size, mode="bilinear", align_corners=True),
                F.interpolate(x, size=size, mode="nearest"),
                F.interpolate(x, size=size, mode="nearest-exact"))


OUTPUT_KINDS = ("linear", "linear", "nearest", "nearest")


def _example():
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(1, 2, 5, 7, generator=generator),
            torch.randn(1, 1, 11, 13, generator=generator))


@functools.lru_cache(maxsize=None)
def _converted(mode: str, target: str | None, precision: str):
    from torchready import to_coreml

    result = to_coreml(ResizeToSkip().eval(), _example(), mode=mode, flexible=FLEXIBLE,
                       compute_precision=precision, minimum_deployment_target=target,
                       lint=False, parity=False)
    assert result.ok, (result.failed_stage, result.error)
    return result


def _worst_errors(result, sizes) -> list[float]:
    from torchready.convert.milrt import load_program

    program = load_program(result.mlmodel)
    h_in, w_in, h_out, w_out, seed = sizes
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, h_in, w_in, generator=generator)
    skip = torch.zeros(1, 1, h_out, w_out)
    outputs = program.run({"x": x.numpy(), "skip": skip.numpy()}).outputs
    expected = ResizeToSkip()(x, skip)
    errors = []
    for name, want in zip(result.output_names, expected):
        got = np.asarray(outputs[name], dtype=np.float64)
        assert got.shape == tuple(want.shape)
        errors.append(float(np.abs(got - want.double().numpy()).max()))
    return errors


SIZES = st.tuples(st.integers(2, MAX_IN), st.integers(2, MAX_IN), st.integers(2, MAX_OUT),
                  st.integers(2, MAX_OUT), st.integers(0, 2**16))
# iOS 17's `resize` lowering is the same whichever frontend reaches it: once is enough.
PATHS = [("trace", None), ("trace", "iOS17"), ("export", None)]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("mode,target", PATHS, ids=[f"{m}-{t or 'iOS15'}" for m, t in PATHS])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(sizes=SIZES)
@example(sizes=(47, 45, 397, 389, 1))  # where fp16 index arithmetic goes wrong (control below)
def test_runtime_size_resize_matches_torch_over_sizes(mode, target, precision, sizes):
    result = _converted(mode, target, precision)
    for kind, error in zip(OUTPUT_KINDS, _worst_errors(result, sizes)):
        assert error <= TOLERANCE[precision][kind], (kind, sizes, error)


def test_ios17_uses_one_resize_op_and_older_targets_gather():
    def op_types(result):
        return {op.op_type for op in result.mlmodel._mil_program.functions["main"].operations}

    older, ios17 = _converted("trace", None, "fp32"), _converted("trace", "iOS17", "fp32")
    assert "resize" not in op_types(older) and "gather" in op_types(older)
    assert "resize" in op_types(ios17)
    for result in (older, ios17):
        assert {"upsample_bilinear2d", "upsample_nearest2d"} <= set(result.composite_ops_applied)


def test_index_arithmetic_stays_fp32_in_an_fp16_program():
    program = _converted("trace", None, "fp16").mlmodel._mil_program.functions["main"]
    index_ops = [op for op in program.operations if op.op_type in ("floor", "real_div")]
    assert index_ops and all(str(op.outputs[0].dtype.__name__) == "fp32" for op in index_ops)


@pytest.mark.parametrize("mode", ["trace", "export"])
def test_flexible_height_segmentation_has_parity_at_several_heights(mode):
    """fixtures/fpn_segmentation.py: a feature-pyramid decoder resizing each level to its skip's
    size and the logits to the image's, height 32..128 (fp16, the default precision)."""
    from torchready import to_coreml
    from torchready.convert.loading import load_model
    from torchready.convert.milrt import load_program

    root = Path(__file__).resolve().parents[3]
    result = to_coreml(load_model(f"{root / 'fixtures' / 'fpn_segmentation.py'}:build"),
                       mode=mode, lint=False, parity=False)  # parity at four heights below
    assert result.ok, (result.failed_stage, result.error)
    assert {"upsample_bilinear2d", "upsample_nearest2d"} <= set(result.composite_ops_applied)
    program = load_program(result.mlmodel)
    for height in (32, 45, 77, 128):
        image = torch.rand(1, 3, height, 48, generator=torch.Generator().manual_seed(height))
        with torch.no_grad():
            expected = result.prepared.module(image)
        expected = (expected[0] if isinstance(expected, tuple) else expected).double().numpy()
        got = program.run({"image": image.numpy()}).outputs["logits"]
        assert got.shape == expected.shape == (1, 3, height, 48)
        # fp16 storage: a few fp16 roundings of values near 1
        assert float(np.abs(got - expected).max()) <= 2e-2 * max(1.0, float(np.abs(expected).max()))
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99


# --- negative controls --------------------------------------------------------------------------


class OneResize(torch.nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x, skip):
        return F.interpolate(x, size=skip.shape[-2:], mode=self.mode)


@pytest.mark.parametrize("mode", ["trace", "export"])
@pytest.mark.parametrize("kind", ["upsample_bilinear2d", "upsample_nearest2d"])
def test_coremltools_alone_fails_on_a_runtime_size(mode, kind):
    from torchready import to_coreml

    model = OneResize("bilinear" if kind == "upsample_bilinear2d" else "nearest").eval()
    with composite_ops.disabled(kind):
        result = to_coreml(model, _example(), mode=mode, flexible=FLEXIBLE,
                           compute_precision="fp32", lint=False, parity=False)
    assert result.failed_stage == "convert"
    [failure] = [d for d in result.diagnostics if d.code == "TR303"]
    assert "torch_upsample_to_core_upsample" in failure.message


def test_fp16_index_arithmetic_would_fail_parity(monkeypatch):
    """The same lowering with its index ops left to coremltools' fp16 pass is wrong on large
    sizes: what keeping them fp32 prevents."""
    from torchready import to_coreml
    from torchready.convert.composite_ops import _runtime_size

    monkeypatch.setattr(_runtime_size, "keep_fp32", lambda op: True)
    result = to_coreml(ResizeToSkip().eval(), _example(), mode="trace", flexible=FLEXIBLE,
                       compute_precision="fp16", lint=False, parity=False)
    assert result.ok
    errors = _worst_errors(result, (47, 45, 397, 389, 1))
    assert all(error > TOLERANCE["fp16"][kind] for kind, error in zip(OUTPUT_KINDS, errors)), \
        errors


@settings(max_examples=40, deadline=None, derandomize=True)
@given(sizes=st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 90),
                       st.integers(1, 90)), align_corners=st.booleans())
def test_reference_runtime_resize_kernel_is_torchs_bilinear(sizes, align_corners):
    """The runtime's MIL `resize` (LINEAR) against torch, for the two sampling modes the
    iOS 17 lowering emits."""
    from torchready.convert.milrt.kernels import image

    h_in, w_in, h_out, w_out = sizes
    x = torch.randn(1, 2, h_in, w_in, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(h_in * 97 + w_out))
    mode = "STRICT_ALIGN_CORNERS" if align_corners else "UNALIGN_CORNERS"
    resized = image.resize(x, np.array([h_out, w_out], np.int32), 2, "LINEAR", mode)
    expected = F.interpolate(x, size=(h_out, w_out), mode="bilinear",
                             align_corners=align_corners)
    torch.testing.assert_close(resized, expected, rtol=0, atol=1e-12)


def test_ios17_resize_nearest_is_not_torchs_nearest():
    """Why "nearest" uses gathers on every target: MIL `resize` NEAREST_NEIGHBOR samples pixel
    centres (torch's "nearest-exact"), torch's "nearest" floors i * n / m."""
    from torchready.convert.milrt.kernels import image

    x = torch.arange(5.0).reshape(1, 1, 1, 5)
    for sampling_mode in ("DEFAULT", "UNALIGN_CORNERS"):
        resized = image.resize(x, np.array([1, 8], np.int32), 2, "NEAREST_NEIGHBOR",
                               sampling_mode)
        assert torch.equal(resized, F.interpolate(x, size=(1, 8), mode="nearest-exact"))
        assert not torch.equal(resized, F.interpolate(x, size=(1, 8), mode="nearest"))
