"""`torchready audit MODEL`: everything `convert` does, in memory; writes no model.

Lint, prepare, capture, shape probing, op coverage, conversion (in memory) and numeric parity
run exactly as for `convert`; the report lists the diagnostics, the capture mode and why, the Core
ML inputs/outputs, the composite ops the conversion needed, and the parity table (with the first
diverging op and its source line when parity fails). Exit codes as for `convert`.
"""

from __future__ import annotations

import argparse

HELP = ("check a model end to end (lint, capture, shape probing, coverage, conversion, parity) "
        "without writing a model")


def configure(parser: argparse.ArgumentParser) -> None:
    from torchready.commands.conversion_options import add_model_options

    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from torchready.commands.conversion_options import run_conversion

    return run_conversion(args, command="audit", output=None)
