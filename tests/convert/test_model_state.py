"""`to_coreml` and `audit` give the user's model back as it went in: every submodule's training
flag and every parameter's requires_grad, after a conversion that passes, one that fails, and a
call that raises."""

import pytest
import torch
from torch import nn

from torchready import audit, to_coreml
from torchready.lint.types import UsageError


class Net(nn.Module):
    def __init__(self, unsupported=False):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.ReLU())
        self.head = nn.Linear(8, 2)
        self.unsupported = unsupported

    def forward(self, x):
        y = self.head(self.body(x))
        return torch.lgamma(y.abs() + 1) if self.unsupported else y


def _state(model):
    return ([(name, module.training) for name, module in model.named_modules()],
            [(name, p.requires_grad) for name, p in model.named_parameters()])


def _users_model(unsupported=False):
    model = Net(unsupported).train()
    model.head.eval()  # a submodule in another mode than its parent
    model.head.bias.requires_grad_(False)  # and one frozen parameter
    return model


X = (torch.randn(2, 4, generator=torch.Generator().manual_seed(1)),)


@pytest.mark.parametrize("call", [to_coreml, audit], ids=["to_coreml", "audit"])
def test_a_conversion_gives_the_model_back_as_it_went_in(call):
    model = _users_model()
    before = _state(model)
    result = call(model, X, mode="trace", lint=False)
    assert result.ok and result.prepared.was_training
    assert _state(model) == before


def test_a_failed_conversion_gives_the_model_back(single_torch_thread):
    model = _users_model(unsupported=True)
    before = _state(model)
    result = to_coreml(model, X, mode="trace", lint=False)
    assert not result.ok
    assert _state(model) == before


def test_a_call_that_raises_after_preparing_gives_the_model_back():
    model = _users_model()
    before = _state(model)
    with pytest.raises(UsageError):
        to_coreml(model, X, mode="trace", lint=False, flexible={"nope": {0: (1, 4)}})
    assert _state(model) == before
