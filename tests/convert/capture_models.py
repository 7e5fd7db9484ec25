"""Small models for the capture, script-error and coverage tests.

Tests find the lines they expect a diagnostic on by the `# MARK: name` comments (see
`marked_line`), so editing this file never silently breaks an expectation.
"""


from pathlib import Path
from typing import List, Optional

import torch
from torch import nn

HERE = Path(__file__).resolve()


def marked_line(mark: str, path: Path = HERE) -> int:
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# MARK: {mark}"):
            return number
    raise LookupError(mark)


# --- trace hazards --------------------------------------------------------------------------


class SignGate(nn.Module):
    """A data-dependent branch: the trace keeps the branch of the example (TR104)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))

    def forward(self, x):
        if x.sum() > 0:  # MARK: tr104
            return self.body(x)
        return -x


class SliceBySizeTensor(nn.Module):
    """The talk's benign warning: a size turned into a tensor is still computed in the graph."""

    def forward(self, x, y):
        n = torch.tensor(y.size(1))  # MARK: benign
        return x[:, :n] * 2


class SliceByPythonInt(nn.Module):
    """int() of a size: the slice end is frozen to the example's size."""

    def forward(self, x, y):
        return x[:, : int(y.size(1))] * 2  # MARK: harmful


class ScaleFromParameter(nn.Module):
    """.item() of a parameter: a constant of the model, whatever the input."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x):
        return x * self.scale.item()  # MARK: parameter-item


class ScaleFromInput(nn.Module):
    """.item() of the input: the example's value is frozen into the trace."""

    def forward(self, x):
        return x / x.abs().max().item()  # MARK: input-item


class IterateRows(nn.Module):
    def forward(self, x):
        return torch.stack([row * 2 for row in x])  # MARK: tr105


class Noisy(nn.Module):
    def forward(self, x):
        return x + torch.rand_like(x)  # MARK: tr106


# --- script errors --------------------------------------------------------------------------


class UntypedList(nn.Module):
    def forward(self, x):
        sizes = []
        sizes.append(x.size(0))  # MARK: tr201-list
        return x * len(sizes)


class UntypedDict(nn.Module):
    def forward(self, x):
        counts = {}
        counts["rows"] = x.size(0)  # MARK: tr201-dict
        return x


class UnannotatedDefault(nn.Module):
    def forward(self, x, repeats=2):  # MARK: tr202-default
        return x.repeat(repeats, 1)


class UnannotatedRange(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = RangeLoop()

    def forward(self, x):
        return self.inner(x, 3)


class RangeLoop(nn.Module):
    def forward(self, x, steps):
        for _ in range(steps):  # MARK: tr202-range
            x = x * 2
        return x


class MaskDefaultNone(nn.Module):
    def forward(self, x, mask=None):  # MARK: tr202-none
        if mask is not None:
            x = x * mask
        return x


class UsesLambda(nn.Module):
    def forward(self, x):
        double = lambda t: t * 2  # noqa: E731  # MARK: tr203-lambda
        return double(x)


class UsesTry(nn.Module):
    def forward(self, x):
        try:  # MARK: tr203-try
            y = x * 2
        except RuntimeError:
            y = x
        return y


class StarArgs(nn.Module):
    def forward(self, *inputs):  # MARK: tr203-args
        return inputs[0]


class SumOfGenerator(nn.Module):
    def forward(self, x):
        return sum(t for t in [x, x])  # MARK: tr203-generator


class OptionalScale(nn.Module):
    scale: Optional[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.scale = torch.full((4,), 2.0)

    def forward(self, x):
        if self.scale is not None:
            return x * self.scale  # MARK: tr204
        return x


class CallsHelper(nn.Module):
    def forward(self, x):
        return collect_rows(x)


def collect_rows(x):
    rows = []
    rows.append(x.size(0))  # MARK: tr201-helper
    return x * len(rows)


# --- coverage --------------------------------------------------------------------------------


class UnsupportedOps(nn.Module):
    """Three ops coremltools 9.0 has no converter for, one of them on two lines."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)

    def forward(self, x, y):
        a = torch.hypot(x, y)  # MARK: hypot-1
        b = torch.logaddexp(self.proj(a), y)  # MARK: logaddexp
        c = torch.erfinv(torch.tanh(b) * 0.5)  # MARK: erfinv
        return torch.hypot(c, a)  # MARK: hypot-2


class LoopWithLen(nn.Module):
    """A scripted loop whose condition uses len() of a list: `aten::len` lives in a nested block."""

    def __init__(self):
        super().__init__()
        self.step = nn.Linear(4, 4)
        self.limit = 3

    def forward(self, x):
        seen: List[int] = []
        while len(seen) < self.limit:  # MARK: len
            x = self.step(x)
            seen.append(1)
        return x


class CountsCalls(nn.Module):
    """Python state that changes on every call: each trace freezes another count."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * self.calls  # MARK: tr106-state
