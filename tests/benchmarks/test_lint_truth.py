"""The lint truth set's collector and scorer: events from real captures, matched to a real lint
run (benchmarks/lint_truth*.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lint_truth
import lint_truth_score as scorer
from lint_truth_events import KINDS, ModelCode, Recorder

ROOT = Path(__file__).resolve().parents[2]
ATTENTION = ROOT / "fixtures" / "attention.py"


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1)
                if text in line)


def _import_file(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _entry(path: str, line: int, kind: str, *subjects: str) -> dict:
    return {"path": path, "line": line, "kind": kind, "subjects": list(subjects)}


# --- the scorer's matching, on findings made up for the purpose ------------------------------


def test_a_finding_catches_the_truth_lines_its_range_covers_and_no_neighbour():
    findings = [scorer.Finding("pkg/m.py", 10, 12, "TR107")]
    entries = [_entry("pkg/m.py", 11, "trace_bool", "shape"),  # inside the range
               _entry("pkg/m.py", 13, "trace_bool", "shape"),  # the next line: not covered
               _entry("pkg/other.py", 11, "trace_bool", "shape")]  # same line, other file
    summary = scorer.score(entries, findings)
    assert summary["caught"] == 1
    assert summary["caught_exact"] == 0  # the finding starts on line 10, not 11
    assert summary["missed"] == ["pkg/m.py:13:trace_bool", "pkg/other.py:11:trace_bool"]
    assert summary["findings_off_truth"] == 0


def test_only_the_rules_a_kind_maps_to_catch_it():
    findings = [scorer.Finding("m.py", 5, 5, "TR301"), scorer.Finding("m.py", 6, 6, "TR203"),
                scorer.Finding("m.py", 7, 7, "TR201")]
    entries = [_entry("m.py", 5, "trace_bool", "data"),  # TR301 is not a branch rule
               _entry("m.py", 6, "script_error", "kwargs"),
               _entry("m.py", 7, "script_error", "call")]  # any TR2xx counts for "call"
    summary = scorer.score(entries, findings)
    branch = summary["by_kind"]["trace_bool"]
    assert (branch["caught"], branch["caught_any_rule"]) == (0, 1)
    assert summary["by_kind"]["script_error"]["caught"] == 2
    assert summary["by_rule"]["TR203"]["lines"] == 2  # its job: kwargs, and "call" by default
    assert summary["by_rule"]["TR203"]["caught"] == 1  # line 7 was caught by TR201
    assert (summary["by_rule"]["TR104"]["lines"], summary["by_rule"]["TR104"]["caught"]) == (1, 0)


def test_findings_on_lines_without_truth_are_counted_per_rule():
    findings = [scorer.Finding("m.py", 1, 1, "TR102"), scorer.Finding("m.py", 2, 3, "TR102"),
                scorer.Finding("m.py", 9, 9, "TR203")]
    summary = scorer.score([_entry("m.py", 3, "trace_number", "shape")], findings)
    assert summary["findings_off_truth"] == 2
    assert summary["by_rule"]["TR102"]["findings_off_truth"] == 1
    assert summary["by_rule"]["TR203"]["findings_off_truth"] == 1


def test_every_kind_the_collector_records_has_rules():
    for kind in KINDS:
        assert scorer.rules_for(kind, "a subject nobody records")
    with pytest.raises(KeyError):
        scorer.rules_for("no_such_kind", None)


# --- collector and scorer end to end on a fixture ------------------------------------------------


def test_a_traced_fixture_gives_a_truth_line_that_a_real_lint_run_is_scored_against():
    import torch

    from lint_truth_probes import trace

    module = _import_file(ATTENTION)
    recorder = Recorder(ModelCode.for_packages(["fixtures"]))
    query, key, value = (torch.randn(1, 2, 5, 8) for _ in range(3))
    trace(module.ScaledDotProductAttention(), (query, key, value), recorder, "trace_a")

    entries = lint_truth.merge([{"model": "attention", "events": [e.to_json() for e in
                                                                   recorder.events]}])
    sqrt_line = _line_of(ATTENTION, "math.sqrt(head_dim)")
    assert [(e["path"], e["line"], e["kind"], e["subjects"]) for e in entries] == [
        ("fixtures/attention.py", sqrt_line, "trace_number", ["shape"])]
    assert entries[0]["source"] == ATTENTION.read_text().splitlines()[sqrt_line - 1].strip()

    findings, _ = scorer.run_lint({"fixtures/attention.py": ATTENTION}, [])
    covering = {f.code for f in findings if f.line <= sqrt_line <= f.end_line}
    summary = scorer.score(entries, findings)
    expected = any(scorer.matches(code, rule) for code in covering
                   for rule in scorer.rules_for("trace_number", "shape"))
    assert summary["caught"] == int(expected)
    assert summary["findings_off_truth"] == len(findings) - len(
        [f for f in findings if f.line <= sqrt_line <= f.end_line])

    # Negative control: the same truth moved to the `def forward` line, where no rule reports.
    moved = [dict(entries[0], line=_line_of(ATTENTION, "def forward(self, query"))]
    assert scorer.score(moved, findings)["caught"] == 0


def test_changed_decisions_are_the_statements_whose_outcome_depends_on_the_size(tmp_path):
    import torch

    from lint_truth_divergence import changed_decisions

    source = tmp_path / "decides.py"
    source.write_text(textwrap.dedent("""\
        def run(x):
            total = x[:, 0] * 0
            for index in range(x.shape[1]):
                total = total + x[:, index]
            for step in range(3):
                total = total * 0.5
            if x.shape[1] > 10:
                total = total + 1
            if x.shape[0] > 10:
                total = total - 1
            return total
        """))
    module = _import_file(source)
    code = ModelCode({"tmp": tmp_path})
    found = changed_decisions(lambda: module.run(torch.ones(2, 9)),
                              lambda: module.run(torch.ones(2, 13)), code)
    assert found.keys() == {("tmp/decides.py", _line_of(source, "range(x.shape[1])")),
                            ("tmp/decides.py", _line_of(source, "x.shape[1] > 10"))}
    assert {subject for subject, _, _ in found.values()} == {"loop", "branch"}


def test_script_errors_in_decorated_methods_point_at_the_method_not_the_decorator(tmp_path):
    import torch

    from lint_truth_probes import script_error_frames, script_subject

    (tmp_path / "decorators.py").write_text(textwrap.dedent("""\
        import functools


        def logged(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                return function(*args, **kwargs)
            return wrapper
        """))
    model_file = tmp_path / "kwargs_model.py"
    model_file.write_text(textwrap.dedent("""\
        import torch
        from decorators import logged


        class Block(torch.nn.Module):
            @logged
            def forward(self, x, **kwargs):
                return x * 2
        """))
    sys.path.insert(0, str(tmp_path))
    try:
        module = _import_file(model_file)
        block = module.Block()
        with pytest.raises(Exception) as raised:
            torch.jit.script(block)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("decorators", None)
    frames = script_error_frames(str(raised.value), block)
    assert frames[0] == (str(model_file), _line_of(model_file, "**kwargs"))
    assert script_subject(str(raised.value)) == "kwargs"


def test_the_collector_and_scorer_import_without_torch():
    code = ("import sys; sys.path.insert(0, 'benchmarks'); "
            "import lint_truth, lint_truth_score, lint_truth_probes, lint_truth_models; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 0, completed.stderr


def test_cache_keys_follow_the_model_and_its_code():
    models = [lint_truth.by_name(name) for name in
              ("fixture:attention", "fixture:attention-op", "llama", "mistral")]
    keys = [lint_truth.cache_key(model) for model in models]
    assert len(set(keys)) == len(models)  # same file, other entry; same code, other config
    assert lint_truth.cache_key(models[0]) == keys[0]
    assert lint_truth.model_folder("LlamaModel").name == "llama"
    assert Path(lint_truth.__file__).with_name("lint_truth_probes.py") in lint_truth.probe_files()
    assert ROOT / "convert" / "capture" / "recording.py" in lint_truth.probe_files()


def test_export_records_guards_in_the_models_code_apart_from_checks_inside_ops(tmp_path):
    import logging

    import torch
    import torch._logging._internal as torch_logging

    from lint_truth_probes import capture_module, export

    source = tmp_path / "guarded.py"
    source.write_text(textwrap.dedent("""\
        import torch


        class Guarded(torch.nn.Module):
            def forward(self, x):
                if x.shape[1] > 4:
                    x = x * 2
                y = x.reshape(2, x.shape[1] // 2, 2)
                if x.sum() > 0:
                    y = y + 1
                return y
        """))
    module = capture_module(_import_file(source).Guarded(), ["x"], {})
    trace_log = logging.getLogger("torch.__trace")
    before = (list(trace_log.handlers), torch_logging.GET_DTRACE_STRUCTURED)
    recorder = Recorder(ModelCode({"tmp": tmp_path}))
    status = export(module, (torch.randn(2, 8),), (torch.randn(2, 12),), recorder)
    assert (list(trace_log.handlers), torch_logging.GET_DTRACE_STRUCTURED) == before
    assert status == "ok"
    found = {(e.line, e.kind, e.subject) for e in recorder.events}
    assert (_line_of(source, "x.shape[1] > 4"), "export_guard", "code") in found
    assert (_line_of(source, "x.sum() > 0"), "export_data_dependent", "data") in found
    # reshape's own divisibility check is torch's, not a condition in the model's code
    assert {(kind, subject) for line, kind, subject in found
            if line == _line_of(source, "x.reshape")} <= {("export_guard", "op")}


def test_a_failed_conversion_is_located_at_the_line_that_emitted_the_op(tmp_path):
    import torch

    from lint_truth_probes import capture_module, convert

    source = tmp_path / "differences.py"
    source.write_text(textwrap.dedent("""\
        import torch


        class Differences(torch.nn.Module):
            def forward(self, x):
                y = torch.relu(x)
                return torch.diff(y, dim=-1)
        """))
    model = _import_file(source).Differences()
    capture = capture_module(model, ["x"], {})
    example = (torch.randn(1, 6),)
    traced = torch.jit.trace(capture, example)
    recorder = Recorder(ModelCode({"tmp": tmp_path}))
    assert convert(traced, ["x"], example, recorder).startswith("error")
    assert [(e.line, e.kind, e.subject) for e in recorder.events] == [
        (_line_of(source, "torch.diff"), "convert_failure", "unsupported_op")]


def test_a_models_stale_cache_files_are_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(lint_truth, "CACHE", tmp_path)
    names = ["fixture_attention-0123456789abcdef.json", "fixture_attention-0123456789abcdef.log",
             "fixture_attention-op-0123456789abcdef.json", "fixture_attention-notes.json"]
    for name in names:
        (tmp_path / name).write_text("{}")
    stale = lint_truth.stale_files(lint_truth.by_name("fixture:attention"))
    assert sorted(path.name for path in stale) == names[:2]
