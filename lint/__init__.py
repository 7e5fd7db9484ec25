"""torchready's static half (installed as `torchready.lint`): find trace/script/Core ML hazards in
model source, fix the safe ones.

This package never imports torch, numpy or coremltools, and never imports `torchready.convert`:
a pre-commit hook on one file must start fast, and its environment must not need torch.
"""
