"""Audit reports: one file a reviewer reads, chosen by the path's extension.

    from torchready.convert.reports import write_report
    write_report(result, "audit.html")        # or .md (a PR comment) or .json (machines)

`torchready audit/convert --report PATH` call `write_report` after the pipeline, also when a stage
failed (that is when the report is needed most). Every format renders the same report dict
(`model.build_report`), so they cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchready.convert.reports.model import ReportOptions

# extension -> the module rendering it (imported when used).
FORMATS = {".html": "html_format", ".htm": "html_format", ".md": "markdown_format",
           ".markdown": "markdown_format", ".json": "json_format"}

__all__ = ["FORMATS", "ReportOptions", "check_report_path", "render_report", "write_command_report",
           "write_report"]


def check_report_path(path: str | Path) -> Path:
    """The path, if its extension names a format; else a UsageError (before anything runs)."""
    from torchready.lint.types import UsageError

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UsageError(f"cannot tell the report format from '{path}': use a path ending in "
                         ".html, .md or .json.")
    return path


def render_report(result: Any, format_suffix: str, options: ReportOptions | None = None) -> str:
    """The report of a `ConversionResult` as text in the format of `format_suffix` (".html")."""
    import importlib

    from torchready.convert.reports.model import build_report

    module = importlib.import_module(f"torchready.convert.reports.{FORMATS[format_suffix.lower()]}")
    return module.render(build_report(result, options), result)


def write_report(result: Any, path: str | Path, options: ReportOptions | None = None) -> Path:
    """Write the report of `result` (a `torchready.convert.pipeline.ConversionResult`, or the Python API's
    result) to `path`; the extension picks the format. Returns the path written."""
    path = check_report_path(path)
    text = render_report(result, path.suffix, options)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# The command line's options a report shows (what the run was asked to do), in --help order.
COMMAND_LINE_OPTIONS = ("output", "mode", "inputs", "imagenet", "labels", "precision", "target",
                        "fix", "lint", "parity", "parity_inputs", "parity_thresholds", "strict")


def write_command_report(result: Any, args: Any, *, command: str) -> Path:
    """`--report PATH` of `torchready audit/convert`: the report of this run, with its options."""
    from torchready.lint.types import UsageError

    arguments = {name: getattr(args, name) for name in COMMAND_LINE_OPTIONS
                 if hasattr(args, name)}
    options = ReportOptions(command=command, model=args.model, arguments=arguments,
                            strict=bool(getattr(args, "strict", False)))
    try:
        return write_report(result, args.report, options)
    except OSError as error:
        raise UsageError(f"cannot write the report '{args.report}': "
                         f"{error.strerror or error}.") from error
