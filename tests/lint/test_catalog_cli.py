"""The whole rule catalog through the real `torchready` command line.

* Golden: a folder with one file per INVALID example of every rule; `torchready lint` must report
  exactly that example's rule, as many times as the example says, and nothing else.
* `torchready rules` lists every code of the catalog with its fix availability.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from examples import example_source
from helpers import run_cli
from torchready.lint.rules import all_rules

# design.md §4: the catalog's codes and names are stable.
CATALOG = {
    "TR101": "non-tensor-output", "TR102": "math-on-shape", "TR103": "tensor-to-python",
    "TR104": "data-dependent-control-flow", "TR105": "shape-dependent-loop",
    "TR106": "python-side-effect", "TR107": "shape-dependent-branch",
    "TR201": "untyped-empty-container",
    "TR202": "unannotated-non-tensor-arg", "TR203": "unsupported-script-construct",
    "TR205": "unscriptable-attribute",
    "TR204": "optional-attribute-refinement", "TR301": "coreml-unsupported-op",
    "TR302": "float64", "TR304": "rank-over-five", "TR401": "missing-eval",
}


@pytest.fixture(scope="module")
def catalog_folder(tmp_path_factory) -> tuple[Path, dict[str, Counter]]:
    """One file per INVALID example, and the findings each must give."""
    folder = tmp_path_factory.mktemp("catalog")
    expected = {}
    for rule in all_rules():
        for index, example in enumerate(rule.INVALID):
            name = f"{rule.CODE.lower()}_{index}.py"
            (folder / name).write_text(example_source(example.code), encoding="utf-8")
            expected[name] = Counter({rule.CODE: example.count})
    return folder, expected


def test_lint_on_every_invalid_example_gives_exactly_those_findings(catalog_folder):
    folder, expected = catalog_folder
    # The examples are independent files: one that scripts its model must not make the others
    # scripted, as it would in a real project (`script` inferred as a capture target).
    result = run_cli("lint", str(folder), "--format", "json", "--no-cache",
                     "--target", "trace,export")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    found: dict[str, Counter] = {name: Counter() for name in expected}
    for diagnostic in report["diagnostics"]:
        found[Path(diagnostic["path"]).name][diagnostic["code"]] += 1
    assert found == expected
    assert report["summary"]["diagnostics"] == sum(sum(c.values()) for c in expected.values())


def test_rules_lists_every_catalog_code_with_its_fix_availability():
    result = run_cli("rules", "--format", "json")
    assert result.returncode == 0, result.stderr
    listed = {entry["code"]: entry for entry in json.loads(result.stdout)}
    static = {code: entry["name"] for code, entry in listed.items() if entry["static"]}
    assert static == CATALOG
    # The codes no rule owns are listed too, so a user can look up what the output shows.
    assert {code: entry["name"] for code, entry in listed.items() if not entry["static"]} == \
        {"TR000": "syntax-error", "TR303": "coreml-conversion-failed"}
    for rule in all_rules():
        assert listed[rule.CODE]["fix"] == (rule.FIX.value if rule.FIX else None)
        # A rule that offers fixes has examples that show them, and vice versa.
        assert (rule.FIX is not None) == any(e.expected_fix for e in rule.INVALID), rule.CODE
    text = run_cli("rules")
    assert text.returncode == 0
    for rule in all_rules():
        row = next(line for line in text.stdout.splitlines() if line.startswith(rule.CODE))
        assert rule.NAME in row and (rule.FIX.value if rule.FIX else "-") in row.split()


def test_every_rule_documents_the_ruff_sections():
    for rule in all_rules():
        doc = rule.documentation()
        for section in ("## What it does", "## Why is this bad?", "## Example",
                        "## Use instead", "## Fix safety", "## Known false positives"):
            assert section in doc, (rule.CODE, section)


def test_explain_documents_the_codes_no_static_rule_owns():
    for code, name in (("TR000", "syntax-error"), ("TR107", "shape-dependent-branch"),
                       ("TR303", "coreml-conversion-failed")):
        for asked in (code, code.lower(), name):
            result = run_cli("explain", asked)
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith(f"# {name} ({code})")
            assert "## What it does" in result.stdout and "## Fix safety" in result.stdout
    unknown = run_cli("explain", "TR999")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "torchready: error: unknown rule 'TR999' (see `torchready rules`)"
