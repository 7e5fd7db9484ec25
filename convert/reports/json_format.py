"""The JSON report: the report dict (`model.build_report`) plus, under `result`, exactly what
`--format json` prints (`torchready.convert.summary.result_to_json`), so a CI script written against one
reads the other. Schema: `report.schema.json` beside this file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def report_json(report: dict[str, Any], result: Any) -> dict[str, Any]:
    from torchready.convert.reports.plain import plain
    from torchready.convert.summary import result_to_json

    command = report["command"] if report["command"] in ("audit", "convert") else "api"
    return {**report, "result": plain(result_to_json(result, command=command))}


def render(report: dict[str, Any], result: Any) -> str:
    # allow_nan=False: the report encodes inf as "inf" (plain); a NaN that slipped through is a bug.
    return json.dumps(report_json(report, result), indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
