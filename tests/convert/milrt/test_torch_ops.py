"""Op-by-op correctness against eager PyTorch.

Each family is one small torch module with many outputs (one conversion covers many ops), traced,
converted by ct.convert to an fp32 and an fp16 ML program, loaded back through the runtime's
loader and executed. fp32 programs must match eager to ~1e-5 relative; fp16 programs are judged
by PSNR against fp32 eager. Each family also asserts which MIL op types its program contains, so
the comparison really exercises the kernels it claims to.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from milrt_helpers import assert_fp16_close, assert_fp32_close, convert_torch, feeds_for, op_types
from torch import nn

from torchready.convert.milrt import load_program


class Elementwise(nn.Module):
    def forward(self, x, y, p, i, j):
        # x: (2, 3, 5) any sign; y: (3, 5) broadcast; p: (2, 3, 5) positive; i, j: int32 (2, 3, 5)
        u = torch.clamp(x, -0.9, 0.9)
        return (
            x + y,
            x - y,
            x * y,
            x / p,
            torch.floor_divide(x, y + 3.0),
            torch.remainder(x, y + 3.0),
            torch.remainder(-x, 1.7),
            torch.pow(p, 1.7),
            torch.pow(p, y),
            torch.maximum(x, y),
            torch.minimum(x, y),
            (x > y).float(),
            (x >= y).float(),
            (x < y).float(),
            (x <= y).float(),
            (x == y).float(),
            (x != y).float(),
            torch.logical_and(x > 0, y > 0).float(),
            torch.logical_or(x > 0, y > 0).float(),
            torch.logical_xor(x > 0, y > 0).float(),
            torch.logical_not(x > 0).float(),
            torch.abs(x),
            torch.acos(u),
            torch.asin(u),
            torch.atan(x),
            torch.atanh(u),
            torch.ceil(x * 3),
            torch.cos(x),
            torch.cosh(x),
            torch.erf(x),
            torch.exp(x),
            torch.floor(x * 3),
            torch.log(p),
            torch.round(x * 4),
            torch.rsqrt(p),
            torch.sign(x),
            torch.sin(x),
            torch.sinh(x),
            torch.sqrt(p),
            x * x,
            torch.tan(u),
            torch.tanh(x),
            torch.clamp(x, -0.5, 0.25),
            torch.exp2(x),
            i + j,
            i * j,
            i - j,
            torch.floor_divide(i, j),
            torch.remainder(i, j),
            torch.maximum(i, j),
            (i > j).int(),
            torch.abs(i),
            i.float() * 0.5,
            x.int(),
        )


def _elementwise_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, generator=g)
    y = torch.randn(3, 5, generator=g)
    p = torch.rand(2, 3, 5, generator=g) + 0.1
    i = torch.randint(-20, 20, (2, 3, 5), generator=g, dtype=torch.int32)
    j = torch.randint(1, 7, (2, 3, 5), generator=g, dtype=torch.int32)
    return (x, y, p, i, j)


class Activations(nn.Module):
    def __init__(self):
        super().__init__()
        self.prelu = nn.PReLU(4, init=0.2)
        with torch.no_grad():
            self.prelu.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.4]))

    def forward(self, x):
        return (
            F.relu(x),
            F.relu6(x * 4),
            F.leaky_relu(x, 0.1),
            F.elu(x, 0.7),
            F.gelu(x),
            F.gelu(x, approximate="tanh"),
            torch.sigmoid(x),
            F.hardsigmoid(x * 3),
            F.hardswish(x * 3),
            F.silu(x),
            F.softplus(x),
            F.softsign(x),
            torch.tanh(x),
            self.prelu(x),
            torch.softmax(x, dim=1),
            torch.log_softmax(x, dim=-1),
            F.hardtanh(x, -0.5, 0.5),
            F.selu(x),
            F.mish(x),
            F.threshold(x, 0.1, 20.0),
        )


class Reductions(nn.Module):
    def forward(self, x, i):
        return (
            x.sum(dim=1),
            x.sum(dim=(0, 2), keepdim=True),
            x.sum(),
            x.mean(dim=-1),
            x.mean(dim=(1, 2)),
            x.amax(dim=2),
            x.amin(dim=-2, keepdim=True),
            x.argmax(dim=1).int(),
            x.argmin(dim=-1).int(),
            x.norm(p=1, dim=2),
            x.norm(p=2, dim=(1, 2)),
            torch.logsumexp(x, dim=1),
            (x * x).sum(dim=0),
            x.var(dim=-1),
            x.std(dim=1, keepdim=True),
            i.sum(dim=1),
            i.amax(dim=0),
        )


class Shapes(nn.Module):
    def forward(self, x, idx):
        # x: (2, 3, 4, 5) float; idx: (3,) int in [0, 4)
        a, b = torch.split(x, [1, 2], dim=1)
        c0, c1, c2 = torch.chunk(x, 3, dim=1)
        return (
            x.reshape(6, 20),
            x.permute(3, 1, 0, 2),
            x[:, :1].squeeze(1),
            x.unsqueeze(-1),
            torch.flatten(x, 1),
            torch.cat([x, x * 2], dim=-1),
            torch.stack([x, -x], dim=1),
            a,
            b,
            c2 - c0 + c1,
            x[:, 1:, ::2, 1:4],
            x[..., -1],
            x[:, :, -3:-1],
            x[1],
            x.narrow(2, 1, 2),
            x.repeat(1, 2, 1, 1),
            x[:, :1].expand(2, 3, 4, 5),
            torch.flip(x, dims=[1, 3]),
            F.pad(x, (1, 2, 0, 1)),
            F.pad(x, (2, 1, 1, 2), mode="reflect"),
            F.pad(x, (1, 2, 2, 1), mode="replicate"),
            F.pixel_shuffle(x[:, :1].repeat(1, 4, 1, 1), 2),
            torch.cumsum(x, dim=2),
            torch.topk(x, 2, dim=-1)[0],
            torch.topk(x, 2, dim=-1)[1].int(),
            torch.sort(x, dim=1, descending=True)[0],
            torch.tril(x),
            torch.triu(x, diagonal=1),
            torch.index_select(x, 2, idx),
            x.transpose(-1, -2).contiguous(),
            x.masked_fill(x > 0.5, -1.0),
            torch.where(x > 0, x, x * 0.1),
            torch.arange(x.shape[-1]).float() * 2,
            torch.zeros_like(x) + 3.0,
            x.roll(1, dims=2),
        )


class Gathers(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4)

    def forward(self, x, tokens, along, rows):
        # x: (4, 6); tokens: (2, 3) in [0, 10); along: (4, 2) in [0, 6); rows: (3,) in [0, 4)
        scattered = torch.zeros(4, 6).scatter(1, along, torch.ones(4, 2))
        added = torch.zeros(4, 6).scatter_add(1, along, x[:, :2])
        return (
            self.embedding(tokens),
            torch.gather(x, 1, along),
            x[rows],
            x[rows, rows],
            x[:, along[0]],
            scattered,
            added,
            x.index_select(0, rows) * 2,
        )


class ConvPool(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2)
        self.c2_same = nn.Conv2d(4, 4, 4, padding="same")
        self.c2_stride = nn.Conv2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0))
        self.c2_depthwise = nn.Conv2d(4, 8, 3, groups=4, bias=False)
        self.c3 = nn.Conv3d(2, 3, 3, padding=1)
        self.t1 = nn.ConvTranspose1d(4, 3, 3, stride=2)
        self.t2 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.t2_plain = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.t3 = nn.ConvTranspose3d(2, 2, 2, stride=2)
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x, v):
        # x: (1, 4, 7, 9) odd sizes; v: (1, 2, 5, 6, 7)
        return (
            self.c1(x[:, :, 0]),
            self.c2(x),
            self.c2_same(x),
            self.c2_stride(x),
            self.c2_depthwise(x),
            self.c3(v),
            self.t1(x[:, :, 0]),
            self.t2(x),
            self.t2_plain(x),
            self.t3(v),
            F.max_pool2d(x, 2),
            F.max_pool2d(x, 3, stride=2, padding=1),
            F.max_pool2d(x, 2, ceil_mode=True),
            F.max_pool1d(x[:, :, 0], 3, stride=2),
            F.max_pool3d(v, 2),
            F.avg_pool2d(x, 2),
            F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
            F.avg_pool2d(x, 3, stride=2, padding=1),
            F.avg_pool2d(x, 2, ceil_mode=True),
            F.avg_pool1d(x[:, :, 0], 2),
            F.avg_pool3d(v, 2),
            F.adaptive_avg_pool2d(x, 1),
            F.adaptive_max_pool2d(x[:, :, :6, :8], (3, 2)),
            F.lp_pool2d(x, 2, 2),
        )


class Norms(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.bn = nn.BatchNorm2d(4)
        self.bn1d = nn.BatchNorm1d(4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.ln = nn.LayerNorm([5, 6])
        self.gn = nn.GroupNorm(2, 4)
        with torch.no_grad():
            for m in (self.bn, self.bn1d):
                m.running_mean.copy_(torch.randn(4, generator=g))
                m.running_var.copy_(torch.rand(4, generator=g) + 0.5)
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def forward(self, x):
        # x: (2, 4, 5, 6); add 1 so batch_norm is not folded into a preceding conv (there is none)
        return (
            self.bn(x + 1.0),
            self.bn1d(x[:, :, 0]),
            self.inorm(x),
            self.ln(x),
            self.gn(x),
            F.normalize(x, dim=1),
            F.layer_norm(x, [6], eps=1e-3),
        )


class Resizing(nn.Module):
    def forward(self, x):
        # x: (1, 2, 5, 7)
        return (
            F.interpolate(x, scale_factor=2, mode="nearest"),
            F.interpolate(x, scale_factor=(3, 2), mode="nearest"),
            F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
            F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
            F.interpolate(x, size=(9, 11), mode="bilinear", align_corners=True),
            F.interpolate(x, size=(10, 14), mode="bilinear", align_corners=False),
            F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=True),
            F.interpolate(x, size=(10, 21), mode="nearest"),
            F.interpolate(x[:, :, 0], scale_factor=2, mode="linear", align_corners=False),
            F.upsample(x, scale_factor=2, mode="nearest"),
        )


class LinearAlgebra(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 3)
        self.fc_nobias = nn.Linear(5, 4, bias=False)

    def forward(self, a, b, c):
        # a: (2, 3, 5); b: (5, 4); c: (2, 1, 4, 5)
        return (
            self.fc(a),
            self.fc_nobias(a),
            a @ b,
            torch.matmul(c, a.transpose(-1, -2)),
            torch.bmm(a, a.transpose(1, 2)),
            torch.einsum("bij,jk->bik", a, b),
            torch.einsum("bhij,bhkj->bhik", c, c),
            torch.matmul(a[0, 0], b),
        )


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 5, num_layers=2, bidirectional=True)
        self.lstm_bf = nn.LSTM(6, 4, batch_first=True)
        self.gru = nn.GRU(6, 5)
        self.rnn = nn.RNN(6, 3)

    def forward(self, x):
        # x: (7, 2, 6) sequence first
        y, (h, c) = self.lstm(x)
        z, (hz, cz) = self.lstm_bf(x.transpose(0, 1))
        g, hg = self.gru(x)
        r, hr = self.rnn(x)
        return y, h, c, z, hz, cz, g, hg, r, hr


def _seeded(*shapes, kind="randn", seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(getattr(torch, kind)(*shape, generator=g) for shape in shapes)


FAMILIES = {
    "elementwise": (
        Elementwise,
        _elementwise_inputs,
        {
            "add",
            "sub",
            "mul",
            "real_div",
            "floor_div",
            "pow",
            "maximum",
            "minimum",
            "greater",
            "greater_equal",
            "less",
            "less_equal",
            "equal",
            "not_equal",
            "logical_and",
            "logical_or",
            "logical_xor",
            "logical_not",
            "abs",
            "acos",
            "asin",
            "atan",
            "atanh",
            "ceil",
            "cos",
            "cosh",
            "erf",
            "exp",
            "floor",
            "log",
            "round",
            "rsqrt",
            "sign",
            "sin",
            "sinh",
            "sqrt",
            "tan",
            "tanh",
            "clip",
            "cast",
        },
    ),
    "activation": (
        Activations,
        lambda: _seeded((2, 4, 3, 5)),
        {
            "relu",
            "relu6",
            "leaky_relu",
            "elu",
            "gelu",
            "sigmoid",
            "sigmoid_hard",
            "silu",
            "softplus",
            "tanh",
            "prelu",
            "softmax",
            "clip",
        },
    ),
    "reduction": (
        Reductions,
        lambda: _seeded((3, 4, 5)) + (torch.randint(-5, 5, (3, 4), dtype=torch.int32),),
        {
            "reduce_sum",
            "reduce_mean",
            "reduce_max",
            "reduce_min",
            "reduce_argmax",
            "reduce_argmin",
            "reduce_l2_norm",
            "reduce_log_sum_exp",
        },
    ),
    "shape": (
        Shapes,
        lambda: _seeded((2, 3, 4, 5)) + (torch.tensor([3, 0, 2], dtype=torch.int32),),
        {
            "reshape",
            "transpose",
            "squeeze",
            "expand_dims",
            "concat",
            "stack",
            "split",
            "slice_by_index",
            "tile",
            "pad",
            "reverse",
            "pixel_shuffle",
            "cumsum",
            "topk",
            "argsort",
            "band_part",
            "gather",
            "select",
        },
    ),
    "gather/scatter": (
        Gathers,
        lambda: (
            _seeded((4, 6))[0],
            torch.tensor([[1, 9, 0], [4, 4, 7]], dtype=torch.int32),
            torch.tensor([[0, 5], [1, 1], [2, 3], [5, 4]], dtype=torch.int32),
            torch.tensor([3, 0, 2], dtype=torch.int32),
        ),
        {"gather", "gather_along_axis", "scatter_along_axis"},
    ),
    "convolution/pooling": (
        ConvPool,
        lambda: _seeded((1, 4, 7, 9), (1, 2, 5, 6, 7)),
        {"conv", "conv_transpose", "max_pool", "avg_pool"},
    ),
    "normalization": (Norms, lambda: _seeded((2, 4, 5, 6)), {"batch_norm", "instance_norm", "layer_norm"}),
    "resizing": (Resizing, lambda: _seeded((1, 2, 5, 7)), {"upsample_nearest_neighbor", "upsample_bilinear"}),
    "linear algebra": (LinearAlgebra, lambda: _seeded((2, 3, 5), (5, 4), (2, 1, 4, 5)), {"linear", "matmul"}),
    "recurrent": (Recurrent, lambda: _seeded((7, 2, 6)), {"lstm"}),
}

PRECISIONS = ("fp32", "fp16")


@pytest.fixture(scope="module")
def converted():
    """family -> precision -> (module, inputs, ReferenceProgram); each converted once."""
    cache: dict = {}

    def get(family: str, precision: str):
        key = (family, precision)
        if key not in cache:
            factory, make_inputs, _ = FAMILIES[family]
            torch.manual_seed(0)
            module = factory().eval()
            inputs = make_inputs()
            cache[key] = (module, inputs, load_program(convert_torch(module, inputs, precision)))
        return cache[key]

    return get


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_matches_eager(converted, family, precision):
    module, inputs, program = converted(family, precision)
    with torch.no_grad():
        expected = module(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    result = program.run(feeds_for(program, inputs))
    assert len(program.output_names) == len(expected)
    for index, (name, reference) in enumerate(zip(program.output_names, expected)):
        got = result.outputs[name]
        reference = reference.numpy()
        label = f"{family}[{index}] ({name})"
        if precision == "fp32" or reference.dtype.kind in "iub":
            if precision == "fp16" and reference.dtype.kind in "iu":
                # Integer results of fp16 math (argmax, casts, sorts) may flip on near-ties.
                agreement = np.mean(np.asarray(got) == reference)
                assert agreement >= 0.9, f"{label}: only {agreement:.0%} of integer outputs agree"
                continue
            assert_fp32_close(got, reference, label)
        else:
            assert_fp16_close(got, reference, label, min_psnr=38.0)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_exercises_its_ops(converted, family):
    _, _, program = converted(family, "fp32")
    expected_ops = FAMILIES[family][2]
    missing = expected_ops - op_types(program)
    assert not missing, f"{family}: the converted program has no {sorted(missing)}"
    assert program.unsupported_ops() == []


def test_fp16_program_rounds_every_fp16_value(converted):
    """Every value an fp16 program declares fp16 is on the fp16 grid after its op."""
    _, inputs, program = converted("activation", "fp16")
    result = program.run(feeds_for(program, inputs), keep="all")
    fp16_values = [s for r in result.records for s in r.outputs if s.dtype == "fp16"]
    assert len(fp16_values) > 10
    for stats in fp16_values:
        value = result.intermediates[stats.name]
        assert value.dtype == np.float16, stats.name
    exact = program.run(feeds_for(program, inputs), keep="all", precision="fp32")
    assert any(
        exact.intermediates[s.name].dtype == np.float32
        and not np.array_equal(exact.intermediates[s.name], exact.intermediates[s.name].astype(np.float16))
        for s in fp16_values
    ), "precision='fp32' should keep values off the fp16 grid"
