"""`torchready convert MODEL -o OUT.mlpackage`: lint, prepare, capture, probe input dimensions,
check op coverage, convert with coremltools, write metadata, check numeric parity (eager vs
TorchScript vs the converted model; `--no-parity` skips it), save the package and its source map.

Exit codes (design.md §3): 0 converted and parity passed (diagnostics alone don't fail it unless
--strict), 1 capture, conversion or parity failed (a model that fails parity is not written),
2 usage error or a model spec that can't be loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a PyTorch model to a Core ML package, failures pinned to source lines"


def configure(parser: argparse.ArgumentParser) -> None:
    from torchready.commands.conversion_options import add_model_options

    add_model_options(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mlpackage",
                        help="where to write the Core ML package (its source map goes beside it)")


def run(args: argparse.Namespace) -> int:
    from torchready.commands.conversion_options import run_conversion
    from torchready.lint.types import UsageError

    if args.output.suffix != ".mlpackage":
        raise UsageError(f"the output must end in .mlpackage, got '{args.output}'.")
    return run_conversion(args, command="convert", output=args.output)
