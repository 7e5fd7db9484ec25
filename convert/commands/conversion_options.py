"""The options `torchready convert` and `torchready audit` share, and how they become a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MODES = ("auto", "trace", "script", "hybrid")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="path/to/file.py:factory or package.module:factory")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="how to capture TorchScript (default: the spec's, else auto)")
    parser.add_argument("--input", dest="inputs", action="append", default=[],
                        metavar="NAME:SHAPE[:TYPE]",
                        help="declare a forward input, in order, e.g. image:1x3x224x224:image or "
                             "tokens:1x(1..128):int64 (repeatable)")
    parser.add_argument("--imagenet", action="store_true", default=None,
                        help="RGB image input with ImageNet mean/std applied inside the model")
    parser.add_argument("--labels", type=Path, metavar="FILE",
                        help="class labels, one per line (or a JSON list), in output order")
    parser.add_argument("--precision", choices=("fp16", "fp32"), default=None,
                        help="Core ML compute precision (default fp16, like coremltools)")
    parser.add_argument("--target", metavar="TARGET", default=None,
                        help="minimum deployment target, e.g. iOS16 or macOS13 "
                             "(default: coremltools' iOS15)")
    parser.add_argument("--fix", action="store_true",
                        help="apply safe lint fixes to the model's source files before capture "
                             "and show the diff")
    parser.add_argument("--no-lint", dest="lint", action="store_false",
                        help="skip the static rules on the model's source")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when error-level diagnostics remain, even if it converted")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="report format on stdout")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on stderr")


def read_labels(path: Path | None) -> list[str] | None:
    from lint.types import UsageError

    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read labels file '{path}': {error.strerror or error}.") from error
    if text.lstrip().startswith("["):
        import json

        try:
            labels = json.loads(text)
        except ValueError as error:
            raise UsageError(f"labels file '{path}' is not valid JSON: {error}.") from error
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise UsageError(f"labels file '{path}' must hold a JSON list of strings.")
        return labels
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise UsageError(f"labels file '{path}' has no labels.")
    return labels


def run_conversion(args: argparse.Namespace, *, command: str, output: Path | None) -> int:
    """Run the pipeline for `args`, print the report, return the exit code (design.md §3)."""
    from convert.loading import parse_input_decl
    from convert.pipeline import PipelineOptions, convert_model
    from convert.progress import StageProgress
    from convert.summary import render_json, render_text

    decls = [parse_input_decl(text) for text in args.inputs]
    progress = StageProgress(enabled=not args.quiet)  # stderr: stdout keeps the report clean
    options = PipelineOptions(
        output=output,
        mode=args.mode,
        lint=args.lint,
        fix=args.fix,
        labels=read_labels(args.labels),
        imagenet=args.imagenet,
        compute_precision=args.precision,
        minimum_deployment_target=args.target,
        progress=progress,
    )
    result = convert_model(args.model, options, decls)
    if args.format == "json":
        render_json(result, sys.stdout, command=command)
    else:
        render_text(result, sys.stdout, command=command, model=args.model)
    return exit_code(result, strict=args.strict)


def exit_code(result: Any, *, strict: bool) -> int:
    if not result.ok:
        return 1
    if strict and result.has_errors():
        return 1
    return 0
