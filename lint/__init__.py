"""torchready's static half: find trace/script/Core ML hazards in model source, fix the safe ones.

This package never imports torch, numpy or coremltools (and never imports `convert`): a pre-commit
hook on one file must start fast, and its environment must not need torch.
"""

__version__ = "0.1.0"
