"""Every composite op and export-frontend converter, over generated shapes, dtypes, dims, sizes
and scale factors, at fp32 and fp16: the converted program (real ct.convert, torchready's
converters, the MIL reference runtime) computes what eager PyTorch computes.

`TORCHREADY_OP_EXAMPLES=200 pytest tests/convert/composite_ops/test_composite_properties.py`
explores far more cases than CI's few fixed ones."""

import pytest
import torch
import torch.nn.functional as F
from eager_oracle import OP_SETTINGS, assert_matches_eager
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

pytestmark = pytest.mark.usefixtures("single_torch_thread")
PRECISIONS = ["fp32", "fp16"]


def _floats(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)
seeds = st.integers(0, 2**16)


# --- torch.diff ---------------------------------------------------------------------------------


class Diff(nn.Module):
    def __init__(self, kind, n, dim, prepend, append):
        super().__init__()
        self.kind, self.n, self.dim, self.prepend, self.append = kind, n, dim, prepend, append

    def forward(self, x):
        values = {"float": x, "int": (x * 4).round().to(torch.int64), "bool": x > 0}[self.kind]
        prepend = values.narrow(self.dim, 0, self.prepend) if self.prepend else None
        # a slice from the end (coremltools' own `narrow` gets a negative start wrong)
        last = [slice(None)] * values.dim()
        last[self.dim] = slice(-self.append, None)
        append = values[tuple(last)] if self.append else None
        if prepend is not None and self.kind == "bool":
            prepend = ~prepend
        result = torch.diff(values, n=self.n, dim=self.dim, prepend=prepend, append=append)
        return result if self.kind == "float" else result.to(torch.int32)


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(shape=shapes, data=st.data(), seed=seeds)
def test_diff(precision, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    kind = data.draw(st.sampled_from(["float", "int", "bool"]), label="kind")
    n = data.draw(st.integers(0, 3), label="n")
    size = shape[dim]
    prepend = data.draw(st.integers(0, size), label="prepend")
    append = data.draw(st.integers(0, size), label="append")
    assume(size + prepend + append > n)  # an empty result is not a Core ML output
    assert_matches_eager(Diff(kind, n, dim, prepend, append), (_floats(shape, seed),), precision)


# --- Tensor.new_ones ---------------------------------------------------------------------------


class NewOnes(nn.Module):
    def __init__(self, sizes, dtype):
        super().__init__()
        self.sizes, self.dtype = sizes, dtype  # a size: an int, or ("dim", i) for x.size(i)

    def forward(self, x):
        size = [x.size(s[1]) if isinstance(s, tuple) else s for s in self.sizes]
        ones = x.new_ones(size, dtype=self.dtype)
        if ones.dtype == torch.bool:
            return (ones & (x.sum() > -1e9)).to(torch.int32)
        return ones * 3 if ones.dtype == torch.int64 else ones + x.sum() * 0


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(shape=shapes, data=st.data(), seed=seeds)
def test_new_ones(precision, shape, data, seed):
    sizes = data.draw(st.lists(st.one_of(st.integers(1, 4),
                                         st.tuples(st.just("dim"),
                                                   st.integers(0, len(shape) - 1))),
                               max_size=3), label="sizes")
    dtype = data.draw(st.sampled_from([None, torch.float32, torch.int64, torch.bool]),
                      label="dtype")
    flexible = data.draw(st.booleans(), label="flexible") and \
        any(isinstance(s, tuple) for s in sizes)
    x = _floats(shape, seed)
    model = NewOnes(sizes, dtype)
    if not flexible:
        assert_matches_eager(model, (x,), precision)
        return
    # a dimension declared flexible: the converted model runs at another size than traced
    dim = next(s[1] for s in sizes if isinstance(s, tuple))
    other = list(shape)
    other[dim] = shape[dim] + 2
    assert_matches_eager(model, (x,), precision, flexible={"input_0": {dim: (1, 16)}},
                         run_inputs=(_floats(other, seed + 1),))


# --- int() / bool() of a size-derived one-element tensor -----------------------------------------


class PositionSlice(nn.Module):
    def __init__(self, length, past):
        super().__init__()
        self.past = past
        self.register_buffer("positions", torch.arange(float(length)).unsqueeze(0))

    def forward(self, x):
        seq_length = x.size(1)
        return x + self.positions[:, self.past: seq_length + self.past]


class SizeFlag(nn.Module):
    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        flag = bool(torch.tensor([x.size(1)]) > self.threshold)
        count = int(torch.tensor([x.size(1) * 2]))
        return x * count if flag else x - count


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(seq=st.integers(1, 8), past=st.integers(0, 3), spare=st.integers(0, 3), seed=seeds)
def test_int_of_a_traced_size(precision, seq, past, spare, seed):
    model = PositionSlice(seq + past + spare, past)
    assert_matches_eager(model, (_floats((1, seq), seed),), precision)


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(seq=st.integers(1, 8), threshold=st.integers(0, 8), seed=seeds)
def test_int_and_bool_in_a_scripted_model(precision, seq, threshold, seed):
    assert_matches_eager(SizeFlag(threshold), (_floats((2, seq), seed),), precision,
                         mode="script")


# --- scaled_dot_product_attention(enable_gqa=True) ------------------------------------------------


class GroupedQueryAttention(nn.Module):
    def __init__(self, causal, mask, scale):
        super().__init__()
        self.causal, self.mask, self.scale = causal, mask, scale

    def forward(self, query, key, value):
        mask = None
        if self.mask == "bool":
            mask = torch.ones(query.size(-2), key.size(-2), dtype=torch.bool).tril()
        elif self.mask == "float":  # an additive bias per key position, ALiBi-like
            mask = (torch.arange(float(key.size(-2))) * -0.5).expand(query.size(-2), -1)
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                              is_causal=self.causal, scale=self.scale,
                                              enable_gqa=True)


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(batch=st.integers(1, 2), kv_heads=st.integers(1, 3), group=st.integers(1, 3),
       length=st.integers(1, 5), source=st.integers(1, 5), width=st.integers(1, 6),
       value_width=st.integers(1, 6), data=st.data(), seed=seeds)
def test_sdpa_enable_gqa(precision, batch, kv_heads, group, length, source, width, value_width,
                         data, seed):
    mask = data.draw(st.sampled_from([None, "bool", "float"]), label="mask")
    causal = mask is None and length == source and data.draw(st.booleans(), label="causal")
    scale = data.draw(st.sampled_from([None, 0.5]), label="scale")
    inputs = (_floats((batch, kv_heads * group, length, width), seed),
              _floats((batch, kv_heads, source, width), seed + 1),
              _floats((batch, kv_heads, source, value_width), seed + 2))
    assert_matches_eager(GroupedQueryAttention(causal, mask, scale), inputs, precision)


# --- x[index] = value (coremltools' _internal_op_tensor_inplace_copy) -----------------------------


class Assign(nn.Module):
    def __init__(self, index, source):
        super().__init__()
        self.index, self.source = index, source  # source: "input", or ("size", k)

    def forward(self, x, y):
        out = x.clone()
        if self.source == "input":
            out[self.index] = y
        else:
            out[self.index] = x.size(0) * self.source[1] + 3  # a traced size, as in BEiT
        return out


@st.composite
def assignments(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    index, slot = [], []
    for size in shape[:draw(st.integers(1, len(shape)))]:
        if draw(st.booleans()):
            index.append(draw(st.integers(-size, size - 1)))
        else:
            start = draw(st.integers(0, size - 1))
            stop = draw(st.integers(start + 1, size))
            index.append(slice(start, stop))
            slot.append(stop - start)
    slot += shape[len(index):]
    # a source broadcastable to the slot: some sizes 1, some leading dimensions dropped
    source = [1 if draw(st.booleans()) else s for s in slot]
    source = source[draw(st.integers(0, len(source))):] if source else []
    return shape, tuple(index), source


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(case=assignments(), from_size=st.booleans(), seed=seeds)
def test_indexed_assignment(precision, case, from_size, seed):
    shape, index, source = case
    model = Assign(index, ("size", 2) if from_size else "input")
    # a one-element source for a single element: Core ML has no rank-0 inputs
    y = _floats(source or [1], seed + 1)
    assert_matches_eager(model, (_floats(shape, seed), y), precision)


# --- resizing: bicubic, antialiased bilinear, bilinear, nearest --------------------------------------

# Scale factors as models write them (decimals) and as they compute them (any double).
scale_factors = st.one_of(st.sampled_from([0.3, 0.5, 0.7, 0.75, 1.3, 1.5, 2.0, 2.5, 3.0]),
                          st.floats(0.3, 3.0).map(lambda s: round(s, 6)), st.just(1 / 3))


class Resize(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, x):
        return F.interpolate(x, **self.options)


@st.composite
def resizes(draw, mode):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(2, 12)),
             draw(st.integers(2, 12)))
    options = {"mode": mode}
    if draw(st.booleans()):
        options["size"] = (draw(st.integers(1, 20)), draw(st.integers(1, 20)))
    else:
        options["scale_factor"] = (draw(scale_factors), draw(scale_factors))
        options["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
        assume(all(int(n * s) >= 1 for n, s in zip(shape[2:], options["scale_factor"])))
    if mode in ("bicubic", "bilinear"):
        options["align_corners"] = draw(st.booleans())
        options["antialias"] = draw(st.booleans())
        # torch's antialiased kernels are not separable when the output is one pixel wide (every
        # output row is the first one): torchready computes the separable result there
        assume(not options["antialias"] or _output_width(shape, options) > 1)
    return shape, options


def _output_width(shape, options):
    if "size" in options:
        return options["size"][1]
    return int(shape[3] * options["scale_factor"][1])


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "nearest", "nearest-exact"])
@OP_SETTINGS
@given(data=st.data(), capture=st.sampled_from(["trace", "export"]), seed=seeds)
def test_resize(precision, mode, data, capture, seed):
    shape, options = data.draw(resizes(mode), label="resize")
    assert_matches_eager(Resize(**options), (_floats(shape, seed),), precision, mode=capture)


# --- the export frontend's converters ---------------------------------------------------------------


class WhereScalar(nn.Module):
    def __init__(self, kind, scalar, rank0):
        super().__init__()
        self.kind, self.scalar, self.rank0 = kind, scalar, rank0

    def forward(self, x, y):
        branch = {"float": y, "int": (y * 4).round().to(torch.int64), "bool": y > 0}[self.kind]
        if self.rank0:
            branch = branch.sum() if self.kind != "bool" else branch.any()
        result = torch.where(x > 0, branch, self.scalar)
        return result.to(torch.int32) if result.dtype in (torch.int64, torch.bool) else result


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(shape=shapes, kind=st.sampled_from(["float", "int", "bool"]),
       scalar=st.sampled_from([0.5, -2.25, 3, 0, float("-inf")]), rank0=st.booleans(),
       seed=seeds)
def test_where_with_a_scalar_in_export_mode(precision, shape, kind, scalar, rank0, seed):
    assume(not (kind == "bool" and scalar == float("-inf") and rank0))
    model = WhereScalar(kind, scalar, rank0)
    assert_matches_eager(model, (_floats(shape, seed), _floats(shape, seed + 1)), precision,
                         mode="export")


class AndOfMasks(nn.Module):
    def __init__(self, left):
        super().__init__()
        self.left = left

    def forward(self, x, y):
        flags = y > 0
        if self.left == "int":  # torch: int & bool, bitwise; masking_utils does this
            return ((x * 4).round().to(torch.int64) & flags).to(torch.int32)
        if self.left == "int-mask":  # a bool mask coremltools holds as int32
            return ((x > 0).to(torch.int64).bool() & flags).to(torch.int32)
        return ((x > 0) & flags).to(torch.int32)


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(shape=shapes, left=st.sampled_from(["bool", "int", "int-mask"]), seed=seeds)
def test_and_in_export_mode(precision, shape, left, seed):
    assert_matches_eager(AndOfMasks(left), (_floats(shape, seed), _floats(shape, seed + 1)),
                         precision, mode="export")


class SelectScatter(nn.Module):
    """BEiT's relative position bias: an integer-valued source scattered into a float tensor."""

    def __init__(self, dim, index):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        source = torch.ones_like(x.select(self.dim, self.index)) * (x.size(0) + 1)
        return x.select_scatter(source, self.dim, self.index)


@pytest.mark.parametrize("precision", PRECISIONS)
@OP_SETTINGS
@given(shape=shapes, data=st.data(), seed=seeds)
def test_select_scatter_in_export_mode(precision, shape, data, seed):
    dim = data.draw(st.integers(0, len(shape) - 1), label="dim")
    index = data.draw(st.integers(-shape[dim], shape[dim] - 1), label="index")
    assert_matches_eager(SelectScatter(dim, index), (_floats(shape, seed),), precision,
                         mode="export")


# --- the cases that were wrong, as they were found ---------------------------------------------------

ISSUE_CASES = {
    # torch: floor(10 * 0.7) = 7 in double; a float32 round trip of 0.7 gave 6
    "bicubic x0.7": (Resize(mode="bicubic", scale_factor=0.7), (1, 2, 10, 10), "trace"),
    "antialiased bilinear x0.7": (Resize(mode="bilinear", scale_factor=0.7, antialias=True),
                                  (1, 2, 10, 10), "trace"),
    "bicubic x1.3": (Resize(mode="bicubic", scale_factor=1.3), (1, 2, 10, 10), "trace"),
    "bicubic x0.7 exported": (Resize(mode="bicubic", scale_factor=0.7), (1, 2, 10, 10),
                              "export"),
    "nearest to 13x4": (Resize(mode="nearest", size=(13, 4)), (1, 2, 10, 10), "trace"),
    "diff of bools": (Diff("bool", 1, -1, 0, 0), (2, 6), "trace"),
    "where(mask, ints, 0.5) exported": (WhereScalar("int", 0.5, False), (2, 6), "export"),
}


@pytest.mark.parametrize("name", list(ISSUE_CASES))
def test_the_cases_that_were_wrong(name):
    model, shape, capture = ISSUE_CASES[name]
    inputs = tuple(_floats(shape, seed) for seed in range(2 if capture == "export" and
                                                          isinstance(model, WhereScalar) else 1))
    assert_matches_eager(model, inputs, "fp32", mode=capture)
