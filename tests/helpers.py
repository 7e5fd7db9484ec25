"""Run the real `torchready` console script in a subprocess (as users and pre-commit do)."""

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
