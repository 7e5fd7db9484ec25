"""Kernels against coremltools' own numpy `value_inference`, an independent oracle.

Every case is one MIL op. The runtime side builds all cases of an opset into one pymil program
whose tensors are function inputs (so nothing is constant-folded), converts it once with
ct.convert (no optimization passes, so each op ships as built), loads it back and runs it. The
oracle side builds the same op on constants, which makes pymil compute `value_inference()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from milrt_helpers import convert_mil

from torchready.convert.milrt import load_program

RNG = np.random.default_rng(7)


def f32(*shape, low=-2.0, high=2.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def i32(*shape, low=-5, high=5):
    return RNG.integers(low, high, size=shape).astype(np.int32)


def distinct(*shape):
    """Floats without ties, so sorts and argmax have one right answer."""
    return RNG.permutation(np.arange(int(np.prod(shape)), dtype=np.float32)).reshape(shape) / 7.0 - 1.0


@dataclass
class Case:
    op: str
    tensors: dict  # runtime inputs: function inputs in the program, consts for the oracle
    attrs: dict = field(default_factory=dict)
    rtol: float = 1e-5


X, Y = f32(2, 3, 4), f32(3, 4)
POS = f32(2, 3, 4, low=0.1, high=3.0)
UNIT = f32(2, 3, 4, low=-0.95, high=0.95)
IA, IB = i32(2, 3, 4), i32(2, 3, 4, low=1, high=6)

ELEMENTWISE = [
    Case("add", {"x": X, "y": Y}),
    Case("sub", {"x": X, "y": Y}),
    Case("mul", {"x": X, "y": Y}),
    Case("real_div", {"x": X, "y": POS}),
    Case("floor_div", {"x": X, "y": Y + 3}),
    Case("mod", {"x": X, "y": Y + 3}),
    Case("mod", {"x": -X, "y": np.float32(1.7)}),
    Case("floor_div", {"x": IA, "y": IB}),
    Case("mod", {"x": IA, "y": IB}),
    Case("pow", {"x": POS, "y": Y}),
    Case("maximum", {"x": X, "y": Y}),
    Case("minimum", {"x": IA, "y": IB}),
    Case("add", {"x": IA, "y": IB}),
    Case("real_div", {"x": IA * 7, "y": IB}),
    *(
        Case(op, {"x": X, "y": Y})
        for op in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
    ),
    *(Case(op, {"x": X > 0, "y": Y > 0}) for op in ("logical_and", "logical_or", "logical_xor")),
    Case("logical_not", {"x": X > 0}),
    *(
        Case(op, {"x": X})
        for op in (
            "abs",
            "atan",
            "ceil",
            "cos",
            "cosh",
            "erf",
            "exp",
            "exp2",
            "floor",
            "round",
            "sign",
            "sin",
            "sinh",
            "square",
            "tanh",
        )
    ),
    Case("round", {"x": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49], dtype=np.float32)}),
    *(Case(op, {"x": UNIT}) for op in ("acos", "asin", "atanh", "tan")),
    *(Case(op, {"x": POS}) for op in ("log", "rsqrt", "sqrt", "inverse")),
    Case("log", {"x": POS}, {"epsilon": 0.5}),
    Case("rsqrt", {"x": POS}, {"epsilon": 0.25}),
    Case("inverse", {"x": POS}, {"epsilon": 1.0}),
    Case("abs", {"x": IA}),
    Case("square", {"x": IA}),
    Case("clip", {"x": X}, {"alpha": -0.5, "beta": 0.75}),
    Case("threshold", {"x": X}, {"alpha": 0.3}),
    Case("cast", {"x": X * 3}, {"dtype": "int32"}),
    Case("cast", {"x": IA}, {"dtype": "fp32"}),
    Case("cast", {"x": X}, {"dtype": "bool"}),
]

ACTIVATIONS = [
    *(Case(op, {"x": X}) for op in ("relu", "relu6", "sigmoid", "softplus", "softsign", "tanh")),
    Case("relu6", {"x": X * 5}),
    Case("clamped_relu", {"x": X * 3}, {"alpha": 0.2, "beta": 1.5}),
    Case("elu", {"x": X}, {"alpha": 0.7}),
    Case("leaky_relu", {"x": X}, {"alpha": 0.05}),
    *(Case("gelu", {"x": X}, {"mode": m}) for m in ("EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION")),
    Case("linear_activation", {"x": X}, {"alpha": 1.5, "beta": -0.25}),
    Case("prelu", {"x": f32(2, 3, 4, 5)}, {"alpha": np.array([0.1, -0.3, 0.7], dtype=np.float32)}),
    Case("scaled_tanh", {"x": X}, {"alpha": 1.7, "beta": 0.6}),
    Case("sigmoid_hard", {"x": X}, {"alpha": 0.3, "beta": 0.4}),
    Case(
        "softplus_parametric",
        {"x": f32(2, 3, 4, 5)},
        {
            "alpha": np.array([1.0, 0.5, 2.0], dtype=np.float32),
            "beta": np.array([0.5, 1.0, 2.0], dtype=np.float32),
        },
    ),
    Case("thresholded_relu", {"x": X}, {"alpha": 0.2}),
    Case("softmax", {"x": X}, {"axis": 1}),
    Case("softmax", {"x": X * 10}, {"axis": -1}),
]

REDUCTIONS = [
    *(
        Case(op, {"x": X}, {"axes": axes, "keep_dims": keep})
        for op in (
            "reduce_sum",
            "reduce_mean",
            "reduce_max",
            "reduce_min",
            "reduce_prod",
            "reduce_l1_norm",
            "reduce_l2_norm",
            "reduce_sum_square",
            "reduce_log_sum_exp",
        )
        for axes, keep in (([1], False), ([-1, 0], True), (None, False))
    ),
    Case("reduce_log_sum", {"x": POS}, {"axes": [2]}),
    Case("reduce_sum", {"x": IA}, {"axes": [1]}),
    Case("reduce_mean", {"x": IA}, {"axes": [2], "keep_dims": True}),
    Case("reduce_argmax", {"x": distinct(2, 3, 4)}, {"axis": 1}),
    Case("reduce_argmin", {"x": distinct(2, 3, 4)}, {"axis": -1, "keep_dims": True}),
]

SHAPES = [
    Case("reshape", {"x": X, "shape": np.array([4, 0, -1], dtype=np.int32)}),
    Case("reshape", {"x": X, "shape": np.array([-1, 2], dtype=np.int32)}),
    Case("transpose", {"x": X}, {"perm": [2, 0, 1]}),
    Case("expand_dims", {"x": X}, {"axes": [0, -1]}),
    Case("squeeze", {"x": f32(1, 3, 1, 2)}, {"axes": [0]}),
    Case("squeeze", {"x": f32(1, 3, 1, 2)}),
    Case("flatten2d", {"x": f32(2, 3, 4, 5)}, {"axis": -2}),
    Case("reverse", {"x": X}, {"axes": [0, 2]}),
    Case("tile", {"x": X, "reps": np.array([1, 2, 3], dtype=np.int32)}),
    Case("concat", {}, {"values": ("X", "X2"), "axis": -1}),
    Case("stack", {}, {"values": ("X", "X2"), "axis": 2}),
    Case("split", {"x": f32(2, 6, 3)}, {"axis": 1, "num_splits": 3}),
    Case("split", {"x": f32(2, 6, 3)}, {"axis": -2, "split_sizes": [1, 5]}),
    Case(
        "slice_by_index",
        {
            "x": f32(4, 5, 6),
            "begin": np.array([1, -4, 0], dtype=np.int32),
            "end": np.array([4, -1, 6], dtype=np.int32),
        },
        {"stride": [2, 1, 3]},
    ),
    Case(
        "slice_by_index",
        {
            "x": f32(4, 5, 6),
            "begin": np.array([3, 0, 5], dtype=np.int32),
            "end": np.array([0, 5, 0], dtype=np.int32),
        },
        {"stride": [-1, 2, -2], "begin_mask": [False, True, False], "end_mask": [True, False, True]},
    ),
    Case(
        "slice_by_index",
        {
            "x": f32(4, 5, 6),
            "begin": np.array([2, 0, -1], dtype=np.int32),
            "end": np.array([3, 5, 0], dtype=np.int32),
        },
        {"squeeze_mask": [True, False, True], "end_mask": [False, True, False]},
    ),
    Case(
        "slice_by_size",
        {
            "x": f32(4, 5, 6),
            "begin": np.array([1, -3, 0], dtype=np.int32),
            "size": np.array([2, -1, 4], dtype=np.int32),
        },
    ),
    Case(
        "pad", {"x": f32(2, 3, 4), "pad": np.array([0, 0, 1, 2, 0, 3], dtype=np.int32)}, {"constant_val": 1.5}
    ),
    Case(
        "pad", {"x": f32(2, 3, 4), "pad": np.array([0, 0, 2, 1, 3, 2], dtype=np.int32)}, {"mode": "reflect"}
    ),
    Case(
        "pad", {"x": f32(2, 3, 4), "pad": np.array([0, 0, 2, 1, 1, 3], dtype=np.int32)}, {"mode": "replicate"}
    ),
    Case("shape", {"x": X}),
    Case("identity", {"x": X}),
    Case("fill", {"shape": np.array([2, 3], dtype=np.int32)}, {"value": 2.5}),
    Case("range_1d", {"end": np.int32(11), "start": np.int32(-3), "step": np.int32(3)}),
    Case("range_1d", {"end": np.float32(2.0), "start": np.float32(-1.0), "step": np.float32(0.4)}),
    Case("band_part", {"x": f32(2, 4, 5)}, {"lower": 1, "upper": 2}),
    Case("band_part", {"x": f32(4, 5)}, {"lower": 0}),
    Case("cumsum", {"x": X}, {"axis": 1}),
    Case("cumsum", {"x": X}, {"axis": -1, "reverse": True}),
    Case("topk", {"x": distinct(3, 6)}, {"k": 2}),
    Case("topk", {"x": distinct(3, 6)}, {"k": 3, "axis": 0, "ascending": True}),
    Case("argsort", {"x": distinct(3, 6)}),
    Case("argsort", {"x": distinct(3, 6)}, {"axis": 0, "ascending": True}),
    Case("non_zero", {"x": (X > 0.5).astype(np.float32)}),
    Case("select", {"cond": X > 0, "a": X, "b": Y}),
]

GATHER = [
    Case("gather", {"x": f32(5, 3), "indices": np.array([[4, 0], [2, 2]], dtype=np.int32)}, {"axis": 0}),
    Case("gather", {"x": f32(2, 5, 3), "indices": np.array([1, 4, 0], dtype=np.int32)}, {"axis": -2}),
    Case(
        "gather_along_axis",
        {"x": f32(3, 4), "indices": np.array([[0, 2, 1, 1], [2, 2, 0, 1]], dtype=np.int32)},
        {"axis": 0},
    ),
    Case(
        "gather_along_axis",
        {"x": f32(3, 4), "indices": np.array([[3], [0], [1]], dtype=np.int32)},
        {"axis": 1},
    ),
    Case(
        "scatter_along_axis",
        {"data": f32(3, 4), "indices": np.array([[2], [0], [3]], dtype=np.int32), "updates": f32(3, 1)},
        {"axis": 1, "mode": "update"},
    ),
]

LINEAR = [
    Case("linear", {"x": f32(2, 3, 5)}, {"weight": f32(4, 5), "bias": f32(4)}),
    Case("matmul", {"x": f32(2, 3, 5), "y": f32(5, 4)}),
    Case("matmul", {"x": f32(2, 5, 3), "y": f32(2, 4, 5)}, {"transpose_x": True, "transpose_y": True}),
    Case("matmul", {"x": f32(5), "y": f32(5, 4)}),
    Case("einsum", {}, {"values": ("E1", "E2"), "equation": "nchw,nwhu->nchu"}),
    Case("einsum", {}, {"values": ("E3", "E4"), "equation": "chw,whr->chr"}),
    Case("layer_norm", {"x": f32(2, 3, 4)}, {"axes": [-1], "gamma": f32(4), "beta": f32(4), "epsilon": 1e-3}),
    Case("layer_norm", {"x": f32(2, 3, 4)}, {"axes": [0, 2]}),
    Case("l2_norm", {"x": f32(2, 3, 4, 5)}),
]

NAMED = {
    "X": X,
    "X2": f32(2, 3, 4),
    "E1": f32(2, 3, 4, 5),
    "E2": f32(1, 5, 4, 6),
    "E3": f32(3, 4, 5),
    "E4": f32(5, 1, 2),
}

IOS17_ONLY = [
    Case(
        "gather",
        {"x": f32(2, 5, 3), "indices": np.array([[1, 4], [0, 3]], dtype=np.int32)},
        {"axis": 1, "batch_dims": 1},
    ),
    Case("reduce_argmax", {"x": distinct(2, 3, 4)}, {"axis": 2, "output_dtype": "int32"}),
]
IOS18_ONLY = [
    Case(
        "scaled_dot_product_attention",
        {"query": f32(2, 3, 4, 5), "key": f32(2, 3, 6, 5), "value": f32(2, 3, 6, 7)},
    ),
    Case(
        "scaled_dot_product_attention",
        {
            "query": f32(1, 2, 4, 5),
            "key": f32(1, 2, 6, 5),
            "value": f32(1, 2, 6, 3),
            "attn_mask": RNG.uniform(size=(4, 6)) > 0.3,
        },
    ),
    Case(
        "slice_update",
        {
            "x": f32(4, 5),
            "update": f32(2, 5),
            "begin": np.array([1, 0], dtype=np.int32),
            "end": np.array([4, 5], dtype=np.int32),
        },
        {"stride": [2, 1]},
    ),
]

GROUPS = {
    "iOS15": ELEMENTWISE + ACTIVATIONS + REDUCTIONS + SHAPES + GATHER + LINEAR,
    "iOS17": ELEMENTWISE[:14] + GATHER + IOS17_ONLY,
    "iOS18": IOS18_ONLY,
}


def _mil_dtype(array: np.ndarray):
    from coremltools.converters.mil.mil import types

    return {
        np.dtype(np.float32): types.fp32,
        np.dtype(np.int32): types.int32,
        np.dtype(np.bool_): types.bool,
    }[array.dtype]


def _call(mb, case: Case, tensor_vars: dict, named_vars: dict, name: str):
    attrs = {
        k: (tuple(named_vars[v] for v in val) if k == "values" else val) for k, val in case.attrs.items()
    }
    out = getattr(mb, case.op)(**tensor_vars, **attrs, name=name)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _oracle(case: Case, target) -> list:
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Function

    # Copies: some value_inference implementations (thresholded_relu) write into their input.
    with Function({}, opset_version=target):
        named = {k: mb.const(val=np.array(v, copy=True)) for k, v in NAMED.items()}
        tensors = {k: mb.const(val=np.array(v, copy=True)) for k, v in case.tensors.items()}
        outs = _call(mb, case, tensors, named, "oracle")
        return [o.val for o in outs]


def _build_program(cases: list[Case], target):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Function, Program

    placeholders = {}
    for i, case in enumerate(cases):
        for param, value in case.tensors.items():
            value = np.asarray(value)
            if value.ndim:  # Core ML has no rank-0 inputs: scalars stay constants of the program
                placeholders[f"c{i}_{param}"] = mb.placeholder(shape=value.shape, dtype=_mil_dtype(value))
    for name, value in NAMED.items():
        placeholders[f"named_{name}"] = mb.placeholder(shape=value.shape, dtype=_mil_dtype(value))
    program = Program()
    outputs_per_case = []
    with Function(placeholders, opset_version=target) as function:
        named = {k: function.inputs[f"named_{k}"] for k in NAMED}
        all_outputs = []
        for i, case in enumerate(cases):
            tensors = {
                p: function.inputs[f"c{i}_{p}"] if np.ndim(v) else mb.const(val=v)
                for p, v in case.tensors.items()
            }
            outs = _call(mb, case, tensors, named, f"c{i}")
            outputs_per_case.append([o.name for o in outs])
            all_outputs += outs
        function.set_outputs(all_outputs)
    program.add_function("main", function)
    return program, outputs_per_case


def _feeds(cases: list[Case]) -> dict:
    feeds = {
        f"c{i}_{p}": np.asarray(v)
        for i, case in enumerate(cases)
        for p, v in case.tensors.items()
        if np.ndim(v)
    }
    feeds.update({f"named_{k}": v for k, v in NAMED.items()})
    return feeds


@pytest.fixture(scope="module")
def runs():
    import coremltools as ct

    results = {}
    for group, cases in GROUPS.items():
        target = getattr(ct.target, group)
        program, names = _build_program(cases, target)
        reference = load_program(convert_mil(program, target))
        # Bool inputs are not Core ML inputs: ct.convert turns them into int32 (cast back inside).
        feeds = {k: (v.astype(np.int32) if v.dtype == np.bool_ else v) for k, v in _feeds(cases).items()}
        results[group] = (cases, names, reference.run(feeds, precision="fp32").outputs, target)
    return results


CASE_IDS = [(g, i) for g, cases in GROUPS.items() for i in range(len(cases))]


@pytest.mark.parametrize("group, index", CASE_IDS, ids=[f"{g}-{GROUPS[g][i].op}-{i}" for g, i in CASE_IDS])
def test_kernel_matches_value_inference(runs, group, index):
    cases, names, outputs, target = runs[group]
    case = cases[index]
    expected = _oracle(case, target)
    assert all(e is not None for e in expected), f"{case.op} has no value_inference for this case"
    for name, want in zip(names[index], expected):
        got = np.asarray(outputs[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        assert got.shape == want.shape, f"{case.op}: shape {got.shape} != oracle {want.shape}"
        np.testing.assert_allclose(
            got,
            want,
            rtol=case.rtol,
            atol=1e-5 * max(1.0, float(np.abs(want).max(initial=0))),
            err_msg=f"{case.op} {case.attrs}",
        )


def test_oracle_groups_cover_many_op_types():
    covered = {case.op for cases in GROUPS.values() for case in cases}
    assert len(covered) >= 95, sorted(covered)
