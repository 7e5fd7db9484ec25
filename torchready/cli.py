"""The `torchready` command line: one sub-command per module under `torchready/commands/`.

Each command module exposes `HELP`, `configure(parser)` and `run(args) -> int`, and imports
nothing heavy at module level: building this parser must stay cheap for `torchready lint`, which
never imports the conversion pipeline. A command that needs an extra (`convert`: torch and
coremltools; `lsp`: pygls) says which one before it runs, in one sentence.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from torchready.about import __version__

# command -> the extra it needs beyond the base install (None: libcst and rich only). The list is
# fixed on purpose: a command module that fails to import is an error, not a missing command.
COMMANDS: dict[str, str | None] = {
    "lint": None,
    "rules": None,
    "explain": None,
    "audit": "convert",
    "convert": "convert",
    "lsp": "lsp",
    "clean": None,
    "daemon": None,
    "runtime-ops": "convert",
}


def command_module(name: str):
    return importlib.import_module(f"torchready.commands.{name.replace('-', '_')}_cmd")


class _Parser(argparse.ArgumentParser):
    """argparse prints usage and exits 2 on bad arguments; keep the message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"torchready: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="torchready", description="PyTorch -> Core ML readiness checks.")
    parser.add_argument("--version", action="version", version=f"torchready {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, extra in COMMANDS.items():
        module = command_module(name)
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command_parser)
        command_parser.set_defaults(run=module.run, extra=extra)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lint"] and _daemon_flag(argv):
        # A thin client: no parser, no linter imported; the daemon parses the arguments (and
        # reports bad ones) exactly as this process would.
        from torchready.lint.daemon.client import lint_in_daemon

        stdin = sys.stdin
        try:
            code = lint_in_daemon(without_daemon_flag(argv))
        except KeyboardInterrupt:
            return 130
        if code is not None:
            return code
        try:
            return _run(argv)
        finally:
            sys.stdin = stdin  # a replay of standard input the daemon was to read
    return _run(argv)


def _run(argv: list[str]) -> int:
    from torchready.extras import require
    from torchready.lint.types import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.extra is not None:
            require(args.extra, f"torchready {args.command}")
        return args.run(args)
    except UsageError as error:
        print(f"torchready: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _daemon_flag(argv: list[str]) -> bool:
    return without_daemon_flag(argv) != argv


def without_daemon_flag(argv: list[str]) -> list[str]:
    """The command line without `--daemon` (or the `--da`, `--dae`... argparse also takes),
    which counts among the options only, not after `--`."""
    end = argv.index("--") if "--" in argv else len(argv)
    return [arg for arg in argv[:end]
            if not (arg.startswith("--da") and "--daemon".startswith(arg))] + argv[end:]


if __name__ == "__main__":
    sys.exit(main())
