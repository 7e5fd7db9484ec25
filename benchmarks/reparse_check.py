"""Check and time the daemon's parse from kept statements (`torchready.lint.reparse`) on a
folder of real code: every file is parsed whole and from pieces, first and after an edit inside
a function body; the trees must be deep-equal. Prints the mismatches, and the parse times of
the edited files both ways.

    python benchmarks/reparse_check.py [FOLDER]   # default: transformers' models/
"""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

import libcst as cst

from torchready.lint.reparse import StatementMemory


def _edited(source: str) -> str | None:
    at = source.find("\n        return ", len(source) // 2)
    return None if at < 0 else source[:at] + "\n        pass  # edited" + source[at:]


def _same(joined: cst.Module, whole: cst.Module) -> bool:
    return joined.code == whole.code and joined.deep_equals(whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path)
    folder = parser.parse_args().folder
    if folder is None:
        import transformers
        folder = Path(transformers.__file__).parent / "models"
    files = sorted(folder.rglob("*.py"))
    mismatches, whole_time, again_time, edited_files, lines = [], 0.0, 0.0, 0, 0
    for path in files:
        source = path.read_text(encoding="utf-8")
        memory = StatementMemory()
        if not _same(memory.parse(source, ast.parse(source), str(path)), cst.parse_module(source)):
            mismatches.append(f"{path}: first parse")
            continue
        edited = _edited(source)
        if edited is None:
            continue
        tree = ast.parse(edited)
        started = time.perf_counter()
        again = memory.parse(edited, tree, str(path))
        again_time += time.perf_counter() - started
        started = time.perf_counter()
        whole = cst.parse_module(edited)
        whole_time += time.perf_counter() - started
        if not _same(again, whole):
            mismatches.append(f"{path}: after an edit")
        edited_files += 1
        lines += edited.count("\n")
    for mismatch in mismatches:
        print("MISMATCH", mismatch)
    print(f"{len(files)} files, {edited_files} edited in a function body ({lines:,} lines), "
          f"{len(mismatches)} mismatches")
    print(f"parse of the edited files: whole {whole_time:.2f} s, from kept statements "
          f"{again_time:.2f} s ({whole_time / max(again_time, 1e-9):.1f}x)")


if __name__ == "__main__":
    main()
