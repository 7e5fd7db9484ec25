"""Capture targets: parsing, configuration, inference from the code's own capture calls, and
what every output format says about them."""

from __future__ import annotations

import json
import textwrap

import pytest

from helpers import run_cli
from torchready.lint.analysis.capture_calls import captures_in_source
from torchready.lint.api import lint_paths, lint_text
from torchready.lint.targets import infer_targets, parse_targets
from torchready.lint.types import UsageError, diagnostic_from_json

BRANCHY = textwrap.dedent("""
    import torch
    from torch import nn


    class Net(nn.Module):
        def forward(self, x, **kwargs):
            if x.size(1) > 4:
                x = x[:, :4]
            return x
""")


@pytest.mark.parametrize("given, expected", [
    (["trace"], ("trace",)),
    (["export,trace"], ("trace", "export")),
    (["all"], ("trace", "script", "export")),
    (["Script", " export "], ("script", "export")),
])
def test_parse_targets(given, expected):
    assert parse_targets(given, "--target") == expected


@pytest.mark.parametrize("given", [["trace,onnx"], [""], ["coreml"]])
def test_unknown_or_empty_targets_are_usage_errors(given):
    with pytest.raises(UsageError, match="--target"):
        parse_targets(given, "--target")


@pytest.mark.parametrize("source, expected", [
    ("import torch\nm = torch.jit.script(Net())\n", {"script"}),
    ("from torch.jit import trace as t\nm = t(net, x)\n", {"trace"}),
    ("import torch.jit as J\nm = J.script(Net())\n", {"script"}),
    ("from torch import jit\nm = jit.trace_module(net, {'forward': x})\n", {"trace"}),
    ("import torch\nprogram = torch.export.export(net, (x,))\n", {"export"}),
    ("import torchready\ntorchready.to_coreml(net, x, mode='hybrid')\n", {"trace", "script"}),
    ("from torchready import ModelSpec\nspec = ModelSpec(module=m, mode='export')\n", {"export"}),
    ("import torch\n\n@torch.jit.script\ndef f(x):\n    return x\n", set()),  # a decorator
    ("# torch.jit.trace(model) in a comment\n", set()),
    ("def broken(:\n    torch.jit.script(x)\n", set()),
])
def test_capture_calls_in_source(source, expected):
    assert captures_in_source(source) == expected


def test_inference_falls_back_to_trace_and_export():
    assert infer_targets([]) == ("trace", "export")
    assert infer_targets(["script", "script"]) == ("script",)


def test_targets_decide_which_rules_report_and_every_finding_says_which(tmp_path):
    default = lint_text(BRANCHY, "net.py")
    assert [(d.code, d.targets) for d in default] == [("TR107", ("trace", "export"))]
    only_export = lint_text(BRANCHY, "net.py", targets=["export"])
    assert [(d.code, d.targets) for d in only_export] == [("TR107", ("export",))]
    scripted = lint_text(BRANCHY, "net.py", targets=["script"])
    assert [(d.code, d.targets) for d in scripted] == [("TR203", ("script",))]
    every = lint_text(BRANCHY, "net.py", targets=["all"])
    assert sorted((d.code, d.targets) for d in every) == [
        ("TR107", ("trace", "export")), ("TR203", ("script",))]


def test_configured_target_and_the_command_line_override(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(BRANCHY)
    (tmp_path / "pyproject.toml").write_text('[tool.torchready]\ntarget = ["script"]\n')
    assert {d.code for d in lint_paths(["net.py"], cache=False).diagnostics} == {"TR203"}
    overridden = lint_paths(["net.py"], cache=False, targets=["trace"])
    assert [(d.code, d.targets) for d in overridden.diagnostics] == [("TR107", ("trace",))]
    (tmp_path / "pyproject.toml").write_text('[tool.torchready]\ntarget = ["tflite"]\n')
    result = run_cli("lint", "net.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown capture target 'tflite'" in result.stderr


def test_cli_target_option_json_field_and_text_suffix(tmp_path):
    (tmp_path / "net.py").write_text(BRANCHY)
    bad = run_cli("lint", "net.py", "--target", "mlprogram", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("torchready: error: --target:")
    as_json = json.loads(run_cli("lint", "net.py", "--target", "all", "--format", "json",
                                 "--no-cache", cwd=tmp_path).stdout)
    assert as_json["version"] == 1
    assert [(d["code"], d["targets"]) for d in as_json["diagnostics"]] == [
        ("TR203", ["script"]), ("TR107", ["trace", "export"])]
    text = run_cli("lint", "net.py", "--target", "script", "--no-cache", cwd=tmp_path).stdout
    assert text.splitlines()[0].endswith("[script]")


def test_version_1_readers_keep_working_without_targets():
    entry = {"path": "a.py", "line": 1, "column": 1, "end_line": 1, "end_column": 2,
             "code": "TR102", "name": "math-on-shape", "severity": "error", "message": "m",
             "fix": None}
    diagnostic = diagnostic_from_json(entry)
    assert diagnostic.targets == ()
    assert diagnostic.to_json() == entry  # no `targets` key when there are none


def test_code_that_trace_skips_but_export_runs_concerns_export_only():
    source = textwrap.dedent("""
        import torch
        from torch import nn


        class Embeddings(nn.Module):
            def forward(self, x):
                if not torch.jit.is_tracing() and x.size(1) != self.num_positions:
                    x = self.interpolate(x)
                if torch.jit.is_tracing() and x.size(0) > 1:
                    x = x[:1]
                return x
    """)
    found = lint_text(source, "embeddings.py", targets=["all"])
    assert [(d.line, d.targets) for d in found] == [(8, ("export",)), (10, ("trace",))]


def test_a_finding_names_only_the_captures_that_run_its_line():
    """The fp16 clamp is dead code for a traced or exported float32 model but compiled by
    script: its unsupported op concerns script only; the `.item()` after it trace and export."""
    source = textwrap.dedent("""
        import torch
        from torch import nn


        class Layer(nn.Module):
            def forward(self, x):
                if x.dtype == torch.float16 and torch.isinf(x).any():
                    x = torch.clamp(x, -1000, 1000)
                return x * x.sum().item()
    """)
    found = lint_text(source, "layer.py", targets=["all"])
    assert [(d.line, d.code, d.targets) for d in found] == [
        (8, "TR301", ("script",)), (10, "TR103", ("trace", "export"))]
    assert [d.code for d in lint_text(source, "layer.py", targets=["trace"])] == ["TR103"]
