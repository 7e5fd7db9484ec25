"""Real pipeline runs shared by the report tests: the CLI with --report, and the Python API."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
ATTENTION = str(FIXTURES / "attention.py")  # converts; TR102 math.sqrt(size) found by lint
PARITY_ZOO = str(FIXTURES / "parity_zoo.py")  # large_scale: fp16 overflow, parity fails
SCHEMA = Path(__file__).resolve().parents[3] / "convert" / "reports" / "report.schema.json"


def run_cli(*argv: str) -> int:
    from torchready.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(list(argv))


def line_of(path: str, text: str) -> int:
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def validate(report: dict) -> None:
    """Raise jsonschema's ValidationError unless `report` follows report.schema.json."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()
                                    ).validate(report)
