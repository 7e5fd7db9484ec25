"""`torchready audit MODEL`: everything `convert` does, in memory; writes no model.

Lint, prepare, capture, op coverage and conversion run exactly as for `convert`; the report lists
the diagnostics, the capture mode and why, the Core ML inputs/outputs, and the composite ops the
conversion needed. Exit codes as for `convert`.
"""

from __future__ import annotations

import argparse

HELP = "check a model end to end (lint, capture, coverage, conversion) without writing a model"


def configure(parser: argparse.ArgumentParser) -> None:
    from convert.commands.conversion_options import add_model_options

    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from convert.commands.conversion_options import run_conversion

    return run_conversion(args, command="audit", output=None)
