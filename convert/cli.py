"""The `torchready` command line: one sub-command per module under `convert/commands/`.

Each command module exposes `HELP`, `configure(parser)` and `run(args) -> int`, and imports
nothing heavy at module level: building this parser must stay cheap for `torchready lint`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from lint import __version__
from lint.types import UsageError

COMMANDS = ("lint", "rules", "explain", "audit", "convert", "lsp", "clean", "runtime-ops")


def _command_module(name: str):
    module = f"convert.commands.{name.replace('-', '_')}_cmd"
    if importlib.util.find_spec(module) is None:
        return None  # a command still being built in this checkout
    return importlib.import_module(module)


class _Parser(argparse.ArgumentParser):
    """argparse prints usage and exits 2 on bad arguments; keep the message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"torchready: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="torchready", description="PyTorch -> Core ML readiness checks.")
    parser.add_argument("--version", action="version", version=f"torchready {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = _command_module(name)
        if module is None:
            continue
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except UsageError as error:
        print(f"torchready: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
