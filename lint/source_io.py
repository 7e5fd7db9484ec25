"""Read and write source files without ever losing code."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path


class SourceError(Exception):
    """A file that cannot be linted; the message is one sentence naming the cause."""


def read_source(path: Path) -> str:
    return decode_source(path, read_bytes(path))


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: the file disappeared before it could be read") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror or error})") from None


def decode_source(path: Path, data: bytes) -> str:
    if b"\0" in data:
        raise SourceError(f"{path}: binary file (contains NUL bytes), not Python source")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{path}: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})"
        ) from None


def write_source_atomically(path: Path, text: str, had_bom: bool = False) -> None:
    """Write through a temporary file in the same directory and rename it over the original,
    so a crash leaves either the old file or the new one, never half of each."""
    mode = path.stat().st_mode
    # The owner's write bit counts even for root, who may write anything: a file made read-only
    # on purpose is not rewritten behind the user's back.
    if not os.access(path, os.W_OK) or not mode & stat.S_IWUSR:
        raise SourceError(f"{path}: cannot write fixes, the file is read-only")
    data = (b"\xef\xbb\xbf" if had_bom else b"") + text.encode("utf-8")
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".torchready")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def has_bom(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(3) == b"\xef\xbb\xbf"
    except OSError:
        return False


# One alternation, longest first: "\r\n" is one break, not two.
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """Split at \\n, \\r\\n and \\r only: the line breaks Python (and libcst) count. str.splitlines
    also splits at form feeds and U+2028, which would shift every position after them."""
    if "\r" not in text:  # the common case, at str.split's speed
        lines = text.split("\n")
        if keepends:
            lines = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    else:
        parts = _LINE_BREAK.split(text)  # line, break, line, break, ..., last line
        lines = parts[0::2]
        if keepends:
            lines = [line + end for line, end in zip(lines, parts[1::2])] + [lines[-1]]
    if lines[-1] == "":
        lines.pop()  # a final line break ends the last line; it does not start another
    return lines
