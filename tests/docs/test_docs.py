"""The documentation cannot drift: rule pages are generated and current, every command and option
of `torchready --help` is documented on its command's page, links resolve, and the README stays a
page a newcomer reads in five minutes."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from torchready.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Where each command's reference lives (its options must all appear there).
COMMAND_PAGES = {
    "lint": DOCS / "lint.md",
    "rules": DOCS / "rules" / "README.md",
    "explain": DOCS / "rules" / "README.md",
    "audit": DOCS / "convert.md",
    "convert": DOCS / "convert.md",
    "lsp": DOCS / "integrations.md",
    "clean": DOCS / "lint.md",
    "runtime-ops": DOCS / "runtime.md",
    "daemon": DOCS / "lint.md",
}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_rule_pages_are_current():
    result = subprocess.run([sys.executable, "scripts/generate_rule_docs.py", "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_command_has_a_page():
    assert set(COMMAND_PAGES) == set(COMMANDS) == set(_subcommands())


@pytest.mark.parametrize("command", sorted(COMMAND_PAGES))
def test_every_option_is_documented_on_its_page(command):
    page = COMMAND_PAGES[command].read_text(encoding="utf-8")
    parser = _subcommands()[command]
    options = [option for action in parser._actions for option in action.option_strings
               if option.startswith("--") and option != "--help"]
    missing = [option for option in options if not re.search(rf"`[^`]*{re.escape(option)}\b", page)]
    assert missing == [], f"{COMMAND_PAGES[command].relative_to(ROOT)} does not document {missing}"
    assert f"torchready {command}" in page or command in ("rules", "explain") and \
        f"torchready {command}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250


def _anchors(markdown: str) -> set[str]:
    anchors, in_code = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_links_between_pages_resolve():
    pages = [ROOT / "README.md", *DOCS.rglob("*.md")]
    broken = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
            elif anchor and linked.suffix == ".md" and \
                    anchor not in _anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(ROOT)} -> {target} (no such heading)")
    assert broken == []
