"""`torchready daemon start|stop|status`: this folder's lint daemon (see `lint --daemon`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "start, stop or inspect this folder's lint daemon (what `lint --daemon` talks to)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status", "serve"),
                        help="serve: run the daemon in the foreground (what start launches)")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                        help="exit after this long without a request (default: 30 minutes)")


def run(args: argparse.Namespace) -> int:
    from torchready.lint.daemon import IDLE_TIMEOUT, DaemonUnavailable
    from torchready.lint.daemon import client
    from torchready.lint.types import UsageError

    root = os.getcwd()
    try:
        if args.action == "serve":
            from torchready.lint.daemon.server import serve

            return serve(Path(root), args.idle_timeout or IDLE_TIMEOUT)
        if args.action == "start":
            found = client.start(root, args.idle_timeout)
            print(f"lint daemon running for {found['root']} (pid {found['pid']})")
            return 0
        if args.action == "stop":
            print("lint daemon stopped" if client.stop(root) else "no lint daemon runs here")
            return 0
        found = client.status(root)
    except DaemonUnavailable as error:
        raise UsageError(f"lint daemon: {error}") from None
    if found is None:
        print("no lint daemon runs here")
        return 1
    print(f"lint daemon for {found['root']}: pid {found['pid']}, up {found['uptime']:.0f} s, "
          f"{found['served']} runs served")
    return 0
