"""while_loop, cond, lists and the loop guard: scripted torch models and hand-built MIL programs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from milrt_helpers import convert_mil, convert_torch, op_types

from torchready.convert.milrt import LoopLimitError, load_program


class LoopIf(torch.nn.Module):
    """A data-dependent loop with a branch inside: n iterations, halving or shifting y."""

    def forward(self, x, n):
        y = x
        i = torch.zeros_like(n)
        while bool(i < n):
            if bool(y.sum() > 0):
                y = y * 0.5 - 1.0
            else:
                y = y + 2.0
            i = i + 1
        return y


@pytest.fixture(scope="module")
def loop_if_program():
    import coremltools as ct

    example = (torch.randn(2, 3), torch.tensor([3], dtype=torch.int32))
    inputs = [ct.TensorType(name="x", shape=(2, 3)), ct.TensorType(name="n", shape=(1,), dtype=np.int32)]
    return load_program(convert_torch(LoopIf(), example, inputs=inputs, script=True))


@pytest.mark.parametrize("iterations", [0, 1, 3, 30])
def test_scripted_loop_with_branch_matches_eager(loop_if_program, iterations):
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(iterations))
    n = torch.tensor([iterations], dtype=torch.int32)
    expected = LoopIf()(x, n).numpy()
    result = loop_if_program.run({"x": x.numpy(), "n": n.numpy()}, keep="all")
    got = result.outputs[loop_if_program.output_names[0]]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert {"while_loop", "cond"} <= op_types(loop_if_program)
    body_iterations = {r.loop_iterations for r in result.records if "[body]" in r.block}
    assert len(body_iterations) == iterations  # one set of body records per iteration


class NextTokenLogits(torch.nn.Module):
    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, sentence):
        return self.gpt(sentence.unsqueeze(0))[0][0]


class FinishMySentence(torch.nn.Module):
    """The WWDC20 demo's generation loop: script the loop, trace the GPT-2 step inside it."""

    def __init__(self, model, eos: int):
        super().__init__()
        self.eos = torch.tensor([eos])
        self.next_token_predictor = model
        self.default_token = torch.tensor([0])

    def forward(self, x):
        sentence = x
        token = self.default_token
        while token != self.eos:
            predictions = self.next_token_predictor(sentence)
            token = torch.argmax(predictions[-1, :], dim=0, keepdim=True)
            sentence = torch.cat((sentence, token), 0)
        return sentence


@pytest.fixture(scope="module")
def gpt2_generation():
    import coremltools as ct
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=2, vocab_size=100, n_positions=64, torchscript=True
    )
    step = NextTokenLogits(transformers.GPT2LMHeadModel(config).eval()).eval()
    prompt = torch.tensor([11, 42, 7, 3, 58])
    with torch.no_grad():
        traced = torch.jit.trace(step, prompt)
        # eos: the first greedy token, after at least 3 steps, not produced before (so the loop runs >= 4 times)
        sentence, produced = prompt, []
        while True:
            token = int(torch.argmax(traced(sentence)[-1]))
            if len(produced) >= 3 and token not in produced:
                break
            produced.append(token)
            sentence = torch.cat([sentence, torch.tensor([token])])
    model = FinishMySentence(traced, token).eval()
    inputs = [ct.TensorType(name="tokens", shape=(ct.RangeDim(1, 48, 5),), dtype=np.int32)]
    programs = {
        p: load_program(convert_torch(model, (prompt,), p, inputs=inputs, script=True))
        for p in ("fp32", "fp16")
    }
    return model, prompt, produced, programs


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpt2_generation_loop_matches_eager_token_by_token(gpt2_generation, precision):
    model, prompt, produced, programs = gpt2_generation
    program = programs[precision]
    assert "while_loop" in op_types(program)
    # The second prompt has another length (RangeDim input) and reaches eos one step earlier.
    for tokens in (prompt, torch.cat([prompt, torch.tensor(produced[:1])])):
        with torch.no_grad():
            expected = model(tokens).numpy()
        got = program.run({"tokens": tokens.numpy().astype(np.int32)}).outputs[program.output_names[0]]
        np.testing.assert_array_equal(got, expected)
        assert len(got) > len(tokens) + 1


def _list_program(target):
    from coremltools.converters.mil import Builder as mb

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(3,)), mb.TensorSpec(shape=(1,), dtype=_int32())],
        opset_version=target,
    )
    def program(x, n):
        empty = mb.make_list(init_length=1, dynamic_length=True, elem_shape=[3], dtype="fp32")
        count = mb.squeeze(x=n)

        def cond(i, ls):
            return mb.less(x=i, y=count)

        def body(i, ls):
            value = mb.mul(x=x, y=mb.cast(x=mb.add(x=i, y=1), dtype="fp32"))
            return mb.add(x=i, y=1), mb.list_write(ls=ls, index=i, value=value)

        _, filled = mb.while_loop(_cond=cond, _body=body, loop_vars=(np.int32(0), empty))
        length = mb.list_length(ls=filled)
        gathered = mb.list_gather(ls=filled, indices=[1, 0], name="gathered")
        scattered = mb.list_scatter(
            ls=filled, indices=[0], value=mb.expand_dims(x=mb.mul(x=x, y=-1.0), axes=[0])
        )
        first = mb.list_read(ls=scattered, index=0, name="first")
        branch = mb.cond(
            pred=mb.greater(x=length, y=2),
            _true_fn=lambda: mb.mul(x=first, y=10.0),
            _false_fn=lambda: mb.mul(x=first, y=-10.0),
        )
        return mb.identity(x=length, name="length"), gathered, first, mb.identity(x=branch, name="branch")

    return program


def _int32():
    from coremltools.converters.mil.mil import types

    return types.int32


@pytest.fixture(scope="module")
def list_program():
    import coremltools as ct

    return load_program(convert_mil(_list_program(ct.target.iOS15), ct.target.iOS15))


@pytest.mark.parametrize("count", [2, 4])
def test_list_ops_inside_a_while_loop(list_program, count):
    x = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    outputs = list_program.run({"x": x, "n": np.array([count], dtype=np.int32)}).outputs
    assert {
        "make_list",
        "list_write",
        "list_gather",
        "list_scatter",
        "list_read",
        "list_length",
        "cond",
    } <= op_types(list_program)
    assert int(outputs["length"]) == count
    np.testing.assert_allclose(outputs["gathered"], np.stack([2 * x, x]))
    np.testing.assert_allclose(outputs["first"], -x)
    np.testing.assert_allclose(outputs["branch"], (-x * 10.0) if count > 2 else (-x * -10.0))


def test_runaway_while_loop_hits_the_guard():
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(2,))], opset_version=ct.target.iOS15)
    def forever(x):
        def cond(v):
            return mb.greater(x=mb.reduce_sum(x=v), y=-1.0e30)  # never false for finite v

        def body(v):
            return mb.mul(x=v, y=0.5)

        return mb.while_loop(_cond=cond, _body=body, loop_vars=(x,))

    program = load_program(convert_mil(forever, ct.target.iOS15))
    with pytest.raises(LoopLimitError, match="ran 50 iterations"):
        program.run({"x": np.ones(2, dtype=np.float32)}, max_loop_iterations=50)
