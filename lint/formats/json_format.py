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
    stream.write(indented(document(run)))
    stream.write("\n")


def indented(value) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)`, the same text, twice as fast: with
    `indent` the json module encodes through Python generators, which made this format a
    quarter of a warm run over transformers' tree (5,000 findings). Strings go through the json
    module's C escaping. Takes what JSON documents are made of (dicts with string keys, lists,
    str, int, float, bool, None)."""
    return _encode(value, "\n")


_escape = json.encoder.encode_basestring  # the C function when available, as json uses
_scalar = json.JSONEncoder(ensure_ascii=False).encode  # numbers (NaN, Infinity), subclasses
_CONSTANTS = {True: "true", False: "false", None: "null"}


def _encode(value, newline: str) -> str:
    kind = type(value)
    if kind is str:
        return _escape(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        return "{" + inner + ("," + inner).join([
            _escape(key) + ": " + (_escape(item) if type(item) is str else _encode(item, inner))
            for key, item in value.items()]) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([_encode(item, inner) for item in value]) + \
            newline + "]"
    if kind is bool or value is None:
        return _CONSTANTS[value]
    if kind is int:
        return int.__repr__(value)
    # floats, and subclasses of the JSON types (an IntEnum, a str subclass): the json
    # module's own answer, laid out at this depth
    return _scalar(value) if kind is float else \
        json.dumps(value, indent=2, ensure_ascii=False).replace("\n", newline)
