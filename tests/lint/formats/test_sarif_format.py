"""`torchready lint --format sarif`: valid against the official OASIS SARIF 2.1.0 schema, and
the same findings, positions and fixes as `--format json` and `--fix`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from helpers import run_cli
from torchready.about import REPOSITORY_URL
from torchready.lint.explain import explain
from torchready.lint.rules import all_rules

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = Path(__file__).with_name("data") / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema,
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Model sources with hazards, a file that does not parse, and a name that needs URI
    escaping."""
    root = tmp_path_factory.mktemp("sarif-project")
    models = root / "models"
    models.mkdir()
    shutil.copy(ROOT / "fixtures" / "attention.py", models / "attention.py")
    shutil.copy(ROOT / "fixtures" / "convert_segmentation.py", models / "convert segmentation.py")
    (models / "broken.py").write_text("import torch\n\ndef forward(self x):\n    return x\n")
    return root


def lint(project: Path, *args: str):
    result = run_cli("lint", "models", *args, cwd=project)
    assert result.returncode == 1, result.stderr
    return result


@pytest.fixture(scope="module")
def log(project: Path) -> dict:
    return json.loads(lint(project, "--format", "sarif").stdout)


def test_the_log_is_valid_sarif_2_1_0(log, validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"


def test_results_match_the_json_output(project, log):
    findings = json.loads(lint(project, "--format", "json").stdout)["diagnostics"]
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(findings)
    assert {"TR000", "TR102", "TR401"} <= {result["ruleId"] for result in run["results"]}
    for result, finding in zip(run["results"], findings):
        assert result["ruleId"] == finding["code"] == rules[result["ruleIndex"]]["id"]
        assert result["level"] == finding["severity"]
        targets = finding.get("targets", [])
        assert result["message"]["text"] == (
            f"{finding['message']} [{', '.join(targets)}]" if targets else finding["message"])
        assert result.get("properties", {}).get("targets", []) == targets
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"] == {
            "uri": finding["path"].replace(" ", "%20"), "uriBaseId": "%SRCROOT%"}
        assert physical["region"] == {
            "startLine": finding["line"], "startColumn": finding["column"],
            "endLine": finding["end_line"], "endColumn": finding["end_column"]}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_the_driver_documents_every_rule(log):
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "torchready"
    # No public repository yet: a placeholder that can never resolve, the same one the
    # pre-commit snippet in docs/integrations.md shows.
    assert driver["informationUri"] == REPOSITORY_URL
    assert REPOSITORY_URL.endswith(".invalid/torchready")
    assert f"repo: {REPOSITORY_URL}  # PLACEHOLDER" in (ROOT / "docs" / "integrations.md").read_text()
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert set(by_id) == {"TR000"} | {rule.CODE for rule in all_rules()}
    for rule in all_rules():
        descriptor = by_id[rule.CODE]
        assert descriptor["name"] == rule.NAME
        assert descriptor["shortDescription"]["text"] == rule.SUMMARY
        assert descriptor["help"]["markdown"] == explain(rule)
        assert descriptor["help"]["text"] == rule.documentation()
        assert descriptor["fullDescription"]["text"].startswith("## What it does")
        assert descriptor["defaultConfiguration"]["level"] == rule.SEVERITY.value


def apply_sarif_fix(text: str, fix: dict) -> str:
    """Apply SARIF replacements (1-based lines, code-point columns, exclusive end) as a SARIF
    consumer would, all relative to the original text."""
    lines = text.splitlines(keepends=True)

    def offset(line: int, column: int) -> int:
        return sum(len(item) for item in lines[: line - 1]) + column - 1

    replacements = [(offset(r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
                     offset(r["deletedRegion"]["endLine"], r["deletedRegion"]["endColumn"]),
                     r.get("insertedContent", {}).get("text", ""))
                    for change in fix["artifactChanges"] for r in change["replacements"]]
    for start, end, content in sorted(replacements, reverse=True):
        text = text[:start] + content + text[end:]
    return text


def test_sarif_fixes_rewrite_files_exactly_as_lint_fix_does(project, log, tmp_path):
    fixed_by_sarif = {}
    for result in log["runs"][0]["results"]:
        for fix in result.get("fixes", []):
            if fix["properties"]["applicability"] != "safe":
                continue  # --fix applies safe fixes only
            (change,) = fix["artifactChanges"]
            path = change["artifactLocation"]["uri"].replace("%20", " ")
            original = fixed_by_sarif.get(path, (project / path).read_text(encoding="utf-8"))
            fixed_by_sarif[path] = apply_sarif_fix(original, fix)
    assert {"models/attention.py", "models/convert segmentation.py"} <= set(fixed_by_sarif)

    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    run_cli("lint", "models", "--fix", cwd=copy)
    for path, text in fixed_by_sarif.items():
        assert text == (copy / path).read_text(encoding="utf-8")


def test_an_unreadable_file_is_a_tool_execution_notification(tmp_path, validator):
    (tmp_path / "latin1.py").write_bytes(b"# caf\xe9\nimport torch\n")
    result = run_cli("lint", "--format", "sarif", "latin1.py", cwd=tmp_path)
    assert result.returncode == 2
    log = json.loads(result.stdout)
    assert list(validator.iter_errors(log)) == []
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error" and "not UTF-8" in notification["message"]["text"]
