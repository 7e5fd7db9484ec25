"""Export-readiness diagnostics on small models that really fail torch.export (torch 2.13), one
per reason, and coremltools op coverage of real ExportedPrograms.

Every expected line is read from this file's source (`line_of`), never typed in."""

import inspect
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.export import Dim

from torchready.convert.capture.export_readiness import (check_export_op_coverage, diagnose_export,
                                              export_error_diagnostics, export_op_coverage)

HERE = __file__


def line_of(cls: type, snippet: str) -> int:
    """The line of `cls.forward` that contains `snippet`."""
    lines, start = inspect.getsourcelines(cls.forward)
    matches = [start + offset for offset, text in enumerate(lines) if snippet in text]
    assert len(matches) == 1, (snippet, matches)
    return matches[0]


def def_line(cls: type) -> int:
    return line_of(cls, "def forward")


# --- models: one per reason -------------------------------------------------------------------

class SignBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class SplitByValue(nn.Module):
    def forward(self, x, n):
        parts = torch.split(x, n.item())
        return parts[0]


class IntAsSize(nn.Module):
    def forward(self, x, n):
        k = int(n)
        return torch.ones(k) + x


class NonzeroCount(nn.Module):
    def forward(self, x):
        found = torch.nonzero(x)
        if found.shape[0] > 2:
            return x * 2
        return x


class TolistBranch(nn.Module):
    def forward(self, x, sizes):
        a, b = sizes.tolist()
        if a > b:
            return x * a
        return x * b


class SquareSide(nn.Module):
    """Declared dynamic, but math on the size specializes it (Dim `n`)."""

    def forward(self, x):
        side = int(math.sqrt(x.shape[1]))
        return x.view(x.shape[0], side, side)


class SumRows(nn.Module):
    def forward(self, x):
        out = x[0]
        for i in range(1, x.shape[0]):
            out = out + x[i]
        return out


@torch.library.custom_op("torchready_tests::wobble", mutates_args=())
def wobble(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(x) * 0.5


class CustomNoFake(nn.Module):
    def forward(self, x):
        return wobble(x) + 1


@torch.library.custom_op("torchready_tests::doubled", mutates_args=())
def doubled(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x])


@doubled.register_fake
def _doubled_fake(x):
    return torch.empty_like(x)  # wrong: the real op returns twice as many rows


class CustomWrongFake(nn.Module):
    def forward(self, x):
        return doubled(x) * 2


class ToNumpy(nn.Module):
    def forward(self, x):
        values = x.numpy()
        return torch.from_numpy(values * 2)


class SliceByList(nn.Module):
    """Exports fine, but draft_export's fake-vs-real check raises on it."""

    def forward(self, x, sizes):
        a, b = sizes.tolist()
        return x[:a], x[a:]


class Clean(nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2


class Unsupported(nn.Module):
    def forward(self, x):
        a = torch.fmod(x, 3.0)
        b = torch.linalg.det(x)
        c = torch.diff(x, dim=0)
        d = torch.fmod(x, 2.0)
        return a + d, b, c


class Branchy(nn.Module):
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: t - 1, (x,))


def only(diagnostics):
    assert len(diagnostics) == 1, [d.message for d in diagnostics]
    return diagnostics[0]


def assert_at(diagnostic, cls, snippet, code):
    assert diagnostic.code == code, diagnostic.message
    assert diagnostic.path == HERE
    assert diagnostic.line == line_of(cls, snippet)
    assert diagnostic.origin == "export"


# --- diagnose_export --------------------------------------------------------------------------

def test_branch_on_tensor_value_is_tr104_with_cond_advice():
    model, inputs = SignBranch(), (torch.randn(3),)
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.export(model, inputs)  # really fails export
    found = only(diagnose_export(model, inputs))
    assert_at(found, SignBranch, "if x.sum() > 0:", "TR104")
    assert "torch.cond(" in found.message
    # coremltools 9 cannot convert torch.cond: the Core ML remedy is named too
    assert "torch.where" in found.message and "torch.jit.script" in found.message
    assert "torch._check" in found.details["torch_suggestion"]
    assert found.details["failure"] == "DATA_DEPENDENT_ERROR"
    # the condition is underlined, not the whole `if` line
    text = open(HERE).read().splitlines()[found.line - 1]
    assert text[found.column - 1:found.end_column - 1] == "x.sum() > 0"


def test_item_used_as_a_size_is_tr103_with_check_advice():
    model, inputs = SplitByValue(), (torch.randn(6), torch.tensor(2))
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.export(model, inputs)
    found = only(diagnose_export(model, inputs))
    assert_at(found, SplitByValue, "torch.split(x, n.item())", "TR103")
    assert "torch._check_is_size" in found.message and "torch._check(" in found.message
    assert "`.item()`" in found.message
    text = open(HERE).read().splitlines()[found.line - 1]
    assert text[found.column - 1:found.end_column - 1] == "n.item()"


def test_int_of_tensor_used_as_size_is_tr103():
    model, inputs = IntAsSize(), (torch.randn(3), torch.tensor(3))
    found = only(diagnose_export(model, inputs))
    assert_at(found, IntAsSize, "k = int(n)", "TR103")
    assert found.details["conversions"] == ["int"]
    assert found.details["example_result"] == "3"  # draft_export's real value


def test_branch_on_data_dependent_size_of_nonzero_is_tr104():
    model, inputs = NonzeroCount(), (torch.tensor([1.0, 0.0, 2.0, 3.0]),)
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.export(model, inputs)
    found = only(diagnose_export(model, inputs))
    assert_at(found, NonzeroCount, "if found.shape[0] > 2:", "TR104")
    assert "torch.cond(" in found.message


def test_branch_on_tolist_values_is_tr104():
    found = only(diagnose_export(TolistBranch(), (torch.randn(3), torch.tensor([2, 4]))))
    assert_at(found, TolistBranch, "if a > b:", "TR104")
    assert found.details["example_result"] == "False"  # 2 > 4 on the example


def test_dim_specialized_by_math_is_tr102_with_dim_advice():
    model, inputs = SquareSide(), (torch.randn(2, 16),)
    shapes = {"x": {1: Dim("n", min=2, max=64)}}
    with pytest.raises(Exception, match="Constraints violated"):
        torch.export.export(model, inputs, dynamic_shapes=shapes)
    found = only(diagnose_export(model, inputs, shapes))
    assert_at(found, SquareSide, "int(math.sqrt(x.shape[1]))", "TR102")
    assert found.details["specialized_to"] == 16
    assert "Dim `n`" in found.message and "Dim(name, min=, max=)" in found.message
    assert "dynamic_shapes =" in found.details["torch_suggestion"]


def test_python_loop_over_dynamic_dim_is_tr105():
    model, inputs = SumRows(), (torch.randn(3, 2),)
    found = only(diagnose_export(model, inputs, {"x": {0: Dim("seq", min=2, max=8)}}))
    assert_at(found, SumRows, "for i in range(1, x.shape[0]):", "TR105")
    assert found.details["specialized_to"] == 3
    assert "Vectorise" in found.message


def test_custom_op_without_fake_kernel_is_tr301_at_its_call():
    model, inputs = CustomNoFake(), (torch.randn(3),)
    with pytest.raises(Exception, match="fake"):
        torch.export.export(model, inputs)
    found = only(diagnose_export(model, inputs))
    assert_at(found, CustomNoFake, "wobble(x) + 1", "TR301")
    assert found.details["failure"] == "MISSING_FAKE_KERNEL"
    assert found.details["op"] == "torchready_tests.wobble.default"
    assert "register_fake" in found.message and "register_torch_op" in found.message


def test_custom_op_with_wrong_fake_kernel_is_tr301_with_torchs_reason():
    model, inputs = CustomWrongFake(), (torch.randn(3),)
    found = only(diagnose_export(model, inputs))
    assert_at(found, CustomWrongFake, "doubled(x) * 2", "TR301")
    assert found.details["failure"] == "MISMATCHED_FAKE_KERNEL"
    assert "fake value 3 and real value 6" in found.message  # the shapes torch compared


def test_numpy_fails_draft_and_export_alike_and_is_tr103():
    model, inputs = ToNumpy(), (torch.randn(3),)
    with pytest.raises(RuntimeError, match="numpy"):
        torch.export.draft_export(model, inputs)
    found = only(diagnose_export(model, inputs))
    assert_at(found, ToNumpy, "values = x.numpy()", "TR103")
    assert found.details["exception"] == "RuntimeError"


def test_draft_export_failure_on_a_model_export_accepts_is_not_reported():
    model, inputs = SliceByList(), (torch.randn(6), torch.tensor([2, 4]))
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.draft_export(model, inputs)
    torch.export.export(model, inputs)  # plain export is fine
    assert diagnose_export(model, inputs) == []


def test_diagnose_export_prints_nothing(capfd):
    diagnose_export(SliceByList(), (torch.randn(6), torch.tensor([2, 4])))
    diagnose_export(SignBranch(), (torch.randn(3),))
    out, err = capfd.readouterr()
    assert out == "" and "def forward" not in err and "WARNING" not in err


def test_model_that_exports_soundly_has_no_findings():
    assert diagnose_export(Clean(), (torch.randn(3),)) == []


# --- errors raised by torch.export.export itself --------------------------------------------

def test_export_error_is_pinned_to_the_users_line():
    model = SignBranch()
    with pytest.raises(Exception) as raised:
        torch.export.export(model, (torch.randn(3),))
    found = only(export_error_diagnostics(raised.value, model))
    assert_at(found, SignBranch, "if x.sum() > 0:", "TR104")


def test_strict_export_unsupported_branch_uses_dynamos_stack():
    model = SignBranch()
    with pytest.raises(torch._dynamo.exc.Unsupported) as raised:
        torch.export.export(model, (torch.randn(3),), strict=True)
    found = only(export_error_diagnostics(raised.value, model))
    assert_at(found, SignBranch, "if x.sum() > 0:", "TR104")
    assert "torch.cond" in found.details["torch_suggestion"]


def test_missing_fake_kernel_export_error_is_tr301():
    model = CustomNoFake()
    with pytest.raises(RuntimeError) as raised:
        torch.export.export(model, (torch.randn(3),))
    found = only(export_error_diagnostics(raised.value, model))
    assert_at(found, CustomNoFake, "wobble(x) + 1", "TR301")
    assert found.details["op"] == "torchready_tests::wobble"


def test_constraint_violation_without_a_line_goes_to_forward_with_torchs_fix():
    model = SquareSide()
    with pytest.raises(Exception) as raised:
        torch.export.export(model, (torch.randn(2, 16),),
                            dynamic_shapes={"x": {1: Dim("n", min=2, max=64)}})
    found = only(export_error_diagnostics(raised.value, model))
    assert found.code == "TR102" and found.line == def_line(SquareSide)
    assert found.details["torch_suggestion"] == "Suggested fixes: n = 16"
    assert found.details["no_line_from_torch"] is True


# --- coremltools op coverage of an ExportedProgram ----------------------------------------------

@pytest.fixture(scope="module")
def unsupported_program():
    program = torch.export.export(Unsupported(), (torch.randn(3, 3),))
    return program.run_decompositions({})


def test_every_unsupported_op_at_once_with_its_lines(unsupported_program):
    report = check_export_op_coverage(unsupported_program)
    assert set(report.unsupported) == {"aten::fmod.Scalar", "aten::linalg_det"}
    diagnostics = export_op_coverage(unsupported_program)
    where = {(d.details["op"], d.line) for d in diagnostics}
    assert where == {("aten::fmod.Scalar", line_of(Unsupported, "torch.fmod(x, 3.0)")),
                     ("aten::fmod.Scalar", line_of(Unsupported, "torch.fmod(x, 2.0)")),
                     ("aten::linalg_det", line_of(Unsupported, "torch.linalg.det(x)"))}
    assert all(d.code == "TR301" and d.path == HERE for d in diagnostics)
    fmod = next(d for d in diagnostics if d.details["op"] == "aten::fmod.Scalar")
    assert fmod.details["uses"] == 2 and "aten::linalg_det" in fmod.message
    assert "register_torch_op" in fmod.message


def test_torchready_composite_ops_count_as_supported(unsupported_program):
    report = check_export_op_coverage(unsupported_program)
    assert "aten::diff" in report.supported
    assert report.composite["aten::diff"].startswith("torchready.convert.composite_ops")


def test_coverage_agrees_with_ct_convert():
    import coremltools as ct

    program = torch.export.export(Unsupported(), (torch.randn(3, 3),)).run_decompositions({})
    first = next(node for node in program.graph.nodes if node.op == "call_function"
                 and node.name.startswith(("fmod", "linalg_det")))
    with pytest.raises(NotImplementedError) as raised:
        ct.convert(program, skip_model_load=True)
    reported = {d.details["op"] for d in export_op_coverage(program)}
    kind = str(raised.value).rsplit("kind ", 1)[-1].strip()
    assert kind in {k.split("::")[-1].split(".")[0] for k in reported}
    assert first.target.name().split("::")[-1].split(".")[0] == kind


def test_torch_cond_is_reported_as_unsupported_by_coremltools():
    program = torch.export.export(Branchy(), (torch.randn(3),)).run_decompositions({})
    found = only(export_op_coverage(program))
    assert found.details["op"] == "cond"
    assert found.line == line_of(Branchy, "torch.cond(")
    assert "torch.where" in found.message and "--mode hybrid" in found.message
    import coremltools as ct

    with pytest.raises(NotImplementedError, match="Only torch.Tensor attr handled yet") as raised:
        ct.convert(program, skip_model_load=True)
    assert str(raised.value) in found.message  # what ct.convert really says


def test_training_dialect_program_is_decomposed_first():
    program = torch.export.export(Unsupported(), (torch.randn(3, 3),))  # TRAINING dialect
    assert {d.details["op"] for d in export_op_coverage(program)} == {"aten::fmod.Scalar",
                                                                       "aten::linalg_det"}


def test_ops_reached_only_through_library_code_point_at_the_library_line(tmp_path, monkeypatch):
    """A model whose code is all in an installed package (as transformers' models are): no user
    frame exists, so the unsupported op (`torch.fmod`) is reported at the package's line and
    flagged `library`, as the TorchScript coverage check does."""
    from torchready.convert.python_source import line_text

    package = tmp_path / "site-packages" / "tinylib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import torch\n\n\n"
        "class Wrap(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.fmod(x, 3.0)\n")
    monkeypatch.syspath_prepend(str(package.parent))
    import tinylib

    program = torch.export.export(tinylib.Wrap().eval(), (torch.randn(2, 3),))
    library = [d for d in export_op_coverage(program) if d.details.get("library")]
    assert [(Path(d.path).name, d.line) for d in library] == [("__init__.py", 6)]
    assert "fmod" in library[0].message
    assert "torch.fmod(x, 3.0)" in line_text(library[0].path, library[0].line)
