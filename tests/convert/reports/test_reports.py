"""`--report PATH` on `torchready audit` / `convert` and `torchready.convert.reports.write_report`: real
pipeline runs on tiny fixture models (each converted once per module), the JSON validated against
the shipped schema, the Markdown and HTML checked for what a reviewer reads first."""

from __future__ import annotations

import json
import math
import re

import pytest
from report_runs import ATTENTION, PARITY_ZOO, line_of, run_cli, validate

from torchready.convert.reports import FORMATS, write_report


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """attention.py:build: converts, parity passes, lint finds TR102. `audit --report .json`
    and `convert -o --report .md`, as a user would run them."""
    folder = tmp_path_factory.mktemp("converted")
    paths = {"json": folder / "audit.json", "md": folder / "convert.md",
             "package": folder / "Attention.mlpackage"}
    audit_code = run_cli("audit", f"{ATTENTION}:build", "-q", "--parity-inputs", "1",
                         "--report", str(paths["json"]))
    convert_code = run_cli("convert", f"{ATTENTION}:build", "-q", "--parity-inputs", "1",
                           "-o", str(paths["package"]), "--report", str(paths["md"]))
    return audit_code, convert_code, paths


def test_audit_and_convert_write_the_report_they_were_asked_for(converted, capsys):
    audit_code, convert_code, paths = converted
    assert (audit_code, convert_code) == (0, 0)
    assert paths["package"].is_dir()  # --report does not change what convert writes
    report = json.loads(paths["json"].read_text())
    validate(report)
    assert report["version"] == 1 and report["command"] == "audit"
    assert report["verdict"]["exit_code"] == audit_code
    # TR102 is an error-level finding: converted, parity passed, but the verdict asks for a look.
    assert report["verdict"]["status"] == "warn" and report["verdict"]["parity"] == "pass"
    assert report["options"]["arguments"]["parity_inputs"] == 1


def test_json_report_embeds_the_format_json_output_of_the_same_run(converted):
    report = json.loads(converted[2]["json"].read_text())
    result = report["result"]
    assert result["version"] == 1 and result["conversion"]["command"] == "audit"
    assert result["conversion"]["parity"]["status"] == report["parity"]["status"]
    assert [d["code"] for d in result["diagnostics"]] == [f["code"] for f in report["findings"]]
    assert [s["stage"] for s in report["timings"]["stages"]] == list(
        result["conversion"]["timings"])


def test_error_histogram_counts_every_compared_value(converted):
    report = json.loads(converted[2]["json"].read_text())
    parity = report["parity"]
    output = report["conversion"]["outputs"][0]
    values = math.prod(output["shape"]) * len(parity["cases"])
    coreml = next(row for row in parity["rows"] if row["target"] == "coreml")
    histogram = coreml["error_histogram"]
    assert histogram["total"] == values
    assert sum(histogram["counts"]) + histogram["exact"] + histogram["nonfinite"] == values
    assert len(histogram["log10_edges"]) == len(histogram["counts"]) + 1
    # The worst error lies in the last non-empty bin.
    low, high = histogram["log10_edges"][-2:]
    max_abs = coreml["max_abs"]
    assert 10 ** low <= max_abs < 10 ** high


def test_json_findings_carry_the_source_excerpt(converted):
    report = json.loads(converted[2]["json"].read_text())
    tr102 = next(f for f in report["findings"] if f["code"] == "TR102")
    line = line_of(ATTENTION, "/ math.sqrt(head_dim)")
    assert tr102["line"] == line and tr102["kind"] == "static"
    excerpt = tr102["excerpt"]
    assert excerpt["lines"][line - excerpt["start_line"]].strip().startswith("scores = ")


def test_markdown_report_has_the_verdict_and_the_parity_table(converted):
    text = converted[2]["md"].read_text()
    assert text.startswith("## ⚠️ WARN · Converted to Core ML; parity pass")
    assert "torchready convert `" in text and "exit code 0" in text
    assert "| target | output | verdict | max abs |" in text
    assert re.search(r"^\| torchscript \| `output` \| ✅ PASS \|", text, re.M)
    assert re.search(r"^\| coreml \| `output` \| ✅ PASS \|", text, re.M)
    line = line_of(ATTENTION, "/ math.sqrt(head_dim)")
    assert f"> {line} |         scores = " in text  # the finding's line, marked, in its excerpt
    assert "Attention.mlpackage" in text  # conversion settings: where the package went
    assert "| `torchready.version` |" in text  # metadata written into the model
    for stage in ("capture", "coverage", "convert", "parity", "save"):
        assert re.search(rf"^\| {stage} \| [0-9.]+ s \|$", text, re.M)


def test_failure_report_names_the_stage_and_the_diverging_line(overflow):
    result, paths = overflow
    assert result.failed_stage == "parity"
    line = line_of(PARITY_ZOO, "energy = features * 1e5")
    report = json.loads(paths["json"].read_text())
    validate(report)
    verdict = report["verdict"]
    assert (verdict["status"], verdict["failed_stage"], verdict["exit_code"]) == ("fail",
                                                                                 "parity", 1)
    assert report["command"] == "api" and report["options"]["arguments"] == {}
    divergence = report["parity"]["divergence"]
    assert divergence["line"] == line and divergence["path"].endswith("parity_zoo.py")
    assert report["parity"]["cause"] == "fp16" and report["parity"]["recheck_fp32"]["status"] == \
        "pass"
    coreml = next(row for row in report["parity"]["rows"] if row["target"] == "coreml")
    assert coreml["status"] == "fail" and coreml["error_histogram"]["nonfinite"] > 0

    text = paths["md"].read_text()
    assert text.startswith("## ❌ FAIL · Converts to Core ML but parity fails (fp16)")
    assert "converted: no (failed at **parity**)" in text
    assert "#### Where it diverges" in text and f"parity_zoo.py:{line} (aten::mul)" in text
    assert f"> {line} |         energy = features * 1e5" in text
    assert "Converted again at fp32: parity **pass**" in text
    assert "NaN/inf:" in text


def test_the_schema_rejects_what_a_report_must_not_be(converted):
    import jsonschema

    report = json.loads(converted[2]["json"].read_text())
    for broken in ({**report, "version": 2},
                   {key: value for key, value in report.items() if key != "verdict"},
                   {**report, "verdict": {**report["verdict"], "status": "ok"}},
                   {**report, "parity": {**report["parity"], "rows": [
                       {**report["parity"]["rows"][0], "max_abs": "huge"}]}}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_capture_failure_still_gets_a_report(tmp_path):
    import torch
    from torch import nn

    from torchready import to_coreml

    class UsesLambda(nn.Module):
        def forward(self, x):
            double = lambda t: t * 2  # noqa: E731 - the construct torch.jit.script rejects
            return double(x)

    result = to_coreml(UsesLambda(), (torch.rand(2),), mode="script", lint=False)
    assert result.failed_stage == "capture"
    report = json.loads(write_report(result, tmp_path / "r.json").read_text())
    validate(report)
    assert report["verdict"]["failed_stage"] == "capture"
    assert report["verdict"]["parity"] == "not reached"
    assert report["coverage"] is None and report["conversion"] is None
    assert report["parity"] is None
    assert any(f["code"] == "TR203" for f in report["findings"])
    text = write_report(result, tmp_path / "r.md").read_text()
    assert text.startswith("## ❌ FAIL · Fails at capture")
    assert "**Capture failed:**" in text and "Not checked (capture failed)." in text
    page = write_report(result, tmp_path / "r.html").read_text()
    assert 'data-status="fail"' in page and "Fails at capture" in page


def test_an_unknown_extension_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    target = tmp_path / "report.txt"
    code = run_cli("audit", f"{ATTENTION}:build", "-q", "--report", str(target))
    err = capsys.readouterr().err
    assert code == 2 and not target.exists()
    assert err.count("\n") == 1 and "use a path ending in .html, .md or .json" in err
    assert set(FORMATS) >= {".html", ".md", ".json"}


def test_html_report_is_self_contained_and_escapes_model_text(overflow):
    page = overflow[1]["html"].read_text()
    # Nothing to fetch: no external stylesheet, script, image, font or frame; CSS has no url().
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "url(" not in page and "@import" not in page
    assert "<style>" in page and page.count("<svg") >= 2  # error histogram + timings
    # The source excerpt's `>` of "features * 1e5  # far beyond fp16's 65504" is escaped.
    assert "fp16&#x27;s 65504" in page


def test_convert_writes_the_report_but_not_the_package_when_parity_fails(tmp_path):
    package, report = tmp_path / "Large.mlpackage", tmp_path / "large.md"
    code = run_cli("convert", f"{PARITY_ZOO}:large_scale", "-q", "--no-lint",
                   "--parity-inputs", "0", "-o", str(package), "--report", str(report))
    assert code == 1 and not package.exists()
    text = report.read_text()
    assert text.startswith("## ❌ FAIL · Converts to Core ML but parity fails (fp16)")
    assert "exit code 1" in text and "| `lint` | `no` |" not in text
    assert "| argument: lint | `no` |" in text and "package not written" in text
