"""Lint throughput on a folder: files/s and lines/s (plus libcst's bare parse for scale).

    python benchmarks/lint_speed.py [FOLDER]     # default: the bundled fixtures/

Prints numbers; asserts nothing (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import libcst as cst  # noqa: E402

from lint.api import lint_paths  # noqa: E402
from lint.discovery import discover  # noqa: E402
from lint.source_io import SourceError, read_source  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).parent.parent / "fixtures"))
    parser.add_argument("--repeat", type=int, default=1, help="runs to take the best of")
    args = parser.parse_args()

    files = discover([args.folder])
    sources = []
    for path in files:
        try:
            sources.append(read_source(path))
        except SourceError:
            pass
    lines = sum(source.count("\n") for source in sources)
    print(f"folder: {args.folder}")
    print(f"files: {len(files)}  lines: {lines}")

    parse = _best(args.repeat, lambda: [_parse(source) for source in sources])
    print(f"libcst parse only : {parse:7.2f} s  {len(files) / parse:8.1f} files/s  "
          f"{lines / parse:9.0f} lines/s")
    findings = []

    def lint() -> None:
        findings[:] = lint_paths([args.folder]).diagnostics

    total = _best(args.repeat, lint)
    print(f"torchready lint   : {total:7.2f} s  {len(files) / total:8.1f} files/s  "
          f"{lines / total:9.0f} lines/s  ({len(findings)} findings, "
          f"{total / parse:.2f}x the parse)")


def _parse(source: str) -> None:
    try:
        cst.parse_module(source)
    except cst.ParserSyntaxError:
        pass


def _best(repeat: int, work) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    main()
