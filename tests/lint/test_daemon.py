"""`torchready lint --daemon` and `torchready daemon`: a real daemon process per test, in a
private socket directory of its own, compared with one-shot runs of the same command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time

import pytest

from helpers import ROOT, run_cli
from torchready.cli import without_daemon_flag

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="Unix sockets only")

UNAVAILABLE = "lint daemon unavailable"


@pytest.fixture
def project(tmp_path):
    """A folder with the talk's fixtures and a pyproject, and a socket directory of its own
    (short: socket paths have a length limit); its daemon is stopped afterwards."""
    shutil.copy(ROOT / "fixtures" / "segmentation.py", tmp_path / "segmentation.py")
    shutil.copy(ROOT / "fixtures" / "attention.py", tmp_path / "attention.py")
    (tmp_path / "pyproject.toml").write_text("[tool.torchready]\n")
    runtime = tempfile.mkdtemp(prefix="trd-", dir="/tmp")
    environment = {"TMPDIR": runtime, "XDG_RUNTIME_DIR": ""}
    yield tmp_path, environment
    run_cli("daemon", "stop", cwd=tmp_path, env=environment)
    shutil.rmtree(runtime, ignore_errors=True)


def lint(folder, environment, *args, stdin=None, daemon=True):
    return run_cli("lint", *(["--daemon"] if daemon else []), *args, cwd=folder,
                   env=environment, stdin=stdin)


def assert_same_run(folder, environment, *args, stdin=None):
    one_shot = lint(folder, environment, *args, stdin=stdin, daemon=False)
    served = lint(folder, environment, *args, stdin=stdin)
    assert UNAVAILABLE not in served.stderr
    assert (served.returncode, served.stdout, served.stderr) == \
           (one_shot.returncode, one_shot.stdout, one_shot.stderr)
    return served


def test_daemon_prints_what_a_one_shot_run_prints(project):
    folder, environment = project
    for args in (["."], ["--format", "json", "."], ["--format", "concise", "attention.py"],
                 ["--select", "TR101", "."], ["--diff", "."], ["--target", "script", "."]):
        assert_same_run(folder, environment, *args)
    text = lint(folder, environment, ".")
    assert text.returncode == 1 and "TR101" in text.stdout
    status = run_cli("daemon", "status", cwd=folder, env=environment)
    assert status.returncode == 0 and "runs served" in status.stdout
    served = int(status.stdout.split(",")[-1].split()[0])
    assert served >= 7  # every run above went through one daemon


def test_daemon_sees_edits_new_files_and_settings(project):
    folder, environment = project
    first = json.loads(lint(folder, environment, "--format", "json", ".").stdout)
    attention = folder / "attention.py"
    attention.write_text(attention.read_text().replace("math.sqrt(head_dim)", "head_dim ** 0.5"))
    (folder / "extra.py").write_text(
        "import torch\n\n\nclass M(torch.nn.Module):\n"
        "    def forward(self, x):\n        return {'out': x}\n")
    second = json.loads(assert_same_run(folder, environment, "--format", "json", ".").stdout)
    files = lambda run: {d["path"] for d in run["diagnostics"]}  # noqa: E731
    assert "extra.py" in files(second) and "extra.py" not in files(first)
    codes = lambda run, name: {d["code"] for d in run["diagnostics"]  # noqa: E731
                               if d["path"] == name}
    assert "TR102" in codes(first, "attention.py")
    assert "TR102" not in codes(second, "attention.py")
    (folder / "pyproject.toml").write_text('[tool.torchready]\nignore = ["TR101"]\n')
    third = json.loads(assert_same_run(folder, environment, "--format", "json", ".").stdout)
    assert "TR101" in {d["code"] for d in second["diagnostics"]}
    assert "TR101" not in {d["code"] for d in third["diagnostics"]}


def test_daemon_sees_an_edit_that_keeps_size_and_mtime(project):
    """The daemon skips hashing files whose stat signature did not change: an edit of the same
    size with its mtime put back must still count (the ctime moves)."""
    folder, environment = project
    attention = folder / "attention.py"
    before = lint(folder, environment, "--format", "json", "attention.py")
    assert "TR102" in {d["code"] for d in json.loads(before.stdout)["diagnostics"]}
    status = attention.stat()
    text = attention.read_text()
    edited = text.replace("math.sqrt(head_dim)", "(head_dim ** 0.5)  ")
    assert len(edited) == len(text) and edited != text
    attention.write_text(edited)
    os.utime(attention, ns=(status.st_atime_ns, status.st_mtime_ns))
    after = assert_same_run(folder, environment, "--format", "json", "attention.py")
    assert "TR102" not in {d["code"] for d in json.loads(after.stdout)["diagnostics"]}


def test_daemon_follows_a_series_of_edits_like_fresh_runs(project):
    """The daemon parses an edited file again from the statements it kept and summarizes it in
    a forked child: after each edit its findings are those of a run without any cache."""
    folder, environment = project
    attention = folder / "attention.py"
    original = attention.read_text()
    helper = "\n\ndef scale(x):\n    return x / math.sqrt(x.size(-1))\n"
    edits = [
        original.replace("math.sqrt(head_dim)", "head_dim ** 0.5"),  # inside a method
        original + helper,  # a new top-level function (the project links again)
        original.replace("\nclass ", "\n# a comment between statements\n\nclass ", 1) + helper,
        original + helper + helper,  # two equal pieces
        original,
    ]
    lint(folder, environment, "--format", "json", ".")
    for edited in edits:
        attention.write_text(edited)
        served = lint(folder, environment, "--format", "json", ".")
        fresh = lint(folder, environment, "--no-cache", "--format", "json", ".", daemon=False)
        assert UNAVAILABLE not in served.stderr
        assert (served.returncode, served.stdout) == (fresh.returncode, fresh.stdout)
    findings = json.loads(served.stdout)["diagnostics"]
    assert "TR102" in {d["code"] for d in findings if d["path"] == "attention.py"}


def test_daemon_reports_bad_input_like_a_one_shot_run(project):
    folder, environment = project
    missing = assert_same_run(folder, environment, "no_such_file.py")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    (folder / "broken.py").write_bytes(b"def f(:\n")
    assert_same_run(folder, environment, "broken.py")
    unknown = assert_same_run(folder, environment, "--select", "TR999", ".")
    assert unknown.returncode == 2
    assert_same_run(folder, environment, "--no-such-option", ".")


def test_daemon_lints_standard_input(project):
    folder, environment = project
    source = (ROOT / "fixtures" / "segmentation.py").read_text()
    run = assert_same_run(folder, environment, "-", "--stdin-filename", "model.py",
                          stdin=source)
    assert run.returncode == 1 and "model.py" in run.stdout
    attention = (ROOT / "fixtures" / "attention.py").read_text()
    fixed = assert_same_run(folder, environment, "-", "--stdin-filename", "model.py", "--fix",
                            stdin=attention)
    assert "math.sqrt(head_dim)" in attention
    assert fixed.stdout == attention.replace("math.sqrt(head_dim)", "head_dim ** 0.5")


def test_daemon_start_status_stop(project):
    folder, environment = project
    assert run_cli("daemon", "status", cwd=folder, env=environment).returncode == 1
    started = run_cli("daemon", "start", cwd=folder, env=environment)
    assert started.returncode == 0 and "pid" in started.stdout
    again = run_cli("daemon", "start", cwd=folder, env=environment)
    assert again.stdout == started.stdout  # the running one, not a second daemon
    assert run_cli("daemon", "status", cwd=folder, env=environment).returncode == 0
    stopped = run_cli("daemon", "stop", cwd=folder, env=environment)
    assert stopped.stdout.strip() == "lint daemon stopped"
    assert run_cli("daemon", "status", cwd=folder, env=environment).returncode == 1
    assert run_cli("daemon", "stop", cwd=folder, env=environment).stdout.strip() == \
           "no lint daemon runs here"


def test_idle_daemon_exits(project):
    folder, environment = project
    assert run_cli("daemon", "start", "--idle-timeout", "1", cwd=folder,
                   env=environment).returncode == 0
    deadline = time.monotonic() + 30
    while run_cli("daemon", "status", cwd=folder, env=environment).returncode == 0:
        assert time.monotonic() < deadline, "the idle daemon did not exit"
        time.sleep(0.5)
    assert not [name for name in os.listdir(_socket_directory(environment))
                if name.endswith(".sock")]  # and removed its socket


def test_a_killed_daemon_is_replaced(project):
    folder, environment = project
    started = run_cli("daemon", "start", cwd=folder, env=environment)
    pid = int(started.stdout.rsplit("pid ", 1)[1].rstrip(")\n"))
    os.kill(pid, signal.SIGKILL)
    _wait_for_exit(pid)
    # Its socket file is still there, with nobody listening.
    assert [name for name in os.listdir(_socket_directory(environment)) if name.endswith(".sock")]
    run = assert_same_run(folder, environment, ".")
    assert run.returncode == 1
    status = run_cli("daemon", "status", cwd=folder, env=environment)
    assert status.returncode == 0 and f"pid {pid}," not in status.stdout


def test_without_a_private_socket_directory_it_lints_in_process(project):
    folder, environment = project
    directory = _socket_directory(environment)
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o777)  # others could plant a socket: do not talk to it
    one_shot = lint(folder, environment, ".", daemon=False)
    fallback = lint(folder, environment, ".")
    assert fallback.returncode == one_shot.returncode == 1
    assert fallback.stdout == one_shot.stdout
    assert fallback.stderr.startswith("torchready: " + UNAVAILABLE)
    assert "not private" in fallback.stderr
    source = (ROOT / "fixtures" / "segmentation.py").read_text()
    piped = lint(folder, environment, "-", "--stdin-filename", "m.py", stdin=source)
    assert piped.returncode == 1 and "m.py" in piped.stdout  # standard input read once, kept
    daemon = run_cli("daemon", "start", cwd=folder, env=environment)
    assert daemon.returncode == 2 and daemon.stderr.count("\n") == 1


def test_daemon_flag_is_removed_from_options_only():
    assert without_daemon_flag(["lint", "--daemon", "a.py"]) == ["lint", "a.py"]
    assert without_daemon_flag(["lint", "--dae", "a.py"]) == ["lint", "a.py"]
    assert without_daemon_flag(["lint", "--", "--daemon"]) == ["lint", "--", "--daemon"]
    assert without_daemon_flag(["lint", "--diff"]) == ["lint", "--diff"]


def _socket_directory(environment) -> str:
    return os.path.join(environment["TMPDIR"], f"torchready-{os.getuid()}")


def _wait_for_exit(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
