"""[tool.torchready] configuration and file discovery, on real directory trees."""

from __future__ import annotations

import textwrap

import pytest

from torchready.lint.api import lint_paths
from torchready.lint.config import _settings_for_directory
from torchready.lint.types import UsageError

HAZARDS = textwrap.dedent("""
    import math
    import torch
    from torch import nn

    class A(nn.Module):
        def forward(self, q):
            return {"out": q / math.sqrt(q.size(-1))}
""")


@pytest.fixture(autouse=True)
def fresh_settings_cache():
    _settings_for_directory.cache_clear()
    yield
    _settings_for_directory.cache_clear()


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def codes(run):
    return sorted((d.path.rsplit("/", 1)[-1], d.code) for d in run.diagnostics)


def test_select_ignore_and_per_file_ignores_from_the_nearest_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", """
        [tool.torchready]
        select = ["TR1"]
        ignore = ["TR101"]
        per-file-ignores = {"legacy/*.py" = ["TR102"]}
    """)
    write(tmp_path / "models" / "a.py", HAZARDS)
    write(tmp_path / "legacy" / "b.py", HAZARDS)
    run = lint_paths([str(tmp_path)])
    assert codes(run) == [("a.py", "TR102")]


def test_settings_are_found_by_walking_up_from_the_linted_file(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchready]\nignore = ["TR102"]\n')
    model = write(tmp_path / "pkg" / "deep" / "m.py", HAZARDS)
    assert codes(lint_paths([str(model)])) == [("m.py", "TR101")]


def test_a_pyproject_without_the_table_does_not_stop_the_walk(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchready]\nignore = ["TR101"]\n')
    write(tmp_path / "sub" / "pyproject.toml", '[project]\nname = "x"\n')
    write(tmp_path / "sub" / "m.py", HAZARDS)
    assert codes(lint_paths([str(tmp_path / "sub")])) == [("m.py", "TR102")]


def test_command_line_select_replaces_and_ignore_adds(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchready]\nselect = ["TR101"]\n')
    write(tmp_path / "m.py", HAZARDS)
    assert codes(lint_paths([str(tmp_path)], select=["TR102"])) == [("m.py", "TR102")]
    assert codes(lint_paths([str(tmp_path)], ignore=["TR101"])) == []


def test_exclude_patterns_and_default_skips(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.torchready]\nexclude = ["generated", "*_pb2.py"]\n')
    write(tmp_path / "generated" / "g.py", HAZARDS)
    write(tmp_path / "proto_pb2.py", HAZARDS)
    write(tmp_path / ".git" / "hooks" / "h.py", HAZARDS)
    write(tmp_path / "env" / "pyvenv.cfg", "home = /usr\n")
    write(tmp_path / "env" / "lib" / "x.py", HAZARDS)
    write(tmp_path / "node_modules" / "n.py", HAZARDS)
    write(tmp_path / "kept.py", HAZARDS)
    run = lint_paths([str(tmp_path)])
    assert [f.path.name for f in run.files] == ["kept.py"]


@pytest.mark.parametrize("toml, message", [
    ('[tool.torchready]\nselekt = ["TR1"]\n', "unknown key 'selekt'"),
    ('[tool.torchready\nselect = 1\n', "invalid TOML"),
    ('[tool.torchready]\nselect = "TR1"\n', "'select' in [tool.torchready] must be a list"),
    ('[tool.torchready]\nignore = ["TR999"]\n', "unknown rule selector 'TR999'"),
])
def test_bad_configuration_is_a_clear_usage_error(tmp_path, toml, message):
    write(tmp_path / "pyproject.toml", toml)
    write(tmp_path / "m.py", HAZARDS)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lint_paths([str(tmp_path)])
