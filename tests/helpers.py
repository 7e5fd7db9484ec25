"""Run the real `torchready` console script in a subprocess (as users and pre-commit do); real
source files to parse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCHREADY = [sys.executable, "-m", "torchready"]


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    return subprocess.run([*TORCHREADY, *args], cwd=cwd or ROOT, input=stdin,
                          capture_output=True, text=True, env=environment, timeout=300)


def real_sources(models: int) -> list[Path]:
    """The fixtures, the lint tests (their own code: most node kinds) and about `models` of
    transformers' model files, spread over the alphabet (when transformers is installed)."""
    paths = sorted((ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "tests/lint").glob("*.py"))
    try:
        import transformers
    except ImportError:
        return paths
    found = sorted((Path(transformers.__file__).parent / "models").glob("*/modeling_*.py"))
    return paths + found[::max(1, len(found) // models)]
