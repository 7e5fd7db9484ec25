"""lstm, gru, rnn (coremltools defs: recurrent.py).

Layouts are MIL's, not torch's: LSTM gates are stacked [input, forget, output, cell] ("ifoz"),
GRU gates [reset, output(new), update]; `bias` is the sum of input and hidden biases. x is
(seq, batch, input). The reverse direction walks the sequence backwards and writes each
step's state at the step's own time index, like torch's bidirectional outputs.
"""

from __future__ import annotations

import torch

from torchready.convert.milrt.registry import kernel_family

kernel = kernel_family("recurrent")


def _activation(name: str):
    name = name.lower()
    if name == "sigmoid":
        return torch.sigmoid
    if name == "tanh":
        return torch.tanh
    if name == "relu":
        return torch.relu
    if name == "linear":
        return lambda v: v
    if name == "hard_sigmoid":
        return lambda v: torch.clamp(0.2 * v + 0.5, 0.0, 1.0)
    if name == "scaled_tanh":
        return torch.tanh
    raise ValueError(f"unknown activation {name!r}")


def _steps(seq_len: int, reverse: bool) -> range:
    return range(seq_len - 1, -1, -1) if reverse else range(seq_len)


def _lstm_direction(x, h, c, w_ih, w_hh, bias, peephole, reverse, rec_act, cell_act, act, clip):
    hidden = h.shape[-1]
    projected = torch.matmul(x, w_ih.t())  # (seq, batch, 4H), all time steps at once
    if bias is not None:
        projected = projected + bias
    p_i = p_f = p_o = None
    if peephole is not None:
        p_i, p_f, p_o = peephole[:hidden], peephole[hidden : 2 * hidden], peephole[2 * hidden :]
    outputs = [None] * x.shape[0]
    for t in _steps(x.shape[0], reverse):
        gates = projected[t] + h @ w_hh.t()
        i, f, o, z = gates.split(hidden, dim=-1)
        if p_i is not None:
            i = i + p_i * c
            f = f + p_f * c
        i, f, z = rec_act(i), rec_act(f), cell_act(z)
        c = f * c + i * z
        if clip is not None:
            c = torch.clamp(c, -clip, clip)
        if p_o is not None:
            o = o + p_o * c
        h = rec_act(o) * act(c)
        outputs[t] = h
    return torch.stack(outputs), h, c


@kernel("lstm")
def lstm(
    x,
    initial_h,
    initial_c,
    weight_ih,
    weight_hh,
    bias=None,
    peephole=None,
    weight_ih_back=None,
    weight_hh_back=None,
    bias_back=None,
    peephole_back=None,
    direction="forward",
    output_sequence=False,
    recurrent_activation="sigmoid",
    cell_activation="tanh",
    activation="tanh",
    clip=None,
):
    rec_act, cell_act, act = (
        _activation(recurrent_activation),
        _activation(cell_activation),
        _activation(activation),
    )
    hidden = weight_hh.shape[1]
    if direction == "bidirectional":
        fwd = _lstm_direction(
            x,
            initial_h[:, :hidden],
            initial_c[:, :hidden],
            weight_ih,
            weight_hh,
            bias,
            peephole,
            False,
            rec_act,
            cell_act,
            act,
            clip,
        )
        bwd = _lstm_direction(
            x,
            initial_h[:, hidden:],
            initial_c[:, hidden:],
            weight_ih_back,
            weight_hh_back,
            bias_back,
            peephole_back,
            True,
            rec_act,
            cell_act,
            act,
            clip,
        )
        sequence = torch.cat([fwd[0], bwd[0]], dim=-1)
        h = torch.cat([fwd[1], bwd[1]], dim=-1)
        c = torch.cat([fwd[2], bwd[2]], dim=-1)
    else:
        sequence, h, c = _lstm_direction(
            x,
            initial_h,
            initial_c,
            weight_ih,
            weight_hh,
            bias,
            peephole,
            direction == "reverse",
            rec_act,
            cell_act,
            act,
            clip,
        )
    return (sequence if output_sequence else h.unsqueeze(0)), h, c


@kernel("gru")
def gru(
    x,
    initial_h,
    weight_ih,
    weight_hh,
    bias=None,
    direction="forward",
    output_sequence=False,
    recurrent_activation="sigmoid",
    activation="tanh",
):
    rec_act, act = _activation(recurrent_activation), _activation(activation)
    hidden = weight_hh.shape[1]
    w_ir, w_io, w_iz = weight_ih.split(hidden, dim=0)
    w_hr, w_ho, w_hz = weight_hh.split(hidden, dim=0)
    b_r = b_o = b_z = 0.0
    if bias is not None:
        b_r, b_o, b_z = bias.split(hidden)
    h = initial_h
    outputs = [None] * x.shape[0]
    for t in _steps(x.shape[0], direction == "reverse"):
        xt = x[t]
        r = rec_act(xt @ w_ir.t() + h @ w_hr.t() + b_r)
        z = rec_act(xt @ w_iz.t() + h @ w_hz.t() + b_z)
        o = act(xt @ w_io.t() + r * (h @ w_ho.t()) + b_o)
        h = (1 - z) * o + z * h
        outputs[t] = h
    sequence = torch.stack(outputs)
    return (sequence if output_sequence else h.unsqueeze(0)), h


@kernel("rnn")
def rnn(
    x,
    initial_h,
    weight_ih,
    weight_hh,
    bias=None,
    direction="forward",
    output_sequence=False,
    activation="tanh",
):
    act = _activation(activation)
    h = initial_h
    projected = torch.matmul(x, weight_ih.t())
    if bias is not None:
        projected = projected + bias
    outputs = [None] * x.shape[0]
    for t in _steps(x.shape[0], direction == "reverse"):
        h = act(projected[t] + h @ weight_hh.t())
        outputs[t] = h
    sequence = torch.stack(outputs)
    return (sequence if output_sequence else h.unsqueeze(0)), h
