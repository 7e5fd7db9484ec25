"""Score `torchready lint` against the dynamic truth set of `lint_truth.py`: recall per kind and
per rule, and the findings on lines with no truth.

    python benchmarks/lint_truth_score.py                       # markdown tables on stdout
    python benchmarks/lint_truth_score.py --json summary.json   # also the JSON summary
    python benchmarks/lint_truth_score.py --scope models        # transformers/models/ + fixtures/
    python benchmarks/lint_truth_score.py --lint-arg=--follow-imports   # extra lint arguments

It runs `torchready lint --format json` (with `--target all` when the CLI has `--target`) once, on
exactly the files that hold truth lines, and matches findings to truth lines:

* a truth line is *caught* when a finding of one of the rules its kind maps to (`RULES` below:
  the one table of which rule should report which kind) is reported on that line: the finding's
  range (line..end_line) contains it. A finding on a neighbouring line that its range does not
  cover does not count, even when it is the same statement;
* "any rule" also counts findings of other rules on the line, and "exact" only findings whose
  first line is the truth line;
* per rule, recall is over the truth lines whose kind names that rule first (its job);
* findings on lines with no truth at all are counted for the precision review: they are not
  false positives by themselves (the probes do not exercise every path), so no precision number
  is computed here.

Truth lines whose source no longer matches the installed file (another transformers version) are
reported as stale and left out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lint_truth import TRUTH, resolve, source_line  # noqa: E402

# (kind, subject) -> the rules that should report it; the first is the rule whose job it is, the
# others also count. (kind, None) is the kind's default. "TR2"/"TR3" stand for every script or
# Core ML rule; the trace family is always spelled out, so that TR101 (which underlines whole
# `return ModelOutput(...)` statements) never counts by accident.
# An empty tuple marks truth no rule is expected to report: listed, but left out of the recall.
RULES: dict[tuple[str, str | None], tuple[str, ...]] = {
    # Python booleans of traced values: a branch frozen into the trace.
    ("trace_bool", "shape"): ("TR107", "TR104"),
    ("trace_bool", "data"): ("TR104", "TR107"),
    ("trace_bool", None): ("TR104", "TR107"),
    # A traced value used as a Python index (`range(n)`, a list index).
    ("trace_index", "shape"): ("TR105", "TR102", "TR107"),
    ("trace_index", None): ("TR103", "TR105"),
    # Python numbers: math on a size, or tensor data read into Python.
    ("trace_number", "shape"): ("TR102", "TR103"),
    ("trace_number", None): ("TR103", "TR102"),
    ("trace_constant", None): ("TR103",),
    ("trace_iterate", None): ("TR105", "TR103"),
    ("trace_len", None): ("TR103", "TR105", "TR102"),
    ("trace_other", None): ("TR103", "TR102", "TR104", "TR105", "TR107"),
    ("trace_error", None): ("TR101", "TR103", "TR104"),
    # The trace at one size is wrong at another, because of this line.
    ("trace_divergence", "constant"): ("TR102", "TR103"),
    ("trace_divergence", "branch"): ("TR107", "TR104"),
    ("trace_divergence", "loop"): ("TR105", "TR107", "TR104"),
    ("trace_divergence", None): ("TR102", "TR103", "TR104", "TR105", "TR107"),
    # torch.jit.script, by what the compiler rejected.
    ("script_error", "kwargs"): ("TR203",),
    ("script_error", "super"): ("TR203",),
    ("script_error", "attribute"): ("TR203", "TR2"),
    ("script_error", "annotation"): ("TR203", "TR202"),
    ("script_error", "construct"): ("TR203",),
    ("script_error", "optional"): ("TR204", "TR2"),
    ("script_error", "container"): ("TR201",),
    ("script_error", "unannotated"): ("TR202",),
    ("script_error", None): ("TR203", "TR2"),
    # torch.export.
    ("export_guard", "code"): ("TR107", "TR102", "TR105", "TR104"),
    ("export_guard", "specialization"): ("TR107", "TR102", "TR105"),
    # Checks inside torch ops on the sizes a line passes them (`view`'s divisibility, a
    # convolution's minimum size, broadcasting's "not 1"): constraints of the exported program,
    # not a construct of the model's source. Listed, not scored.
    ("export_guard", "op"): (),
    ("export_guard", None): ("TR107",),
    ("export_data_dependent", None): ("TR104", "TR103"),
    ("export_error", None): ("TR104", "TR103", "TR107"),
    # coremltools.
    ("convert_failure", "unsupported_op"): ("TR301",),
    ("convert_failure", None): ("TR301", "TR3"),
}


def rules_for(kind: str, subject: str | None) -> tuple[str, ...]:
    found = RULES.get((kind, subject))
    if found is None:
        found = RULES.get((kind, None))
    if found is None:
        raise KeyError(f"no rule mapping for kind {kind!r}: add it to RULES")
    return found


def matches(code: str, rule: str) -> bool:
    return code == rule or (len(rule) < 5 and code.startswith(rule))


@dataclass(frozen=True)
class Finding:
    path: str  # truth-relative ("transformers/models/...") when the file holds truth
    line: int
    end_line: int
    code: str


@dataclass
class LineScore:
    entry: dict[str, Any]
    expected: tuple[str, ...]  # every rule that counts
    primary: tuple[str, ...]  # the rule(s) whose job it is (one per subject)
    codes: set[str] = field(default_factory=set)  # every code whose range covers the line
    exact_codes: set[str] = field(default_factory=set)  # codes whose first line is the line

    @property
    def caught(self) -> bool:
        return any(matches(code, rule) for code in self.codes for rule in self.expected)

    @property
    def caught_exact(self) -> bool:
        return any(matches(code, rule) for code in self.exact_codes for rule in self.expected)


def expectations(entry: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every rule that counts, the rules whose job it is) for a truth entry (with subjects)."""
    expected: dict[str, None] = {}
    primary: dict[str, None] = {}
    for subject in entry.get("subjects") or [None]:
        rules = rules_for(entry["kind"], subject)
        if rules:
            primary.setdefault(rules[0])
        for rule in rules:
            expected.setdefault(rule)
    return tuple(expected), tuple(primary)


def score(entries: list[dict[str, Any]], findings: list[Finding]) -> dict[str, Any]:
    """Match findings to truth lines; the summary the tables and the JSON are made from."""
    by_line: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for finding in findings:
        for line in range(finding.line, max(finding.line, finding.end_line) + 1):
            by_line[(finding.path, line)].append(finding)
    lines, informational = [], []
    for entry in entries:
        expected, primary = expectations(entry)
        scored = LineScore(entry, expected, primary)
        for finding in by_line.get((entry["path"], entry["line"]), ()):
            scored.codes.add(finding.code)
            if finding.line == entry["line"]:
                scored.exact_codes.add(finding.code)
        (lines if expected else informational).append(scored)
    truth_lines = {(entry["path"], entry["line"]) for entry in entries}
    off_truth = [finding for finding in findings
                 if not any((finding.path, line) in truth_lines
                            for line in range(finding.line, max(finding.line, finding.end_line) + 1))]
    return {
        "truth_lines": len(lines),
        "caught": sum(s.caught for s in lines),
        "caught_exact": sum(s.caught_exact for s in lines),
        "caught_any_rule": sum(bool(s.codes) for s in lines),
        "recall": _ratio(sum(s.caught for s in lines), len(lines)),
        "by_kind": _group(lines, lambda s: [s.entry["kind"]]),
        "by_kind_subject": _group(lines, _kind_subjects),
        "by_rule": _by_rule(lines, off_truth),
        # Truth no rule is expected to report (RULES maps it to no rule): not in the recall.
        "informational": _group(informational, _kind_subjects),
        "findings": len(findings),
        "findings_off_truth": len(off_truth),
        "missed": [f"{s.entry['path']}:{s.entry['line']}:{s.entry['kind']}"
                   for s in lines if not s.caught],
    }


def _kind_subjects(scored: LineScore) -> list[str]:
    return [f"{scored.entry['kind']}:{subject}" for subject in scored.entry.get("subjects") or
            ["-"] if not scored.expected or rules_for(scored.entry["kind"], subject)]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _group(lines: list[LineScore], keys: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[LineScore]] = defaultdict(list)
    for scored in lines:
        for key in keys(scored):
            groups[key].append(scored)
    return {key: {"lines": len(group), "caught": sum(s.caught for s in group),
                  "recall": _ratio(sum(s.caught for s in group), len(group)),
                  "caught_any_rule": sum(bool(s.codes) for s in group),
                  "caught_exact": sum(s.caught_exact for s in group),
                  "rules": _rules_of(key, group)}
            for key, group in sorted(groups.items())}


def _rules_of(key: str, group: list[LineScore]) -> list[str]:
    """The rule whose job a group is: its subject's first rule, or every such rule of a kind."""
    kind, _, subject = key.partition(":")
    if subject:
        return list(rules_for(kind, subject)[:1])
    return sorted({rule for s in group for rule in s.primary})


def _by_rule(lines: list[LineScore], off_truth: list[Finding]) -> dict[str, dict[str, Any]]:
    rules = sorted({rule for s in lines for rule in s.primary}
                   | {finding.code for finding in off_truth})
    table = {}
    for rule in rules:
        owned = [s for s in lines if rule in s.primary]
        caught = sum(any(matches(code, rule) for code in s.codes) for s in owned)
        family = len(rule) < 5  # "TR1": any TR1xx; its findings are counted under their codes
        table[f"{rule}xx (any)" if family else rule] = {
            "lines": len(owned), "caught": caught, "recall": _ratio(caught, len(owned)),
            # lines of other kinds this rule also reports (counted as caught there)
            "elsewhere": sum(1 for s in lines if rule not in s.primary
                             and any(matches(code, rule) for code in s.codes)),
            "findings_off_truth": None if family else
            sum(1 for finding in off_truth if finding.code == rule),
        }
    return table


# --- running the linter --------------------------------------------------------------------------


def lint_command() -> list[str]:
    executable = Path(sys.executable).with_name("torchready")
    if executable.exists():
        return [str(executable)]
    found = shutil.which("torchready")
    return [found] if found else [sys.executable, "-m", "torchready"]


def supports_targets(command: list[str]) -> bool:
    help_text = subprocess.run([*command, "lint", "--help"], capture_output=True, text=True,
                               check=False).stdout
    return "--target" in help_text


def run_lint(files: dict[str, Path], extra: list[str]) -> tuple[list[Finding], list[str]]:
    """Lint `files` ({truth path: file}) in one run; (findings, the command line used)."""
    command = lint_command()
    arguments = ["lint", "--format", "json", "--no-cache", "--exit-zero"]
    if supports_targets(command):
        arguments += ["--target", "all"]
    arguments += extra
    by_file = {str(path.resolve()): relative for relative, path in files.items()}
    completed = subprocess.run([*command, *arguments, *sorted(by_file)], capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"torchready lint failed ({completed.returncode}): "
                           f"{completed.stderr.strip()[-500:]}")
    findings = []
    for diagnostic in json.loads(completed.stdout)["diagnostics"]:
        path = str(Path(diagnostic["path"]).resolve())
        findings.append(Finding(by_file.get(path, path), diagnostic["line"],
                                diagnostic.get("end_line") or diagnostic["line"],
                                diagnostic["code"]))
    return findings, ["torchready", *arguments, f"<{len(files)} files>"]


def current_entries(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries whose line still reads as recorded, and the stale ones."""
    current, stale = [], []
    for entry in entries:
        if source_line(entry["path"], entry["line"]) == entry.get("source", ""):
            current.append(entry)
        else:
            stale.append(f"{entry['path']}:{entry['line']}")
    return current, stale


def in_scope(entry: dict[str, Any], scope: str) -> bool:
    return scope == "all" or entry["path"].startswith(("transformers/models/", "fixtures/"))


# --- report --------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def markdown(summary: dict[str, Any], subjects: bool = False) -> str:
    rows = ["| kind | rules | truth lines | caught | recall | any rule | exact line |",
            "|---|---|---:|---:|---:|---:|---:|"]
    groups = summary["by_kind_subject"] if subjects else summary["by_kind"]
    for kind, group in groups.items():
        rows.append(f"| {kind} | {', '.join(group['rules'])} | {group['lines']} | "
                    f"{group['caught']} | {_percent(group['recall'])} | "
                    f"{group['caught_any_rule']} | {group['caught_exact']} |")
    rows.append(f"| **all** | | **{summary['truth_lines']}** | **{summary['caught']}** | "
                f"**{_percent(summary['recall'])}** | {summary['caught_any_rule']} | "
                f"{summary['caught_exact']} |")
    for kind, group in summary["informational"].items():
        rows.append(f"| {kind} (not scored) | - | {group['lines']} | - | - | "
                    f"{group['caught_any_rule']} | - |")
    rows += ["", "| rule | its truth lines | caught | recall | caught on other kinds | "
                 "findings on lines with no truth |", "|---|---:|---:|---:|---:|---:|"]
    for rule, group in summary["by_rule"].items():
        off = group["findings_off_truth"]
        rows.append(f"| {rule} | {group['lines']} | {group['caught']} | "
                    f"{_percent(group['recall'])} | {group['elsewhere']} | "
                    f"{'-' if off is None else off} |")
    rows += ["", f"{summary['findings']} findings in {summary['files']} files; "
                 f"{summary['findings_off_truth']} on lines with no truth (for the precision "
                 "review). Matching: a finding whose line range contains the truth line."]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, default=TRUTH)
    parser.add_argument("--json", type=Path, help="write the JSON summary here")
    parser.add_argument("--scope", choices=("all", "models"), default="all",
                        help="models: only truth in transformers/models/ and fixtures/")
    parser.add_argument("--subjects", action="store_true", help="one row per kind and subject")
    parser.add_argument("--missed", action="store_true", help="list the truth lines not caught")
    parser.add_argument("--lint-arg", action="append", default=[],
                        help="extra argument for torchready lint (repeatable)")
    args = parser.parse_args(argv)

    try:
        document = json.loads(args.truth.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"lint_truth_score: cannot read {args.truth}: {error}", file=sys.stderr)
        return 2
    entries = [entry for entry in document["truth"] if in_scope(entry, args.scope)]
    entries, stale = current_entries(entries)
    files = {entry["path"]: resolve(entry["path"]) for entry in entries}
    findings, command = run_lint(files, args.lint_arg)
    summary = score(entries, findings)
    summary.update(files=len(files), stale=stale, scope=args.scope, lint_command=command,
                   truth_environment=document.get("environment"))
    print(markdown(summary, args.subjects))
    if stale:
        print(f"\n{len(stale)} stale truth lines left out (the installed source differs)")
    if args.missed:
        print("\nmissed:\n" + "\n".join(summary["missed"]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
