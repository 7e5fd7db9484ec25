"""Export mode end to end, for real: torch.export.export + run_decompositions + ct.convert on the
ExportedProgram, flexible dimensions as Core ML shape ranges, the source map from fx stack traces,
parity (and localisation) against the exported program, auto mode's fallback to export, the CLI.
"""

import json
from pathlib import Path

import pytest
import torch

import export_models as em
from torchready import to_coreml
from torchready.cli import main
from torchready.convert.model_state import evaluating
from torchready.convert.parity.engine import ParityOptions
from torchready.convert.sidecar import read_sourcemap

MODELS_FILE = Path(em.__file__).resolve()


def line_of(fragment: str) -> int:
    """The line of export_models.py containing `fragment` (the expected user line)."""
    for number, text in enumerate(MODELS_FILE.read_text().splitlines(), start=1):
        if fragment in text:
            return number
    raise LookupError(fragment)


def is_models_file(path: str | None) -> bool:
    return bool(path) and Path(path).resolve() == MODELS_FILE


@pytest.fixture(scope="module")
def exported(tmp_path_factory, single_torch_thread):
    """DictHead through --mode export with a flexible sequence length, saved with its sidecar."""
    torch.manual_seed(0)
    output = tmp_path_factory.mktemp("export") / "DictHead.mlpackage"
    result = to_coreml(em.DictHead(), em.example(), mode="export",
                       flexible={"x": {1: (4, 32)}}, output=output)
    return result


def test_export_mode_converts_a_dict_output_with_named_outputs(exported):
    assert exported.ok, (exported.failed_stage, exported.error)
    assert exported.capture_mode == "export"
    assert exported.captured.exported_program is not None
    assert exported.output_names == ["hidden", "pooled"]
    spec = exported.mlmodel.get_spec()
    assert [o.name for o in spec.description.output] == ["hidden", "pooled"]
    assert [i.name for i in spec.description.input] == ["x"]
    assert exported.metadata.get("torchready.capture") == "export"
    # coremltools records which frontend it used
    assert spec.description.metadata.userDefined[
        "com.github.apple.coremltools.source_dialect"].startswith("TorchExport")


def test_a_flexible_dimension_becomes_a_core_ml_shape_range(exported):
    shape = exported.mlmodel.get_spec().description.input[0].type.multiArrayType
    ranges = [(r.lowerBound, r.upperBound) for r in shape.shapeRange.sizeRanges]
    assert ranges == [(1, 1), (4, 32), (8, 8)]
    # shape probing checks the declared dimension only (export specializes the others by
    # construction) and finds that the exported program follows it
    probed = [(d.target.input_name, d.target.dim, d.status)
              for d in exported.shape_probes.dimensions]
    assert probed and set(probed) == {("x", 1, "follows")}
    # torch.export proved the range: the program accepts another length in it
    module = exported.captured.exported_program.module()
    longer = torch.rand(1, 20, 8)
    with evaluating(exported.prepared.original):  # to_coreml gave it back in its own mode
        eager = exported.prepared.module(longer)
    assert torch.allclose(module(longer)[0], eager[0], atol=1e-6)


def test_the_sidecar_maps_mil_ops_to_the_users_lines_from_stack_traces(exported):
    sidecar = read_sourcemap(exported.package_path)
    assert sidecar == json.loads(json.dumps(exported.sourcemap))
    entries = {name: op["torch"] for name, op in sidecar["ops"].items() if op["torch"]}
    lines = {(entry["kind"].split(".")[0], entry["line"]) for entry in entries.values()
             if is_models_file(entry.get("path"))}
    hidden, pooled = line_of("# line of hidden"), line_of("# line of pooled")
    at_hidden = {kind for kind, at in lines if at == hidden}
    at_pooled = {kind for kind, at in lines if at == pooled}
    assert {"aten::linear", "aten::relu", "aten::layer_norm"} <= at_hidden
    assert {"aten::mean", "aten::mul"} <= at_pooled
    # the library frame that emitted the op is kept as its origin (nn.Linear's forward)
    linear = next(e for e in entries.values() if e["kind"] == "aten::linear")
    assert linear["origin"]["path"].endswith("torch/nn/modules/linear.py")
    assert linear["scope"] == "model/proj/" + linear["node"]
    # the MIL op holding a node's value is named after the fx node
    relu = next(name for name, e in entries.items() if e["kind"] == "aten::relu"
                and sidecar["ops"][name]["type"] == "relu")
    assert relu.startswith(entries[relu]["node"])


def test_parity_compares_eager_the_exported_program_and_the_converted_model(exported):
    report = exported.parity
    assert report.passed, report.summary()
    assert report.capture == "export"
    assert {row.target for row in report.rows} == {"torchscript", "coreml"}
    assert report.label("torchscript") == "export"
    assert report.to_json()["capture"] == "export"
    assert len(report.cases) >= 2


def test_a_parity_failure_is_localised_to_a_user_line_through_the_fx_graph(single_torch_thread):
    """An impossible PSNR gate makes the first fp16 value diverge: localisation must run the fx
    graph, align it with the MIL values by name and point at the user's line."""
    torch.manual_seed(0)
    options = ParityOptions(random_inputs=0, recheck_fp32=False,
                            thresholds={"psnr_pass_db": 400.0, "psnr_fail_db": 300.0})
    result = to_coreml(em.DictHead(), em.example(), mode="export", parity_options=options,
                       lint=False)
    assert result.failed_stage == "parity"
    divergence = result.parity.divergence
    assert divergence is not None, result.parity.localisation_note
    assert is_models_file(divergence.path)
    assert divergence.line in (line_of("# line of hidden"), line_of("# line of pooled"))
    assert divergence.torch_kind and divergence.torch_kind.startswith("aten::")


def test_auto_records_its_choice_when_trace_converts_with_parity(single_torch_thread):
    torch.manual_seed(0)
    result = to_coreml(em.DictHead(), em.example(), lint=False)
    assert result.ok
    assert result.capture_mode == "trace"
    assert [a["outcome"] for a in result.capture_attempts] == ["trace: converted with parity"]
    assert result.capture_reason.startswith("auto: trace: converted with parity. auto chose trace")


def test_auto_falls_back_to_export_when_the_trace_does_not_convert(single_torch_thread):
    torch.manual_seed(0)
    result = to_coreml(em.Shrink(), em.example(), lint=False)
    assert result.ok, result.capture_reason
    assert result.capture_mode == "export"
    outcomes = [a["outcome"] for a in result.capture_attempts]
    assert outcomes[0].startswith("trace failed at convert")
    assert "softshrink" in outcomes[0]
    assert outcomes[1] == "export: converted with parity"
    assert result.capture_reason == f"auto: {outcomes[0]}; {outcomes[1]}"
    # the failed attempt's findings do not stay on the model that was kept
    assert not [d for d in result.diagnostics if d.code == "TR301"]
    assert result.parity.passed


def test_a_model_export_cannot_capture_fails_at_capture_with_a_pinned_finding():
    result = to_coreml(em.BranchOnValue(), em.example(), mode="export", lint=False)
    assert result.failed_stage == "capture"
    assert "torch.export" in result.error
    pinned = [d for d in result.diagnostics if is_models_file(d.path)
              and d.line == line_of("# data-dependent branch")]
    assert pinned and pinned[0].code in ("TR103", "TR104"), result.diagnostics


def test_the_cli_converts_with_mode_export(tmp_path, capsys, single_torch_thread):
    output = tmp_path / "Head.mlpackage"
    code = main(["convert", f"{MODELS_FILE}:dict_head", "-o", str(output), "--mode", "export",
                 "--input", "x:1x(4..32)x8", "--format", "json", "--no-lint"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    document = json.loads(printed)
    capture = document["conversion"]["capture"]
    assert capture["mode"] == "export"
    assert capture["attempts"] == [{"mode": "export", "failed_stage": None,
                                    "outcome": "export: converted with parity"}]
    shape = document["conversion"]["inputs"][0]
    assert shape["flexible"] == {"1": [4, 32]}
    assert output.is_dir()
    assert (tmp_path / "Head.torchready_sourcemap.json").is_file()


def test_unsupported_fx_ops_are_reported_at_the_users_line():
    result = to_coreml(em.Unconvertible(), em.example(), mode="export", lint=False,
                       parity=False)
    assert result.failed_stage == "convert"
    assert "aten::cummax" in result.coverage.unsupported
    assert result.coverage.unsupported["aten::cummax"].lines[0][1] == line_of("# cummax line")
    # one TR301 per op and line: the coverage stage's, or the conversion's when coverage
    # found nothing (the pipeline drops the conversion's repeat of a coverage finding)
    stopped = [d for d in result.diagnostics if d.code == "TR301"]
    assert [(d.line, is_models_file(d.path)) for d in stopped] == [(line_of("# cummax line"),
                                                                    True)]
    assert "aten::cummax" in result.error


def test_a_converter_failure_in_export_mode_points_at_the_fx_nodes_line():
    result = to_coreml(em.HardShrink(), em.example(), mode="export", lint=False, parity=False)
    assert result.failed_stage == "convert"
    failure = next(d for d in result.diagnostics if d.origin == "convert")
    assert failure.code == "TR303", failure
    assert is_models_file(failure.path) and failure.line == line_of("# only hardshrink")
    assert failure.details["node"]["kind"].startswith("aten::where")
