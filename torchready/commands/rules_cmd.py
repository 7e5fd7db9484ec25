"""`torchready rules`: every rule with its code, name, fix availability and summary, plus the codes
no static rule owns (TR000 from the parser, TR303 from conversion)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list every rule: code, name, fix availability, summary"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from torchready.lint.other_codes import OTHER_CODES
    from torchready.lint.rules import all_rules

    rules = all_rules()
    if args.format == "json":
        rows = [{"code": r.CODE, "name": r.NAME, "fix": r.FIX.value if r.FIX else None,
                 "severity": r.SEVERITY.value, "summary": r.SUMMARY, "static": True}
                for r in rules]
        rows += [{"code": c.code, "name": c.name, "fix": None, "severity": c.severity.value,
                  "summary": c.summary, "static": False} for c in OTHER_CODES]
        json.dump(sorted(rows, key=lambda row: row["code"]), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("code", "name", "fix", "summary"):
        table.add_column(column, overflow="fold")
    rows = [(rule.CODE, rule.NAME, rule.FIX.value if rule.FIX else "-", rule.SUMMARY)
            for rule in rules]
    rows += [(c.code, c.name, "-", f"{c.summary} ({c.stage})")
             for c in OTHER_CODES]
    for row in sorted(rows):
        table.add_row(*row)
    Console(file=sys.stdout, highlight=False).print(table)
    return 0
