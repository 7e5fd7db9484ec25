"""Tiny models for the export-mode tests (a file of their own: the source map and the
diagnostics must point at user lines, and these are the user's lines)."""

import torch
import torch.nn.functional as F
from torch import nn


class DictHead(nn.Module):
    """Returns a dict, like the talk's DeepLabV3; follows a flexible sequence length."""

    def __init__(self, width=8):
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        hidden = self.norm(torch.relu(self.proj(x)))  # line of hidden
        pooled = hidden.mean(dim=1) * 2.0  # line of pooled
        return {"hidden": hidden, "pooled": pooled}


class Shrink(nn.Module):
    """F.softshrink: coremltools' TorchScript frontend has no converter for aten::softshrink,
    while torch.export's decompositions turn it into ops coremltools converts."""

    def __init__(self, width=8):
        super().__init__()
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        return F.softshrink(self.proj(x), 0.1)


class Unconvertible(nn.Module):
    """Two ops coremltools' export frontend cannot convert: cummax has no converter at all;
    hardshrink decomposes into a `where` whose MIL `select` rejects its operands."""

    def forward(self, x):
        running = torch.cummax(x, dim=-1).values  # cummax line
        return running + F.hardshrink(x, 0.3)  # hardshrink line


class HardShrink(nn.Module):
    def forward(self, x):
        return F.hardshrink(x, 0.3) * 2.0  # only hardshrink


class NeedsExportOps(nn.Module):
    """The three fx ops coremltools 9's export frontend lacks (found on the zoo's decoders)."""

    def forward(self, x, mask):
        scaled = x[..., :] * 3.0  # aten::alias
        kept = mask & (x > 0.5)  # aten::__and__ of an int64 and a bool tensor
        gated = torch.where(x > 0.2, scaled, -4.0)  # aten::where.ScalarOther
        bias = torch.where(x > 0.7, torch.zeros(()), -2.0)  # ... with a rank-0 tensor branch
        return gated + kept.float() + bias


class BranchOnValue(nn.Module):
    """Python control flow on a tensor's value: torch.export cannot export it."""

    def forward(self, x):
        if x.sum() > 0:  # data-dependent branch
            return x * 2
        return x - 1


def example(seq=6, width=8):
    return (torch.rand(1, seq, width),)


def dict_head():
    """CLI factory: (module, example_inputs)."""
    torch.manual_seed(0)
    return DictHead().eval(), example()
