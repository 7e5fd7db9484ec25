#!/usr/bin/env bash
# Set up (if needed) and run torchready's main job on the bundled fixtures: lint the talk's
# models and conversion script, show the fixes it would apply, then convert the talk's two demos
# to Core ML packages in build/ (with numeric parity against PyTorch).
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || exit 2
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
status=0
run .venv/bin/torchready lint fixtures/
run .venv/bin/torchready lint --diff fixtures/
mkdir -p build
run .venv/bin/torchready convert fixtures/segmentation.py:build \
    -o build/SegmentationModel.mlpackage --imagenet --labels fixtures/voc_labels.txt \
    || status=1
run .venv/bin/torchready convert fixtures/gpt2_completion.py:build \
    -o build/SentenceCompletion.mlpackage || status=1
run .venv/bin/torchready audit fixtures/attention.py:build || status=1
exit $status
