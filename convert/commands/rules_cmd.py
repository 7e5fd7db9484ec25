"""`torchready rules`: every rule with its code, name, fix availability and summary."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list every rule: code, name, fix availability, summary"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from lint.rules import all_rules

    rules = all_rules()
    if args.format == "json":
        json.dump([{"code": r.CODE, "name": r.NAME, "fix": r.FIX.value if r.FIX else None,
                    "severity": r.SEVERITY.value, "summary": r.SUMMARY} for r in rules],
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("code", "name", "fix", "summary"):
        table.add_column(column, overflow="fold")
    for rule in rules:
        table.add_row(rule.CODE, rule.NAME, rule.FIX.value if rule.FIX else "-", rule.SUMMARY)
    Console(file=sys.stdout, highlight=False).print(table)
    return 0
