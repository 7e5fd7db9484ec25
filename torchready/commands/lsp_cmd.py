"""`torchready lsp`: the language server on stdio, for editors (see README: VS Code, Neovim,
Helix). The server lives in `torchready.lint.lsp`; it needs pygls (the `lsp` extra), imported only here in
`run`, so the rest of the CLI works without it."""

from __future__ import annotations

import argparse

HELP = "language server on stdio (diagnostics, quick fixes, noqa, fix-all)"


def configure(parser: argparse.ArgumentParser) -> None:
    from torchready.lint.lsp import DEBOUNCE_SECONDS

    parser.add_argument("--debounce", type=float, default=DEBOUNCE_SECONDS, metavar="SECONDS",
                        help="pause after the last keystroke before linting "
                             f"(default {DEBOUNCE_SECONDS})")
    parser.add_argument("--log-level", choices=("error", "warning", "info", "debug"),
                        default="warning", help="server log level (on stderr)")


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from torchready.lint.lsp.server import start_stdio  # pygls: the CLI checked the extra
    from torchready.lint.types import UsageError

    if args.debounce < 0:
        raise UsageError("--debounce must be zero or more seconds")
    # stdout carries the protocol: every log line goes to stderr, which editors show as the
    # server's log.
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="torchready-lsp %(levelname)s %(name)s: %(message)s")
    start_stdio(args.debounce)
    return 0
