"""`[tool.torchready]` in pyproject.toml: select, ignore, per-file-ignores, exclude, target.

The settings for a file come from the nearest pyproject.toml above it that has a
`[tool.torchready]` table (ruff's rule). Selectors are codes, code prefixes (`TR1`), rule names
or `ALL`. Command-line `--select` replaces the configured selection; `--ignore` adds to it.
`target` lists the capture targets to check for (`["trace", "script"]`, `["all"]`); without it
they are inferred from the linted code, and `lint --target` replaces it.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from torchready.lint.rules import RuleId, catalog, rule_by_code
from torchready.lint.targets import parse_targets
from torchready.lint.types import UsageError

if TYPE_CHECKING:
    from torchready.lint.rule import Rule

KNOWN_KEYS = {"select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude",
              "target"}


@dataclass(frozen=True)
class Settings:
    root: Path | None = None  # directory of the pyproject.toml the settings came from
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    source: str = field(default="defaults", compare=False)
    targets: tuple[str, ...] | None = None  # None: inferred from the linted code

    def with_overrides(self, select: Sequence[str] | None, ignore: Sequence[str]) -> "Settings":
        return Settings(self.root, tuple(select) if select else self.select,
                        self.ignore + tuple(ignore), self.per_file_ignores, self.exclude,
                        self.source, self.targets)

    def rules_for(self, path: Path) -> tuple[type[Rule], ...]:
        return tuple(rule_by_code(code) for code in self.rule_codes_for(path))

    def rule_codes_for(self, path: Path) -> tuple[str, ...]:
        """The codes of the rules that apply to the file (the rules stay unimported)."""
        if not self.per_file_ignores:
            return _select(self.select, self.ignore)  # no path to resolve (a warm run's cost)
        ignored = list(self.ignore)
        relative = self.relative(path)
        for pattern, codes in self.per_file_ignores:
            if _glob_match(relative, pattern):
                ignored.extend(codes)
        return _select(self.select, tuple(ignored))

    def excludes(self, path: Path) -> bool:
        if not self.exclude:
            return False
        relative = self.relative(path)
        return any(_glob_match(relative, pattern) for pattern in self.exclude)

    def relative(self, path: Path) -> PurePosixPath:
        resolved = path.resolve()
        if self.root is not None:
            try:
                return PurePosixPath(resolved.relative_to(self.root).as_posix())
            except ValueError:
                pass
        return PurePosixPath(path.as_posix())

    def fingerprint(self) -> str:
        """Identifies the effective configuration (for the result cache)."""
        return repr((self.select, self.ignore, self.per_file_ignores, self.exclude,
                     self.targets))


def _glob_match(relative: PurePosixPath, pattern: str) -> bool:
    """A pattern matches the relative path, any suffix of it (`tests/*.py` inside a subtree),
    or one of its directories (`build` excludes everything under build/)."""
    pattern = pattern.rstrip("/")
    text = relative.as_posix()
    if fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(relative.name, pattern):
        return True
    parts = relative.parts
    return any(fnmatch.fnmatch("/".join(parts[i:]), pattern) for i in range(1, len(parts))) or \
        any(fnmatch.fnmatch(part, pattern) for part in parts[:-1])


@lru_cache(maxsize=None)
def _select(select: tuple[str, ...], ignore: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(rule.code for rule in catalog()
                 if any(matches(rule, s) for s in select) and not any(matches(rule, s)
                                                                      for s in ignore))


def matches(rule: RuleId, selector: str) -> bool:
    """A selector is `ALL`, a code or code prefix (`TR1`), or a rule's name."""
    selector = selector.strip()
    return selector.upper() == "ALL" or rule.code.startswith(selector.upper()) or \
        rule.name == selector


def validate_selectors(selectors: Sequence[str], origin: str) -> None:
    for selector in selectors:
        if not any(matches(rule, selector) for rule in catalog()):
            raise UsageError(f"{origin}: unknown rule selector '{selector}' "
                             "(see `torchready rules`)")


def settings_for_directory(directory: Path) -> Settings:
    """The settings of a directory given as a resolved path (what discovery has already)."""
    return _settings_for_directory(directory)


def settings_for(path: Path) -> Settings:
    """The settings that apply to a file or directory."""
    if not os.path.islink(path) and not os.path.isdir(path):
        # A plain file: its directory's settings, the directory resolved once for all its files
        # (resolving every file cost a warm run of transformers' 2,597 files a third of a second).
        return _settings_for_directory(_resolved(os.path.abspath(path.parent)))
    directory = path.resolve()
    if not directory.is_dir():
        directory = directory.parent
    return _settings_for_directory(directory)


@lru_cache(maxsize=None)
def _resolved(directory: str) -> Path:
    return Path(directory).resolve()


def reload_settings() -> None:
    """Forget every pyproject.toml read so far: a long-running process (the language server)
    must see the configuration the user just edited."""
    _settings_for_directory.cache_clear()
    _resolved.cache_clear()


@lru_cache(maxsize=None)
def _settings_for_directory(directory: Path) -> Settings:
    candidate = directory / "pyproject.toml"
    if candidate.is_file():
        table = _tool_table(candidate)
        if table is not None:
            return parse_settings(table, candidate)
    if directory.parent == directory:
        return Settings()
    return _settings_for_directory(directory.parent)


def _tool_table(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: invalid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    table = data.get("tool", {}).get("torchready")
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.torchready] must be a table")
    return table


def parse_settings(table: dict[str, Any], path: Path) -> Settings:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise UsageError(f"{path}: unknown key '{unknown[0]}' in [tool.torchready] "
                         f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    select = _string_list(table, "select", path) or ["ALL"]
    select += _string_list(table, "extend-select", path)
    ignore = _string_list(table, "ignore", path)
    origin = f"{path} [tool.torchready]"
    validate_selectors(select + ignore, origin)
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise UsageError(f"{path}: per-file-ignores must be a table of glob = [codes]")
    per_file_ignores = []
    for pattern, codes in per_file.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise UsageError(f"{path}: per-file-ignores '{pattern}' must be a list of codes")
        validate_selectors(codes, origin)
        per_file_ignores.append((pattern, tuple(codes)))
    exclude = _string_list(table, "exclude", path) + _string_list(table, "extend-exclude", path)
    targets = parse_targets(_string_list(table, "target", path), origin) \
        if "target" in table else None
    return Settings(path.parent.resolve(), tuple(select), tuple(ignore), tuple(per_file_ignores),
                    tuple(exclude), source=str(path), targets=targets)


def _string_list(table: dict[str, Any], key: str, path: Path) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{path}: '{key}' in [tool.torchready] must be a list of strings")
    return list(value)
