"""The torch.export remedies the rules' documentation gives (issue 9, item 4), checked against
torch.export and coremltools themselves: each quoted error is what torch 2.13 really raises, and
each remedy really exports (or, for torch.cond, really fails to convert)."""

from __future__ import annotations

import logging
import math
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.export import Dim  # noqa: E402

from torchready.lint.rules import rule_by_code  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_torch():
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logger.setLevel(level)


def doc(code: str) -> str:
    return " ".join(rule_by_code(code).__doc__.split())


def module(forward):
    class Model(nn.Module):
        pass
    Model.forward = lambda self, *args: forward(*args)
    return Model()


class Scaled(nn.Module):
    """One named input, so a `Dim` can be declared for it."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, q):
        return q / self.scale(q)


def test_tr102_math_on_a_dim_fails_export_and_pow_stays_symbolic():
    shapes = {"q": {1: Dim("n", min=2, max=64)}}
    with pytest.raises(Exception) as raised:
        torch.export.export(Scaled(lambda q: math.sqrt(q.size(-1))), (torch.randn(2, 16),),
                            dynamic_shapes=shapes)
    assert "Constraints violated (n)!" in str(raised.value)
    assert "your code specialized it to be a constant" in str(raised.value)
    assert "Constraints violated (n)! ... your code specialized it to be a constant" in doc("TR102")
    program = torch.export.export(Scaled(lambda q: q.size(-1) ** 0.5), (torch.randn(2, 16),),
                                  dynamic_shapes=shapes)
    assert [str(r.upper) for r in program.range_constraints.values()] == ["64"]
    assert "`q.size(-1) ** 0.5` stays symbolic" in doc("TR102")


@pytest.mark.parametrize("forward", [
    lambda x, n: torch.ones(int(n)) + x,
    lambda x, n: sum(x for _ in range(n.item())),
    lambda x, n: torch.split(x, n.item())[0],
])
def test_tr103_values_used_as_sizes_stop_export(forward):
    with pytest.raises(Exception, match="Could not extract specialized integer from "
                                        "data-dependent expression"):
        torch.export.export(module(forward), (torch.randn(4), torch.tensor(2)))
    assert "Could not extract specialized integer from data-dependent expression" in doc("TR103")


def test_tr103_item_with_check_is_size_exports():
    def forward(x, n):
        k = n.item()
        torch._check_is_size(k)
        return torch.ones(k).sum() + x
    torch.export.export(module(forward), (torch.randn(4), torch.tensor(2)))
    assert "`torch._check_is_size(...)`" in doc("TR103")


def test_tr104_branch_fails_export_cond_exports_and_coremltools_refuses_cond():
    import coremltools as ct

    def branch(x):
        if x.sum() > 0:
            return x * 2
        return x - 1
    with pytest.raises(Exception, match="Could not guard on data-dependent expression"):
        torch.export.export(module(branch), (torch.randn(3),))
    assert "Could not guard on data-dependent expression" in doc("TR104")
    program = torch.export.export(
        module(lambda x: torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: t - 1, (x,))),
        (torch.randn(3),)).run_decompositions({})
    with pytest.raises(NotImplementedError, match="Only torch.Tensor attr handled yet"):
        ct.convert(program, skip_model_load=True)
    assert "Only torch.Tensor attr handled yet" in doc("TR104")
    # torch.where: one program for export and Core ML
    where = torch.export.export(module(lambda x: torch.where(x.sum() > 0, x * 2, x - 1)),
                                (torch.randn(3),)).run_decompositions({})
    ct.convert(where, skip_model_load=True)


def test_tr202_export_takes_unannotated_python_defaults_as_they_are():
    class Norm(nn.Module):
        def forward(self, x, eps=1e-5, center=True):
            return (x - x.mean() if center else x) / (x.std() + eps)
    torch.export.export(Norm(), (torch.randn(4),))
    assert "`torch.export` run the code as Python" in doc("TR202")
