"""Small models for the `--precision auto` tests (the realistic ones live in
fixtures/parity_zoo.py, measured by benchmarks/precision_table.py)."""

from pathlib import Path

import torch
from torch import nn


def line_of(path, text: str) -> int:
    """The 1-based number of the first line of `path` containing `text`."""
    lines = Path(path).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


class TwoSoftmaxSites(nn.Module):
    """Two softmaxes written as exp / sum on different lines, both beyond fp16's range: the
    search finds the second only after keeping the first in fp32 (two rounds)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                                 nn.Linear(16, 8))
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        first = torch.exp(self.a(x) * 8.0)
        h = self.mlp(first / first.sum(-1, keepdim=True))
        second = torch.exp(self.b(h) * 30.0)
        return second / second.sum(-1, keepdim=True)


def two_softmax_sites():
    torch.manual_seed(0)
    return TwoSoftmaxSites(), (torch.randn(2, 8, generator=torch.Generator().manual_seed(1)),)


class SmallMLP(nn.Module):
    """Ordinary values: passes at fp16."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 4))

    def forward(self, x):
        return torch.softmax(self.net(x), -1)


def small_mlp():
    torch.manual_seed(0)
    return SmallMLP(), (torch.randn(3, 8, generator=torch.Generator().manual_seed(2)),)


class OffsetNorm(nn.Module):
    """A one-pass layer norm over features on a +100 offset: precision lost to cancellation,
    no value out of fp16's range; the search walks upstream one step per round."""

    def __init__(self):
        from parity_zoo import OnePassLayerNorm

        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.norm = OnePassLayerNorm(32)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.norm(self.embed(x) + 100.0))


def offset_norm():
    torch.manual_seed(0)
    return OffsetNorm(), (torch.randn(2, 16, generator=torch.Generator().manual_seed(3)),)
