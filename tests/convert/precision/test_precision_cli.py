"""`--precision auto` on the command line: exit codes, the saved package (its program and its
metadata), the JSON fields and the audit reports."""

import json
import warnings

import pytest
from precision_models import line_of

import parity_zoo
from torchready.cli import main

ZOO = parity_zoo.__file__


def _run(capsys, *argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """`convert large_scale --precision auto --format json --report auto.md`, run once."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("auto")
    package, report = folder / "Large.mlpackage", folder / "auto.md"
    out = io.StringIO()  # capsys is function-scoped: capture stdout by hand
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["convert", f"{ZOO}:large_scale", "-o", str(package), "--precision", "auto",
                     "--no-lint", "-q", "--format", "json", "--report", str(report)])
    return code, json.loads(out.getvalue()), package, report


def test_convert_auto_exits_0_and_saves_the_mixed_program_with_its_metadata(converted):
    import coremltools as ct

    from torchready.convert.milrt import load_program

    code, _, package, _ = converted
    assert code == 0 and package.exists()
    saved = ct.models.MLModel(str(package), skip_model_load=True)
    metadata = saved.user_defined_metadata
    assert metadata["torchready.precision"] == "auto -> mixed: 1 of 4 ops fp32"
    [entry] = json.loads(metadata["torchready.fp32_ops"])
    assert entry["type"] == "layer_norm" and entry["source"].endswith(
        f"parity_zoo.py:{line_of(ZOO, 'return self.head(self.norm(energy))')}")
    program = load_program(str(package))
    dtypes = {op.op_type: op.outputs[0].dtype.__name__
              for op in program.program.functions["main"].operations if op.op_type != "const"}
    assert dtypes["layer_norm"] == "fp32" and dtypes["linear"] == "fp16"
    assert any(op.name == entry["op"] for op in program.program.functions["main"].operations)


def test_json_output_carries_the_precision_fields(converted):
    _, document, _, _ = converted
    assert document["version"] == 1
    precision = document["conversion"]["precision"]
    assert precision["requested"] == "auto" and precision["outcome"] == "mixed"
    assert precision["fp32_op_count"] == 1 and precision["float_ops"] == 4
    [op] = precision["fp32_ops"]
    assert op["op_type"] == "layer_norm" and op["torch_kind"] == "aten::layer_norm"
    assert op["reason"] == "overflow" and op["round"] == 1
    assert precision["before"]["status"] == "fail" and precision["after"]["status"] == "pass"
    assert document["conversion"]["parity"]["status"] == "pass"
    assert "precision" in {stage for stage in document["conversion"]["timings"]}


def test_the_markdown_report_lists_the_fp32_ops(converted):
    _, _, _, report = converted
    text = report.read_text()
    assert "### Precision (auto)" in text
    assert "**1 of 4 ops kept in fp32, the rest fp16 (1 round); parity passes**" in text
    assert "| `layer_norm` | `aten::layer_norm` |" in text
    assert "- parity with every op in fp16: fails at fp16" in text


def test_html_and_json_reports_show_the_same_precision_section(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
    from report_runs import validate

    html, data = tmp_path / "auto.html", tmp_path / "auto.json"
    code, _, _ = _run(capsys, "audit", f"{ZOO}:pressure_regression", "--precision", "auto",
                      "--no-lint", "-q", "--report", str(data))
    assert code == 0
    report = json.loads(data.read_text())
    validate(report)
    assert report["precision"]["outcome"] == "fp32" and report["verdict"]["exit_code"] == 0
    from torchready.convert.reports.html_format import to_html

    page = to_html(report)
    html.write_text(page)
    assert '<section id="precision">' in page and 'href="#precision"' in page
    assert "no mixed-precision program passed" in page


def test_the_fallback_is_said_in_the_text_output(capsys):
    code, out, _ = _run(capsys, "audit", f"{ZOO}:pressure_regression", "--precision", "auto",
                        "--no-lint", "-q")
    assert code == 0
    assert ("Precision (auto) no mixed-precision program passed (3 of 3 float ops would need "
            "fp32, more than 50%): converted at fp32") in out
    assert "Parity (fp32 compute precision" in out


def test_an_fp16_failure_suggests_auto_with_the_ops(capsys):
    code, out, _ = _run(capsys, "audit", f"{ZOO}:large_scale", "--no-lint", "-q",
                        "--parity-inputs", "1", "--mode", "trace")
    assert code == 1
    line = line_of(ZOO, "return self.head(self.norm(energy))")
    assert ("hint fp32 passes where fp16 fails: --precision auto would keep 1 of 4 ops in "
            f"fp32 to start with (layer_norm at ") in out
    assert f"parity_zoo.py:{line}), the rest in fp16" in out


def test_auto_without_parity_is_a_usage_error(capsys):
    code, _, err = _run(capsys, "audit", f"{ZOO}:large_scale", "--precision", "auto",
                        "--no-parity", "--no-lint", "-q")
    assert code == 2
    assert "--precision auto decides from parity which ops need fp32" in err

