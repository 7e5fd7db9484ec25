"""`torchready explain CODE`: what a rule catches, why it breaks conversion, examples, fix safety."""

from __future__ import annotations

import argparse
import sys

from lint.types import UsageError

HELP = "explain a rule: what it catches, why, bad/good example, fix safety"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="a rule code (TR102) or name (math-on-shape)")


def run(args: argparse.Namespace) -> int:
    from lint.explain import explain
    from lint.rules import rule_by_code

    rule = rule_by_code(args.code)
    if rule is None:
        raise UsageError(f"unknown rule '{args.code}' (see `torchready rules`)")
    sys.stdout.write(explain(rule))
    return 0
