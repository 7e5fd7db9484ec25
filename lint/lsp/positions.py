"""Positions between torchready and the Language Server Protocol.

torchready counts lines and columns from 1, and columns in Unicode code points (libcst's
positions index Python strings). LSP counts both from 0, and characters in the code units of
the negotiated position encoding: UTF-16 unless the client offers UTF-8 or UTF-32. `é` is one
code point and one UTF-16 unit; `😀` is one code point but two UTF-16 units (four in UTF-8), so
a finding after an emoji on the same line lands one column late unless the conversion goes
through the line's text.

`units(text)` counts a string in the client's code units (pygls' `PositionCodec` provides it
for the encoding it negotiated). Lines come from `torchready.lint.source_io.split_lines`, which breaks
lines where Python and libcst do (not at form feeds or U+2028, as str.splitlines would).
"""

from __future__ import annotations

from typing import Callable, Sequence

from lsprotocol import types

UnitCounter = Callable[[str], int]


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def to_lsp_position(lines: Sequence[str], line: int, column: int,
                    units: UnitCounter = utf16_units) -> types.Position:
    """torchready (1-based line, 1-based code-point column) -> LSP position."""
    index = line - 1
    if index >= len(lines):  # the end of a file whose last line ends with a newline
        return types.Position(line=len(lines), character=0)
    return types.Position(line=index, character=units(lines[index][: max(column - 1, 0)]))


def to_lsp_range(lines: Sequence[str], line: int, column: int, end_line: int, end_column: int,
                 units: UnitCounter = utf16_units) -> types.Range:
    return types.Range(start=to_lsp_position(lines, line, column, units),
                       end=to_lsp_position(lines, end_line, end_column, units))


def from_lsp_position(lines: Sequence[str], position: types.Position,
                      units: UnitCounter = utf16_units) -> tuple[int, int]:
    """LSP position -> torchready (1-based line, 1-based code-point column). A character
    offset that falls inside a surrogate pair or past the line's end is clamped."""
    if position.line >= len(lines):
        return len(lines) + 1, 1
    text = lines[position.line]
    counted = 0
    for index, char in enumerate(text):
        if counted >= position.character:
            return position.line + 1, index + 1
        counted += units(char)
    return position.line + 1, len(text) + 1
