"""The options `torchready convert` and `torchready audit` share, and how they become a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MODES = ("auto", "trace", "script", "hybrid", "export")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="path/to/file.py:factory or package.module:factory")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="how to capture the model: torch.jit trace/script/hybrid or "
                             "torch.export (default: the spec's, else auto)")
    parser.add_argument("--input", dest="inputs", action="append", default=[],
                        metavar="NAME:SHAPE[:TYPE]",
                        help="declare a forward input, in order, e.g. image:1x3x224x224:image or "
                             "tokens:1x(1..128):int64 (repeatable)")
    parser.add_argument("--imagenet", action="store_true", default=None,
                        help="RGB image input with ImageNet mean/std applied inside the model")
    parser.add_argument("--labels", type=Path, metavar="FILE",
                        help="class labels, one per line (or a JSON list), in output order")
    parser.add_argument("--precision", choices=("fp16", "fp32", "auto"), default=None,
                        help="Core ML compute precision (default fp16, like coremltools); auto: "
                             "fp16, with the ops parity shows need fp32 kept in fp32")
    parser.add_argument("--target", metavar="TARGET", default=None,
                        help="minimum deployment target, e.g. iOS16 or macOS13 "
                             "(default: coremltools' iOS15)")
    parser.add_argument("--fix", action="store_true",
                        help="apply safe lint fixes to the model's source files before capture "
                             "and show the diff")
    parser.add_argument("--no-lint", dest="lint", action="store_false",
                        help="skip the static rules on the model's source")
    parser.add_argument("--no-parity", dest="parity", action="store_false",
                        help="skip shape probing and the numeric parity check (eager vs "
                             "TorchScript vs the converted model)")
    parser.add_argument("--parity-inputs", type=int, default=3, metavar="N",
                        help="random inputs parity checks besides the example (default 3)")
    parser.add_argument("--parity-threshold", dest="parity_thresholds", action="append",
                        default=[], metavar="NAME=VALUE",
                        help="override a parity limit, e.g. psnr_pass_db=45, psnr_fail_db=38, "
                             "atol=1e-3, rtol=1e-4, min_cosine=0.999, or fp16's element-wise "
                             "rule |d| <= ulps*ulp16(|ref|) + floor_ulps*ulp16(peak) at all but "
                             "outlier_fraction of the elements: ulps=8, floor_ulps=32, "
                             "outlier_fraction=0.001 (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when error-level diagnostics remain, even if it converted")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="report format on stdout")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on stderr")
    parser.add_argument("--report", type=Path, metavar="PATH",
                        help="also write an audit report, format by extension: .html "
                             "(self-contained page), .md (PR comment) or .json; written when a "
                             "stage fails too")


def parity_options(args: argparse.Namespace) -> Any:
    """`--parity-inputs` and `--parity-threshold NAME=VALUE` as a ParityOptions."""
    import dataclasses

    from torchready.convert.parity.engine import ParityOptions
    from torchready.convert.parity.thresholds import Thresholds
    from torchready.lint.types import UsageError

    if args.parity_inputs < 0:
        raise UsageError("--parity-inputs must be 0 or more.")
    known = {f.name for f in dataclasses.fields(Thresholds)} - {"precision"}
    thresholds: dict[str, float] = {}
    for text in args.parity_thresholds:
        name, _, value = text.partition("=")
        name = name.strip()
        if name not in known:
            raise UsageError(f"unknown parity threshold '{name}' in '{text}'; use one of "
                             f"{', '.join(sorted(known))}.")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise UsageError(f"parity threshold '{text}' needs a number after '='.") from None
    return ParityOptions(random_inputs=args.parity_inputs, thresholds=thresholds)


def read_labels(path: Path | None) -> list[str] | None:
    from torchready.lint.types import UsageError

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
    from torchready.convert.loading import parse_input_decl
    from torchready.convert.pipeline import PipelineOptions, convert_model
    from torchready.convert.progress import StageProgress
    from torchready.convert.summary import render_json, render_text

    if args.report is not None:  # a bad report path fails before minutes of conversion
        from torchready.convert.reports import check_report_path

        check_report_path(args.report)
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
        parity=args.parity,
        shape_probing=args.parity,
        parity_options=parity_options(args),
        progress=progress,
    )
    result = convert_model(args.model, options, decls)
    if args.format == "json":
        render_json(result, sys.stdout, command=command)
    else:
        render_text(result, sys.stdout, command=command, model=args.model)
    if args.report is not None:
        from torchready.convert.reports import write_command_report

        write_command_report(result, args, command=command)
    return exit_code(result, strict=args.strict)


def exit_code(result: Any, *, strict: bool) -> int:
    if not result.ok:
        return 1
    if strict and result.has_errors():
        return 1
    return 0
