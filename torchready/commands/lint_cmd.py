"""`torchready lint PATH...`: static checks, autofix, and the exit-code contract (0/1/2)."""

from __future__ import annotations

import argparse
import sys

HELP = "find trace/script/Core ML hazards in model source (never imports torch)"


def configure(parser: argparse.ArgumentParser) -> None:
    from torchready.lint.formats import FORMATS

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
    parser.add_argument("--jobs", "-j", type=_positive, default=None, metavar="N",
                        help="worker processes (default: number of cores)")
    parser.add_argument("--no-cache", action="store_true",
                        help="ignore and do not write .torchready_cache/")
    parser.add_argument("--stdin-filename", metavar="PATH",
                        help="with PATH '-': lint standard input as if it were this file")
    parser.add_argument("--exit-non-zero-on-fix", action="store_true",
                        help="with --fix, exit 1 when a file was rewritten even if no findings "
                             "remain (what a pre-commit hook needs)")
    parser.add_argument("--target", type=_codes, metavar="TARGETS",
                        help="capture targets to check for: trace, script, export or all, "
                             "comma-separated (default: [tool.torchready] target, else inferred "
                             "from the code's own capture calls, else trace,export); not the "
                             "Core ML deployment target of convert/audit")
    parser.add_argument("--daemon", action="store_true",
                        help="run in this folder's lint daemon, started on first use (same "
                             "output; a warm daemon skips Python's start-up, the imports and "
                             "the cache reads); see `torchready daemon`")
    parser.add_argument("--follow-imports", action="store_true",
                        help="also analyse the installed modules the linted code calls into "
                             "(read only, never run or fixed); findings there are reported "
                             "where the linted code reaches them")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


def run(args: argparse.Namespace) -> int:
    from torchready.lint.api import lint_paths
    from torchready.lint.formats import render

    # --daemon: torchready.cli sent the command line to the daemon before parsing it; here it
    # could not (the reason is on stderr), so the run happens in this process.
    if args.paths == ["-"]:
        return _run_stdin(args)
    result = lint_paths(args.paths, select=args.select, ignore=args.ignore, fix=args.fix,
                        unsafe_fixes=args.unsafe_fixes, diff=args.diff, jobs=args.jobs,
                        cache=not args.no_cache, targets=args.target,
                        follow_imports=args.follow_imports)
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
    if args.exit_non_zero_on_fix and result.fixes_applied:
        return 1
    return 0 if args.exit_zero or not result.diagnostics else 1


def _run_stdin(args: argparse.Namespace) -> int:
    """Editors pipe the unsaved buffer: lint it as if it lived at --stdin-filename (whose
    pyproject.toml applies). With --fix the fixed source goes to stdout, findings to stderr."""
    from pathlib import Path

    from torchready.lint.api import FileResult, LintRun, fix_text, lint_text, unified_diff
    from torchready.lint.formats import render
    from torchready.lint.types import UsageError

    try:
        source = sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"standard input is not UTF-8 (byte at offset {error.start})") from None
    path = args.stdin_filename or "<stdin>"
    options = dict(select=args.select, ignore=args.ignore, targets=args.target)
    if args.fix or args.diff:
        fixed, applied = fix_text(source, path, unsafe_fixes=args.unsafe_fixes, **options)
        remaining = lint_text(fixed, path, **options)
        if args.diff:
            sys.stdout.write(unified_diff(path, source, fixed))
            return int(fixed != source and not args.exit_zero)
        sys.stdout.write(fixed)
        render(args.format, LintRun([FileResult(Path(path), remaining, fixes_applied=applied)]),
               sys.stderr, unsafe_fixes=args.unsafe_fixes, show_source=False)
        return 0 if args.exit_zero or not remaining else 1
    diagnostics = lint_text(source, path, **options)
    render(args.format, LintRun([FileResult(Path(path), diagnostics)]), sys.stdout,
           unsafe_fixes=args.unsafe_fixes, source=source)
    return 0 if args.exit_zero or not diagnostics else 1
