"""`torchready lint PATH...`: static checks, autofix, and the exit-code contract (0/1/2)."""

from __future__ import annotations

import argparse
import sys

HELP = "find trace/script/Core ML hazards in model source (never imports torch)"


def configure(parser: argparse.ArgumentParser) -> None:
    from lint.formats import FORMATS

    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to lint")
    parser.add_argument("--select", type=_codes, help="only these codes/prefixes (e.g. TR1,TR401)")
    parser.add_argument("--ignore", type=_codes, default=[], help="skip these codes/prefixes")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix, also apply fixes that may change behaviour")
    parser.add_argument("--diff", action="store_true",
                        help="print the diff --fix would apply; write nothing")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when findings remain")


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


def run(args: argparse.Namespace) -> int:
    from lint.api import lint_paths
    from lint.formats import render

    result = lint_paths(args.paths, select=args.select, ignore=args.ignore, fix=args.fix,
                        unsafe_fixes=args.unsafe_fixes, diff=args.diff)
    for error in result.errors:
        print(f"torchready: error: {error}", file=sys.stderr)
    if args.diff:
        for file in result.files:
            sys.stdout.write(file.diff)
        changed = any(file.diff for file in result.files)
        return 2 if result.errors else int(changed and not args.exit_zero)
    render(args.format, result, sys.stdout, unsafe_fixes=args.unsafe_fixes)
    if result.errors:
        return 2
    return 0 if args.exit_zero or not result.diagnostics else 1
