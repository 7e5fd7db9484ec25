#!/usr/bin/env bash
# Set up (if needed) and run torchready's main job on the bundled fixtures: lint the talk's
# models and conversion script, show the fixes it would apply, then convert the demos.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 2
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
status=0
run .venv/bin/torchready lint fixtures/
run .venv/bin/torchready lint --diff fixtures/
exit $status
