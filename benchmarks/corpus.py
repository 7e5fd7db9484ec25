"""The files the lint benchmarks run on: the installed transformers `models/` tree (or any
folder), optionally cut to model folders whose names start with a letter range.

Shared by benchmarks/lint_speed.py and benchmarks/speed_levers.py so both measure the same files.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


def transformers_models() -> Path:
    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        sys.exit("transformers is not installed; pass a folder")
    return Path(spec.origin).parent / "models"


def subset(folder: Path, letters: str, target: Path) -> Path:
    """Copy the model folders of `folder` whose names start with a letter in `letters` ("a-c",
    or one letter) into `target`."""
    first, _, last = letters.partition("-")
    target.mkdir(parents=True)
    for child in sorted(folder.iterdir()):
        if child.is_dir() and first <= child.name[:1] <= (last or first):
            shutil.copytree(child, target / child.name)  # real files: no tool follows links
    return target


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def count_lines(files: list[Path]) -> int:
    return sum(path.read_bytes().count(b"\n") for path in files)
