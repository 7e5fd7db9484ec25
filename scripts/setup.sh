#!/usr/bin/env bash
# Create .venv (if needed) and install torchready with everything the demos and tests use.
# torch is pinned to 2.13.0: that CPU wheel is on this machine's disk; any other torch request
# downloads a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

pip_install() {
  # pip is chatty about this machine's local package mirrors; show its output only on failure.
  if ! .venv/bin/python -m pip install --quiet "$@" >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
}
pip_install --upgrade pip
pip_install "torch==2.13.0"
pip_install -e ".[dev]"
.venv/bin/python -c "import torch, libcst; assert torch.__version__.startswith('2.13.0'), torch.__version__"
.venv/bin/python -c "import coremltools" 2>/dev/null
echo "setup: .venv ready (torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
