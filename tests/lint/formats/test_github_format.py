"""`torchready lint --format github`: workflow-command annotations that the GitHub Actions
runner parses back into exactly our findings, whatever characters paths and messages hold."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from helpers import run_cli
from torchready.lint.api import FileResult, LintRun
from torchready.lint.formats.github_format import render
from torchready.lint.types import Diagnostic, Severity

ROOT = Path(__file__).resolve().parents[3]

# The runner's unescaping (actions/runner ActionCommand.cs): its mapping tables, undone in
# table order.
DATA_MAPPINGS = [("\r", "%0D"), ("\n", "%0A"), ("%", "%25")]
PROPERTY_MAPPINGS = [("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25")]


def unescape(text: str, mappings) -> str:
    for token, replacement in mappings:
        text = text.replace(replacement, token)
    return text


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """One workflow command, parsed as the runner does: `::cmd k=v,k=v::message`."""
    assert line.startswith("::")
    end = line.index("::", 2)
    command, _, properties = line[2:end].partition(" ")
    fields = {}
    for item in properties.split(","):
        key, _, value = item.partition("=")
        fields[key] = unescape(value, PROPERTY_MAPPINGS)
    return command, fields, unescape(line[end + 2:], DATA_MAPPINGS)


def test_annotations_carry_every_finding_of_the_cli(tmp_path):
    shutil.copy(ROOT / "fixtures" / "attention.py", tmp_path / "attention.py")
    shutil.copy(ROOT / "fixtures" / "convert_segmentation.py", tmp_path / "segmentation_script.py")
    github = run_cli("lint", "--format", "github", ".", cwd=tmp_path)
    as_json = run_cli("lint", "--format", "json", ".", cwd=tmp_path)
    assert as_json.stdout, as_json.stderr
    findings = json.loads(as_json.stdout)
    assert github.returncode == 1
    lines = github.stdout.splitlines()
    assert len(lines) == len(findings["diagnostics"]) == 2
    for line, finding in zip(lines, findings["diagnostics"]):
        command, fields, message = parse(line)
        assert command == "error"
        assert fields == {"file": finding["path"], "line": str(finding["line"]),
                          "col": str(finding["column"]), "endLine": str(finding["end_line"]),
                          "endColumn": str(finding["end_column"]),
                          "title": f"torchready ({finding['code']})"}
        # The annotation names the capture targets the finding concerns, as the text does.
        assert finding["targets"]
        assert message == f"{finding['message']} [{', '.join(finding['targets'])}]"


def test_hostile_paths_and_messages_round_trip_and_levels_follow_severity():
    tricky_path = "models/a,line=99:b%2C%0A.py"
    diagnostics = [
        Diagnostic(tricky_path, 3, 5, 4, 2, "TR102", "math-on-shape", Severity.ERROR,
                   "100% wrong:\nsecond line, with %0A literally\r\nand ::colons::"),
        Diagnostic(tricky_path, 7, 1, 7, 9, "TR999", "some-warning", Severity.WARNING, "w"),
        Diagnostic(tricky_path, 8, 1, 8, 9, "TR998", "some-info", Severity.INFO, "i"),
    ]
    stream = io.StringIO()
    render(LintRun([FileResult(Path(tricky_path), diagnostics)]), stream)
    lines = stream.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 4  # one line per finding, nothing else
    parsed = [parse(line) for line in lines[:-1]]
    assert [command for command, _, _ in parsed] == ["error", "warning", "notice"]
    command, fields, message = parsed[0]
    assert fields["file"] == tricky_path
    assert (fields["line"], fields["col"], fields["endLine"], fields["endColumn"]) == (
        "3", "5", "4", "2")
    assert message == diagnostics[0].message


def test_an_unreadable_file_is_annotated_too():
    stream = io.StringIO()
    render(LintRun([FileResult(Path("bad.py"), [], error="bad.py: not UTF-8")]), stream)
    command, fields, message = parse(stream.getvalue().strip())
    assert (command, fields["file"], message) == ("error", "bad.py", "bad.py: not UTF-8")
