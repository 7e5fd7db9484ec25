"""`torchready explain CODE`: what a rule catches, why it breaks conversion, examples, fix safety."""

from __future__ import annotations

import argparse
import sys

from torchready.lint.types import UsageError

HELP = "explain a rule: what it catches, why, bad/good example, fix safety"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="a rule code (TR102) or name (math-on-shape)")


def run(args: argparse.Namespace) -> int:
    from torchready.lint.explain import explain
    from torchready.lint.other_codes import explain_other, other_code
    from torchready.lint.rules import rule_by_code

    rule = rule_by_code(args.code)
    if rule is not None:
        sys.stdout.write(explain(rule))
        return 0
    entry = other_code(args.code)  # TR000 (parser), TR303 (conversion): codes without a rule
    if entry is None:
        raise UsageError(f"unknown rule '{args.code}' (see `torchready rules`)")
    sys.stdout.write(explain_other(entry))
    return 0
