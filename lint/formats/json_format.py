"""`--format json`: the version-1 shape of design.md §3."""

from __future__ import annotations

import json

JSON_VERSION = 1


def document(run) -> dict:
    diagnostics = run.diagnostics
    return {
        "version": JSON_VERSION,
        "diagnostics": [d.to_json() for d in diagnostics],
        "summary": {
            "files": len(run.files),
            "diagnostics": len(diagnostics),
            "fixable": sum(1 for d in diagnostics if d.fix is not None and d.fix.edits),
        },
    }


def render(run, stream, **_options) -> None:
    json.dump(document(run), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
