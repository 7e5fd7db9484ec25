"""Ops without a numpy value_inference, or that PyTorch conversion never emits, checked against
references written from the MIL op docstrings (the sampling-mode tables of resize_bilinear,
TensorFlow's depth_to_space / space_to_batch layouts, the gru/rnn/lstm equations, ...).

Cases of one opset share one pymil program (inputs as function inputs, no optimization passes)
that is converted once, loaded back through the runtime's loader and run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from milrt_helpers import assert_fp32_close, convert_mil

from torchready.convert.milrt import load_program

RNG = np.random.default_rng(11)


def f32(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


@dataclass
class Case:
    name: str
    inputs: dict
    build: object  # (mb, **input vars) -> var or list of vars
    expected: object  # (**numpy inputs) -> array or list of arrays
    atol: float = 1e-5


# -- references ---------------------------------------------------------------------------------
def depth_to_space_ref(x, b):
    n, c, h, w = x.shape
    out = np.zeros((n, c // (b * b), h * b, w * b), dtype=x.dtype)
    for i in range(b):
        for j in range(b):
            out[:, :, i::b, j::b] = x[:, (i * b + j) * (c // (b * b)) : (i * b + j + 1) * (c // (b * b))]
    return out


def space_to_batch_ref(x, block, pads):
    x = np.pad(x, ((0, 0), (0, 0), tuple(pads[0]), tuple(pads[1])))
    n, c, h, w = x.shape
    bh, bw = block
    out = np.zeros((n * bh * bw, c, h // bh, w // bw), dtype=x.dtype)
    for i in range(bh):
        for j in range(bw):
            out[(i * bw + j) * n : (i * bw + j + 1) * n] = x[:, :, i::bh, j::bw]
    return out


def conv2d_ref(x, w, stride, pads):
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out


def pool_ref(x, k, stride, pads, reduce, fill):
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=fill)
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * stride : i * stride + k, j * stride : j * stride + k])
    return out


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def gru_ref(x, h, w_ih, w_hh, b):
    hidden = h.shape[-1]
    w_ir, w_io, w_iz = np.split(w_ih, 3)
    w_hr, w_ho, w_hz = np.split(w_hh, 3)
    b_r, b_o, b_z = np.split(b, 3)
    outs = []
    for t in range(x.shape[0]):
        r = sigmoid(x[t] @ w_ir.T + h @ w_hr.T + b_r)
        z = sigmoid(x[t] @ w_iz.T + h @ w_hz.T + b_z)
        o = np.tanh(x[t] @ w_io.T + r * (h @ w_ho.T) + b_o)
        h = (1 - z) * o + z * h
        outs.append(h)
    assert hidden == h.shape[-1]
    return [np.stack(outs), h]


def lstm_ref(x, h, c, w_ih, w_hh, b, peep, clip, reverse):
    hidden = h.shape[-1]
    outs = [None] * x.shape[0]
    for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
        gates = x[t] @ w_ih.T + h @ w_hh.T + b
        i, f, o, z = np.split(gates, 4, axis=-1)
        i = sigmoid(i + peep[:hidden] * c)
        f = sigmoid(f + peep[hidden : 2 * hidden] * c)
        c = np.clip(f * c + i * np.tanh(z), -clip, clip)
        o = sigmoid(o + peep[2 * hidden :] * c)
        h = o * np.tanh(c)
        outs[t] = h
    return [np.stack(outs), h, c]


def grid_1x2(mode, out):
    """resize_bilinear docstring table: input [0, 1] sampled at the grid points of `mode`."""
    return {
        ("STRICT_ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
        ("ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
        ("DEFAULT", 5): [0.0, 0.4, 0.8, 1.0, 1.0],
        ("OFFSET_CORNERS", 5): [0.1, 0.3, 0.5, 0.7, 0.9],
        ("UNALIGN_CORNERS", 5): [0.0, 0.1, 0.5, 0.9, 1.0],
        ("UNALIGN_CORNERS", 6): [0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0],
        ("STRICT_ALIGN_CORNERS", 6): [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        ("DEFAULT", 6): [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0],
        ("OFFSET_CORNERS", 6): [1 / 12, 0.25, 5 / 12, 7 / 12, 0.75, 11 / 12],
    }[(mode, out)]


LINE = np.array([0.0, 1.0], dtype=np.float32).reshape(1, 1, 1, 2)
IMG = f32(1, 2, 5, 6)
SEQ = f32(4, 2, 3)

IOS15 = [
    *(
        Case(
            f"resize_bilinear {m} {n}",
            {"x": LINE},
            lambda mb, x, m=m, n=n: mb.resize_bilinear(
                x=x, target_size_height=1, target_size_width=n, sampling_mode=m
            ),
            lambda x, m=m, n=n: np.array(grid_1x2(m, n), dtype=np.float32).reshape(1, 1, 1, n),
        )
        for m, n in [
            ("STRICT_ALIGN_CORNERS", 5),
            ("ALIGN_CORNERS", 5),
            ("DEFAULT", 5),
            ("OFFSET_CORNERS", 5),
            ("UNALIGN_CORNERS", 5),
            ("UNALIGN_CORNERS", 6),
            ("STRICT_ALIGN_CORNERS", 6),
            ("DEFAULT", 6),
            ("OFFSET_CORNERS", 6),
        ]
    ),
    Case(
        "upsample_bilinear align_corners",
        {"x": LINE},
        lambda mb, x: mb.upsample_bilinear(
            x=x, scale_factor_height=1.0, scale_factor_width=2.5, align_corners=True
        ),
        lambda x: np.array(grid_1x2("STRICT_ALIGN_CORNERS", 5), dtype=np.float32).reshape(1, 1, 1, 5),
    ),
    Case(
        "upsample_bilinear half pixel",
        {"x": LINE},
        lambda mb, x: mb.upsample_bilinear(
            x=x, scale_factor_height=1.0, scale_factor_width=2.5, align_corners=False
        ),
        lambda x: np.array(grid_1x2("UNALIGN_CORNERS", 5), dtype=np.float32).reshape(1, 1, 1, 5),
    ),
    Case(
        "upsample_nearest_neighbor fractional",
        {"x": IMG},
        lambda mb, x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=1.5, scale_factor_width=2.0),
        lambda x: F.interpolate(torch.from_numpy(x), scale_factor=(1.5, 2.0), mode="nearest").numpy(),
    ),
    Case(
        "resize_nearest_neighbor",
        {"x": np.array([-6.174, 9.371], dtype=np.float32).reshape(1, 1, 2, 1)},
        lambda mb, x: mb.resize_nearest_neighbor(x=x, target_size_height=3, target_size_width=2),
        # coremltools' own expectation for half-pixel nearest (tests/iOS17/test_image_resizing.py)
        lambda x: np.array([-6.174, -6.174, 9.371, 9.371, 9.371, 9.371], dtype=np.float32).reshape(
            1, 1, 3, 2
        ),
    ),
    Case(
        "crop",
        {"x": IMG},
        lambda mb, x: mb.crop(x=x, crop_height=[1, 2], crop_width=[0, 3]),
        lambda x: x[..., 1:3, 0:3],
    ),
    Case(
        "depth_to_space",
        {"x": f32(1, 8, 2, 3)},
        lambda mb, x: mb.depth_to_space(x=x, block_size=2),
        lambda x: depth_to_space_ref(x, 2),
    ),
    Case(
        "space_to_depth",
        {"x": f32(1, 2, 4, 6)},
        lambda mb, x: mb.space_to_depth(x=x, block_size=2),
        lambda x: x.reshape(1, 2, 2, 2, 3, 2).transpose(0, 3, 5, 1, 2, 4).reshape(1, 8, 2, 3),
    ),
    Case(
        "space_to_depth inverts depth_to_space",
        {"x": f32(2, 12, 3, 2)},
        lambda mb, x: mb.space_to_depth(x=mb.depth_to_space(x=x, block_size=2), block_size=2),
        lambda x: x,
    ),
    Case(
        "space_to_batch",
        {"x": f32(2, 3, 3, 5)},
        lambda mb, x: mb.space_to_batch(x=x, block_shape=[2, 3], paddings=[[1, 0], [0, 1]]),
        lambda x: space_to_batch_ref(x, (2, 3), ((1, 0), (0, 1))),
    ),
    Case(
        "batch_to_space inverts space_to_batch",
        {"x": f32(2, 3, 4, 6)},
        lambda mb, x: mb.batch_to_space(
            x=mb.space_to_batch(x=x, block_shape=[2, 2], paddings=[[0, 0], [0, 0]]),
            block_shape=[2, 2],
            crops=[[0, 0], [0, 0]],
        ),
        lambda x: x,
    ),
    Case(
        "pixel_shuffle",
        {"x": f32(1, 8, 2, 3)},
        lambda mb, x: mb.pixel_shuffle(x=x, upscale_factor=2),
        lambda x: F.pixel_shuffle(torch.from_numpy(x), 2).numpy(),
    ),
    Case(
        "conv same (even kernel, stride 2)",
        {"x": f32(1, 2, 7, 8), "w": f32(3, 2, 4, 4)},
        lambda mb, x, w: mb.conv(x=x, weight=w, strides=[2, 2], pad_type="same"),
        # ceil(7/2)=4 rows: total pad 3 -> (1, 2); ceil(8/2)=4 cols: total pad 2 -> (1, 1)
        lambda x, w: conv2d_ref(x, w, 2, ((1, 2), (1, 1))),
    ),
    Case(
        "conv custom asymmetric pads",
        {"x": f32(1, 2, 5, 5), "w": f32(2, 2, 3, 3)},
        lambda mb, x, w: mb.conv(x=x, weight=w, pad_type="custom", pad=[0, 2, 1, 0]),
        lambda x, w: conv2d_ref(x, w, 1, ((0, 2), (1, 0))),
    ),
    Case(
        "max_pool same stride 2",
        {"x": f32(1, 2, 7, 7)},
        lambda mb, x: mb.max_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="same"),
        lambda x: pool_ref(x, 2, 2, ((0, 1), (0, 1)), lambda p: p.max(axis=(2, 3)), -np.inf),
    ),
    Case(
        "avg_pool exclude padding",
        {"x": f32(1, 2, 5, 5)},
        lambda mb, x: mb.avg_pool(
            x=x,
            kernel_sizes=[3, 3],
            strides=[2, 2],
            pad_type="custom",
            pad=[1, 1, 1, 1],
            exclude_padding_from_average=True,
        ),
        lambda x: F.avg_pool2d(torch.from_numpy(x), 3, 2, 1, count_include_pad=False).numpy(),
    ),
    Case(
        "avg_pool same include padding",
        {"x": f32(1, 2, 6, 5)},
        lambda mb, x: mb.avg_pool(x=x, kernel_sizes=[2, 3], strides=[2, 2], pad_type="same"),
        lambda x: _avg_same_ref(x),
    ),
    Case(
        "l2_pool",
        {"x": f32(1, 2, 6, 6)},
        lambda mb, x: mb.l2_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid"),
        lambda x: pool_ref(x, 2, 2, ((0, 0), (0, 0)), lambda p: np.sqrt((p**2).sum(axis=(2, 3))), 0),
    ),
    Case(
        "batch_norm",
        {"x": f32(2, 3, 4)},
        lambda mb, x: mb.batch_norm(
            x=x,
            mean=np.array([0.1, -0.2, 0.3], np.float32),
            variance=np.array([1.0, 0.5, 2.0], np.float32),
            gamma=np.array([1.5, 1.0, -1.0], np.float32),
            beta=np.array([0.0, 0.1, 0.2], np.float32),
            epsilon=1e-3,
        ),
        lambda x: (
            (x - np.array([0.1, -0.2, 0.3]).reshape(1, 3, 1))
            / np.sqrt(np.array([1.0, 0.5, 2.0]).reshape(1, 3, 1) + 1e-3)
            * np.array([1.5, 1.0, -1.0]).reshape(1, 3, 1)
            + np.array([0.0, 0.1, 0.2]).reshape(1, 3, 1)
        ),
    ),
    Case(
        "instance_norm",
        {"x": f32(2, 3, 4, 5)},
        lambda mb, x: mb.instance_norm(x=x, epsilon=1e-4),
        lambda x: (
            (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-4)
        ),
    ),
    Case(
        "local_response_norm",
        {"x": f32(1, 5, 3, 3)},
        lambda mb, x: mb.local_response_norm(x=x, size=3, alpha=0.1, beta=0.75, k=2.0),
        lambda x: (
            x
            / (
                2.0
                + 0.1 / 3 * np.stack([(x[:, max(0, c - 1) : c + 2] ** 2).sum(axis=1) for c in range(5)], 1)
            )
            ** 0.75
        ),
    ),
    Case(
        "gru",
        {"x": SEQ, "h": f32(2, 4)},
        lambda mb, x, h: mb.gru(
            x=x, initial_h=h, weight_ih=GRU_W[0], weight_hh=GRU_W[1], bias=GRU_W[2], output_sequence=True
        ),
        lambda x, h: gru_ref(x, h, *GRU_W),
    ),
    Case(
        "rnn relu reverse",
        {"x": SEQ, "h": f32(2, 4)},
        lambda mb, x, h: mb.rnn(
            x=x,
            initial_h=h,
            weight_ih=RNN_W[0],
            weight_hh=RNN_W[1],
            bias=RNN_W[2],
            activation="relu",
            direction="reverse",
            output_sequence=False,
        ),
        lambda x, h: _rnn_reverse_ref(x, h),
    ),
    Case(
        "lstm peephole clip reverse",
        {"x": SEQ, "h": f32(2, 4), "c": f32(2, 4)},
        lambda mb, x, h, c: mb.lstm(
            x=x,
            initial_h=h,
            initial_c=c,
            weight_ih=LSTM_W[0],
            weight_hh=LSTM_W[1],
            bias=LSTM_W[2],
            peephole=LSTM_W[3],
            clip=0.5,
            direction="reverse",
            output_sequence=True,
        ),
        lambda x, h, c: lstm_ref(x, h, c, *LSTM_W, 0.5, True),
    ),
    Case(
        "one_hot",
        {"i": np.array([[0, 3], [5, -1]], dtype=np.int32)},
        lambda mb, i: mb.one_hot(indices=i, one_hot_vector_size=4, axis=1, on_value=2.0, off_value=-1.0),
        lambda i: np.where(np.arange(4).reshape(1, 4, 1) == i[:, None, :], 2.0, -1.0),
    ),
    Case(
        "gather_nd",
        {"x": f32(3, 4, 5), "i": np.array([[[2, 1], [0, 3]]], dtype=np.int32)},
        lambda mb, x, i: mb.gather_nd(x=x, indices=i),
        lambda x, i: x[i[..., 0], i[..., 1]],
    ),
    Case(
        "scatter add",
        {"d": f32(5, 3), "i": np.array([4, 0, 4], dtype=np.int32), "u": f32(3, 3)},
        lambda mb, d, i, u: mb.scatter(data=d, indices=i, updates=u, mode="add"),
        lambda d, i, u: _scatter_ref(d, i, u, np.add),
    ),
    Case(
        "scatter max",
        {"d": f32(5, 3), "i": np.array([1, 1, 2], dtype=np.int32), "u": f32(3, 3)},
        lambda mb, d, i, u: mb.scatter(data=d, indices=i, updates=u, mode="max"),
        lambda d, i, u: _scatter_ref(d, i, u, np.maximum),
    ),
    Case(
        "scatter_nd mul",
        {"d": f32(3, 4, 2), "i": np.array([[0, 1], [2, 3], [0, 1]], dtype=np.int32), "u": f32(3, 2)},
        lambda mb, d, i, u: mb.scatter_nd(data=d, indices=i, updates=u, mode="mul"),
        lambda d, i, u: _scatter_nd_ref(d, i, u),
    ),
    Case(
        "scatter_along_axis add",
        {"d": f32(3, 4), "i": np.array([[1, 1], [3, 0], [2, 2]], dtype=np.int32), "u": f32(3, 2)},
        lambda mb, d, i, u: mb.scatter_along_axis(data=d, indices=i, updates=u, axis=1, mode="add"),
        lambda d, i, u: _scatter_along_ref(d, i, u),
    ),
    Case(
        "reverse_sequence",
        {"x": f32(3, 5, 2), "n": np.array([2, 5, 0], dtype=np.int32)},
        lambda mb, x, n: mb.reverse_sequence(x=x, lengths=n, seq_axis=1, batch_axis=0),
        lambda x, n: np.stack([np.concatenate([x[b, : n[b]][::-1], x[b, n[b] :]]) for b in range(3)]),
    ),
    Case(
        "sliding_windows",
        {"x": f32(2, 7, 3)},
        lambda mb, x: mb.sliding_windows(x=x, axis=1, size=3, stride=2),
        lambda x: np.stack([x[:, s : s + 3] for s in range(0, 5, 2)], axis=1),
    ),
    Case(
        "concat interleave",
        {"a": f32(2, 3), "b": f32(2, 3)},
        lambda mb, a, b: mb.concat(values=[a, b], axis=0, interleave=True),
        lambda a, b: np.stack([a, b], axis=1).reshape(4, 3),
    ),
    Case(
        "cumsum exclusive reverse",
        {"x": f32(3, 4)},
        lambda mb, x: mb.cumsum(x=x, axis=1, exclusive=True, reverse=True),
        lambda x: np.flip(np.cumsum(np.flip(x, 1), 1), 1) - x,
    ),
    Case(
        "affine identity",
        {"x": IMG, "m": np.array([[1, 0, 0, 0, 1, 0]], dtype=np.float32)},
        lambda mb, x, m: mb.affine(
            x=x,
            transform_matrix=m,
            output_height=5,
            output_width=6,
            sampling_mode="bilinear",
            padding_mode="constant",
            padding_value=0.0,
            coordinates_mode="normalized_minus_one_to_one",
            align_corners=True,
        ),
        lambda x, m: x,
    ),
    Case(
        "non_maximum_suppression",
        {
            "b": np.array([[[0.5, 0.5, 1, 1], [0.55, 0.5, 1, 1], [3, 3, 1, 1]]], np.float32),
            "s": np.array([[[0.9], [0.8], [0.7]]], np.float32),
        },
        lambda mb, b, s: mb.non_maximum_suppression(
            boxes=b, scores=s, iou_threshold=0.5, score_threshold=0.1, max_boxes=3
        )[2:],
        lambda b, s: [np.array([[0, 2, -1]]), np.array([2])],
    ),
]


def _avg_same_ref(x):
    # kernel (2, 3), stride 2, "same": rows ceil(6/2)=3 need no pad; cols ceil(5/2)=3: total 2 -> (1, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1)))
    return np.stack(
        [
            np.stack([xp[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 3].mean(axis=(2, 3)) for j in range(3)], -1)
            for i in range(3)
        ],
        -2,
    )


def _rnn_reverse_ref(x, h):
    w_ih, w_hh, b = RNN_W
    for t in reversed(range(x.shape[0])):
        h = np.maximum(x[t] @ w_ih.T + h @ w_hh.T + b, 0)
    return [h[None], h]


def _scatter_ref(d, i, u, combine):
    out = d.copy()
    for k, row in enumerate(i):
        out[row] = combine(out[row], u[k])
    return out


def _scatter_nd_ref(d, i, u):
    out = d.copy()
    for k, (a, b) in enumerate(i):
        out[a, b] = out[a, b] * u[k]
    return out


def _scatter_along_ref(d, i, u):
    out = d.copy()
    for r in range(i.shape[0]):
        for c in range(i.shape[1]):
            out[r, i[r, c]] += u[r, c]
    return out


GRU_W = (f32(12, 3), f32(12, 4), f32(12))
RNN_W = (f32(4, 3), f32(4, 4), f32(4))
LSTM_W = (f32(16, 3), f32(16, 4), f32(16), f32(12))
BOXES = np.array([[0.0, 0.0, 4.0, 5.0], [1.0, 2.0, 3.0, 3.0], [-1.0, -1.0, 2.0, 2.0]], dtype=np.float32)

IOS17 = [
    Case(
        "resize linear DEFAULT",
        {"x": LINE},
        lambda mb, x: mb.resize(x=x, shape=np.array([1, 1, 1, 5], np.int32), resized_dims=np.uint32(2)),
        lambda x: np.array(grid_1x2("DEFAULT", 5), dtype=np.float32).reshape(1, 1, 1, 5),
    ),
    Case(
        "resize nearest DEFAULT",
        {"x": np.array([-6.174, 9.371], dtype=np.float32).reshape(1, 1, 2, 1)},
        lambda mb, x: mb.resize(
            x=x,
            shape=np.array([1, 1, 3, 2], np.int32),
            resized_dims=np.uint32(2),
            interpolation_mode="NEAREST_NEIGHBOR",
        ),
        lambda x: np.array([-6.174, -6.174, 9.371, 9.371, 9.371, 9.371], dtype=np.float32).reshape(
            1, 1, 3, 2
        ),
    ),
    Case(
        "pixel_unshuffle",
        {"x": f32(1, 2, 4, 6)},
        lambda mb, x: mb.pixel_unshuffle(x=x, downscale_factor=np.uint32(2)),
        lambda x: F.pixel_unshuffle(torch.from_numpy(x), 2).numpy(),
    ),
    Case(
        "gather_nd batch_dims",
        {"x": f32(2, 3, 4), "i": np.array([[[2], [0]], [[1], [1]]], dtype=np.int32)},
        lambda mb, x, i: mb.gather_nd(x=x, indices=i, batch_dims=1),
        lambda x, i: np.stack([x[b][i[b, :, 0]] for b in range(2)]),
    ),
    Case(
        "fill_like",
        {"r": f32(2, 3)},
        lambda mb, r: mb.fill_like(ref_tensor=r, value=4.0),
        lambda r: np.full((2, 3), 4.0),
    ),
    Case(
        "reshape_like",
        {"x": f32(6, 4), "r": f32(2, 3, 4)},
        lambda mb, x, r: mb.reshape_like(
            x=x, ref_tensors=(r, r), begins=(0, 2), ends=(2, 3), end_masks=(False, True)
        ),
        lambda x, r: x.reshape(2, 3, 4),
    ),
    Case(
        "crop_resize whole image ALIGN_CORNERS",
        {"x": IMG, "boxes": np.array([[0, 0, 4, 5]], np.float32)},
        lambda mb, x, boxes: mb.crop_resize(
            x=x, boxes=boxes, target_height=9, target_width=11, sampling_mode="ALIGN_CORNERS"
        ),
        lambda x, boxes: F.interpolate(
            torch.from_numpy(x), size=(9, 11), mode="bilinear", align_corners=True
        ).numpy(),
        atol=1e-5,
    ),
    Case(
        "crop_resize normalized with padding",
        {"x": IMG, "boxes": np.array([[0.5, 0.2, 1.5, 0.8]], np.float32)},
        lambda mb, x, boxes: mb.crop_resize(
            x=x,
            boxes=boxes,
            target_height=3,
            target_width=2,
            normalized_coordinates=True,
            sampling_mode="STRICT_ALIGN_CORNERS",
            pad_value=-7.0,
        ),
        # rows at y = 2, 4, 6 (of 0..4): the last is outside -> pad_value; cols at x = 1 and 4
        lambda x, boxes: np.concatenate(
            [x[:, :, [2, 4]][:, :, :, [1, 4]], np.full((1, 2, 1, 2), -7.0)], axis=2
        ),
    ),
    Case(
        "resample reflection/symmetric",
        {
            "x": np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 1, 1, 3),
            "coords": np.stack([np.arange(-3, 6), np.zeros(9)], -1).astype(np.float32).reshape(1, 1, 9, 2),
        },
        lambda mb, x, coords: [
            mb.resample(
                x=x,
                coordinates=coords,
                sampling_mode="bilinear",
                padding_mode=mode,
                padding_value=0.0,
                coordinates_mode="unnormalized",
                align_corners=True,
            )
            for mode in ("reflection", "symmetric", "border", "constant")
        ],
        # The docstring's 1-D examples around |1, 2, 3|.
        lambda x, coords: [
            np.array(v, np.float32).reshape(1, 1, 1, 9)
            for v in (
                [2, 3, 2, 1, 2, 3, 2, 1, 2],
                [3, 2, 1, 1, 2, 3, 3, 2, 1],
                [1, 1, 1, 1, 2, 3, 3, 3, 3],
                [0, 0, 0, 1, 2, 3, 0, 0, 0],
            )
        ],
    ),
    Case(
        "resample normalized bilinear",
        {"x": IMG, "coords": f32(1, 4, 3, 2, low=-1.2, high=1.2)},
        lambda mb, x, coords: mb.resample(
            x=x,
            coordinates=coords,
            sampling_mode="bilinear",
            padding_mode="border",
            padding_value=0.0,
            coordinates_mode="normalized_minus_one_to_one",
            align_corners=False,
        ),
        lambda x, coords: F.grid_sample(
            torch.from_numpy(x),
            torch.from_numpy(coords),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        ).numpy(),
        atol=1e-5,
    ),
    Case(
        "quantize / dequantize",
        {"x": f32(2, 3, 4)},
        lambda mb, x: [
            q := mb.quantize(
                input=x,
                scale=np.array([0.02, 0.05, 0.01], np.float32),
                zero_point=np.array([3, -2, 0], np.int8),
                axis=1,
                output_dtype="int8",
            ),
            mb.dequantize(
                input=q,
                scale=np.array([0.02, 0.05, 0.01], np.float32),
                zero_point=np.array([3, -2, 0], np.int8),
                axis=1,
            ),
        ],
        lambda x: _quantize_ref(x),
    ),
    Case(
        "reduce_argmax uint16 output",
        {"x": f32(3, 5)},
        lambda mb, x: mb.reduce_argmax(x=x, axis=1, output_dtype="uint16"),
        lambda x: np.argmax(x, axis=1),
    ),
]


def _quantize_ref(x):
    scale = np.array([0.02, 0.05, 0.01]).reshape(1, 3, 1)
    zero = np.array([3, -2, 0]).reshape(1, 3, 1)
    q = np.clip(np.round(x / scale) + zero, -128, 127)
    return [q, (q - zero) * scale]


GROUPS = {"iOS15": IOS15, "iOS17": IOS17}


def _dtype(array):
    from coremltools.converters.mil.mil import types

    return {np.dtype(np.float32): types.fp32, np.dtype(np.int32): types.int32}[array.dtype]


@pytest.fixture(scope="module")
def runs():
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Function, Program

    results = {}
    for group, cases in GROUPS.items():
        target = getattr(ct.target, group)
        placeholders = {
            f"c{i}_{k}": mb.placeholder(shape=v.shape, dtype=_dtype(v))
            for i, c in enumerate(cases)
            for k, v in c.inputs.items()
        }
        program = Program()
        names = []
        with Function(placeholders, opset_version=target) as function:
            outputs = []
            for i, case in enumerate(cases):
                out = case.build(mb, **{k: function.inputs[f"c{i}_{k}"] for k in case.inputs})
                out = list(out) if isinstance(out, (list, tuple)) else [out]
                # Route every output through identity so each case owns uniquely named outputs.
                out = [mb.identity(x=o, name=f"c{i}_out{j}") for j, o in enumerate(out)]
                names.append([o.name for o in out])
                outputs += out
            function.set_outputs(outputs)
        program.add_function("main", function)
        reference = load_program(convert_mil(program, target))
        feeds = {f"c{i}_{k}": v for i, c in enumerate(cases) for k, v in c.inputs.items()}
        results[group] = (names, reference.run(feeds, precision="fp32").outputs)
    return results


IDS = [(g, i) for g, cases in GROUPS.items() for i in range(len(cases))]


@pytest.mark.parametrize("group, index", IDS, ids=[f"{g}-{GROUPS[g][i].name}" for g, i in IDS])
def test_matches_docstring_reference(runs, group, index):
    case = GROUPS[group][index]
    names, outputs = runs[group]
    expected = case.expected(**{k: np.array(v, copy=True) for k, v in case.inputs.items()})
    expected = expected if isinstance(expected, list) else [expected]
    assert len(expected) == len(names[index])
    for name, want in zip(names[index], expected):
        got = outputs[name]
        if np.asarray(want).dtype.kind in "iu":
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=case.name)
        else:
            assert_fp32_close(got, want, case.name, rtol=max(case.atol, 1e-5))


def test_reciprocal_follows_mil_inverse_epsilon():
    """coremltools lowers torch.reciprocal to MIL `inverse`, whose default epsilon (1e-4) is added
    before dividing; the runtime follows the op definition, so it differs from torch by ~eps/x."""
    from milrt_helpers import convert_torch

    class Reciprocal(torch.nn.Module):
        def forward(self, x):
            return torch.reciprocal(x)

    x = torch.tensor([0.1, 0.5, 2.0, 10.0])
    program = load_program(convert_torch(Reciprocal(), (x,)))
    got = program.run({"x0": x.numpy()}).outputs[program.output_names[0]]
    assert_fp32_close(got, 1.0 / (x.numpy() + 1e-4))
    assert not np.allclose(got, 1.0 / x.numpy(), rtol=1e-5), "the epsilon should be visible at x=0.1"
    assert math.isclose(float(got[0]), 1 / 0.1001, rel_tol=1e-6)
