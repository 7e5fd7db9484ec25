"""`torchready clean`: remove the lint result cache (.torchready_cache/) of this folder."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "remove the lint result cache (.torchready_cache/) in this folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", default=".", help="where the cache lives")


def run(args: argparse.Namespace) -> int:
    from torchready.lint.cache import CACHE_DIRECTORY, clean

    removed = clean(Path(args.folder))
    print(f"removed {Path(args.folder) / CACHE_DIRECTORY}" if removed else "no cache to remove")
    return 0
