"""torch.jit.script errors mapped to TR201-TR204 at the user's line (real compiler errors of
torch 2.13), not raw tracebacks; failed attempts leave the process able to script again."""

from pathlib import Path

import pytest
import torch

import capture_models as cm
from capture_models import marked_line
from torchready.convert.capture import capture
from torchready.convert.prepare import prepare
from torchready.convert.spec import ModelSpec

MODELS = str(Path(cm.__file__).resolve())


def script_diagnostics(model):
    prepared = prepare(ModelSpec(model.eval(), (torch.randn(3, 4),)))
    captured = capture(prepared, "script")
    assert not captured.ok and captured.module is None
    assert captured.error.startswith("torch.jit.script failed at ")
    return captured.diagnostics


@pytest.mark.parametrize("model_class, code, mark", [
    (cm.UntypedList, "TR201", "tr201-list"),
    (cm.UntypedDict, "TR201", "tr201-dict"),
    (cm.CallsHelper, "TR201", "tr201-helper"),
    (cm.UnannotatedDefault, "TR202", "tr202-default"),
    (cm.UnannotatedRange, "TR202", "tr202-range"),
    (cm.MaskDefaultNone, "TR202", "tr202-none"),
    (cm.UsesLambda, "TR203", "tr203-lambda"),
    (cm.UsesTry, "TR203", "tr203-try"),
    (cm.StarArgs, "TR203", "tr203-args"),
    (cm.SumOfGenerator, "TR203", "tr203-generator"),
    (cm.OptionalScale, "TR204", "tr204"),
])
def test_script_error_is_pinned_and_classified(model_class, code, mark):
    (diagnostic,) = script_diagnostics(model_class())
    assert (diagnostic.code, diagnostic.path, diagnostic.line) == (code, MODELS, marked_line(mark))
    assert diagnostic.origin == "script"
    assert "Traceback" not in diagnostic.message
    assert diagnostic.details["error"]  # torch's own reason, one line
    assert "\n" not in diagnostic.details["error"]


def underlined(diagnostic) -> str:
    text = Path(diagnostic.path).read_text().splitlines()[diagnostic.line - 1]
    return text[diagnostic.column - 1:diagnostic.end_column - 1]


def test_tr201_names_the_container_and_the_annotation():
    (diagnostic,) = script_diagnostics(cm.UntypedList())
    assert underlined(diagnostic) == "sizes.append"
    assert diagnostic.details["container"] == "sizes"
    assert diagnostic.details["annotation"] == "List[int]"
    assert "Type variable 't' previously matched to type Tensor is matched to type int" in \
        diagnostic.details["error"]
    (dict_case,) = script_diagnostics(cm.UntypedDict())
    assert dict_case.details["annotation"] == "Dict[str, int]"


def test_tr201_in_a_helper_records_the_call_chain():
    (diagnostic,) = script_diagnostics(cm.CallsHelper())
    assert diagnostic.details["container"] == "rows"
    assert any(place.startswith(MODELS) for place in diagnostic.details["called_from"])


def test_tr202_names_the_parameter():
    (default,) = script_diagnostics(cm.UnannotatedDefault())
    assert default.details["parameter"] == "repeats"
    (loop,) = script_diagnostics(cm.UnannotatedRange())
    assert loop.details["parameter"] == "steps"
    assert underlined(loop) == "range(steps)"
    # coremltools' compiler gives no location for this one; the parameter is found instead.
    (mask,) = script_diagnostics(cm.MaskDefaultNone())
    assert mask.details["parameter"] == "mask" and underlined(mask) == "mask"
    assert mask.details["error"] == "Unsupported value kind: Tensor"


def test_tr203_names_the_construct():
    (lambda_case,) = script_diagnostics(cm.UsesLambda())
    assert lambda_case.details["construct"] == "Lambda aren't supported"
    (generator,) = script_diagnostics(cm.SumOfGenerator())
    assert generator.details["construct"] == "a generator expression"


def test_tr204_names_the_attribute():
    (diagnostic,) = script_diagnostics(cm.OptionalScale())
    assert diagnostic.details["attribute"] == "scale"
    assert underlined(diagnostic) == "x * self.scale"
    assert "`scale = self.scale`" in diagnostic.message


def test_a_failed_script_does_not_poison_the_next_attempt():
    # torch keeps half-built types of failed classes; without cleanup the second attempt says
    # "Can't redefine method: forward" instead of the real error.
    first = script_diagnostics(cm.UntypedList())
    second = script_diagnostics(cm.UntypedList())
    assert [(d.code, d.line) for d in first] == [(d.code, d.line) for d in second]

    class Parent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.child = cm.UntypedList()

        def forward(self, x):
            return self.child(x) + 1

    (from_parent,) = script_diagnostics(Parent())
    assert (from_parent.code, from_parent.line) == ("TR201", marked_line("tr201-list"))


DECORATOR = '''\
import functools


def passthrough(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)
    return wrapper
'''

DECORATED_MODEL = '''\
import torch
from decorators_for_test import passthrough


class Decorated(torch.nn.Module):
    @passthrough
    def forward(self, x):
        scale = lambda t: t * 2
        return scale(x)
'''


def test_an_error_in_a_decorated_forward_is_pinned_to_the_forward_not_the_decorator(
        tmp_path, monkeypatch):
    # torch names the file after the wrapper but numbers the lines from the wrapped forward, as
    # with transformers' @deprecate_kwarg.
    (tmp_path / "decorators_for_test.py").write_text(DECORATOR)
    (tmp_path / "decorated_model.py").write_text(DECORATED_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    import decorated_model

    with pytest.raises(Exception) as raised:
        torch.jit.script(decorated_model.Decorated())
    assert "decorators_for_test.py" in str(raised.value)  # what torch itself says
    (diagnostic,) = script_diagnostics(decorated_model.Decorated())
    assert diagnostic.code == "TR203"
    assert (Path(diagnostic.path).name, diagnostic.line) == ("decorated_model.py", 8)
