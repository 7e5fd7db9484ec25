"""`# noqa` and `# noqa: TR102,TR201` on the reported line (flake8's and ruff's convention)."""

from __future__ import annotations

import re

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:\s*,\s*[A-Za-z]+[0-9]+)*))?",
                  re.IGNORECASE)


def suppressed_codes(line: str) -> set[str] | None:
    """None: no noqa; an empty set: a bare `# noqa` (everything); else the listed codes."""
    if "#" not in line:
        return None
    match = NOQA.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return set()
    return {code.strip().upper() for code in codes.split(",")}


def is_suppressed(line: str, code: str) -> bool:
    codes = suppressed_codes(line)
    return codes is not None and (not codes or code in codes)
