"""torchready as a user installs it: build the wheel and the sdist, install the wheel into an
empty virtual environment without extras, and use it there. Nothing of this checkout is on the
path of that environment, so what works here works from the package index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "coremltools")


def _run(*command: str | Path, cwd: Path | None = None, timeout: int = 600):
    # PYTHONPATH would put this checkout on the clean environment's path: drop it.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", out, ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def clean_env(dist, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its base dependencies (libcst, rich) only."""
    venv = tmp_path_factory.mktemp("venv")
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    wheel = next(dist.glob("torchready-*.whl"))
    installed = _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                     wheel)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def test_the_wheel_holds_the_torchready_package_and_nothing_else(dist):
    wheel = next(dist.glob("torchready-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"torchready", next(n for n in top_level if n.endswith(".dist-info"))}
    # Every tracked source file of the three folders is in the wheel, under its package name.
    tracked = _run("git", "ls-files", "torchready", "lint", "convert", cwd=ROOT).stdout.split()
    expected = {_installed_name(path) for path in tracked if path.endswith(".py")}
    assert expected <= set(names)
    assert {"torchready/py.typed", "torchready/lint/data/coreml_ops.json",
            "torchready/lint/data/tensor_methods.json",
            "torchready/convert/reports/report.schema.json"} <= set(names)


def _installed_name(path: str) -> str:
    folder, _, rest = path.partition("/")
    return path if folder == "torchready" else f"torchready/{folder}/{rest}"


def test_the_sdist_builds_the_same_package(dist):
    sdist = next(dist.glob("torchready-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"setup.py", "pyproject.toml", "README.md", "torchready/cli.py", "lint/engine.py",
            "convert/pipeline.py", "lint/data/coreml_ops.json"} <= names


def test_no_lint_or_convert_module_in_the_environment(clean_env):
    python = clean_env / "bin" / "python"
    probe = _run(python, "-c", "import importlib.util as u; "
                 "print([m for m in ('lint', 'convert') if u.find_spec(m)])", cwd=clean_env)
    assert probe.stdout.strip() == "[]", probe.stderr
    site = next((clean_env / "lib").glob("python*/site-packages"))
    assert not (site / "lint").exists() and not (site / "convert").exists()


def test_import_torchready_is_light(clean_env):
    python = clean_env / "bin" / "python"
    probe = _run(python, "-c", "import sys, torchready; "
                 f"print(torchready.__version__, [m for m in {HEAVY!r} if m in sys.modules])",
                 cwd=clean_env)
    assert probe.returncode == 0, probe.stderr
    version, loaded = probe.stdout.split(" ", 1)
    assert version and loaded.strip() == "[]"
    module = _run(python, "-m", "torchready", "--version", cwd=clean_env)
    assert module.returncode == 0 and module.stdout.strip() == f"torchready {version}"


def test_lint_reports_a_finding_without_torch(clean_env, tmp_path):
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent("""\
        import math
        import torch


        class Attention(torch.nn.Module):
            def forward(self, q, k):
                return q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    """))
    result = _run(clean_env / "bin" / "torchready", "lint", "--no-cache", model, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "TR102" in result.stdout


@pytest.mark.parametrize("command, extra", [(("audit", "model.py:build"), "convert"),
                                            (("convert", "model.py:build", "-o", "M.mlpackage"),
                                             "convert"),
                                            (("runtime-ops",), "convert"),
                                            (("lsp",), "lsp")])
def test_a_command_without_its_extra_names_it_in_one_sentence(clean_env, tmp_path, command, extra):
    result = _run(clean_env / "bin" / "torchready", *command, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert f'pip install "torchready[{extra}]"' in lines[0]


def test_the_api_without_the_extra_raises_an_import_error_naming_it(clean_env):
    python = clean_env / "bin" / "python"
    probe = _run(python, "-c", "import torchready\ntry:\n    torchready.to_coreml\n"
                 "except ImportError as error:\n    print(error)", cwd=clean_env)
    assert 'pip install "torchready[convert]"' in probe.stdout, probe.stderr
